package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// helperEnv names the database a re-executed test binary locks.
const helperEnv = "RUNBOOK_STATE_LOCK_HELPER_DB"

// helperHolder is what the helper process writes as the holder; the
// machine is this one (filled by Lock), since only a holder on this
// machine can be proven gone.
var helperHolder = runbook.Holder{User: "carol", Version: "2.4.0", Command: "start",
	Since: time.Date(2026, 11, 26, 22, 30, 0, 0, time.UTC)}

// helperWant is helperHolder as Lock records it for the process c.
func helperWant(c *child) runbook.Holder {
	h := helperHolder
	h.PID = c.cmd.Process.Pid
	h.Machine, _ = os.Hostname()
	return h
}

// TestHelperProcess is not a test: run by lockingProcess in a child
// process, it takes the lock, says "locked", holds the lock until its stdin
// closes, then unlocks and says "unlocked".
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		return
	}
	s, err := Open(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	unlock, _, err := s.Lock(helperHolder)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	unlock()
	s.Close()
	fmt.Println("unlocked")
	os.Exit(0)
}

// child is a test binary holding the lock of a database.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

// lockingProcess starts a child that holds the lock on path, and returns
// once the child says it has the lock.
func lockingProcess(t *testing.T, path string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		// Ends the child only if the test has not already: its own PID.
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	c.expect(t, "locked")
	return c
}

// expect reads the child's output up to the line want.
func (c *child) expect(t *testing.T, want string) {
	t.Helper()
	for c.lines.Scan() {
		line := c.lines.Text()
		if line == want {
			return
		}
		if strings.HasPrefix(line, "error:") {
			t.Fatalf("helper process: %s", line)
		}
	}
	t.Fatalf("helper process ended without saying %q (scan error %v)", want, c.lines.Err())
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	c := lockingProcess(t, path)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	unlock, _, err := s.Lock(runbook.Holder{User: "alice", Version: "2.4.1", Command: "start"})
	var locked *runbook.LockedError
	if !errors.As(err, &locked) {
		if unlock != nil {
			unlock()
		}
		t.Fatalf("Lock while another process holds it: err = %v, want *runbook.LockedError", err)
	}
	want := helperWant(c)
	if locked.Holder != want {
		t.Errorf("holder = %+v, want %+v", locked.Holder, want)
	}
	for _, part := range []string{"carol", want.Machine, fmt.Sprintf("pid %d", want.PID), "2.4.0", "2026-11-26T22:30:00Z"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message %q does not name %q", err, part)
		}
	}
}

func TestLockFromKilledProcessIsRecovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	c := lockingProcess(t, path)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Once the child is reaped the kernel has closed its files: the flock
	// is gone, only its holder row is left.
	_ = c.cmd.Wait()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unlock, recovered, err := s.Lock(runbook.Holder{User: "alice", Version: "2.4.0", Command: "resume"})
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	defer unlock()
	want := helperWant(c)
	if recovered == nil || *recovered != want {
		t.Errorf("recovered = %+v, want %+v", recovered, want)
	}
}

func TestLockReleasedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	c := lockingProcess(t, path)
	c.stdin.Close()
	c.expect(t, "unlocked")
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unlock, recovered, err := s.Lock(runbook.Holder{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if recovered != nil {
		t.Errorf("recovered = %+v after a clean unlock, want nil", recovered)
	}
}

// flock excludes open file descriptions, not processes: two stores of one
// process exclude each other too.
func TestLockExcludesWithinProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.Now = func() time.Time { return t0 }

	unlockA, recovered, err := a.Lock(runbook.Holder{User: "alice", Version: "2.4.0", Command: "start"})
	if err != nil || recovered != nil {
		t.Fatalf("first Lock = %v, %v", recovered, err)
	}
	_, _, err = b.Lock(runbook.Holder{User: "bob"})
	var locked *runbook.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second Lock in the same process: err = %v, want *runbook.LockedError", err)
	}
	host, _ := os.Hostname()
	want := runbook.Holder{User: "alice", Machine: host, PID: os.Getpid(), Version: "2.4.0", Command: "start", Since: t0}
	if locked.Holder != want {
		t.Errorf("holder = %+v, want %+v (PID, machine and since filled)", locked.Holder, want)
	}

	unlockA()
	unlockA() // idempotent
	unlockB, recovered, err := b.Lock(runbook.Holder{User: "bob"})
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	defer unlockB()
	if recovered != nil {
		t.Errorf("recovered = %+v after a clean unlock, want nil", recovered)
	}
}

// A holder that has the flock but has not written its row yet is still
// reported as a lock, not as an error of another kind.
func TestLockHeldWithoutRow(t *testing.T) {
	s := openTemp(t)
	f, err := os.OpenFile(s.Path()+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	polls := holderPolls
	holderPolls = 1
	defer func() { holderPolls = polls }()

	_, _, err = s.Lock(runbook.Holder{User: "alice"})
	var locked *runbook.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("err = %v, want *runbook.LockedError", err)
	}
	if locked.Holder.User != "an unknown user" || locked.Holder.Since.IsZero() {
		t.Errorf("holder = %+v, want an unknown holder since now", locked.Holder)
	}
}

// The row of a holder killed before is still there while the process that
// took its flock writes its own: that dead holder must not be named as
// the one holding the lock.
func TestLockHeldNotReportedAsDeadHolder(t *testing.T) {
	s := openTemp(t)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	plantHolder(t, s, holderRow{Holder: runbook.Holder{User: "dave", Machine: host, PID: gone.Process.Pid, Command: "start", Since: t0},
		BootID: bootID(), Started: 1})
	f, err := os.OpenFile(s.Path()+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	polls := holderPolls
	holderPolls = 1
	defer func() { holderPolls = polls }()

	_, _, err = s.Lock(runbook.Holder{User: "alice"})
	var locked *runbook.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("err = %v, want *runbook.LockedError", err)
	}
	if locked.Holder.User == "dave" || locked.Holder.PID == gone.Process.Pid {
		t.Errorf("holder = %+v: the dead holder is named instead of the live one", locked.Holder)
	}
}
