package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

const releaseColumns = `id, version, kind, state, operator, machine, started_at, finished_at,
	runbook_name, runbook_file, runbook_hash, artifact_path, artifact_sha256, envs, os_user,
	artifact_size`

// CreateRelease inserts r with its steps and their host runs in one
// transaction, plus the creation transition t. The IDs (r.ID, each step's
// ID and ReleaseID, each host run's ID and StepRunID) are filled only once
// the transaction has committed. A zero r.StartedAt is set to now.
func (s *Store) CreateRelease(ctx context.Context, r *runbook.Release, steps []*runbook.StepRun, t runbook.Transition) error {
	if r.StartedAt.IsZero() {
		r.StartedAt = s.now()
	}
	var (
		releaseID int64
		stepIDs   = make([]int64, len(steps))
		hostIDs   = make([][]int64, len(steps))
	)
	err := s.write(ctx, "create release of version "+r.Version, func(ctx context.Context, tx *sql.Tx) error {
		envs, err := envsArg(r.Envs)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO releases (version, kind, state, operator, machine,
			started_at, finished_at, runbook_name, runbook_file, runbook_hash, artifact_path, artifact_sha256, envs, os_user, artifact_size)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Version, r.Kind, r.State, r.Operator, r.Machine, timeArg(r.StartedAt), timeArg(r.FinishedAt),
			r.RunbookName, r.RunbookFile, r.RunbookHash, r.ArtifactPath, r.ArtifactSHA256, envs, r.OSUser, r.ArtifactSize)
		if err != nil {
			return fmt.Errorf("insert release: %w", err)
		}
		if releaseID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("read new release id: %w", err)
		}
		for i, st := range steps {
			if stepIDs[i], err = insertStep(ctx, tx, releaseID, st); err != nil {
				return err
			}
			hostIDs[i] = make([]int64, len(st.Hosts))
			for j, h := range st.Hosts {
				if hostIDs[i][j], err = insertHost(ctx, tx, stepIDs[i], h); err != nil {
					return fmt.Errorf("step %s: %w", st.Name, err)
				}
			}
		}
		s.fillTransition(&t, "release", releaseID, 0, 0)
		return s.insertTransition(ctx, tx, &t)
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

// RecordRelease updates what changes in r's row during a release: state,
// finished_at, envs, and the runbook and artifact hashes (the artifact
// exists only once the build step has run). Version, kind, operator,
// machine and start time are fixed at creation. When t is non-nil it is
// inserted in the same transaction and its ID, At, ReleaseID and Scope
// are filled.
func (s *Store) RecordRelease(ctx context.Context, r *runbook.Release, t *runbook.Transition) error {
	var tr runbook.Transition
	if t != nil {
		tr = *t
		s.fillTransition(&tr, "release", r.ID, 0, 0)
	}
	err := s.write(ctx, fmt.Sprintf("record release %d", r.ID), func(ctx context.Context, tx *sql.Tx) error {
		envs, err := envsArg(r.Envs)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE releases SET state = ?, finished_at = ?, envs = ?,
			runbook_hash = ?, artifact_path = ?, artifact_sha256 = ?, artifact_size = ? WHERE id = ?`,
			r.State, timeArg(r.FinishedAt), envs, r.RunbookHash, r.ArtifactPath, r.ArtifactSHA256, r.ArtifactSize, r.ID)
		if err != nil {
			return fmt.Errorf("update release: %w", err)
		}
		if err := checkUpdated(res, "release", r.ID); err != nil {
			return err
		}
		if t == nil {
			return nil
		}
		return s.insertTransition(ctx, tx, &tr)
	})
	if err == nil && t != nil {
		*t = tr
	}
	return err
}

// Release returns the release with this id, or an error wrapping
// runbook.ErrNotFound.
func (s *Store) Release(ctx context.Context, id int64) (*runbook.Release, error) {
	var r *runbook.Release
	err := s.read(ctx, fmt.Sprintf("read release %d", id), func(ctx context.Context, tx *sql.Tx) error {
		var err error
		r, err = scanRelease(tx.QueryRowContext(ctx, "SELECT "+releaseColumns+" FROM releases WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no release with id %d: %w", id, runbook.ErrNotFound)
		}
		return err
	})
	return r, err
}

// Releases returns every release, oldest first.
func (s *Store) Releases(ctx context.Context) ([]*runbook.Release, error) {
	var list []*runbook.Release
	err := s.read(ctx, "list releases", func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+releaseColumns+" FROM releases ORDER BY id")
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

// finishedStates are the release states Unfinished skips; any other state,
// including one the machine may gain later, counts as unfinished.
var finishedStates = []runbook.ReleaseState{runbook.ReleaseSucceeded, runbook.ReleaseRolledBack, runbook.ReleaseAborted}

// Unfinished returns the newest release that is not finished, or nil, nil
// when every release is finished.
func (s *Store) Unfinished(ctx context.Context) (*runbook.Release, error) {
	args := make([]any, len(finishedStates))
	for i, st := range finishedStates {
		args[i] = st
	}
	q := "SELECT " + releaseColumns + " FROM releases WHERE state NOT IN (?" +
		strings.Repeat(", ?", len(finishedStates)-1) + ") ORDER BY id DESC LIMIT 1"
	var r *runbook.Release
	err := s.read(ctx, "look for an unfinished release", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		r, err = scanRelease(tx.QueryRowContext(ctx, q, args...))
		if errors.Is(err, sql.ErrNoRows) {
			r = nil
			return nil
		}
		return err
	})
	return r, err
}

type scanner interface{ Scan(dest ...any) error }

func scanRelease(row scanner) (*runbook.Release, error) {
	var r runbook.Release
	err := row.Scan(&r.ID, &r.Version, &r.Kind, &r.State, &r.Operator, &r.Machine,
		timeCol{&r.StartedAt}, timeCol{&r.FinishedAt}, &r.RunbookName, &r.RunbookFile,
		&r.RunbookHash, &r.ArtifactPath, &r.ArtifactSHA256, envsCol{&r.Envs}, &r.OSUser, &r.ArtifactSize)
	if err != nil {
		return nil, err
	}
	return &r, nil
}
