package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/runbook-dev/runbook/runbook"
)

// The release lock is a session-level advisory lock, held by the Store's
// connection: PostgreSQL frees it the moment that connection ends,
// whatever ended it (the process killed, its machine gone, the network
// cut), so a second operator on any machine finds it free at once. The
// lock_holder row names the holder for the exit-4 message; its token
// fences every write (fence), so that a process that lost its connection
// and with it the lock can record nothing more unless it gets the lock
// back untouched (reconnect).

// A holder that has the advisory lock writes its row right after; until
// then its row is missing, or still the row of a holder that died before
// it. currentHolder waits this long for the row of the live holder.
var (
	holderPolls     = 100
	holderPollDelay = 20 * time.Millisecond
)

// watchEvery is how often a held lock's connection is checked while the
// store is idle, so that one lost to a restarted server is taken back at
// once rather than at the next write.
const watchEvery = time.Second

// held is the release lock while a Store holds it.
type held struct {
	token  string
	holder runbook.Holder
	seq    int64 // writes committed under token
	// head is the audit chain's head: while the lock is held, only its
	// holder appends to the chain.
	head chainHead
	// lost is set once the lock is found taken by another process after
	// the connection was lost: every later write fails with it.
	lost error

	stop     chan struct{}
	stopOnce sync.Once
}

func (h *held) stopWatch() { h.stopOnce.Do(func() { close(h.stop) }) }

// LockLostError is a write refused because the connection to the
// database was lost, and with it the release lock, which another process
// took meanwhile. Nothing more is recorded by this process. It unwraps to
// the *runbook.LockedError naming the holder when one holds it now.
type LockLostError struct {
	URL    string
	Holder *runbook.Holder // the holder now; nil when it let the lock go again
}

func (e *LockLostError) Error() string {
	msg := fmt.Sprintf("lost the release lock: the connection to the state database %s was cut, and another runbook took the lock meanwhile", e.URL)
	if e.Holder != nil {
		msg += " (" + (&runbook.LockedError{Holder: *e.Holder}).Error() + ")"
	}
	return msg + "; nothing more was recorded by this one"
}

func (e *LockLostError) Unwrap() error {
	if e.Holder == nil {
		return nil
	}
	return &runbook.LockedError{Holder: *e.Holder}
}

// Lock takes the release lock: pg_try_advisory_lock, then the
// lock_holder row that names this process. A live holder anywhere makes
// it fail at once with *runbook.LockedError naming it (the message of
// package state). A row left by a holder whose connection ended is
// replaced and returned as recovered, for the record: PostgreSQL freed
// its lock, so its session is gone. Zero h.PID, h.Machine and h.Since
// are this process, this host and now; an empty h.Version is the version
// of the unfinished release. The returned unlock deletes the row and
// releases the lock; it is idempotent and must run before Close.
func (s *Store) Lock(h runbook.Holder) (unlock func(), recovered *runbook.Holder, err error) {
	if s.opts.ReadOnly {
		return nil, nil, fmt.Errorf("lock state database %s: it was opened read-only", s.url)
	}
	ctx := context.Background()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != nil {
		return nil, nil, fmt.Errorf("lock state database %s: this store holds the lock already", s.url)
	}
	if s.conn == nil || s.conn.IsClosed() {
		if _, err := s.reconnect(ctx); err != nil {
			return nil, nil, err
		}
	}
	runbook.Hit(runbook.PointLockBefore)
	var got bool
	if err := s.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", releaseLockKey).Scan(&got); err != nil {
		return nil, nil, fmt.Errorf("lock state database %s: %w", s.url, s.explain(err))
	}
	if !got {
		return nil, nil, &runbook.LockedError{Holder: s.currentHolder(ctx)}
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Machine == "" {
		h.Machine, _ = os.Hostname()
	}
	if h.Since.IsZero() {
		h.Since = s.now()
	}
	h.Since = stamp(h.Since)
	l := &held{token: newToken(), holder: h, stop: make(chan struct{})}
	recovered, err = s.takeHolder(ctx, l)
	if err == nil {
		l.head, err = readHead(ctx, s.conn)
	}
	if err != nil {
		_, _ = s.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", releaseLockKey)
		return nil, nil, fmt.Errorf("lock state database %s: %w", s.url, s.explain(err))
	}
	runbook.Hit(runbook.PointLockAfter)
	s.lock = l
	go s.watch(l, s.watchEvery)
	return sync.OnceFunc(func() { s.unlock(l) }), recovered, nil
}

