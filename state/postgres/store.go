// Package postgres is the record of releases in a PostgreSQL database
// that a team shares (state: postgres://… in runbook.yaml): the same
// runbook.Store contract as package state's SQLite, held to it by the same
// conformance suite (state/storetest), through github.com/jackc/pgx/v5.
//
// A Store works over one connection, as SQLite's writer does: writes are
// serialised in this process anyway, and the release lock is a
// session-level advisory lock, so the connection that holds it is the one
// that writes, and a write can never outlive the lock it was made under.
// When the connection is lost (PostgreSQL restarted, the network cut),
// the Store connects again for a while, takes the lock back when nobody
// else took it meanwhile, and finds out whether the write that was cut
// committed before it tries it again (lock.go): nothing is lost and
// nothing recorded twice; or it stops with an error that says so.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/runbook-dev/runbook/runbook"
)

var _ runbook.Store = (*Store)(nil)

// Options are how a Store connects.
type Options struct {
	// Password, when set, is the password (resolved from the vault:
	// state_password: secret:NAME); else the URL's, PGPASSWORD's or
	// ~/.pgpass's, as libpq finds it.
	Password string
	// ReadOnly opens an existing database for status and report: nothing
	// is created or migrated, and writes are refused.
	ReadOnly bool
	// Reconnect is how long a lost connection is tried again before a
	// write or read fails; 0 means 30 seconds.
	Reconnect time.Duration
}

// Store is a state database on PostgreSQL. It is safe for concurrent use.
type Store struct {
	// Now is the clock for the times the store fills in itself; it
	// defaults to time.Now.
	Now func() time.Time

	url  string // the URL without its password, for messages
	cfg  *pgx.ConnConfig
	opts Options

	mu   sync.Mutex // guards conn and lock, and serialises every use of conn
	conn *pgx.Conn
	lock *held // the release lock while this Store holds it
	// watchEvery is how often a held lock's connection is checked
	// (lock.go); a test may make it longer before Lock.
	watchEvery time.Duration
}

// Open connects to the database at rawURL, creating runbook's tables or
// bringing them up to date (a newer schema is refused).
func Open(ctx context.Context, rawURL string, o Options) (*Store, error) {
	display := Redact(rawURL)
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, runbook.WithHint(fmt.Errorf("state URL %s: %w", display, parseError(err)),
			"write it as postgres://USER@HOST:PORT/DATABASE (the password comes from state_password: secret:NAME, PGPASSWORD or ~/.pgpass)")
	}
	if o.Password != "" {
		cfg.Password = o.Password
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "runbook"
	}
	if o.Reconnect == 0 {
		o.Reconnect = 30 * time.Second
	}
	s := &Store{Now: time.Now, url: display, cfg: cfg, opts: o, watchEvery: watchEvery}
	if s.conn, err = s.connect(ctx); err != nil {
		return nil, err
	}
	if o.ReadOnly {
		err = s.checkReadable(ctx)
	} else {
		err = s.migrate(ctx)
	}
	if err != nil {
		s.conn.Close(context.Background())
		return nil, err
	}
	return s, nil
}

// parseError keeps what pgx says of a URL it cannot read without the URL
// itself, which may hold a password.
func parseError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap()
	}
	return errors.New("not a PostgreSQL URL that runbook can read")
}

// Redact returns rawURL without its password, to be shown and recorded.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		if err != nil {
			return "postgres://(unreadable URL)"
		}
		return rawURL
	}
	if _, has := u.User.Password(); has {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// URL returns the database's URL without its password.
func (s *Store) URL() string { return s.url }

func (s *Store) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg)
	if err != nil {
		return nil, runbook.WithHint(fmt.Errorf("cannot reach the state database %s: %w", s.url, unwrapConnect(err)),
			"check that PostgreSQL runs there and that the user and password are right (state_password: secret:NAME, PGPASSWORD or ~/.pgpass)")
	}
	return conn, nil
}

