package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// AddSignoff records a sign-off; a zero At is set to now.
func (s *Store) AddSignoff(ctx context.Context, so runbook.Signoff) error {
	if so.At.IsZero() {
		so.At = s.now()
	}
	return s.write(ctx, fmt.Sprintf("record sign-off of %s by %s", so.Role, so.Name), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO signoffs (release_id, step, role, name, os_user, at, via, operator)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			so.ReleaseID, so.Step, so.Role, so.Name, so.OSUser, timeArg(so.At), so.Via, so.Operator)
		return err
	})
}

// AddNote records a note and fills its ID (and At, when zero).
func (s *Store) AddNote(ctx context.Context, n *runbook.Note) error {
	at := n.At
	if at.IsZero() {
		at = s.now()
	}
	var id int64
	err := s.write(ctx, fmt.Sprintf("record %s note", n.Kind), func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO notes (release_id, at, kind, step, host, text, operator, os_user)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			n.ReleaseID, timeArg(at), n.Kind, n.Step, n.Host, n.Text, n.Operator, n.OSUser)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return err
	}
	n.ID, n.At = id, at
	return nil
}

// SetLive records that host of env now runs l.Version, replacing the row
// of that host. Previous is stored as given: the activation knows what
// current pointed to before, the database only knows what it was told.
func (s *Store) SetLive(ctx context.Context, l runbook.Live) error {
	if l.At.IsZero() {
		l.At = s.now()
	}
	return s.write(ctx, fmt.Sprintf("record %s live on %s/%s", l.Version, l.Env, l.Host), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO live (env, host, version, previous, release_id, at, verified_at)
			VALUES (?, ?, ?, ?, ?, ?, NULL)
			ON CONFLICT (env, host) DO UPDATE SET version = excluded.version, previous = excluded.previous,
				release_id = excluded.release_id, at = excluded.at, verified_at = NULL`,
			l.Env, l.Host, l.Version, l.Previous, idArg(l.ReleaseID), timeArg(l.At))
		return err
	})
}

// VerifyLive records that version passed a verify on host of env; a host
// whose live row is of another version is left as it is.
func (s *Store) VerifyLive(ctx context.Context, env, host, version string, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	return s.write(ctx, fmt.Sprintf("record %s verified on %s/%s", version, env, host), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE live SET verified_at = ? WHERE env = ? AND host = ? AND version = ?`,
			timeArg(at), env, host, version)
		return err
	})
}

// AddStaged records a version staged on a host, or replaces the record of
// that version on that host (Removed marks it deleted by the keep policy).
func (s *Store) AddStaged(ctx context.Context, st runbook.Staged) error {
	if st.At.IsZero() {
		st.At = s.now()
	}
	return s.write(ctx, fmt.Sprintf("record %s staged on %s/%s", st.Version, st.Env, st.Host), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO staged (env, host, version, sha256, release_id, at, removed)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (env, host, version) DO UPDATE SET sha256 = excluded.sha256,
				release_id = excluded.release_id, at = excluded.at, removed = excluded.removed`,
			st.Env, st.Host, st.Version, st.SHA256, idArg(st.ReleaseID), timeArg(st.At), st.Removed)
		return err
	})
}

// Signoffs returns the sign-offs of a release in the order they were given.
func (s *Store) Signoffs(ctx context.Context, releaseID int64) ([]runbook.Signoff, error) {
	var list []runbook.Signoff
	err := s.read(ctx, fmt.Sprintf("read the sign-offs of release %d", releaseID), func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT release_id, step, role, name, os_user, at, via, operator
			FROM signoffs WHERE release_id = ? ORDER BY id`, releaseID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var so runbook.Signoff
			if err := rows.Scan(&so.ReleaseID, &so.Step, &so.Role, &so.Name, &so.OSUser, timeCol{&so.At}, &so.Via, &so.Operator); err != nil {
				return err
			}
			list = append(list, so)
		}
		return rows.Err()
	})
	return list, err
}

// Notes returns the notes of a release in the order they were recorded.
func (s *Store) Notes(ctx context.Context, releaseID int64) ([]runbook.Note, error) {
	var list []runbook.Note
	err := s.read(ctx, fmt.Sprintf("read the notes of release %d", releaseID), func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, release_id, at, kind, step, host, text, operator, os_user
			FROM notes WHERE release_id = ? ORDER BY id`, releaseID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n runbook.Note
			if err := rows.Scan(&n.ID, &n.ReleaseID, timeCol{&n.At}, &n.Kind, &n.Step, &n.Host, &n.Text, &n.Operator, &n.OSUser); err != nil {
				return err
			}
			list = append(list, n)
		}
		return rows.Err()
	})
	return list, err
}

// LiveVersions returns the live version of every host ever activated,
// ordered by environment and host.
func (s *Store) LiveVersions(ctx context.Context) ([]runbook.Live, error) {
	var list []runbook.Live
	err := s.read(ctx, "read the live versions", func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT env, host, version, previous, release_id, at, verified_at
			FROM live ORDER BY env, host`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l runbook.Live
			if err := rows.Scan(&l.Env, &l.Host, &l.Version, &l.Previous, idCol{&l.ReleaseID}, timeCol{&l.At}, timeCol{&l.VerifiedAt}); err != nil {
				return err
			}
			list = append(list, l)
		}
		return rows.Err()
	})
	return list, err
}

// StagedVersions returns what was staged on the hosts, newest first.
func (s *Store) StagedVersions(ctx context.Context) ([]runbook.Staged, error) {
	var list []runbook.Staged
	err := s.read(ctx, "read the staged versions", func(ctx context.Context, tx *sql.Tx) error {
		// Times are fixed-width text, so they sort as times; the id breaks
		// ties between rows written within the same clock tick.
		rows, err := tx.QueryContext(ctx, `SELECT env, host, version, sha256, release_id, at, removed
			FROM staged ORDER BY at DESC, id DESC`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st runbook.Staged
			if err := rows.Scan(&st.Env, &st.Host, &st.Version, &st.SHA256, idCol{&st.ReleaseID}, timeCol{&st.At}, &st.Removed); err != nil {
				return err
			}
			list = append(list, st)
		}
		return rows.Err()
	})
	return list, err
}
