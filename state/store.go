// Package state is the durable record of releases: a SQLite database
// (modernc.org/sqlite, WAL, synchronous=FULL) that implements runbook.Store.
// Every write is one IMMEDIATE transaction that commits before the method
// returns, so a transition is on disk before the work it describes starts,
// and a crashed release resumes from exactly what was committed.
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

var _ runbook.Store = (*Store)(nil)

// Store is a state database. Open it with Open (read and write) or
// OpenReadOnly (status, report). It is safe for concurrent use: writes are
// serialised on one connection, reads go through a separate read-only pool
// and see every transaction committed before they start.
type Store struct {
	// Now is the clock for the times the store fills in itself (transition,
	// note, sign-off, live, staged and lock times left zero). It defaults to
	// time.Now; golden tests fix it.
	Now func() time.Time

	// TakeOverOtherMachine lets Lock take over a lock whose holder row
	// names a process of another machine, which nothing here can prove
	// gone. Set it only when the operator has checked that it no longer
	// runs. A holder still running on this machine is never taken over.
	TakeOverOtherMachine bool

	path string
	w    *sql.DB // the writer, one connection; nil when opened read-only
	r    *sql.DB // readers, mode=ro
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close releases the database. It does not release the lock: call the
// unlock returned by Lock first.
func (s *Store) Close() error {
	// Readers first: the last connection to close checkpoints the WAL and
	// removes it, which a read-only connection cannot do.
	var errs []error
	if err := s.r.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close readers of state database %s: %w", s.path, err))
	}
	if s.w != nil {
		if err := s.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close state database %s: %w", s.path, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// write runs fn in one IMMEDIATE transaction and commits it.
//
// The context's cancellation is deliberately ignored: the record most worth
// keeping is the one written right after the operator pressed Ctrl-C (the
// release goes to paused), and a commit abandoned halfway helps nobody.
// busy_timeout bounds how long a write can wait for the database.
func (s *Store) write(ctx context.Context, what string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if s.w == nil {
		return fmt.Errorf("%s: state database %s was opened read-only", what, s.path)
	}
	ctx = context.WithoutCancel(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return explain(s.path, fmt.Errorf("%s: begin a transaction on %s: %w", what, s.path, err))
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback() // the error from fn is the one worth reporting
		return explain(s.path, fmt.Errorf("%s: %w", what, err))
	}
	runbook.Hit(runbook.PointStateTx)
	if err := tx.Commit(); err != nil {
		return explain(s.path, fmt.Errorf("%s: commit to %s: %w", what, s.path, err))
	}
	return nil
}

// read runs fn in one read transaction, so queries that span tables (a
// release's steps and their hosts) see a single snapshot.
func (s *Store) read(ctx context.Context, what string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return explain(s.path, fmt.Errorf("%s: begin reading %s: %w", what, s.path, err))
	}
	defer tx.Rollback() // ends the read snapshot; nothing to undo
	if err := fn(ctx, tx); err != nil {
		return explain(s.path, fmt.Errorf("%s: %w", what, err))
	}
	return nil
}

// checkUpdated turns an UPDATE that matched no row into runbook.ErrNotFound.
func checkUpdated(res sql.Result, what string, id int64) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("count updated rows: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("no %s with id %d: %w", what, id, runbook.ErrNotFound)
	}
	return nil
}
