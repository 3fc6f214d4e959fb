package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/runbook-dev/runbook/runbook"
)

const releaseColumns = `id, version, kind, state, operator, machine, started_at, finished_at,
	runbook_name, runbook_file, runbook_hash, artifact_path, artifact_sha256, envs, os_user,
	artifact_size`

// CreateRelease implements runbook.Store: r, its steps and their host
// runs, and the creation transition t, in one transaction. IDs are filled
// once it has committed.
func (s *Store) CreateRelease(ctx context.Context, r *runbook.Release, steps []*runbook.StepRun, t runbook.Transition) error {
	if r.StartedAt.IsZero() {
		r.StartedAt = s.now()
	}
	r.StartedAt, r.FinishedAt = stamp(r.StartedAt), stamp(r.FinishedAt)
	var (
		releaseID int64
		stepIDs   = make([]int64, len(steps))
		hostIDs   = make([][]int64, len(steps))
	)
	err := s.write(ctx, "create release of version "+r.Version, func(ctx context.Context, w *writeTx) error {
		envs, err := envsArg(r.Envs)
		if err != nil {
			return err
		}
		tx, err := w.begin(ctx) // the ids of what it inserts are needed for the rest
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `INSERT INTO releases (version, kind, state, operator, machine,
			started_at, finished_at, runbook_name, runbook_file, runbook_hash, artifact_path, artifact_sha256, envs, os_user, artifact_size)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
			r.Version, r.Kind, string(r.State), r.Operator, r.Machine, timeArg(r.StartedAt), timeArg(r.FinishedAt),
			r.RunbookName, r.RunbookFile, r.RunbookHash, r.ArtifactPath, r.ArtifactSHA256, envs, r.OSUser, r.ArtifactSize).Scan(&releaseID)
		if err != nil {
			return fmt.Errorf("insert release: %w", err)
		}
		for i, st := range steps {
			st.StartedAt, st.FinishedAt = stamp(st.StartedAt), stamp(st.FinishedAt)
			err := tx.QueryRow(ctx, `INSERT INTO step_runs (release_id, idx, name, kind, env, state,
				attempts, started_at, finished_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
				releaseID, st.Index, st.Name, string(st.Kind), st.Env, string(st.State), st.Attempts,
				timeArg(st.StartedAt), timeArg(st.FinishedAt), st.Reason).Scan(&stepIDs[i])
			if err != nil {
				return fmt.Errorf("insert step %s: %w", st.Name, err)
			}
			hostIDs[i] = make([]int64, len(st.Hosts))
			for j, h := range st.Hosts {
				h.StartedAt, h.FinishedAt = stamp(h.StartedAt), stamp(h.FinishedAt)
				err := tx.QueryRow(ctx, `INSERT INTO host_runs (step_run_id, host, state, attempts,
					exit_code, token, started_at, finished_at, duration_ms, output_tail, detail)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
					stepIDs[i], h.Host, string(h.State), h.Attempts, h.ExitCode, h.Token,
					timeArg(h.StartedAt), timeArg(h.FinishedAt), h.DurationMS, h.OutputTail, h.Detail).Scan(&hostIDs[i][j])
				if err != nil {
					return fmt.Errorf("step %s: insert host run %s: %w", st.Name, h.Host, err)
				}
			}
		}
		s.fillTransition(&t, "release", releaseID, 0, 0)
		return w.transition(ctx, &t)
	})
	if err != nil {
		return err
	}
	r.ID = releaseID
	for i, st := range steps {
		st.ID, st.ReleaseID = stepIDs[i], releaseID
		for j, h := range st.Hosts {
			h.ID, h.StepRunID = hostIDs[i][j], stepIDs[i]
		}
	}
	return nil
}

// RecordRelease implements runbook.Store: what changes in a release's row
// (state, finished_at, envs, the runbook and artifact hashes).
func (s *Store) RecordRelease(ctx context.Context, r *runbook.Release, t *runbook.Transition) error {
	var tr runbook.Transition
	if t != nil {
		tr = *t
		s.fillTransition(&tr, "release", r.ID, 0, 0)
	}
	r.FinishedAt = stamp(r.FinishedAt)
	err := s.write(ctx, fmt.Sprintf("record release %d", r.ID), func(ctx context.Context, w *writeTx) error {
		envs, err := envsArg(r.Envs)
		if err != nil {
			return err
		}
		w.update("release", r.ID, `UPDATE releases SET state = $1, finished_at = $2, envs = $3,
			runbook_hash = $4, artifact_path = $5, artifact_sha256 = $6, artifact_size = $7 WHERE id = $8`,
			string(r.State), timeArg(r.FinishedAt), envs, r.RunbookHash, r.ArtifactPath, r.ArtifactSHA256, r.ArtifactSize, r.ID)
		if t == nil {
			return nil
		}
		return w.transition(ctx, &tr)
	})
	if err == nil && t != nil {
		*t = tr
	}
	return err
}

// Release implements runbook.Store.
func (s *Store) Release(ctx context.Context, id int64) (*runbook.Release, error) {
	var r *runbook.Release
	err := s.read(ctx, fmt.Sprintf("read release %d", id), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		r, err = scanRelease(tx.QueryRow(ctx, "SELECT "+releaseColumns+" FROM releases WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no release with id %d: %w", id, runbook.ErrNotFound)
		}
		return err
	})
	return r, err
}

// Releases implements runbook.Store: oldest first.
func (s *Store) Releases(ctx context.Context) ([]*runbook.Release, error) {
	var list []*runbook.Release
	err := s.read(ctx, "list releases", func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+releaseColumns+" FROM releases ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRelease(rows)
			if err != nil {
				return err
			}
			list = append(list, r)
		}
		return rows.Err()
	})
	return list, err
}

// Unfinished implements runbook.Store: the newest release not finished.
func (s *Store) Unfinished(ctx context.Context) (*runbook.Release, error) {
	var r *runbook.Release
	err := s.read(ctx, "look for an unfinished release", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		r, err = scanRelease(tx.QueryRow(ctx, "SELECT "+releaseColumns+
			" FROM releases WHERE NOT (state = ANY($1)) ORDER BY id DESC LIMIT 1", finishedStates()))
		if errors.Is(err, pgx.ErrNoRows) {
			r = nil
			return nil
		}
		return err
	})
	return r, err
}

func scanRelease(row pgx.Row) (*runbook.Release, error) {
	var (
		r     runbook.Release
		state string
		envs  string
	)
	err := row.Scan(&r.ID, &r.Version, &r.Kind, &state, &r.Operator, &r.Machine,
		timeCol{&r.StartedAt}, timeCol{&r.FinishedAt}, &r.RunbookName, &r.RunbookFile,
		&r.RunbookHash, &r.ArtifactPath, &r.ArtifactSHA256, &envs, &r.OSUser, &r.ArtifactSize)
	if err != nil {
		return nil, err
	}
	r.State = runbook.ReleaseState(state)
	if envs != "" && envs != "[]" {
		if err := json.Unmarshal([]byte(envs), &r.Envs); err != nil {
			return nil, fmt.Errorf("stored environments %q are not a JSON list: %w", envs, err)
		}
	}
	return &r, nil
}

// envsArg encodes a list of environment names as JSON text; nil is "[]".
func envsArg(envs []string) (string, error) {
	if envs == nil {
		envs = []string{}
	}
	b, err := json.Marshal(envs)
	if err != nil {
		return "", fmt.Errorf("encode environments %q: %w", envs, err)
	}
	return string(b), nil
}

// timeArg is the column value of t: NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return stamp(t)
}

// idArg is the column value of a reference: NULL for 0.
func idArg(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// timeCol scans a nullable timestamptz into *t (zero for NULL), in UTC.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = stamp(v)
	default:
		return fmt.Errorf("stored time has type %T", v)
	}
	return nil
}

// idCol scans a nullable reference into *id (0 for NULL).
type idCol struct{ id *int64 }

func (c idCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.id = 0
	case int64:
		*c.id = v
	default:
		return fmt.Errorf("stored id has type %T, want integer", v)
	}
	return nil
}