// takeHolder writes l's row, and returns the row it replaced.
func (s *Store) takeHolder(ctx context.Context, l *held) (*runbook.Holder, error) {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	var old *runbook.Holder
	prev, err := scanHolder(tx.QueryRow(ctx, holderQuery))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("read the previous holder: %w", err)
	default:
		old = &prev
	}
	if l.holder.Version == "" {
		if l.holder.Version, err = unfinishedVersion(ctx, tx); err != nil {
			return nil, fmt.Errorf("read the unfinished release: %w", err)
		}
	}
	h := l.holder
	_, err = tx.Exec(ctx, `INSERT INTO lock_holder (id, operator, machine, pid, version, command, since, token, seq, backend)
		VALUES (1, $1, $2, $3, $4, $5, $6, $7, 0, pg_backend_pid())
		ON CONFLICT (id) DO UPDATE SET operator = excluded.operator, machine = excluded.machine, pid = excluded.pid,
			version = excluded.version, command = excluded.command, since = excluded.since,
			token = excluded.token, seq = 0, backend = excluded.backend`,
		h.User, h.Machine, h.PID, h.Version, h.Command, h.Since, l.token)
	if err != nil {
		return nil, fmt.Errorf("record the lock holder: %w", err)
	}
	return old, tx.Commit(ctx)
}

// unlock deletes l's row and releases the advisory lock.
func (s *Store) unlock(l *held) {
	l.stopWatch()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != l {
		return
	}
	s.lock = nil
	if s.conn == nil || s.conn.IsClosed() || l.lost != nil {
		return // the lock went with the connection
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The row first: with the lock released first, the next holder could
	// find our row and report us as a dead holder.
	_, _ = s.conn.Exec(ctx, "DELETE FROM lock_holder WHERE id = 1 AND token = $1", l.token)
	_, _ = s.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", releaseLockKey)
}

// fenced reports the refusal of runbook_fence (schema.go): every write
// of a lock holder begins with it, counting the write, and fails whole
// when the lock row is no longer the holder's — its lock was lost and
// taken by another.
func fenced(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == fenceCode
}

// reconnect replaces a lost connection, trying for opts.Reconnect. A
// Store that holds the release lock takes it back, provided nobody held
// it meanwhile (its row still has our token); committed then reports
// whether the write that was cut committed (the row counted it).
func (s *Store) reconnect(ctx context.Context) (committed bool, err error) {
	if s.conn != nil {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.conn.Close(cctx)
		cancel()
		s.conn = nil
	}
	deadline := time.Now().Add(s.opts.Reconnect)
	delay := 50 * time.Millisecond
	for {
		conn, err := s.connect(ctx)
		if err == nil {
			s.conn = conn
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, runbook.WithHint(fmt.Errorf("lost the connection to the state database %s and could not connect again within %s: %w",
				s.url, s.opts.Reconnect, unwrapHint(err)),
				"what was committed is kept; once PostgreSQL is back, `runbook resume` continues (from this machine or another)")
		}
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
	}
	if s.lock == nil {
		return false, nil
	}
	l := s.lock
	var got bool
	if err := s.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", releaseLockKey).Scan(&got); err != nil {
		return false, s.explain(err)
	}
	if !got {
		l.lost = &LockLostError{URL: s.url, Holder: s.holderNow(ctx)}
		return false, l.lost
	}
	var (
		token string
		seq   int64
	)
	err = s.conn.QueryRow(ctx, "SELECT token, seq FROM lock_holder WHERE id = 1").Scan(&token, &seq)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, s.explain(err)
	}
	if token != l.token {
		_, _ = s.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", releaseLockKey)
		l.lost = &LockLostError{URL: s.url}
		return false, l.lost
	}
	if _, err := s.conn.Exec(ctx, "UPDATE lock_holder SET backend = pg_backend_pid() WHERE id = 1 AND token = $1", l.token); err != nil {
		return false, s.explain(err)
	}
	committed = seq == l.seq+1
	l.seq = seq
	if l.head, err = readHead(ctx, s.conn); err != nil {
		return false, s.explain(err)
	}
	return committed, nil
}

