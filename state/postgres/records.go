package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/runbook-dev/runbook/runbook"
)

// StoreID implements runbook.Store.
func (s *Store) StoreID(ctx context.Context) (string, error) {
	var id string
	err := s.read(ctx, "read the database id", func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT db_id FROM store_identity WHERE id = 1").Scan(&id)
	})
	return id, err
}

// AddSignoff implements runbook.Store; a zero At is set to now.
func (s *Store) AddSignoff(ctx context.Context, so runbook.Signoff) error {
	if so.At.IsZero() {
		so.At = s.now()
	}
	return s.write(ctx, fmt.Sprintf("record sign-off of %s by %s", so.Role, so.Name), func(ctx context.Context, w *writeTx) error {
		w.queue(`INSERT INTO signoffs (release_id, step, role, name, os_user, at, via, operator)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, so.ReleaseID, so.Step, so.Role, so.Name, so.OSUser, stamp(so.At), so.Via, so.Operator)
		return nil
	})
}

// AddNote implements runbook.Store: fills its ID (and At, when zero).
func (s *Store) AddNote(ctx context.Context, n *runbook.Note) error {
	at := n.At
	if at.IsZero() {
		at = s.now()
	}
	at = stamp(at)
	var id int64
	err := s.write(ctx, fmt.Sprintf("record %s note", n.Kind), func(ctx context.Context, w *writeTx) error {
		w.queue(`INSERT INTO notes (release_id, at, kind, step, host, text, operator, os_user)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			n.ReleaseID, at, n.Kind, n.Step, n.Host, n.Text, n.Operator, n.OSUser).QueryRow(func(r pgx.Row) error { return r.Scan(&id) })
		return nil
	})
	if err != nil {
		return err
	}
	n.ID, n.At = id, at
	return nil
}

// SetLive implements runbook.Store.
func (s *Store) SetLive(ctx context.Context, l runbook.Live) error {
	if l.At.IsZero() {
		l.At = s.now()
	}
	return s.write(ctx, fmt.Sprintf("record %s live on %s/%s", l.Version, l.Env, l.Host), func(ctx context.Context, w *writeTx) error {
		w.queue(`INSERT INTO live (env, host, version, previous, release_id, at, verified_at)
			VALUES ($1, $2, $3, $4, $5, $6, NULL)
			ON CONFLICT (env, host) DO UPDATE SET version = excluded.version, previous = excluded.previous,
				release_id = excluded.release_id, at = excluded.at, verified_at = NULL`,
			l.Env, l.Host, l.Version, l.Previous, idArg(l.ReleaseID), stamp(l.At))
		return nil
	})
}

// VerifyLive implements runbook.Store.
func (s *Store) VerifyLive(ctx context.Context, env, host, version string, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	return s.write(ctx, fmt.Sprintf("record %s verified on %s/%s", version, env, host), func(ctx context.Context, w *writeTx) error {
		w.queue(`UPDATE live SET verified_at = $1 WHERE env = $2 AND host = $3 AND version = $4`,
			stamp(at), env, host, version)
		return nil
	})
}

// AddStaged implements runbook.Store.
func (s *Store) AddStaged(ctx context.Context, st runbook.Staged) error {
	if st.At.IsZero() {
		st.At = s.now()
	}
	return s.write(ctx, fmt.Sprintf("record %s staged on %s/%s", st.Version, st.Env, st.Host), func(ctx context.Context, w *writeTx) error {
		w.queue(`INSERT INTO staged (env, host, version, sha256, release_id, at, removed)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (env, host, version) DO UPDATE SET sha256 = excluded.sha256,
				release_id = excluded.release_id, at = excluded.at, removed = excluded.removed`,
			st.Env, st.Host, st.Version, st.SHA256, idArg(st.ReleaseID), stamp(st.At), st.Removed)
		return nil
	})
}

