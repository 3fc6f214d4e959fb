package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/runbook-dev/runbook/runbook"
)

// RecordStep implements runbook.Store.
func (s *Store) RecordStep(ctx context.Context, st *runbook.StepRun, t *runbook.Transition) error {
	var tr runbook.Transition
	err := s.write(ctx, fmt.Sprintf("record step %s (run %d)", st.Name, st.ID), func(ctx context.Context, w *writeTx) error {
		return s.recordStep(ctx, w, st, t, &tr)
	})
	if err == nil && t != nil {
		*t = tr
	}
	return err
}

// RecordHost implements runbook.Store.
func (s *Store) RecordHost(ctx context.Context, h *runbook.HostRun, t *runbook.Transition) error {
	var tr runbook.Transition
	err := s.write(ctx, fmt.Sprintf("record host run %s (%d)", h.Host, h.ID), func(ctx context.Context, w *writeTx) error {
		return s.recordHost(ctx, w, h, t, &tr)
	})
	if err == nil && t != nil {
		*t = tr
	}
	return err
}

// RecordRuns implements runbook.Store: one commit for every move.
func (s *Store) RecordRuns(ctx context.Context, moves ...runbook.RunMove) error {
	out := make([]runbook.RunMove, len(moves))
	err := s.write(ctx, runbook.DescribeMoves(moves), func(ctx context.Context, w *writeTx) error {
		for i, m := range moves {
			out[i] = runbook.RunMove{StepT: new(runbook.Transition), HostT: new(runbook.Transition)}
			if m.Step != nil {
				if err := s.recordStep(ctx, w, m.Step, m.StepT, out[i].StepT); err != nil {
					return err
				}
			}
			if m.Host != nil {
				if err := s.recordHost(ctx, w, m.Host, m.HostT, out[i].HostT); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		runbook.FilledMoves(moves, out)
	}
	return err
}

func (s *Store) recordStep(ctx context.Context, w *writeTx, st *runbook.StepRun, t, out *runbook.Transition) error {
	st.StartedAt, st.FinishedAt = stamp(st.StartedAt), stamp(st.FinishedAt)
	w.update("step run", st.ID, `UPDATE step_runs SET state = $1, attempts = $2, started_at = $3,
		finished_at = $4, reason = $5 WHERE id = $6`,
		string(st.State), st.Attempts, timeArg(st.StartedAt), timeArg(st.FinishedAt), st.Reason, st.ID)
	if t == nil {
		return nil
	}
	releaseID := st.ReleaseID
	if releaseID == 0 {
		tx, err := w.begin(ctx)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT release_id FROM step_runs WHERE id = $1", st.ID).Scan(&releaseID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("no step run with id %d: %w", st.ID, runbook.ErrNotFound)
			}
			return fmt.Errorf("find the release of step run %d: %w", st.ID, err)
		}
	}
	*out = *t
	s.fillTransition(out, "step", releaseID, st.ID, 0)
	return w.transition(ctx, out)
}

func (s *Store) recordHost(ctx context.Context, w *writeTx, h *runbook.HostRun, t, out *runbook.Transition) error {
	h.StartedAt, h.FinishedAt = stamp(h.StartedAt), stamp(h.FinishedAt)
	w.update("host run", h.ID, `UPDATE host_runs SET state = $1, attempts = $2, exit_code = $3,
		token = $4, started_at = $5, finished_at = $6, duration_ms = $7, output_tail = $8, detail = $9
		WHERE id = $10`,
		string(h.State), h.Attempts, h.ExitCode, h.Token, timeArg(h.StartedAt), timeArg(h.FinishedAt),
		h.DurationMS, h.OutputTail, h.Detail, h.ID)
	if t == nil {
		return nil
	}
	// A HostRun does not carry its release: read it from the row, unless
	// the caller named it in the transition (the walker does; it saves a
	// round trip per commit).
	stepID, releaseID := t.StepRunID, t.ReleaseID
	if stepID == 0 || releaseID == 0 {
		tx, err := w.begin(ctx)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT s.id, s.release_id FROM host_runs h
			JOIN step_runs s ON s.id = h.step_run_id WHERE h.id = $1`, h.ID).Scan(&stepID, &releaseID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no host run with id %d: %w", h.ID, runbook.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("find the step of host run %d: %w", h.ID, err)
		}
	}
	*out = *t
	s.fillTransition(out, "host", releaseID, stepID, h.ID)
	return w.transition(ctx, out)
}

// fillTransition fills what the subject of a transition implies when the
// caller left it zero.
func (s *Store) fillTransition(t *runbook.Transition, scope string, releaseID, stepID, hostID int64) {
	if t.At.IsZero() {
		t.At = s.now()
	}
	t.At = stamp(t.At)
	if t.Scope == "" {
		t.Scope = scope
	}
	if t.ReleaseID == 0 {
		t.ReleaseID = releaseID
	}
	if t.StepRunID == 0 {
		t.StepRunID = stepID
	}
	if t.HostRunID == 0 {
		t.HostRunID = hostID
	}
}

// transition queues t as the next link of the audit chain, filling t.ID
// and t.Hash. The head comes from the release lock's holder, the only
// writer of transitions, which knows it (its fence keeps any other
// writer out); a write without the lock reads it under a
// transaction-level advisory lock, which keeps two such writers apart.
func (w *writeTx) transition(ctx context.Context, t *runbook.Transition) error {
	if !w.headKnown {
		tx, err := w.begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", chainLockKey); err != nil {
			return fmt.Errorf("lock the audit chain: %w", err)
		}
		h, err := readHead(ctx, tx)
		if err != nil {
			return err
		}
		w.head, w.headKnown = h, true
	}
	t.ID = w.head.id + 1
	t.Hash = runbook.ChainHash(w.head.hash, *t)
	w.queue(`INSERT INTO transitions (id, at, release_id, step_run_id, host_run_id,
		scope, from_state, to_state, event, operator, os_user, machine, reason, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		t.ID, t.At, t.ReleaseID, idArg(t.StepRunID), idArg(t.HostRunID),
		t.Scope, t.From, t.To, t.Event, t.Operator, t.OSUser, t.Machine, t.Reason, t.Hash)
	w.head = chainHead{id: t.ID, hash: t.Hash}
	return nil
}

// readHead reads the last link of the audit chain; zero for none.
func readHead(ctx context.Context, q querier) (chainHead, error) {
	var h chainHead
	err := q.QueryRow(ctx, "SELECT id, hash FROM transitions ORDER BY id DESC LIMIT 1").Scan(&h.id, &h.hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return h, fmt.Errorf("read the head of the audit chain: %w", err)
	}
	return h, nil
}

// Steps implements runbook.Store: the step runs of a release in order,
// each with its host runs in the order they were created.
func (s *Store) Steps(ctx context.Context, releaseID int64) ([]*runbook.StepRun, error) {
	var steps []*runbook.StepRun
	err := s.read(ctx, fmt.Sprintf("read the steps of release %d", releaseID), func(ctx context.Context, tx pgx.Tx) error {
		steps = nil
		rows, err := tx.Query(ctx, `SELECT id, release_id, idx, name, kind, env, state, attempts,
			started_at, finished_at, reason FROM step_runs WHERE release_id = $1 ORDER BY idx`, releaseID)
		if err != nil {
			return err
		}
		byID := map[int64]*runbook.StepRun{}
		for rows.Next() {
			var (
				st          runbook.StepRun
				kind, state string
			)
			if err := rows.Scan(&st.ID, &st.ReleaseID, &st.Index, &st.Name, &kind, &st.Env, &state,
				&st.Attempts, timeCol{&st.StartedAt}, timeCol{&st.FinishedAt}, &st.Reason); err != nil {
				rows.Close()
				return err
			}
			st.Kind, st.State = runbook.StepKind(kind), runbook.RunState(state)
			steps = append(steps, &st)
			byID[st.ID] = &st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT h.id, h.step_run_id, h.host, h.state, h.attempts,
			h.exit_code, h.token, h.started_at, h.finished_at, h.duration_ms, h.output_tail, h.detail
			FROM host_runs h JOIN step_runs s ON s.id = h.step_run_id
			WHERE s.release_id = $1 ORDER BY h.id`, releaseID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				h     runbook.HostRun
				state string
			)
			if err := rows.Scan(&h.ID, &h.StepRunID, &h.Host, &state, &h.Attempts, &h.ExitCode, &h.Token,
				timeCol{&h.StartedAt}, timeCol{&h.FinishedAt}, &h.DurationMS, &h.OutputTail, &h.Detail); err != nil {
				return err
			}
			h.State = runbook.RunState(state)
			st := byID[h.StepRunID]
			if st == nil {
				return errors.New("host run " + h.Host + " belongs to no step of the release")
			}
			st.Hosts = append(st.Hosts, &h)
		}
		return rows.Err()
	})
	return steps, err
}

// Transitions implements runbook.Store: a release's, in commit order.
func (s *Store) Transitions(ctx context.Context, releaseID int64) ([]runbook.Transition, error) {
	var list []runbook.Transition
	err := s.read(ctx, fmt.Sprintf("read the transitions of release %d", releaseID), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		list, err = scanTransitions(ctx, tx, "WHERE release_id = $1", releaseID)
		return err
	})
	return list, err
}

// Chain implements runbook.Store: every transition, in commit order.
func (s *Store) Chain(ctx context.Context) ([]runbook.Transition, error) {
	var list []runbook.Transition
	err := s.read(ctx, "read the audit chain", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		list, err = scanTransitions(ctx, tx, "")
		return err
	})
	return list, err
}

func scanTransitions(ctx context.Context, tx pgx.Tx, where string, args ...any) ([]runbook.Transition, error) {
	rows, err := tx.Query(ctx, `SELECT id, at, release_id, step_run_id, host_run_id, scope,
		from_state, to_state, event, operator, os_user, machine, reason, hash FROM transitions `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []runbook.Transition
	for rows.Next() {
		var t runbook.Transition
		err := rows.Scan(&t.ID, timeCol{&t.At}, &t.ReleaseID, idCol{&t.StepRunID}, idCol{&t.HostRunID},
			&t.Scope, &t.From, &t.To, &t.Event, &t.Operator, &t.OSUser, &t.Machine, &t.Reason, &t.Hash)
		if err != nil {
			return nil, err
		}
		list = append(list, t)
	}
	return list, rows.Err()
}
