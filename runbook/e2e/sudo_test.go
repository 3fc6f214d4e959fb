package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// e2eSudo is a sudo that asks as the real one does (the tests run as
// root, whom the real one does not ask): $SUDO_PROMPT on the terminal, a
// line read there with echo off, the command run when the line is the
// password. It keeps what it read in answers beside it.
const e2eSudo = `#!/bin/sh
dir=$(dirname "$0")
printf '%s' "${SUDO_PROMPT-Password: }" > /dev/tty
stty -echo < /dev/tty
IFS= read -r pw < /dev/tty
stty echo < /dev/tty
printf '%s\n' "$pw" >> "$dir/answers"
[ "$pw" = "$(cat "$dir/expected")" ] || { echo 'Sorry, try again.' > /dev/tty; exit 1; }
exec "$@"
`

// TestSudoPasswordFromTheVault: a step with tty: true and sudo_password:
// secret:NAME on a real sshd host gets sudo's prompt answered with the
// vault's value, and a step with the same keys that never shows sudo's
// prompt gets nothing on its terminal; the password shows nowhere: not
// on the terminal, in the logs, the record, the reports or status.
func TestSudoPasswordFromTheVault(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	dir, bin := t.TempDir(), t.TempDir()
	write(t, bin, "sudo", e2eSudo)
	if err := os.Chmod(filepath.Join(bin, "sudo"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, bin, "expected", testSecret+"\n")
	write(t, dir, "known_hosts", h.KnownHostsLine()+"\n")
	write(t, dir, "runbook.yaml", fmt.Sprintf(`name: sudo
known_hosts: known_hosts
environments:
  pre:
    user: %[1]s
    auth: {key_file: %[2]s}
    hosts: [{name: pre1, address: "%[3]s"}]
steps:
  - name: restart
    on: pre
    run: PATH=%[4]s:$PATH sudo sh -c 'echo restarted as root'
    tty: true
    sudo_password: secret:db/password
  - name: no-prompt
    on: pre
    run: |
      printf 'Password: ' > /dev/tty
      timeout 1 head -c 1 /dev/tty > %[4]s/leak
      echo "read ended $?"
    tty: true
    sudo_password: secret:db/password
`, h.User, h.ClientKey, h.Addr, bin))
	writeVault(t, dir, fixtureVault(t))
	r := runEnv(t, dir, []string{passEnv}, "start", "--version", "1.0.0", "--yes")
	if r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	for _, want := range []string{"restarted as root", "[sudo] password: (answered by runbook)", "read ended 124"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the night does not show %q:\n%s", want, r)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(bin, "answers")); string(b) != testSecret+"\n" {
		t.Errorf("sudo read %q, want the password once", b)
	}
	if b, err := os.ReadFile(filepath.Join(bin, "leak")); err != nil || len(b) != 0 {
		t.Errorf("a terminal without sudo's prompt was sent %q (%v)", b, err)
	}
	seen := r.stdout + r.stderr
	for _, args := range [][]string{{"report"}, {"report", "--format", "json"}, {"report", "--format", "html"}, {"status", "--json"}, {"logs", "restart"}} {
		out := runEnv(t, dir, []string{passEnv}, args...)
		if out.code != 0 {
			t.Fatalf("%v: %s", args, out)
		}
		seen += out.stdout + out.stderr
	}
	err := filepath.WalkDir(filepath.Join(dir, ".runbook"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		seen += string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{testSecret, "runbook-sudo-"} {
		if strings.Contains(seen, leak) {
			t.Errorf("%q shows in the output, a report, status, the logs or the record", leak)
		}
	}
}
