package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tmux drives the binary in a real terminal: survey cannot be driven
// from a pipe, and Ctrl-C must arrive as the terminal sends it.
type tmux struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (.ci/run installs it)")
	}
	tm := &tmux{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmux) cmd(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.sock}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// run starts a shell command in a fresh window; its exit code is printed
// as EXIT=N when it ends, and the pane stays for reading.
func (tm *tmux) run(dir, shell string) {
	tm.t.Helper()
	// The trap keeps the wrapper shell alive through the Ctrl-C meant for
	// runbook (a trap, unlike an ignore, is not inherited by the child).
	script := "trap : INT; cd " + dir + " && " + shell + "; echo EXIT=$?; sleep 600"
	// exit-empty off: a test that kills the session to run another must
	// not find the server on its way out (tmux: "server exited
	// unexpectedly"), as the empty server exits by default.
	tm.cmd("new-session", "-d", "-s", "t", "-x", "160", "-y", "50", "-e", "NO_COLOR=1", "sh", "-c", script,
		";", "set-option", "-g", "exit-empty", "off")
}

func (tm *tmux) screen() string {
	return tm.cmd("capture-pane", "-p", "-J", "-S", "-200", "-t", "t")
}

func (tm *tmux) waitFor(want string) {
	tm.t.Helper()
	var last string
	defer func() {
		if tm.t.Failed() {
			tm.t.Logf("screen:\n%s", last)
		}
	}()
	waitFor(tm.t, "screen to show "+want, func() bool {
		last = tm.screen()
		return strings.Contains(last, want)
	})
}

func (tm *tmux) keys(keys ...string) { tm.cmd(append([]string{"send-keys", "-t", "t"}, keys...)...) }

// TestPrompts walks Run, Skip (with a reason), Pause, then Ctrl-C in a
// running step, in a real terminal.
func TestPrompts(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: first, on: build, run: "touch first"}
  - {name: second, on: build, run: "touch second"}
  - {name: third, on: build, run: "touch third"}
  - {name: long, on: build, run: "touch long.started; sleep 30", idempotent: true}
`)
	tm := newTmux(t)
	tm.run(dir, bin+" start --version 1")
	tm.waitFor("Run first?")
	tm.keys("Enter") // Run (the default)
	tm.waitFor("Run second?")
	tm.keys("Down", "Enter") // Skip
	tm.waitFor("Why skip second?")
	tm.keys("not tonight", "Enter")
	tm.waitFor("Run third?")
	tm.keys("Down", "Down", "Down", "Enter") // Pause
	tm.waitFor("EXIT=0")
	if !strings.Contains(tm.screen(), "release paused") {
		t.Fatalf("no pause message:\n%s", tm.screen())
	}
	exists := func(f string) bool { _, err := os.Stat(filepath.Join(dir, f)); return err == nil }
	if !exists("first") || exists("second") || exists("third") {
		t.Fatalf("effects: first=%v second=%v third=%v", exists("first"), exists("second"), exists("third"))
	}
	d := status(t, dir)
	if st, _ := d.step("second"); st != "skipped" || d.Release.State != "paused" {
		t.Fatalf("second %s, release %s", st, d.Release.State)
	}
	report := run(t, dir, "status")
	if !strings.Contains(report.stdout, "not tonight") {
		t.Errorf("the skip reason is not shown:\n%s", report.stdout)
	}

	// Resume, run third, run long, and press Ctrl-C while it runs.
	tm.cmd("kill-session", "-t", "t")
	tm.run(dir, bin+" resume")
	tm.waitFor("Run third?")
	tm.keys("Enter")
	tm.waitFor("Run long?")
	tm.keys("Enter")
	waitFor(t, "long to start", func() bool { return exists("long.started") })
	tm.keys("C-c")
	tm.waitFor("EXIT=130")
	if !strings.Contains(tm.screen(), "runbook resume") {
		t.Errorf("no resume hint after Ctrl-C:\n%s", tm.screen())
	}
	d = status(t, dir)
	if st, _ := d.step("long"); st != "interrupted" || d.Release.State != "paused" {
		t.Fatalf("after Ctrl-C: long %s, release %s", st, d.Release.State)
	}
	if st, _ := d.step("third"); st != "succeeded" {
		t.Fatalf("third %s", st)
	}
	quickCheck(t, dir)
}
