// Package state is the durable record of releases: a SQLite database
// (modernc.org/sqlite, WAL, synchronous=FULL) that implements runbook.Store.
// Every write commits before the method returns, so a transition is on
// disk before the work it describes starts, and a crashed release resumes
// from exactly what was committed. Writes that arrive while another
// commits share the next commit (group commit: one fsync for all of them).
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
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
	w    *sql.DB   // the writer, one connection; nil when opened read-only
	r    *sql.DB   // readers, mode=ro
	hot  *hotStmts // prepared on w (prepared.go); nil when read-only

	commits commitQueue
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
		if err := s.hot.close(); err != nil {
			errs = append(errs, fmt.Errorf("finalize statements of state database %s: %w", s.path, err))
		}
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

// write runs fn in a write transaction and returns once it is committed.
//
// Writes that come while another is committing wait and then commit
// together, each inside a savepoint of one IMMEDIATE transaction (group
// commit): the host runs of a step record their starts and their ends at
// about the same moment, and an fsync of the WAL costs milliseconds on a
// quiet disk but can cost a second on a busy one (measured: eight host
// runs starting one fsync after the other spread the start of an
// upload's transfers over 1.6 s). Each write still returns only once it
// is durable, and one that fails rolls back its savepoint alone.
//
// The context's cancellation is deliberately ignored: the record most worth
// keeping is the one written right after the operator pressed Ctrl-C (the
// release goes to paused), and a commit abandoned halfway helps nobody.
// busy_timeout bounds how long a write can wait for the database.
func (s *Store) write(ctx context.Context, what string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if s.w == nil {
		return fmt.Errorf("%s: state database %s was opened read-only", what, s.path)
	}
	j := &commitJob{ctx: context.WithoutCancel(ctx), what: what, fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	q := &s.commits
	q.mu.Lock()
	q.queue = append(q.queue, j)
	if q.leading {
		q.mu.Unlock()
		select {
		case err := <-j.done:
			return err
		case <-j.lead: // the commit before ours is done: ours leads the next
		}
	} else {
		q.leading = true
		q.mu.Unlock()
	}
	q.mu.Lock()
	batch := q.queue
	q.queue = nil
	q.mu.Unlock()
	s.commitBatch(batch)
	q.mu.Lock()
	if len(q.queue) > 0 {
		q.queue[0].lead <- struct{}{}
	} else {
		q.leading = false
	}
	q.mu.Unlock()
	return <-j.done
}

// commitQueue holds the writes waiting for the commit in progress.
type commitQueue struct {
	mu      sync.Mutex
	queue   []*commitJob
	leading bool // a write is committing; the next one in the queue leads after it
	batches int  // transactions committed (for tests)
}

// commitJob is one write of a group commit.
type commitJob struct {
	ctx  context.Context
	what string
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error    // its outcome, once committed or failed
	lead chan struct{} // it is to commit the queue
}

// commitBatch commits the writes of batch in one transaction, each in a
// savepoint of its own (a lone write needs none), and tells each its
// outcome.
func (s *Store) commitBatch(batch []*commitJob) {
	failAll := func(err error, jobs []*commitJob) {
		for _, j := range jobs {
			j.done <- explain(s.path, fmt.Errorf("%s: %w", j.what, err))
		}
	}
	tx, err := s.w.BeginTx(batch[0].ctx, nil)
	if err != nil {
		failAll(fmt.Errorf("begin a transaction on %s: %w", s.path, err), batch)
		return
	}
	var ok []*commitJob
	for i, j := range batch {
		if len(batch) == 1 {
			if err := j.fn(j.ctx, tx); err != nil {
				_ = tx.Rollback() // the error from fn is the one worth reporting
				j.done <- explain(s.path, fmt.Errorf("%s: %w", j.what, err))
				return
			}
			ok = append(ok, j)
			break
		}
		sp := fmt.Sprintf("w%d", i)
		if _, err := tx.ExecContext(j.ctx, "SAVEPOINT "+sp); err != nil {
			_ = tx.Rollback()
			failAll(fmt.Errorf("begin a savepoint on %s: %w", s.path, err), batch[i:])
			failAll(fmt.Errorf("the transaction it shared was rolled back"), ok)
			return
		}
		ferr := j.fn(j.ctx, tx)
		end := "RELEASE " + sp
		if ferr != nil {
			end = "ROLLBACK TO " + sp + "; RELEASE " + sp
		}
		if _, err := tx.ExecContext(j.ctx, end); err != nil {
			_ = tx.Rollback()
			failAll(fmt.Errorf("end a savepoint on %s: %w", s.path, err), batch[i:])
			failAll(fmt.Errorf("the transaction it shared was rolled back"), ok)
			return
		}
		if ferr != nil {
			j.done <- explain(s.path, fmt.Errorf("%s: %w", j.what, ferr))
			continue
		}
		ok = append(ok, j)
	}
	runbook.Hit(runbook.PointStateTx)
	if err := tx.Commit(); err != nil {
		failAll(fmt.Errorf("commit to %s: %w", s.path, err), ok)
		return
	}
	s.commits.mu.Lock()
	s.commits.batches++
	s.commits.mu.Unlock()
	for _, j := range ok {
		j.done <- nil
	}
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
