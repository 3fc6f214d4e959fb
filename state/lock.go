package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// A process that has the flock writes its holder row right after. Another
// process that finds the flock taken but no row yet waits this long for the
// row before it reports an unnamed holder. Variables so that a test can
// shorten the wait.
var (
	holderPolls     = 100
	holderPollDelay = 20 * time.Millisecond
)

// Lock takes the exclusive release lock: flock(LOCK_EX|LOCK_NB) on
// "<db>.lock", then the lock_holder row that names us.
//
// The flock is what excludes (the kernel drops it when the process dies,
// even by SIGKILL; it also excludes two Stores of one process, since each
// Lock opens its own file description); the row only says who holds it.
// When the flock is taken, Lock fails with *runbook.LockedError naming the
// holder from the row. When the flock is free but a row is left, its
// process died holding the lock: the row is replaced and returned as
// recovered, for the record.
//
// Zero h.PID, h.Machine and h.Since are filled with this process, this
// host and now. The returned unlock deletes our row, then drops the flock;
// it is idempotent and must run before Close.
func (s *Store) Lock(h runbook.Holder) (unlock func(), recovered *runbook.Holder, err error) {
	if s.w == nil {
		return nil, nil, fmt.Errorf("lock state database %s: it was opened read-only", s.path)
	}
	lockPath := s.path + ".lock"
	runbook.Hit(runbook.PointLockBefore)
	// The lock file is never removed: a process that opened it just before
	// the removal would lock the orphaned inode while the next one locks a
	// new file, and both would think they hold the lock. os.OpenFile sets
	// O_CLOEXEC, so commands we start do not inherit the lock.
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, explainNoSpace(s.path, fmt.Errorf("open the lock file of the state database: %w", err))
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, &runbook.LockedError{Holder: s.currentHolder()}
		}
		return nil, nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}

	s.fillHolder(&h)
	recovered, err = s.takeHolder(h)
	if err != nil {
		f.Close() // drops the flock
		return nil, nil, err
	}
	runbook.Hit(runbook.PointLockAfter)
	unlock = sync.OnceFunc(func() {
		// The row goes first: with the flock dropped first, the next Lock
		// could find our row and report us as a dead holder.
		_ = s.write(context.Background(), "clear the lock holder", func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "DELETE FROM lock_holder WHERE pid = ? AND machine = ? AND since = ?",
				h.PID, h.Machine, timeArg(h.Since))
			return err
		})
		// A failed delete leaves a row that the next Lock reports as
		// recovered: a wrong note at worst, never a stuck lock.
		f.Close()
	})
	return unlock, recovered, nil
}

func (s *Store) fillHolder(h *runbook.Holder) {
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Machine == "" {
		if name, err := os.Hostname(); err == nil {
			h.Machine = name
		}
	}
	if h.Since.IsZero() {
		h.Since = s.now()
	}
	h.Since = h.Since.UTC()
}

// takeHolder writes h as the holder row and returns the row it replaced.
// The caller holds the flock, so a replaced row belonged to a dead process.
func (s *Store) takeHolder(h runbook.Holder) (*runbook.Holder, error) {
	var old *runbook.Holder
	err := s.write(context.Background(), "record the lock holder", func(ctx context.Context, tx *sql.Tx) error {
		prev, err := scanHolder(tx.QueryRowContext(ctx, holderQuery))
		switch {
		case err == nil:
			old = &prev
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read the previous holder: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO lock_holder (id, user, machine, pid, version, command, since)
			VALUES (1, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET user = excluded.user, machine = excluded.machine,
				pid = excluded.pid, version = excluded.version, command = excluded.command, since = excluded.since`,
			h.User, h.Machine, h.PID, h.Version, h.Command, timeArg(h.Since))
		return err
	})
	return old, err
}

// currentHolder names the process that holds the flock. Its row may lag
// the flock by one transaction, hence the short wait. Until then the row
// may still be that of a holder killed before: a process of this machine
// that is gone cannot hold the flock, so its row is waited past too —
// reported, it would send the operator after a dead process while the
// live one goes unnamed.
func (s *Store) currentHolder() runbook.Holder {
	host, _ := os.Hostname()
	for range holderPolls {
		h, err := scanHolder(s.r.QueryRow(holderQuery))
		if err == nil && !(h.Machine == host && processGone(h.PID)) {
			return h
		}
		time.Sleep(holderPollDelay)
	}
	// No live holder's row after all this time: the holder is stuck
	// between its flock and its first write. It did take the lock just
	// now, as far as we know.
	return runbook.Holder{User: "an unknown user", Machine: "an unknown machine", Command: "runbook", Since: s.now()}
}

// processGone reports whether no process of this machine has pid. EPERM
// means one exists that belongs to another user.
func processGone(pid int) bool {
	return pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

const holderQuery = "SELECT user, machine, pid, version, command, since FROM lock_holder WHERE id = 1"

func scanHolder(row scanner) (runbook.Holder, error) {
	var h runbook.Holder
	err := row.Scan(&h.User, &h.Machine, &h.PID, &h.Version, &h.Command, timeCol{&h.Since})
	return h, err
}

func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = syscall.Flock(int(fd), how) }); err != nil {
		return err
	}
	return ferr
}
