package remote_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// commandSessions counts the command sessions sshd started (not SFTP's).
func commandSessions(h *sshdtest.Host) int {
	return strings.Count(h.Log(), "Starting session: command")
}

// hostShellPID runs a plain command that prints its parent: the host
// shell, which starts each command (setsid sh -s).
func hostShellPID(t *testing.T, c remote.Conn) int {
	t.Helper()
	var out syncBuffer
	if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "echo $PPID", Stdout: &out}); err != nil || code != 0 {
		t.Fatalf("Exec: %d %v", code, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("no pid in %q", out.String())
	}
	return pid
}

// A night of ten steps on a host, each with its markers read and
// forgotten, opens one command session on it: the host shell.
func TestSSHDTenStepsOneSession(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	ctx := context.Background()
	for i := range 10 {
		tok := fmt.Sprintf("r1-s%02d-check-a1-sshd-00", i)
		var out syncBuffer
		if code, err := c.Exec(ctx, remote.ExecSpec{Script: fmt.Sprintf("echo step %d; exit %d", i, i%3), Token: tok, Stdout: &out}); err != nil || code != i%3 {
			t.Fatalf("step %d: %d %v", i, code, err)
		}
		if out.String() != fmt.Sprintf("step %d\n", i) {
			t.Errorf("step %d printed %q", i, out.String())
		}
		if m, err := c.Markers(ctx, tok, time.Time{}); err != nil || m.State != remote.Finished || m.ExitCode != i%3 {
			t.Fatalf("step %d: markers %+v %v", i, m, err)
		}
		if err := c.ForgetMarkers(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := commandSessions(h); n != 1 {
		t.Errorf("%d command sessions for ten steps, want 1 (the host shell)", n)
	}
	if p.Dials() != 1 {
		t.Errorf("%d dials, want 1", p.Dials())
	}
}

// The host shell killed between two steps: the next step runs, in a new
// host shell, on the same connection.
func TestSSHDHostShellKilledBetweenSteps(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	first := hostShellPID(t, c)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the host shell to be gone", func() bool { return !exists(fmt.Sprintf("/proc/%d", first)) })
	var out syncBuffer
	tok := "r1-s02-after-a1-sshd-00"
	if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "echo after; exit 4", Token: tok, Stdout: &out}); err != nil || code != 4 || out.String() != "after\n" {
		t.Fatalf("the step after the host shell died: %d %v %q, want 4 and its output", code, err, out.String())
	}
	if second := hostShellPID(t, c); second == first {
		t.Errorf("the same host shell %d after it was killed", first)
	}
	if p.Dials() != 1 {
		t.Errorf("%d dials, want 1: a dead host shell is no dead connection", p.Dials())
	}
}

// The host shell killed while a step runs: the step is in doubt (it may
// have run), its markers settle it once it ends, and the next step runs.
func TestSSHDHostShellKilledMidStep(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	dir := t.TempDir()
	tok := "r1-s01-long-a1-sshd-00"
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), remote.ExecSpec{Token: tok, Script: fmt.Sprintf(
			"echo $PPID > %[1]s/shell; touch %[1]s/ready; while [ ! -e %[1]s/go ]; do sleep 0.02; done; exit 7", dir)})
		done <- err
	}()
	waitFor(t, "the step to start", func() bool { return exists(filepath.Join(dir, "ready")) })
	b, err := os.ReadFile(filepath.Join(dir, "shell"))
	if err != nil {
		t.Fatal(err)
	}
	// The script's parent is the wrapper's sh; the host shell is its parent.
	shell := parentOf(t, strings.TrimSpace(string(b)))
	if err := syscall.Kill(shell, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, remote.ErrInDoubt) {
		t.Fatalf("Exec whose host shell died: %v, want ErrInDoubt", err)
	}
	if m, err := c.Markers(context.Background(), tok, time.Time{}); err != nil || m.State != remote.Finished || m.ExitCode != 7 {
		t.Fatalf("markers: %+v %v, want finished with 7", m, err)
	}
	if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "exit 3"}); err != nil || code != 3 {
		t.Fatalf("the next step: %d %v", code, err)
	}
}