func unwrapHint(err error) error {
	var he *runbook.HintError
	if errors.As(err, &he) {
		return he.Err
	}
	return err
}

// watch checks the connection of a held lock while the store is idle and
// takes the lock back at once when it was lost.
func (s *Store) watch(l *held, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.lock == l && l.lost == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := errConnLost
			if s.conn != nil && !s.conn.IsClosed() {
				err = s.conn.Ping(ctx)
			}
			cancel()
			if err != nil && s.lost(err) {
				_, _ = s.reconnect(context.Background())
			}
		}
		s.mu.Unlock()
	}
}

const holderQuery = `SELECT operator, machine, pid, version, command, since FROM lock_holder WHERE id = 1`

// liveHolderQuery reads the holder's row and whether the server process
// it names holds the release lock now (pg_locks): $1 is releaseLockKey.
const liveHolderQuery = `SELECT operator, machine, pid, version, command, since,
	backend IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1)
	FROM lock_holder WHERE id = 1`

func scanHolder(row pgx.Row) (runbook.Holder, error) {
	var h runbook.Holder
	err := row.Scan(&h.User, &h.Machine, &h.PID, &h.Version, &h.Command, &h.Since)
	h.Since = stamp(h.Since)
	return h, err
}

// currentHolder names the live holder of the advisory lock: the row whose
// backend is the server process pg_locks shows holding it. Its row may lag
// the lock by one transaction, hence the wait.
func (s *Store) currentHolder(ctx context.Context) runbook.Holder {
	for range holderPolls {
		var h runbook.Holder
		var ok bool
		err := s.conn.QueryRow(ctx, liveHolderQuery, releaseLockKey).
			Scan(&h.User, &h.Machine, &h.PID, &h.Version, &h.Command, &h.Since, &ok)
		if err == nil && ok {
			h.Since = stamp(h.Since)
			if h.Version == "" {
				// A holder that took the lock before it knew its release
				// (resume, rollback) is working on the unfinished one.
				h.Version, _ = unfinishedVersion(ctx, s.conn)
			}
			return h
		}
		time.Sleep(holderPollDelay)
	}
	return runbook.Holder{User: "an unknown user", Machine: "an unknown machine", Command: "runbook", Since: s.now()}
}

// Holder implements runbook.Store: the row of the lock's holder, held
// while the server process its row names holds the advisory lock (a
// holder whose connection died loses it at once, so its row is not
// held). One query, no wait: a holder between taking the lock and
// writing its row is reported as not held, which `runbook logs` answers
// by reading what is recorded.
func (s *Store) Holder(ctx context.Context) (runbook.Holder, bool, error) {
	var (
		h  runbook.Holder
		ok bool
	)
	err := s.read(ctx, "read the lock holder", func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, liveHolderQuery, releaseLockKey).
			Scan(&h.User, &h.Machine, &h.PID, &h.Version, &h.Command, &h.Since, &ok)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return runbook.Holder{}, false, nil
	}
	if err != nil {
		return runbook.Holder{}, false, err
	}
	h.Since = stamp(h.Since)
	return h, ok, nil
}

// holderNow is currentHolder after a lost lock: nil when nobody holds it.
func (s *Store) holderNow(ctx context.Context) *runbook.Holder {
	var got bool
	if err := s.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", releaseLockKey).Scan(&got); err != nil {
		return nil
	}
	if got {
		_, _ = s.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", releaseLockKey)
		return nil
	}
	h := s.currentHolder(ctx)
	return &h
}

// querier is a transaction or a connection.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// unfinishedVersion returns the version of the newest unfinished release,
// "" when every release is finished.
func unfinishedVersion(ctx context.Context, q querier) (string, error) {
	var v string
	err := q.QueryRow(ctx, "SELECT version FROM releases WHERE NOT (state = ANY($1)) ORDER BY id DESC LIMIT 1", finishedStates()).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// finishedStates are the release states Unfinished skips.
func finishedStates() []string {
	return []string{string(runbook.ReleaseSucceeded), string(runbook.ReleaseRolledBack), string(runbook.ReleaseAborted)}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux.
	return hex.EncodeToString(b[:])
}
