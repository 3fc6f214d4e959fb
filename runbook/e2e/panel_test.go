package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPanel drives the menu in a real terminal: an operation, then the
// handbook, then quit — the menu comes back after each choice.
func TestPanel(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: panel
environments:
  app:
    local: true
    operations:
      hello: echo "hello from the panel"
      broken: exit 4
handbook:
  checks: [{name: disk, on: app, run: "echo disk ok"}]
  notes: the night's notes
steps:
  - {name: s, on: app, run: "true"}
`)
	tm := newTmux(t)
	tm.run(dir, bin+" panel")
	menus := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("menu number %d", n), func() bool { return strings.Count(tm.screen(), "What now?") >= n })
	}
	menus(1)
	for _, item := range []string{"status", "op app hello", "op app broken", "check disk (on app)", "info", "quit"} {
		tm.waitFor(item)
	}

	// Typing filters the menu down to one entry. An operation that may
	// change hosts asks first, naming them, and No is preselected.
	tm.keys("-l", "hello")
	tm.keys("Enter")
	tm.waitFor("Run hello on app: local (1 at a time)?")
	tm.keys("Enter")
	tm.waitFor("not run")
	menus(2)
	if _, err := os.Stat(filepath.Join(dir, ".runbook", "state.db")); err == nil {
		if ops := operations(t, dir); len(ops) != 0 {
			t.Fatalf("Enter at the confirmation ran the operation: %+v", ops)
		}
	}
	tm.keys("-l", "hello")
	tm.keys("Enter")
	tm.waitFor("Run hello on app")
	tm.keys("Down")
	tm.keys("Enter")
	tm.waitFor("local │ hello from the panel")
	menus(3)

	// After it, the cursor is back at the top: Enter shows the status
	// instead of restarting again. Read-only entries run on one key.
	tm.keys("-l", "handbook")
	tm.keys("Enter")
	tm.waitFor("the night's notes")
	menus(4)

	tm.keys("-l", "quit")
	tm.keys("Enter")
	tm.waitFor("EXIT=0")

	ops := operations(t, dir)
	if len(ops) != 1 || ops[0].Name != "hello" || ops[0].ExitCode != 0 || !strings.Contains(ops[0].OutputTail, "hello from the panel") {
		t.Errorf("recorded operations: %+v", ops)
	}
}

func TestPanelNeedsTerminal(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", "name: p\nenvironments:\n  app: {local: true}\nsteps:\n  - {name: s, on: app, run: \"true\"}\n")
	r := run(t, dir, "panel")
	if r.code != 2 || !strings.Contains(r.stderr, "panel is a menu for a terminal") || !strings.Contains(r.stderr, "runbook op, exec, diff, status, info") {
		t.Errorf("panel without a terminal: %s", r)
	}
}
