package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
)

func insertStep(ctx context.Context, tx *sql.Tx, releaseID int64, st *runbook.StepRun) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO step_runs (release_id, idx, name, kind, env, state,
		attempts, started_at, finished_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		releaseID, st.Index, st.Name, st.Kind, st.Env, st.State, st.Attempts,
		timeArg(st.StartedAt), timeArg(st.FinishedAt), st.Reason)
	if err != nil {
		return 0, fmt.Errorf("insert step %s: %w", st.Name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("read id of new step %s: %w", st.Name, err)
	}
	return id, nil
}

func insertHost(ctx context.Context, tx *sql.Tx, stepID int64, h *runbook.HostRun) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO host_runs (step_run_id, host, state, attempts,
		exit_code, token, started_at, finished_at, duration_ms, output_tail, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		stepID, h.Host, h.State, h.Attempts, h.ExitCode, h.Token,
		timeArg(h.StartedAt), timeArg(h.FinishedAt), h.DurationMS, h.OutputTail, h.Detail)
	if err != nil {
		return 0, fmt.Errorf("insert host run %s: %w", h.Host, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("read id of new host run %s: %w", h.Host, err)
	}
	return id, nil
}

// RecordStep updates the step run row (state, attempts, times, reason; not
// its hosts) and, when t is non-nil, inserts t in the same transaction,
// filling its ID, At, ReleaseID, StepRunID and Scope ("step") when zero.
func (s *Store) RecordStep(ctx context.Context, st *runbook.StepRun, t *runbook.Transition) error {
	var tr runbook.Transition
	err := s.write(ctx, fmt.Sprintf("record step %s (run %d)", st.Name, st.ID), func(ctx context.Context, tx *sql.Tx) error {
		return s.recordStep(ctx, tx, st, t, &tr)
	})
	if err == nil && t != nil {
		*t = tr
	}
	return err
}

// RecordHost updates the host run row and, when t is non-nil, inserts t in
// the same transaction, filling its ID, At, ReleaseID, StepRunID,
// HostRunID and Scope ("host") when zero.
func (s *Store) RecordHost(ctx context.Context, h *runbook.HostRun, t *runbook.Transition) error {
	var tr runbook.Transition
	err := s.write(ctx, fmt.Sprintf("record host run %s (%d)", h.Host, h.ID), func(ctx context.Context, tx *sql.Tx) error {
		return s.recordHost(ctx, tx, h, t, &tr)
	})
	if err == nil && t != nil {
		*t = tr
	}
	return err
}