// unwrapConnect drops pgx's "failed to connect to `user=… database=…`:"
// whose words the message says already.
func unwrapConnect(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		return ce.Unwrap()
	}
	return err
}

// Close ends the connection. It does not release the lock: call the
// unlock returned by Lock first (a lock left is freed by PostgreSQL with
// the connection anyway).
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != nil {
		s.lock.stopWatch()
	}
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(context.Background())
	s.conn = nil
	if err != nil {
		return fmt.Errorf("close state database %s: %w", s.url, err)
	}
	return nil
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return stamp(time.Now())
	}
	return stamp(s.Now())
}

// stamp is t as the database keeps it: UTC, to the microsecond. The
// store keeps times so before it hashes or returns them, so that what it
// says it recorded is what a later read returns.
func stamp(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// write runs fn in one transaction and commits it. The context's
// cancellation is ignored, as package state does: the record most worth
// keeping is the one written right after Ctrl-C. A connection lost on
// the way is connected again (reconnect): a write cut before its commit
// is tried again; one cut during its commit is known done or not from the
// lock row's count of writes; without the release lock, which has none,
// it fails saying it may not be recorded.
func (s *Store) write(ctx context.Context, what string, fn func(ctx context.Context, w *writeTx) error) error {
	if s.opts.ReadOnly {
		return fmt.Errorf("%s: state database %s was opened read-only", what, s.url)
	}
	ctx = context.WithoutCancel(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		atCommit, err := s.tryWrite(ctx, fn)
		if err == nil {
			return nil
		}
		if !s.lost(err) || attempt == 2 {
			return fmt.Errorf("%s: %w", what, s.explain(err))
		}
		committed, rerr := s.reconnect(ctx)
		switch {
		case rerr != nil:
			return fmt.Errorf("%s: %w", what, rerr)
		case committed && atCommit:
			return nil
		case atCommit && s.lock == nil:
			return fmt.Errorf("%s: the connection to %s was lost while it committed: it may or may not be recorded", what, s.url)
		}
	}
}

// writeTx is one write being made. What it changes is queued in one
// batch. A write that reads nothing first is sent as that batch alone:
// PostgreSQL runs the statements of a batch up to its one Sync as one
// implicit transaction, committed (durably: synchronous_commit) before it
// answers, or rolled back whole when one fails. That is one round trip
// and one fsync per write, as SQLite's commit is one fsync. A write that
// must read first (begin) runs in an explicit transaction instead.
type writeTx struct {
	s  *Store
	b  *pgx.Batch
	tx pgx.Tx // nil until begin
	// head is the audit chain's head as this write leaves it; known
	// without a query while the store holds the release lock (lock.go).
	head      chainHead
	headKnown bool
}

// chainHead is the last link of the audit chain: its id and hash.
type chainHead struct {
	id   int64
	hash string
}

// begin turns the write into an explicit transaction, for what it must
// read before it queues the rest.
func (w *writeTx) begin(ctx context.Context) (pgx.Tx, error) {
	if w.tx == nil {
		tx, err := w.s.conn.Begin(ctx)
		if err != nil {
			return nil, err
		}
		w.tx = tx
	}
	return w.tx, nil
}

// queue adds a statement to the write's batch.
func (w *writeTx) queue(sql string, args ...any) *pgx.QueuedQuery { return w.b.Queue(sql, args...) }

// update queues an UPDATE (without a RETURNING clause) that must change
// exactly the row of id; runbook_one (schema.go) fails the write
// otherwise, inside the database, so that nothing of it is committed.
func (w *writeTx) update(what string, id int64, sql string, args ...any) {
	w.queue("WITH u AS ("+sql+" RETURNING 1) SELECT runbook_one(count(*)) FROM u", args...).QueryRow(func(r pgx.Row) error {
		var n int64
		err := r.Scan(&n)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == oneCode {
			return fmt.Errorf("no %s with id %d: %w", what, id, runbook.ErrNotFound)
		}
		return err
	})
}

// tryWrite runs one attempt of a write; atCommit reports a failure that
// may have come after the commit (the connection lost while PostgreSQL
// committed, or answered).
func (s *Store) tryWrite(ctx context.Context, fn func(ctx context.Context, w *writeTx) error) (atCommit bool, err error) {
	if s.conn == nil || s.conn.IsClosed() {
		return false, errConnLost
	}
	if s.lock != nil && s.lock.lost != nil {
		return false, s.lock.lost
	}
	w := &writeTx{s: s, b: &pgx.Batch{}}
	defer func() {
		if w.tx != nil {
			_ = w.tx.Rollback(ctx) // a no-op after Commit
		}
	}()
	var seq int64
	if s.lock != nil {
		// The fence first: a write of a holder whose lock was taken over
		// fails whole (lock.go).
		w.head, w.headKnown = s.lock.head, true
		w.queue("SELECT runbook_fence($1)", s.lock.token).QueryRow(func(r pgx.Row) error { return r.Scan(&seq) })
	}
	if err := fn(ctx, w); err != nil {
		return false, err
	}
	if w.tx == nil {
		runbook.Hit(runbook.PointStateTx)
		if err := s.conn.SendBatch(ctx, w.b).Close(); err != nil {
			return s.conn.IsClosed(), s.fenceLost(ctx, err)
		}
	} else {
		if w.b.Len() > 0 {
			if err := w.tx.SendBatch(ctx, w.b).Close(); err != nil {
				_ = w.tx.Rollback(ctx)
				return false, s.fenceLost(ctx, err)
			}
		}
		runbook.Hit(runbook.PointStateTx)
		if err := w.tx.Commit(ctx); err != nil {
			return true, err
		}
	}
	if s.lock != nil {
		s.lock.seq = seq
		if w.headKnown {
			s.lock.head = w.head
		}
	}
	return false, nil
}

// fenceLost turns the fence's refusal into the lost lock it means.
func (s *Store) fenceLost(ctx context.Context, err error) error {
	if s.lock == nil || !fenced(err) {
		return err
	}
	s.lock.lost = &LockLostError{URL: s.url, Holder: s.holderNow(ctx)}
	return s.lock.lost
}

// read runs fn in one read-only transaction that sees a single snapshot,
// connecting again (reads are safe to repeat) when the connection is lost.
func (s *Store) read(ctx context.Context, what string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		err := s.tryRead(ctx, fn)
		if err == nil {
			return nil
		}
		if !s.lost(err) || attempt == 2 || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, s.explain(err))
		}
		if _, rerr := s.reconnect(ctx); rerr != nil {
			return fmt.Errorf("%s: %w", what, rerr)
		}
	}
}

func (s *Store) tryRead(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if s.conn == nil || s.conn.IsClosed() {
		return errConnLost
	}
	tx, err := s.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	return fn(ctx, tx)
}

var errConnLost = errors.New("the connection to the state database is closed")

// lost reports whether err ended the connection (the server went away,
// the network broke): then the Store connects again.
func (s *Store) lost(err error) bool {
	if errors.Is(err, errConnLost) || s.conn == nil || s.conn.IsClosed() {
		return true
	}
	var pe *pgconn.PgError
	// admin_shutdown, crash_shutdown, cannot_connect_now: the server is
	// going down or coming up.
	return errors.As(err, &pe) && (pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03")
}

// explain says which database an error is of.
func (s *Store) explain(err error) error {
	var he *runbook.HintError
	if errors.As(err, &he) {
		return err
	}
	if s.lost(err) {
		return runbook.WithHint(fmt.Errorf("lost the connection to the state database %s: %w", s.url, err),
			"check that PostgreSQL runs and can be reached; what was committed is kept, and `runbook resume` continues once it is back")
	}
	return err
}
