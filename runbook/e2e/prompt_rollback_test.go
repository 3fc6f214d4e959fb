package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// rollbackPromptNight has a switched "app" environment on two local
// hosts, and a restart whose verify fails while a file FAIL exists.
const rollbackPromptNight = `name: t
artifact: {path: app.ear}
environments:
  app:
    local: true
    parallel: 2
    hosts:
      - {name: a1, deploy_dir: hosts/a1}
      - {name: a2, deploy_dir: hosts/a2}
    operations:
      restart: echo "UP {{.Version}}" > {{.Host.DeployDir}}/health
steps:
  - {name: stage, on: app, upload: artifact, auto: true}
  - {name: activate, on: app, activate: true, auto: true}
  - name: restart
    on: app
    op: restart
    auto: true
    verify: test ! -e FAIL && grep -qx "UP {{.Version}}" {{.Host.DeployDir}}/health
`

// At the failure prompt the operator chooses Rollback: the release is
// rolled back at once, each host switched back and restarted.
func TestRollbackAtTheFailurePrompt(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", rollbackPromptNight)
	write(t, dir, "app.ear", "1.0")
	if r := run(t, dir, "start", "--version", "1.0", "--yes"); r.code != 0 {
		t.Fatalf("release 1.0: %s", r)
	}
	write(t, dir, "app.ear", "1.1")
	write(t, dir, "FAIL", "")
	tm := newTmux(t)
	tm.run(dir, bin+" start --version 1.1")
	tm.waitFor("restart failed. What now?")
	screen := tm.screen()
	for _, want := range []string{"Retry", "Skip", "Show details", "Rollback", "Pause", "Abort"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the failure prompt lacks %q:\n%s", want, screen)
		}
	}
	os.Remove(filepath.Join(dir, "FAIL"))
	tm.keys("Down", "Down", "Down", "Enter") // Rollback
	tm.waitFor("Undo activate?")
	tm.keys("Enter") // Undo it
	tm.waitFor("Undo stage?")
	tm.keys("Enter")
	tm.waitFor("EXIT=0")
	if !strings.Contains(tm.screen(), "release 1.1 rolled back; live now: app 1.0 (verified on a1, a2)") {
		t.Errorf("no rollback summary:\n%s", tm.screen())
	}
	for _, h := range []string{"a1", "a2"} {
		if got := strings.TrimSpace(read(t, filepath.Join(dir, "hosts", h, "health"))); got != "UP 1.0" {
			t.Errorf("%s: health %q after the rollback, want UP 1.0", h, got)
		}
	}
	if d := status(t, dir); d.Release.State != "rolled_back" {
		t.Errorf("release is %s, want rolled_back", d.Release.State)
	}
}

// Abort is one Down below Pause: it asks to confirm, naming the hosts the
// release changed, with No preselected; Enter goes back to the prompt.
func TestAbortAsksToConfirm(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", strings.Replace(rollbackPromptNight, "    auto: true\n    verify:", "    verify:", 1))
	write(t, dir, "app.ear", "1.0")
	tm := newTmux(t)
	tm.run(dir, bin+" start --version 1.0")
	tm.waitFor("Run restart?")
	tm.keys("Down", "Down", "Down", "Down", "Enter") // Abort
	tm.waitFor("Abort release 1.0 for good?")
	if s := tm.screen(); !strings.Contains(s, "It changed app (a1, a2)") || !strings.Contains(s, "> No, go back") {
		t.Fatalf("the abort question does not name the hosts or does not default to No:\n%s", s)
	}
	tm.keys("Enter") // No
	waitFor(t, "the step prompt again", func() bool { return strings.Count(tm.screen(), "Run restart?") >= 2 })
	tm.keys("Down", "Down", "Down", "Down", "Enter")
	waitFor(t, "the abort question again", func() bool { return strings.Count(tm.screen(), "Abort release 1.0 for good?") >= 2 })
	tm.keys("Down", "Enter") // Yes
	tm.waitFor("Why abort?")
	tm.keys("-l", "wrong build")
	tm.keys("Enter")
	tm.waitFor("EXIT=1")
	d := status(t, dir)
	if d.Release.State != "aborted" {
		t.Fatalf("release is %s, want aborted", d.Release.State)
	}
	if r := run(t, dir, "report"); !strings.Contains(r.stdout, "wrong build") {
		t.Errorf("the report lacks the abort's reason:\n%s", r.stdout)
	}
}