// AddOperation implements runbook.Store.
func (s *Store) AddOperation(ctx context.Context, op runbook.Operation) error {
	return s.write(ctx, fmt.Sprintf("record operation %s on %s/%s", op.Name, op.Env, op.Host), func(ctx context.Context, w *writeTx) error {
		w.queue(`INSERT INTO operations (env, host, name, command, exit_code,
			started_at, finished_at, operator, output_tail, os_user) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			op.Env, op.Host, op.Name, op.Command, op.ExitCode,
			timeArg(op.StartedAt), timeArg(op.FinishedAt), op.Operator, op.OutputTail, op.OSUser)
		return nil
	})
}

// Signoffs implements runbook.Store.
func (s *Store) Signoffs(ctx context.Context, releaseID int64) ([]runbook.Signoff, error) {
	var list []runbook.Signoff
	err := s.read(ctx, fmt.Sprintf("read the sign-offs of release %d", releaseID), func(ctx context.Context, tx pgx.Tx) error {
		list = nil
		rows, err := tx.Query(ctx, `SELECT release_id, step, role, name, os_user, at, via, operator
			FROM signoffs WHERE release_id = $1 ORDER BY id`, releaseID)
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

// Notes implements runbook.Store.
func (s *Store) Notes(ctx context.Context, releaseID int64) ([]runbook.Note, error) {
	var list []runbook.Note
	err := s.read(ctx, fmt.Sprintf("read the notes of release %d", releaseID), func(ctx context.Context, tx pgx.Tx) error {
		list = nil
		rows, err := tx.Query(ctx, `SELECT id, release_id, at, kind, step, host, text, operator, os_user
			FROM notes WHERE release_id = $1 ORDER BY id`, releaseID)
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

// LiveVersions implements runbook.Store: by environment and host.
func (s *Store) LiveVersions(ctx context.Context) ([]runbook.Live, error) {
	var list []runbook.Live
	err := s.read(ctx, "read the live versions", func(ctx context.Context, tx pgx.Tx) error {
		list = nil
		rows, err := tx.Query(ctx, `SELECT env, host, version, previous, release_id, at, verified_at
			FROM live ORDER BY env COLLATE "C", host COLLATE "C"`)
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

// StagedVersions implements runbook.Store: newest first.
func (s *Store) StagedVersions(ctx context.Context) ([]runbook.Staged, error) {
	var list []runbook.Staged
	err := s.read(ctx, "read the staged versions", func(ctx context.Context, tx pgx.Tx) error {
		list = nil
		rows, err := tx.Query(ctx, `SELECT env, host, version, sha256, release_id, at, removed
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

// Operations implements runbook.Store: oldest first.
func (s *Store) Operations(ctx context.Context) ([]runbook.Operation, error) {
	var list []runbook.Operation
	err := s.read(ctx, "read the operations", func(ctx context.Context, tx pgx.Tx) error {
		list = nil
		rows, err := tx.Query(ctx, `SELECT id, env, host, name, command, exit_code,
			started_at, finished_at, operator, output_tail, os_user FROM operations ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var op runbook.Operation
			if err := rows.Scan(&op.ID, &op.Env, &op.Host, &op.Name, &op.Command, &op.ExitCode,
				timeCol{&op.StartedAt}, timeCol{&op.FinishedAt}, &op.Operator, &op.OutputTail, &op.OSUser); err != nil {
				return err
			}
			list = append(list, op)
		}
		return rows.Err()
	})
	return list, err
}

// LockReleases implements runbook.Store.
func (s *Store) LockReleases(ctx context.Context, l runbook.DeployLock) error {
	if l.At.IsZero() {
		l.At = s.now()
	}
	var held *runbook.DeployLock
	err := s.write(ctx, "record the lock of the releases", func(ctx context.Context, w *writeTx) error {
		tx, err := w.begin(ctx)
		if err != nil {
			return err
		}
		if held, err = readDeployLock(ctx, tx, true); err != nil || held != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO deploy_lock (id, message, operator, machine, at) VALUES (1, $1, $2, $3, $4)",
			l.Message, l.Operator, l.Machine, stamp(l.At))
		return err
	})
	if err == nil && held != nil {
		return &runbook.DeployLockedError{Lock: *held}
	}
	return err
}

// DeployLock implements runbook.Store.
func (s *Store) DeployLock(ctx context.Context) (*runbook.DeployLock, error) {
	var l *runbook.DeployLock
	err := s.read(ctx, "read the lock of the releases", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		l, err = readDeployLock(ctx, tx, false)
		return err
	})
	return l, err
}

// UnlockReleases implements runbook.Store.
func (s *Store) UnlockReleases(ctx context.Context) (*runbook.DeployLock, error) {
	var l *runbook.DeployLock
	err := s.write(ctx, "remove the lock of the releases", func(ctx context.Context, w *writeTx) error {
		tx, err := w.begin(ctx)
		if err != nil {
			return err
		}
		if l, err = readDeployLock(ctx, tx, true); err != nil || l == nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM deploy_lock WHERE id = 1")
		return err
	})
	return l, err
}

// readDeployLock reads the deliberate lock; forUpdate locks the row, and
// the table against a concurrent insert, until the transaction ends.
func readDeployLock(ctx context.Context, tx pgx.Tx, forUpdate bool) (*runbook.DeployLock, error) {
	if forUpdate {
		if _, err := tx.Exec(ctx, "LOCK TABLE deploy_lock IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return nil, fmt.Errorf("lock the lock of the releases: %w", err)
		}
	}
	var l runbook.DeployLock
	err := tx.QueryRow(ctx, "SELECT message, operator, machine, at FROM deploy_lock WHERE id = 1").
		Scan(&l.Message, &l.Operator, &l.Machine, timeCol{&l.At})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the lock of the releases: %w", err)
	}
	return &l, nil
}
