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
// Lock opens its own file description); the row says who holds it. When
// the flock is taken, Lock fails with *runbook.LockedError naming the
// holder from the row.
//
// When the flock is free but a row is left, the row is judged (holder.go):
//   - its process is provably gone (same machine, and another boot, or no
//     process with its pid, or one that started at another moment): it
//     died holding the lock, so the row is replaced and returned as
//     recovered, for the record;
//   - it still runs on this machine: it holds another file, and this one is
//     a copy of its database; Lock fails with *CopyInUseError;
//   - it ran on another machine: Lock fails with *OtherMachineError, unless
//     TakeOverOtherMachine says the operator checked that it is gone.
//
// Zero h.PID, h.Machine and h.Since are filled with this process, this
// host and now; an empty h.Version with the version of the unfinished
// release, if any. The returned unlock deletes our row, then drops the
// flock; it is idempotent and must run before Close.
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
		return nil, nil, explain(s.path, fmt.Errorf("open the lock file of the state database: %w", err))
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, &runbook.LockedError{Holder: s.currentHolder()}
		}
		return nil, nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}

	m := thisMachine()
	me := s.holderRow(h, m)
	recovered, err = s.takeHolder(me, m)
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
				me.PID, me.Machine, timeArg(me.Since))
			return err
		})
		// A failed delete leaves a row that the next Lock judges, and our
		// process is gone by then: a note of a recovered lock at worst,
		// never a stuck lock.
		f.Close()
	})
	return unlock, recovered, nil
}

// holderRow fills h into the row that names this process.
func (s *Store) holderRow(h runbook.Holder, m machineView) holderRow {
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Machine == "" {
		h.Machine = m.name
	}
	if h.Since.IsZero() {
		h.Since = s.now()
	}
	h.Since = h.Since.UTC()
	row := holderRow{Holder: h, DBPath: s.path}
	if h.Machine == m.name {
		row.BootID = m.bootID
		row.Started, _ = processStart(h.PID) // 0, never compared, where /proc cannot tell
	}
	return row
}

// takeHolder writes me as the holder row and returns the row it replaced,
// whose process is gone. The caller holds the flock, so no other process
// of this file writes the row meanwhile. The database id and, when me has
// none, the version of the unfinished release are filled in the same
// transaction.
func (s *Store) takeHolder(me holderRow, m machineView) (*runbook.Holder, error) {
	var (
		old     *runbook.Holder
		refusal error
	)
	err := s.write(context.Background(), "record the lock holder", func(ctx context.Context, tx *sql.Tx) error {
		prev, err := scanHolder(tx.QueryRowContext(ctx, holderQuery))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read the previous holder: %w", err)
		default:
			if refusal = s.mayTakeOver(prev, me, m); refusal != nil {
				return refusal
			}
			old = &prev.Holder
		}
		if err := tx.QueryRowContext(ctx, "SELECT db_id FROM store_identity WHERE id = 1").Scan(&me.DBID); err != nil {
			return fmt.Errorf("read the database id: %w", err)
		}
		if me.Version == "" {
			if me.Version, err = unfinishedVersion(ctx, tx); err != nil {
				return fmt.Errorf("read the unfinished release: %w", err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO lock_holder (id, user, machine, pid, version, command, since,
				boot_id, started, db_id, db_path)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET user = excluded.user, machine = excluded.machine,
				pid = excluded.pid, version = excluded.version, command = excluded.command, since = excluded.since,
				boot_id = excluded.boot_id, started = excluded.started, db_id = excluded.db_id, db_path = excluded.db_path`,
			me.User, me.Machine, me.PID, me.Version, me.Command, timeArg(me.Since),
			me.BootID, int64(me.Started), me.DBID, me.DBPath)
		return err
	})
	if refusal != nil {
		return nil, refusal // as it is: it names the holder, with no transaction detail around it
	}
	return old, err
}

// mayTakeOver decides whether the row prev, found while we hold the
// flock, may be replaced by me.
func (s *Store) mayTakeOver(prev, me holderRow, m machineView) error {
	switch m.judge(prev) {
	case holderGone:
		return nil
	case holderElsewhere:
		if s.TakeOverOtherMachine {
			return nil
		}
		return &OtherMachineError{Holder: prev.Holder, Here: m.name}
	}
	// Alive on this machine. It may be this very process, whose earlier
	// lock of this file ended with its row left behind (a failed delete):
	// it holds no flock of this file, or ours would have failed.
	if prev.PID == me.PID && prev.Started == me.Started && prev.BootID == me.BootID &&
		(prev.DBPath == "" || prev.DBPath == s.path) {
		return nil
	}
	return &CopyInUseError{Holder: prev.Holder, Original: prev.DBPath}
}

// currentHolder names the process that holds the flock. Its row may lag
// the flock by one transaction, hence the short wait. Until then the row
// may still be that of a holder killed before: a process that is provably
// gone cannot hold the flock, so its row is waited past too — reported, it
// would send the operator after a dead process while the live one goes
// unnamed.
func (s *Store) currentHolder() runbook.Holder {
	m := thisMachine()
	for range holderPolls {
		h, err := scanHolder(s.r.QueryRow(holderQuery))
		if err == nil && m.judge(h) != holderGone {
			if h.Version == "" {
				// A holder that took the lock before it knew its release
				// (resume, rollback) is working on the unfinished one.
				h.Version, _ = unfinishedVersion(context.Background(), s.r)
			}
			return h.Holder
		}
		time.Sleep(holderPollDelay)
	}
	// No live holder's row after all this time: the holder is stuck
	// between its flock and its first write. It did take the lock just
	// now, as far as we know.
	return runbook.Holder{User: "an unknown user", Machine: "an unknown machine", Command: "runbook", Since: s.now()}
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
