package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// plantHolder writes h as the holder row, as a process that locked the
// database would have left it.
func plantHolder(t *testing.T, s *Store, h holderRow) {
	t.Helper()
	_, err := s.w.Exec(`INSERT OR REPLACE INTO lock_holder (id, user, machine, pid, version, command, since,
		boot_id, started, db_id, db_path) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.User, h.Machine, h.PID, h.Version, h.Command, timeArg(h.Since), h.BootID, int64(h.Started), h.DBID, h.DBPath)
	if err != nil {
		t.Fatal(err)
	}
}

// sleeper starts a process that lives until the test ends and returns its
// pid and start time.
func sleeper(t *testing.T) (int, uint64) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	start, err := processStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, start
}

func TestParseStatStart(t *testing.T) {
	// Fields 3 to 21, then the start time (22), then the rest.
	tail := " S 1 4242 4242 0 -1 4194560 103 0 0 0 0 0 0 0 20 0 1 0 %s 8192000 200 18446744073709551615"
	for _, tc := range []struct {
		name, stat string
		want       uint64
	}{
		{"plain", "4242 (sleep)" + fmt.Sprintf(tail, "987654"), 987654},
		{"a command name with spaces and parentheses", "4242 (a) b (c)" + fmt.Sprintf(tail, "77"), 77},
		{"no command name", "4242 sleep S 1", 0},
		{"cut short", "4242 (sleep) S 1 4242 4242 0 0", 0},
		{"not a number", "4242 (sleep)" + fmt.Sprintf(tail, "x"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatStart([]byte(tc.stat))
			if tc.want == 0 {
				if err == nil {
					t.Errorf("parseStatStart = %d, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseStatStart = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	// And the real thing: this process started before now.
	start, err := processStart(os.Getpid())
	if err != nil || start == 0 {
		t.Fatalf("processStart(self) = %d, %v", start, err)
	}
}

// The row names the holder by machine, boot, pid, start time, database id
// and path.
func TestLockRecordsWhoHolds(t *testing.T) {
	s := openTemp(t)
	unlock, _, err := s.Lock(runbook.Holder{User: "alice", Command: "start", Version: "2.4.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	h, err := scanHolder(s.r.QueryRow(holderQuery))
	if err != nil {
		t.Fatal(err)
	}
	start, _ := processStart(os.Getpid())
	host, _ := os.Hostname()
	if h.Machine != host || h.PID != os.Getpid() || h.BootID != bootID() || h.BootID == "" || h.Started != start || h.DBPath != s.Path() {
		t.Errorf("holder row = %+v, want machine %s, pid %d, boot %s, started %d, path %s", h, host, os.Getpid(), bootID(), start, s.Path())
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(h.DBID) {
		t.Errorf("database id %q, want 32 hex digits", h.DBID)
	}
	other := openTemp(t)
	var id string
	if err := other.r.QueryRow("SELECT db_id FROM store_identity").Scan(&id); err != nil || id == h.DBID {
		t.Errorf("a second database has id %q (%v), want its own", id, err)
	}
}

// copyDatabase copies the database files at src (the database, its WAL
// and WAL index, as cp -a of the directory would) to dst.
func copyDatabase(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		in, err := os.Open(src + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(dst + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A copy of a database, taken while another process holds its lock, must
// not take that lock over: its holder still runs (M-6). Once the holder
// is gone, the copy's lock is taken over like any other.
func TestLockCopiedWhileHeld(t *testing.T) {
	dir := t.TempDir()
	orig := filepath.Join(dir, "a", "state.db")
	c := lockingProcess(t, orig)
	cp := filepath.Join(dir, "b", "state.db")
	copyDatabase(t, orig, cp)

	s, err := Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unlock, recovered, err := s.Lock(runbook.Holder{User: "alice", Command: "resume"})
	if err == nil {
		unlock()
		t.Fatalf("Lock of a copy whose holder runs: taken over (recovered %+v), want refused", recovered)
	}
	var copied *CopyInUseError
	var locked *runbook.LockedError
	if !errors.As(err, &copied) || !errors.As(err, &locked) {
		t.Fatalf("err = %v (%T), want a *CopyInUseError that is a *runbook.LockedError", err, err)
	}
	want := helperWant(c)
	if locked.Holder != want || copied.Original != orig {
		t.Errorf("refusal names %+v holding %q, want %+v holding %q", locked.Holder, copied.Original, want, orig)
	}
	for _, part := range []string{"state copied or moved while in use", "carol", want.Machine, fmt.Sprintf("pid %d", want.PID),
		"start 2.4.0", "since 2026-11-26T22:30:00Z", orig} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message %q does not name %q", err, part)
		}
	}

	c.stdin.Close()
	c.expect(t, "unlocked")
	if err := c.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	unlock, recovered, err = s.Lock(runbook.Holder{User: "alice", Command: "resume"})
	if err != nil {
		t.Fatalf("Lock of the copy once its holder is gone: %v", err)
	}
	defer unlock()
	if recovered == nil || *recovered != want {
		t.Errorf("recovered = %+v, want %+v", recovered, want)
	}
}

// The start time tells a holder from another process that has its pid
// now: a reused pid is not the holder, so its lock is taken over; the
// process that did lock is not.
func TestLockHolderIsItsProcessNotItsPID(t *testing.T) {
	pid, start := sleeper(t)
	host, _ := os.Hostname()
	holder := runbook.Holder{User: "dave", Machine: host, PID: pid, Version: "2.4.0", Command: "start", Since: t0}
	for _, tc := range []struct {
		name    string
		row     holderRow
		takeOff bool
	}{
		{"the pid now belongs to a process that started later", holderRow{BootID: bootID(), Started: start - 1}, true},
		{"the pid belongs to the process that locked", holderRow{BootID: bootID(), Started: start}, false},
		{"the machine restarted since", holderRow{BootID: "00000000-0000-4000-8000-000000000000", Started: start}, true},
		// Rows from before start times were recorded: the lock time decides.
		{"an old row, the process started after the lock was taken", holderRow{Holder: runbook.Holder{Since: time.Now().Add(-time.Hour)}}, true},
		{"an old row, the process started before the lock was taken", holderRow{Holder: runbook.Holder{Since: time.Now().Add(time.Hour)}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			row := tc.row
			since := row.Since
			row.Holder = holder
			if !since.IsZero() {
				row.Since = since.UTC()
			}
			row.DBPath = s.Path()
			plantHolder(t, s, row)
			unlock, recovered, err := s.Lock(runbook.Holder{User: "alice", Command: "resume"})
			if tc.takeOff {
				if err != nil {
					t.Fatalf("Lock: %v, want the lock taken over", err)
				}
				unlock()
				if recovered == nil || recovered.PID != pid {
					t.Errorf("recovered = %+v, want the holder with pid %d", recovered, pid)
				}
				return
			}
			var copied *CopyInUseError
			if !errors.As(err, &copied) {
				if unlock != nil {
					unlock()
				}
				t.Fatalf("Lock: err = %v, want *CopyInUseError: the holder runs", err)
			}
			if copied.Holder.PID != pid {
				t.Errorf("refusal names pid %d, want %d", copied.Holder.PID, pid)
			}
		})
	}
}

// A holder on another machine cannot be proven gone from here: refused,
// unless the operator says it is.
func TestLockHolderOnAnotherMachine(t *testing.T) {
	s := openTemp(t)
	row := holderRow{Holder: runbook.Holder{User: "carol", Machine: "ops-box", PID: 4242, Version: "2.4.0", Command: "start", Since: t0},
		BootID: "00000000-0000-4000-8000-000000000000", Started: 1}
	plantHolder(t, s, row)
	_, _, err := s.Lock(runbook.Holder{User: "alice", Command: "resume"})
	var other *OtherMachineError
	var locked *runbook.LockedError
	if !errors.As(err, &other) || !errors.As(err, &locked) {
		t.Fatalf("err = %v, want a *OtherMachineError that is a *runbook.LockedError", err)
	}
	for _, part := range []string{"carol", "ops-box", "pid 4242", "start 2.4.0", "2026-11-26T21:00:00Z", "cannot tell"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message %q does not name %q", err, part)
		}
	}

	s.TakeOverOtherMachine = true
	unlock, recovered, err := s.Lock(runbook.Holder{User: "alice", Command: "resume"})
	if err != nil {
		t.Fatalf("Lock with TakeOverOtherMachine: %v", err)
	}
	defer unlock()
	if recovered == nil || *recovered != row.Holder {
		t.Errorf("recovered = %+v, want %+v", recovered, row.Holder)
	}
}

// Even told to take over from another machine, Lock never takes the lock
// of a holder it can see running here.
func TestLockTakeOverSparesALiveHolder(t *testing.T) {
	s := openTemp(t)
	pid, start := sleeper(t)
	host, _ := os.Hostname()
	plantHolder(t, s, holderRow{Holder: runbook.Holder{User: "dave", Machine: host, PID: pid, Command: "start", Since: t0},
		BootID: bootID(), Started: start, DBPath: "/elsewhere/state.db"})
	s.TakeOverOtherMachine = true
	_, _, err := s.Lock(runbook.Holder{User: "alice"})
	var copied *CopyInUseError
	if !errors.As(err, &copied) {
		t.Fatalf("err = %v, want *CopyInUseError", err)
	}
}

// A row this very process left on this file (its delete failed) does not
// stop its next lock of the same file; on a copy it does, like any
// holder's.
func TestLockOwnRowLeftBehind(t *testing.T) {
	start, _ := processStart(os.Getpid())
	host, _ := os.Hostname()
	for _, tc := range []struct {
		name string
		path func(s *Store) string
		ok   bool
	}{
		{"on the same file", func(s *Store) string { return s.Path() }, true},
		{"on a copy", func(*Store) string { return "/elsewhere/state.db" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			plantHolder(t, s, holderRow{Holder: runbook.Holder{User: "alice", Machine: host, PID: os.Getpid(), Command: "start", Since: t0},
				BootID: bootID(), Started: start, DBPath: tc.path(s)})
			unlock, _, err := s.Lock(runbook.Holder{User: "alice"})
			if err == nil {
				unlock()
			}
			var copied *CopyInUseError
			if tc.ok != (err == nil) || (!tc.ok && !errors.As(err, &copied)) {
				t.Errorf("Lock: err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// A holder that did not name its release (resume, abort, rollback) is
// named with the unfinished one, in the row and in the refusal.
func TestLockHolderVersionIsTheUnfinishedRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	create(t, a, "2.4.1")
	unlock, _, err := a.Lock(runbook.Holder{User: "alice", Command: "resume"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, _, err = b.Lock(runbook.Holder{User: "bob", Command: "start", Version: "2.5.0"})
	var locked *runbook.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("err = %v, want *runbook.LockedError", err)
	}
	if locked.Holder.Version != "2.4.1" || !strings.Contains(err.Error(), "(pid ") || !strings.Contains(err.Error(), ", resume 2.4.1) since") {
		t.Errorf("refusal %q names version %q, want resume 2.4.1", err, locked.Holder.Version)
	}
	h, err := scanHolder(a.r.QueryRowContext(context.Background(), holderQuery))
	if err != nil || h.Version != "2.4.1" {
		t.Errorf("holder row version = %q (%v), want 2.4.1", h.Version, err)
	}
}

// A database of schema version 1 (before holder identities) is brought up
// to date with a database id of its own, and a holder row it kept is
// judged by its lock time: here, a live process that started before it
// locked is taken for the holder.
func TestMigrateHolderFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", dsn(path, writerParams))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	pid, _ := sleeper(t)
	for _, q := range []string{migrations[0], "PRAGMA user_version = 1"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO lock_holder (id, user, machine, pid, version, command, since) VALUES (1, 'dave', ?, ?, '2.4.0', 'start', ?)`,
		host, pid, timeArg(time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var id string
	if err := s.r.QueryRow("SELECT db_id FROM store_identity").Scan(&id); err != nil || len(id) != 32 {
		t.Errorf("database id after the migration = %q, %v", id, err)
	}
	_, _, err = s.Lock(runbook.Holder{User: "alice"})
	var copied *CopyInUseError
	if !errors.As(err, &copied) || copied.Holder.PID != pid || copied.Original != "" {
		t.Fatalf("Lock over a version 1 row of a live process: err = %v, want *CopyInUseError naming pid %d", err, pid)
	}
	if !strings.Contains(err.Error(), "holds the original") {
		t.Errorf("message %q", err)
	}
}

// Where /proc does not tell (another system, or hidden), a holder is
// named by machine and pid alone: a pid that no process has is gone, one
// that a process has is taken for the holder, the safe side.
func TestLockWithoutProc(t *testing.T) {
	live, _ := sleeper(t)
	root := procRoot
	procRoot = t.TempDir()
	defer func() { procRoot = root }()

	s := openTemp(t)
	unlock, _, err := s.Lock(runbook.Holder{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := scanHolder(s.r.QueryRow(holderQuery))
	unlock()
	if err != nil || h.BootID != "" || h.Started != 0 {
		t.Fatalf("holder row without /proc = %+v, %v; want no boot id, no start time", h, err)
	}

	host, _ := os.Hostname()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pid  int
		gone bool
	}{{gone.Process.Pid, true}, {live, false}} {
		plantHolder(t, s, holderRow{Holder: runbook.Holder{User: "dave", Machine: host, PID: tc.pid, Command: "start", Since: t0}})
		unlock, _, err := s.Lock(runbook.Holder{User: "alice"})
		if err == nil {
			unlock()
		}
		var copied *CopyInUseError
		if tc.gone != (err == nil) || (!tc.gone && !errors.As(err, &copied)) {
			t.Errorf("holder pid %d (gone: %v): Lock err = %v", tc.pid, tc.gone, err)
		}
	}
}