// RecordRuns is RecordStep and RecordHost for every move, in one
// transaction: one commit (one fsync) where runs move together.
func (s *Store) RecordRuns(ctx context.Context, moves ...runbook.RunMove) error {
	out := make([]runbook.RunMove, len(moves))
	err := s.write(ctx, runbook.DescribeMoves(moves), func(ctx context.Context, tx *sql.Tx) error {
		for i, m := range moves {
			out[i] = runbook.RunMove{StepT: new(runbook.Transition), HostT: new(runbook.Transition)}
			if m.Step != nil {
				if err := s.recordStep(ctx, tx, m.Step, m.StepT, out[i].StepT); err != nil {
					return err
				}
			}
			if m.Host != nil {
				if err := s.recordHost(ctx, tx, m.Host, m.HostT, out[i].HostT); err != nil {
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

func (s *Store) recordStep(ctx context.Context, tx *sql.Tx, st *runbook.StepRun, t, out *runbook.Transition) error {
	res, err := tx.StmtContext(ctx, s.hot.updateStep).ExecContext(ctx,
		st.State, st.Attempts, timeArg(st.StartedAt), timeArg(st.FinishedAt), st.Reason, st.ID)
	if err != nil {
		return fmt.Errorf("update step run: %w", err)
	}
	if err := checkUpdated(res, "step run", st.ID); err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	releaseID := st.ReleaseID
	if releaseID == 0 {
		err := tx.QueryRowContext(ctx, "SELECT release_id FROM step_runs WHERE id = ?", st.ID).Scan(&releaseID)
		if err != nil {
			return fmt.Errorf("find the release of step run %d: %w", st.ID, err)
		}
	}
	*out = *t
	s.fillTransition(out, "step", releaseID, st.ID, 0)
	return s.insertTransition(ctx, tx, out)
}

func (s *Store) recordHost(ctx context.Context, tx *sql.Tx, h *runbook.HostRun, t, out *runbook.Transition) error {
	res, err := tx.StmtContext(ctx, s.hot.updateHost).ExecContext(ctx,
		h.State, h.Attempts, h.ExitCode, h.Token, timeArg(h.StartedAt), timeArg(h.FinishedAt),
		h.DurationMS, h.OutputTail, h.Detail, h.ID)
	if err != nil {
		return fmt.Errorf("update host run: %w", err)
	}
	if err := checkUpdated(res, "host run", h.ID); err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	// A HostRun does not carry its release: read it from the row, unless
	// the caller named it in the transition (the walker does; it saves a
	// query per commit).
	stepID, releaseID := t.StepRunID, t.ReleaseID
	if stepID == 0 || releaseID == 0 {
		err = tx.QueryRowContext(ctx, `SELECT s.id, s.release_id FROM host_runs h
			JOIN step_runs s ON s.id = h.step_run_id WHERE h.id = ?`, h.ID).Scan(&stepID, &releaseID)
		if err != nil {
			return fmt.Errorf("find the step of host run %d: %w", h.ID, err)
		}
	}
	*out = *t
	s.fillTransition(out, "host", releaseID, stepID, h.ID)
	return s.insertTransition(ctx, tx, out)
}

// Steps returns the step runs of a release in order, each with its host
// runs in the order they were created. A release without steps (or an
// unknown id) has none.
func (s *Store) Steps(ctx context.Context, releaseID int64) ([]*runbook.StepRun, error) {
	var steps []*runbook.StepRun
	err := s.read(ctx, fmt.Sprintf("read the steps of release %d", releaseID), func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if steps, err = readSteps(ctx, tx, releaseID); err != nil {
			return err
		}
		return readHosts(ctx, tx, releaseID, steps)
	})
	return steps, err
}

func readSteps(ctx context.Context, tx *sql.Tx, releaseID int64) ([]*runbook.StepRun, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, release_id, idx, name, kind, env, state, attempts,
		started_at, finished_at, reason FROM step_runs WHERE release_id = ? ORDER BY idx`, releaseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var steps []*runbook.StepRun
	for rows.Next() {
		var st runbook.StepRun
		err := rows.Scan(&st.ID, &st.ReleaseID, &st.Index, &st.Name, &st.Kind, &st.Env, &st.State,
			&st.Attempts, timeCol{&st.StartedAt}, timeCol{&st.FinishedAt}, &st.Reason)
		if err != nil {
			return nil, err
		}
		steps = append(steps, &st)
	}
	return steps, rows.Err()
}

func readHosts(ctx context.Context, tx *sql.Tx, releaseID int64, steps []*runbook.StepRun) error {
	byID := make(map[int64]*runbook.StepRun, len(steps))
	for _, st := range steps {
		byID[st.ID] = st
	}
	rows, err := tx.QueryContext(ctx, `SELECT h.id, h.step_run_id, h.host, h.state, h.attempts,
		h.exit_code, h.token, h.started_at, h.finished_at, h.duration_ms, h.output_tail, h.detail
		FROM host_runs h JOIN step_runs s ON s.id = h.step_run_id
		WHERE s.release_id = ? ORDER BY h.id`, releaseID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h runbook.HostRun
		err := rows.Scan(&h.ID, &h.StepRunID, &h.Host, &h.State, &h.Attempts, &h.ExitCode, &h.Token,
			timeCol{&h.StartedAt}, timeCol{&h.FinishedAt}, &h.DurationMS, &h.OutputTail, &h.Detail)
		if err != nil {
			return err
		}
		st := byID[h.StepRunID]
		if st == nil {
			return errors.New("host run " + h.Host + " belongs to no step of the release")
		}
		st.Hosts = append(st.Hosts, &h)
	}
	return rows.Err()
}

// fillTransition fills what the subject of a transition implies when the
// caller left it zero.
func (s *Store) fillTransition(t *runbook.Transition, scope string, releaseID, stepID, hostID int64) {
	if t.At.IsZero() {
		t.At = s.now()
	}
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

// insertTransition inserts t as the next link of the audit chain: the
// next id, and the hash of its fields and of the last row's hash. Writes
// are serialised (IMMEDIATE transactions, one writer), so the last row
// read here is the last one committed. It fills t.ID and t.Hash.
func (s *Store) insertTransition(ctx context.Context, tx *sql.Tx, t *runbook.Transition) error {
	var (
		last int64
		prev string
	)
	err := tx.StmtContext(ctx, s.hot.chainHead).QueryRowContext(ctx).Scan(&last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read the head of the audit chain: %w", err)
	}
	t.ID = last + 1
	t.Hash = runbook.ChainHash(prev, *t)
	_, err = tx.StmtContext(ctx, s.hot.insertTransition).ExecContext(ctx,
		t.ID, timeArg(t.At), t.ReleaseID, idArg(t.StepRunID), idArg(t.HostRunID),
		t.Scope, t.From, t.To, t.Event, t.Operator, t.OSUser, t.Machine, t.Reason, t.Hash)
	if err != nil {
		return fmt.Errorf("insert transition %s -> %s: %w", t.From, t.To, err)
	}
	return nil
}

// chainExisting chains the transitions recorded before the audit chain
// existed (schema version 5), in commit order: the chain then proves
// that nothing was changed after the upgrade, not before.
func chainExisting(ctx context.Context, tx *sql.Tx) error {
	ts, err := scanTransitions(ctx, tx, "")
	if err != nil {
		return fmt.Errorf("read the transitions to chain: %w", err)
	}
	prev := ""
	for _, t := range ts {
		t.Hash = runbook.ChainHash(prev, t)
		if _, err := tx.ExecContext(ctx, "UPDATE transitions SET hash = ? WHERE id = ?", t.Hash, t.ID); err != nil {
			return fmt.Errorf("chain transition %d: %w", t.ID, err)
		}
		prev = t.Hash
	}
	return nil
}

// Transitions returns the transitions of a release in commit order.
func (s *Store) Transitions(ctx context.Context, releaseID int64) ([]runbook.Transition, error) {
	var list []runbook.Transition
	err := s.read(ctx, fmt.Sprintf("read the transitions of release %d", releaseID), func(ctx context.Context, tx *sql.Tx) error {
		var err error
		list, err = scanTransitions(ctx, tx, "WHERE release_id = ?", releaseID)
		return err
	})
	return list, err
}

// Chain returns every transition, hash included, in commit order.
func (s *Store) Chain(ctx context.Context) ([]runbook.Transition, error) {
	var list []runbook.Transition
	err := s.read(ctx, "read the audit chain", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		list, err = scanTransitions(ctx, tx, "")
		return err
	})
	return list, err
}

// scanTransitions reads the transitions that where selects, in commit
// order: writes are serialised and ids assigned in order, so ascending
// ids are commit order.
func scanTransitions(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]runbook.Transition, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, at, release_id, step_run_id, host_run_id, scope,
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
