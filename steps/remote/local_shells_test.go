package remote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readyShell waits for the shell started ahead and returns its pid.
func readyShell(t *testing.T, s *aheadShells) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		sh := s.ready
		s.mu.Unlock()
		if sh != nil {
			return sh.cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("no shell was started ahead")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run runs script on l with run markers and returns what it printed.
func runLocal(t *testing.T, l *Local, dir, script string) string {
	t.Helper()
	var out lockedBuffer
	code, err := l.Exec(context.Background(), ExecSpec{Script: script, Dir: dir, Token: "r1-s01-t-a1-local-" + strconv.FormatInt(time.Now().UnixNano(), 16), Stdout: &out, Stderr: &out})
	if err != nil || code != 0 {
		t.Fatalf("%s: %d %v\n%s", script, code, err, out.String())
	}
	return strings.TrimSpace(out.String())
}

func shellsLocal(t *testing.T) *Local {
	l := &Local{cfg: HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()}, shells: &aheadShells{}}
	t.Cleanup(l.shells.close)
	return l
}

// The command after the first runs in the shell started ahead, its output
// goes where its run says, and its markers are the ones it would have had.
func TestShellStartedAheadRunsTheNextCommand(t *testing.T) {
	l := shellsLocal(t)
	runLocal(t, l, "", "true")
	pid := readyShell(t, l.shells)
	if got := runLocal(t, l, "", "echo $$"); got != strconv.Itoa(pid) {
		t.Fatalf("the second command ran in shell %s, want the one started ahead, %d", got, pid)
	}
	entries, _ := os.ReadDir(l.cfg.MarkerDir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".rc") {
			if b, _ := os.ReadFile(filepath.Join(l.cfg.MarkerDir, e.Name())); strings.TrimSpace(string(b)) != "0" {
				t.Errorf("%s holds %q, want the exit code 0", e.Name(), b)
			}
		}
	}
}

// H-2 for a shell started ahead: it is started with the environment every
// local command gets, without runbook's own variables.
func TestShellStartedAheadSeesNoRunbookVariables(t *testing.T) {
	t.Setenv("RUNBOOK_VAULT_PASSPHRASE", "correct horse battery staple 42")
	l := shellsLocal(t)
	runLocal(t, l, "", "true")
	pid := readyShell(t, l.shells)
	got := runLocal(t, l, "", "echo $$; env")
	if !strings.HasPrefix(got, strconv.Itoa(pid)+"\n") {
		t.Fatalf("not run in the shell started ahead (%d):\n%s", pid, got)
	}
	if strings.Contains(got, "RUNBOOK_VAULT_PASSPHRASE") || strings.Contains(got, "correct horse") {
		t.Fatalf("the shell started ahead saw runbook's passphrase:\n%s", got)
	}
}

// A shell started in another directory is not used: the command runs where
// its run says, and the shell ends having run nothing.
func TestShellStartedAheadInAnotherDirectory(t *testing.T) {
	l := shellsLocal(t)
	a, b := t.TempDir(), t.TempDir()
	runLocal(t, l, a, "true")
	pid := readyShell(t, l.shells)
	if got := runLocal(t, l, b, "pwd"); got != b {
		t.Fatalf("ran in %s, want %s", got, b)
	}
	waitGone(t, pid)
}

// Closing ends the shell started ahead: its stdin closes empty, and it
// exits having run nothing.
func TestShellsCloseEndsTheShellStartedAhead(t *testing.T) {
	l := shellsLocal(t)
	runLocal(t, l, "", "true")
	pid := readyShell(t, l.shells)
	l.shells.close()
	waitGone(t, pid)
	if sh := l.shells.take(""); sh != nil {
		t.Fatal("closed shells gave a shell")
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		if time.Now().After(deadline) {
			t.Fatalf("shell %d is still there", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
