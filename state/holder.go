package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// holderRow is the lock_holder row: the holder as messages name it, and
// what tells its process apart from any other that has, or once had, its
// pid (proc.go).
type holderRow struct {
	runbook.Holder
	BootID  string // the boot of its machine when it locked, "" where unknown
	Started uint64 // the start time of its process, clock ticks after boot; 0 where unknown
	DBID    string // the id of the database it locked (store_identity)
	DBPath  string // the absolute path it opened that database at
}

const holderQuery = `SELECT user, machine, pid, version, command, since, boot_id, started, db_id, db_path
	FROM lock_holder WHERE id = 1`

func scanHolder(row scanner) (holderRow, error) {
	var h holderRow
	err := row.Scan(&h.User, &h.Machine, &h.PID, &h.Version, &h.Command, timeCol{&h.Since},
		&h.BootID, &h.Started, &h.DBID, &h.DBPath)
	return h, err
}

// machineView is what this process knows of its machine for judging a
// holder.
type machineView struct {
	name   string
	bootID string
	booted time.Time
}

func thisMachine() machineView {
	name, _ := os.Hostname()
	return machineView{name: name, bootID: bootID(), booted: bootTime()}
}

// liveness is what can be proven about a holder's process.
type liveness int

const (
	// holderGone: the process is provably gone; its lock may be taken over.
	holderGone liveness = iota
	// holderAlive: that very process still runs on this machine.
	holderAlive
	// holderElsewhere: it ran on another machine, which nothing here can
	// look into.
	holderElsewhere
)

// judge says whether h's process still runs. Only what proves it gone
// counts as gone: the machine restarted since (another boot id), no
// process has its pid, or the process with its pid started at another
// moment, so it is another one. A process that exists but hides its start
// time (another user's, under hidepid) is taken as alive.
func (m machineView) judge(h holderRow) liveness {
	if h.Machine != m.name {
		return holderElsewhere
	}
	if h.BootID != "" && m.bootID != "" && h.BootID != m.bootID {
		return holderGone
	}
	if !pidExists(h.PID) {
		return holderGone
	}
	start, err := processStart(h.PID)
	if err != nil {
		return holderAlive
	}
	if h.Started != 0 {
		if start != h.Started {
			return holderGone
		}
		return holderAlive
	}
	// A row from before start times were recorded: a process that started
	// after the holder took the lock cannot be that holder. The boot time
	// is in whole seconds, hence the margin; within it, alive.
	if !m.booted.IsZero() && !h.Since.IsZero() {
		started := m.booted.Add(time.Duration(start) * time.Second / clockTicks)
		if started.After(h.Since.Add(time.Second)) {
			return holderGone
		}
	}
	return holderAlive
}

// CopyInUseError is a lock refused because the database is a copy of one
// that a live process holds: this file's lock is free, yet its holder row
// names a process that still runs on this machine. That process holds
// another file — the original, of which this is a copy, or which was moved
// or restored under it — and walking both would make two diverging
// records of one release. It unwraps to the *runbook.LockedError.
type CopyInUseError struct {
	Holder   runbook.Holder
	Original string // the path the holder opened the database at; "" when its row predates paths
}

func (e *CopyInUseError) Error() string {
	h := e.Holder
	orig := "the original"
	if e.Original != "" {
		orig += ", " + e.Original
	}
	return fmt.Sprintf("state copied or moved while in use: %s's runbook %s on %s (pid %d, since %s) holds %s",
		h.User, holderWhat(h), h.Machine, h.PID, h.Since.UTC().Format(time.RFC3339), orig)
}

func (e *CopyInUseError) Unwrap() error { return &runbook.LockedError{Holder: e.Holder} }

// OtherMachineError is a lock refused because its holder row names a
// process of another machine: nothing on this one can prove it gone. It
// unwraps to the *runbook.LockedError. Store.TakeOverOtherMachine lets
// Lock take it over instead.
type OtherMachineError struct {
	Holder runbook.Holder
	Here   string // this machine's name
}

func (e *OtherMachineError) Error() string {
	h := e.Holder
	return fmt.Sprintf("the state is locked by %s on %s (pid %d, %s) since %s, and %s cannot tell whether that process still runs",
		h.User, h.Machine, h.PID, holderWhat(h), h.Since.UTC().Format(time.RFC3339), e.Here)
}

func (e *OtherMachineError) Unwrap() error { return &runbook.LockedError{Holder: e.Holder} }

// holderWhat is "start 2.4.0", or "resume" when the version is not known.
func holderWhat(h runbook.Holder) string {
	return strings.TrimSpace(h.Command + " " + h.Version)
}

// queryer is a transaction or a pool: what unfinishedVersion reads with.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// unfinishedVersion returns the version of the newest unfinished release,
// "" when every release is finished. A holder that did not say which
// release it works on (resume, abort, rollback) works on that one.
func unfinishedVersion(ctx context.Context, q queryer) (string, error) {
	args := make([]any, len(finishedStates))
	for i, st := range finishedStates {
		args[i] = st
	}
	var v string
	err := q.QueryRowContext(ctx, "SELECT version FROM releases WHERE state NOT IN (?"+
		strings.Repeat(", ?", len(finishedStates)-1)+") ORDER BY id DESC LIMIT 1", args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}