// parentOf reads a process's parent from /proc.
func parentOf(t *testing.T, pid string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

// runbook killed with -9 while a step runs in the host shell: its
// connection goes with it (here: the pool is closed under the running
// step, which nothing stops); a fresh process finds the run by its
// markers, waits for it and reads its code and whole output.
func TestSSHDRunbookKilledMidStepResumesFromMarkers(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	dir := t.TempDir()
	tok := "r1-s03-migrate-a1-sshd-00"
	go func() {
		_, _ = c.Exec(context.Background(), remote.ExecSpec{Token: tok, Script: fmt.Sprintf(
			"echo first; touch %[1]s/ready; while [ ! -e %[1]s/go ]; do sleep 0.02; done; echo second; exit 5", dir)})
	}()
	waitFor(t, "the step to start", func() bool { return exists(filepath.Join(dir, "ready")) })
	p.Close()

	p2, _ := sshdPool(t, h)
	c2 := connect(t, p2, cfg)
	ctx := context.Background()
	if m, err := c2.Markers(ctx, tok, time.Time{}); err != nil || m.State != remote.StillRunning {
		t.Fatalf("markers from a fresh process: %+v %v, want still running", m, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	if code, err := c2.Wait(ctx, tok, &out); err != nil || code != 5 || out.String() != "first\nsecond\n" {
		t.Fatalf("Wait: %d %v %q, want 5 and the whole log", code, err, out.String())
	}
	if m, err := c2.Markers(ctx, tok, time.Time{}); err != nil || m.State != remote.Finished || m.ExitCode != 5 {
		t.Fatalf("markers at the end: %+v %v, want finished with 5", m, err)
	}
}

// Each step runs in a process group of its own, not the host shell's:
// stopping one (its timeout) leaves what an earlier step started, a
// daemon, running.
func TestSSHDStepStopSparesEarlierSteps(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	shell := hostShellPID(t, c)
	var out syncBuffer
	if _, err := c.Exec(context.Background(), remote.ExecSpec{Script: "sleep 600 </dev/null >/dev/null 2>&1 & echo $!", Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	daemon, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("no pid in %q", out.String())
	}
	t.Cleanup(func() { _ = syscall.Kill(daemon, syscall.SIGKILL) })
	for _, tok := range []string{"", "r1-s02-slow-a1-sshd-00"} {
		if _, err := c.Exec(context.Background(), remote.ExecSpec{Script: "sleep 600", Token: tok, Timeout: 500 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("token %q: %v, want a timeout", tok, err)
		}
		if !exists(fmt.Sprintf("/proc/%d", daemon)) || zombie(strconv.Itoa(daemon)) {
			t.Fatalf("token %q: the daemon of the first step was killed with the second", tok)
		}
	}
	// The stops signalled from sessions of their own; the host shell
	// was not among what they ended.
	if after := hostShellPID(t, c); after != shell {
		t.Errorf("host shell %d after the timeouts, want %d: a stop ended it", after, shell)
	}
}

// A script that only looks (the preflight's checks) runs in a subshell of
// the host shell: the host shell's process group, where every command
// leads one of its own (setsid sh -s). It gets the script's stdout and
// exit code all the same, and refuses what it cannot honour.
func TestSSHDLookRunsInTheHostShell(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	ctx := context.Background()
	group := func(spec remote.ExecSpec, wantCode int) string {
		t.Helper()
		var out syncBuffer
		spec.Script = "cut -d' ' -f5 /proc/self/stat\nexit " + strconv.Itoa(wantCode)
		spec.Stdout = &out
		if code, err := c.Exec(ctx, spec); err != nil || code != wantCode {
			t.Fatalf("Exec(Look: %v): %d %v", spec.Look, code, err)
		}
		return strings.TrimSpace(out.String())
	}
	shell := strconv.Itoa(hostShellPID(t, c))
	if g := group(remote.ExecSpec{Look: true}, 0); g != shell {
		t.Errorf("a look ran in process group %s, want the host shell's, %s", g, shell)
	}
	if g := group(remote.ExecSpec{Look: true}, 3); g != shell {
		t.Errorf("the second look ran in process group %s, want the host shell's, %s", g, shell)
	}
	if g := group(remote.ExecSpec{}, 0); g == shell || g == "" {
		t.Errorf("a command ran in process group %q, want one of its own (the host shell's is %s)", g, shell)
	}
	if n := commandSessions(h); n != 1 {
		t.Errorf("%d command sessions, want the host shell's alone", n)
	}
	if _, err := c.Exec(ctx, remote.ExecSpec{Look: true, Script: "true", Dir: "/tmp"}); err == nil {
		t.Error("a look with a Dir ran")
	}
}