// Two hosts with unknown keys, asked about in parallel: one question at a
// time, each naming its host and fingerprint; the key trusted is the key
// of the host the question named; Ctrl-C at a question ends the command.
func TestTwoUnknownHostKeysOneAtATime(t *testing.T) {
	h1 := sshdtest.Start(t, sshdtest.Options{})
	h2 := sshdtest.Start(t, sshdtest.Options{ClientKey: h1.ClientKey})
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", fmt.Sprintf(`name: t
known_hosts: known_hosts
environments:
  production:
    user: %[1]s
    auth: {key_file: %[2]s}
    parallel: 2
    hosts:
      - {name: prod1, address: "%[3]s", deploy_dir: %[4]s}
      - {name: prod2, address: "%[5]s", deploy_dir: %[6]s}
    operations:
      status: echo running on {{.Host.Name}}
steps:
  - {name: s, on: production, op: status}
`, h1.User, h1.ClientKey, h1.Addr, h1.DeployDir, h2.Addr, h2.DeployDir))
	write(t, dir, "known_hosts", "")
	tm := newTmux(t)
	tm.run(dir, bin+" op production status")
	tm.waitFor("is not known")
	screen := tm.screen()
	if n := strings.Count(screen, "is not known"); n != 1 {
		t.Fatalf("%d host-key questions on the screen at once:\n%s", n, screen)
	}
	first := regexp.MustCompile(`The host key of (prod[12]) \(([^)]+)\) is not known`).FindStringSubmatch(screen)
	if first == nil || !strings.Contains(screen, "SHA256:") {
		t.Fatalf("the question does not name its host and fingerprint:\n%s", screen)
	}
	hosts := map[string]*sshdtest.Host{"prod1": h1, "prod2": h2}
	trusted, other := first[1], map[string]string{"prod1": "prod2", "prod2": "prod1"}[first[1]]
	if !strings.Contains(screen, fingerprint(t, hosts[trusted])) {
		t.Fatalf("the question about %s shows another host's fingerprint:\n%s", trusted, screen)
	}
	tm.keys("Down", "Enter") // Yes, trust it
	waitFor(t, "the second question", func() bool { return strings.Contains(tm.screen(), "The host key of "+other) })
	if s := tm.screen(); strings.Contains(s, ";1R") || strings.Contains(s, "not a valid answer") {
		t.Errorf("terminal replies leaked into the answers:\n%s", s)
	}
	tm.keys("Enter") // No (the default): refused
	tm.waitFor("EXIT=3")
	kh := read(t, filepath.Join(dir, "known_hosts"))
	if strings.Count(kh, "\n") != 1 || !strings.Contains(kh, strings.Fields(hosts[trusted].HostKey)[1]) {
		t.Fatalf("known_hosts should hold exactly %s's key:\n%s", trusted, kh)
	}
	if !strings.Contains(tm.screen(), "running on "+trusted) {
		t.Errorf("the trusted host did not run the operation:\n%s", tm.screen())
	}

	// Ctrl-C at the question: the command ends at once, exit 130.
	tm.cmd("kill-session", "-t", "t")
	tm.run(dir, bin+" op production status")
	tm.waitFor("The host key of " + other)
	tm.keys("C-c")
	tm.waitFor("EXIT=130")
}

// fingerprint is the SHA256 fingerprint of a host's key, as ssh-keygen -l
// shows it.
func fingerprint(t *testing.T, h *sshdtest.Host) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pub")
	write(t, filepath.Dir(p), "key.pub", h.HostKey+"\n")
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", p).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("ssh-keygen -l: %q", out)
	}
	return f[1]
}
