package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignoffPromptAsksAgain: at the sign-off prompt, a name holding a
// character that reorders or hides text is refused and the question asked
// again; the name then typed is the one recorded (L-7).
func TestSignoffPromptAsksAgain(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: so
environments:
  build: {local: true}
steps:
  - {name: qa, confirm: QA checked the prerelease, signoff: [QA]}
`)
	tm := newTmux(t)
	tm.run(dir, bin+" start --version 1")
	tm.waitFor("QA checked the prerelease")
	tm.keys("Enter")
	tm.waitFor("QA sign-off")
	tm.keys("-l", "Wang\u202eiL")
	tm.keys("Enter")
	tm.waitFor("Sorry, your reply was invalid")
	if !strings.Contains(tm.screen(), "holds the invisible character U+202E") {
		t.Errorf("the refusal does not say why:\n%s", tm.screen())
	}
	tm.keys("C-u") // whatever survey kept of the refused answer
	tm.keys("-l", "Wang Li")
	tm.keys("Enter")
	tm.waitFor("EXIT=0")
	r := run(t, dir, "report")
	if !strings.Contains(r.stdout, "Wang Li") || strings.Contains(r.stdout, "iL") {
		t.Errorf("recorded sign-off:\n%s", r.stdout)
	}
}

// TestFirstSigtermEndsABlockedCommand: SIGTERM while runbook waits at the
// vault passphrase prompt — a read no context reaches, like the FIFO of
// the review, which swallowed timeout's TERM — ends the process within
// the grace period, with exit 130 and the terminal's mode restored (L-1).
func TestFirstSigtermEndsABlockedCommand(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: term
environments:
  build: {local: true}
steps:
  - {name: a, on: build, run: 'test -n "$PW"', env: {PW: '{{ secret "db/password" }}'}}
`)
	writeVault(t, dir, fixtureVault(t))
	tm := newTmux(t)
	tm.run(dir, "sh -c 'echo PID=$$; exec "+bin+" vault list'; rc=$?; "+
		"stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon | sed 's/^/MODE=/'; (exit $rc)")
	tm.waitFor("Passphrase of secrets.vault")
	m := regexp.MustCompile(`PID=(\d+)`).FindStringSubmatch(tm.screen())
	if m == nil {
		t.Fatalf("no pid on screen:\n%s", tm.screen())
	}
	pid, _ := strconv.Atoi(m[1])
	sent := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(tm.screen(), "EXIT=") {
		if time.Since(sent) > 30*time.Second {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("still running 30s after SIGTERM:\n%s", tm.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(sent)
	screen := tm.screen()
	if !strings.Contains(screen, "EXIT=130") || !strings.Contains(screen, "MODE=icanon") || took > 15*time.Second {
		t.Errorf("after SIGTERM (%s):\n%s", took.Round(time.Millisecond), screen)
	}
}
