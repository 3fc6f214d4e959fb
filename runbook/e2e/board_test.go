package e2e

import (
	"strings"
	"testing"
)

// TestBoardInATerminal: in a real terminal, a step on twelve hosts in
// batches of six is a board, not twelve streams: a line per batch, the
// whole output of the one host that failed (within max_fail), a summary
// naming `runbook logs` for the others — which shows them — and the
// status line gone.
func TestBoardInATerminal(t *testing.T) {
	f := startScaleFleet(t, 12)
	dir := t.TempDir()
	f.yaml(t, dir, "    parallel: 3\n    serial: 50%\n    max_fail: 1\n", `  - name: deploy
    on: prod
    run: |
      echo "deploying on {{ .Host.Name }}"
      if [ {{ .Host.Name }} = h008 ]; then
        echo "jboss: port 8080 in use"
        echo "  at org.jboss.Main.boot"
        exit 3
      fi
`)
	tm := newTmux(t)
	tm.run(dir, bin+" start --version 1 --yes")
	tm.waitFor("EXIT=")
	screen := tm.screen()
	lines := strings.Split(screen, "\n")
	want := []string{
		"✓ batch 1/2: 6 hosts in",
		"✗ h008 failed (exit 3)",
		"h008 │ deploying on h008",
		"h008 │ jboss: port 8080 in use",
		"h008 │   at org.jboss.Main.boot",
		"✗ batch 2/2: 1 of 6 hosts failed in",
		"11 of 12 hosts done, 1 failed in",
		"every host's output: runbook logs deploy --host HOST",
		"EXIT=",
	}
	at := 0
	for _, l := range lines {
		if at < len(want) && strings.Contains(l, want[at]) {
			at++
		}
	}
	if at < len(want) {
		t.Fatalf("the screen does not show %q (in this order):\n%s", want[at], screen)
	}
	if strings.Contains(screen, "deploying on h001") {
		t.Errorf("a host that succeeded was streamed:\n%s", screen)
	}
	if strings.Contains(screen, " running ·") || strings.Contains(screen, "/12 done") {
		t.Errorf("the status line was left on the screen:\n%s", screen)
	}
	// What the board did not show is one command away.
	if r := run(t, dir, "logs", "deploy", "--host", "h003"); r.code != 0 || !strings.Contains(r.stdout, "deploying on h003") {
		t.Errorf("runbook logs deploy --host h003: %s", r)
	}
}
