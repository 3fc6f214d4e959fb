package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPromptsThroughTee: `runbook start | tee night.log` in a terminal
// asks on the terminal (stdin is one) while the walk goes through the
// pipe into the log, plain: colours and progress bars follow stdout, not
// the terminal the prompts use.
func TestPromptsThroughTee(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: first, on: build, run: "echo first ran; touch first"}
  - {name: second, on: build, run: "echo second ran; touch second"}
`)
	tm := newTmux(t)
	// Colour on, as in an operator's terminal: the log must stay plain.
	// The pipeline's status is tee's; runbook's own is printed on stderr,
	// which goes to the terminal.
	tm.run(dir, "unset NO_COLOR; { "+bin+" start --version 1; echo RB=$? >&2; } | tee night.log")
	tm.waitFor("Run first?")
	tm.keys("Enter")
	tm.waitFor("Run second?")
	tm.keys("Down", "Enter") // Skip
	tm.waitFor("Why skip second?")
	tm.keys("not tonight", "Enter")
	tm.waitFor("RB=0")

	exists := func(f string) bool { _, err := os.Stat(filepath.Join(dir, f)); return err == nil }
	if !exists("first") || exists("second") {
		t.Fatalf("effects: first=%v second=%v\n%s", exists("first"), exists("second"), tm.screen())
	}
	log := read(t, filepath.Join(dir, "night.log"))
	for _, want := range []string{"[1/2] first", "first ran", "[2/2] second", "release 1 succeeded"} {
		if !strings.Contains(log, want) {
			t.Errorf("night.log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "\x1b[") {
		t.Errorf("night.log holds colour codes, though stdout was a pipe:\n%q", log)
	}
	if strings.Contains(log, "Run first?") {
		t.Errorf("the prompt went into the pipe, not to the terminal:\n%s", log)
	}
	if st, _ := status(t, dir).step("second"); st != "skipped" {
		t.Errorf("second is %s, want skipped", st)
	}
}
