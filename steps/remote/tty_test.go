package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

const sudoPassword = "s3cret-sudo-Pa55word"

// fakeSudo is a sudo that asks as the real one does: it writes
// $SUDO_PROMPT to the terminal, reads a line there with echo off, and
// runs its arguments when the line is the password in $dir/expected,
// else says "Sorry, try again." and asks again, three times in all.
// It counts its questions in $dir/asked and keeps what it read in
// $dir/answers, which the tests check.
const fakeSudo = `#!/bin/sh
dir=$(dirname "$0")
for try in 1 2 3; do
  echo x >> "$dir/asked"
  printf '%s' "${SUDO_PROMPT-[sudo] password for you: }" > /dev/tty
  stty -echo < /dev/tty
  IFS= read -r pw < /dev/tty
  stty echo < /dev/tty
  printf '%s\n' "$pw" >> "$dir/answers"
  printf '\n' > /dev/tty
  if [ "$pw" = "$(cat "$dir/expected")" ]; then exec "$@"; fi
  echo 'Sorry, try again.' > /dev/tty
done
echo 'sudo: 3 incorrect password attempts' >&2
exit 1
`

// sudoHost is a directory with the fake sudo in it, expecting password.
func sudoHost(t *testing.T, password string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "expected"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// ttyCases runs the sudo cases on c, with and without run markers.
func ttyCases(t *testing.T, c remote.Conn) {
	for _, token := range []string{"", "r1-s01-sudo-a1-h1-00"} {
		exec := func(t *testing.T, dir string, spec remote.ExecSpec) (int, string, error) {
			t.Helper()
			var out syncBuffer
			spec.Script = "PATH=" + dir + ":$PATH\n" + spec.Script
			spec.Stdout, spec.Stderr = &out, &out
			if token != "" {
				spec.Token = token + strings.ReplaceAll(t.Name()[strings.LastIndex(t.Name(), "/")+1:], "_", "-")
			}
			code, err := c.Exec(context.Background(), spec)
			if strings.Contains(out.String(), sudoPassword) {
				t.Errorf("the password shows in the output:\n%s", out.String())
			}
			if strings.Contains(out.String(), "runbook-sudo-") {
				t.Errorf("the prompt marker shows in the output:\n%q", out.String())
			}
			return code, out.String(), err
		}
		t.Run("token="+token, func(t *testing.T) {
			t.Run("sudo_answered", func(t *testing.T) {
				dir := sudoHost(t, sudoPassword)
				code, out, err := exec(t, dir, remote.ExecSpec{TTY: true, SudoPassword: sudoPassword,
					Script: "echo before\nsudo sh -c 'echo ran as root'\necho after"})
				if err != nil || code != 0 {
					t.Fatalf("exit %d, %v:\n%s", code, err, out)
				}
				for _, want := range []string{"before\n", "[sudo] password: (answered by runbook)", "ran as root\n", "after\n"} {
					if !strings.Contains(out, want) {
						t.Errorf("output misses %q:\n%q", want, out)
					}
				}
				if got := read(t, filepath.Join(dir, "answers")); got != sudoPassword+"\n" {
					t.Errorf("sudo read %q, want the password once", got)
				}
			})
			t.Run("wrong_password", func(t *testing.T) {
				dir := sudoHost(t, "another password")
				code, out, err := exec(t, dir, remote.ExecSpec{TTY: true, SudoPassword: sudoPassword,
					Script: "sudo echo never"})
				if err == nil || !strings.Contains(err.Error(), "asked for the password again") || errors.Is(err, remote.ErrInDoubt) {
					t.Errorf("exit %d, %v; want the run stopped as failed because sudo asked again", code, err)
				}
				if code == 0 || strings.Contains(out, "never") {
					t.Errorf("exit %d:\n%s", code, out)
				}
				if got := read(t, filepath.Join(dir, "answers")); got != sudoPassword+"\n" {
					t.Errorf("sudo read %q, want the password once, never twice", got)
				}
			})
			t.Run("no_prompt_no_password", func(t *testing.T) {
				// A command that asks on the terminal without sudo's
				// prompt (a look-alike prompt, then a read) gets nothing.
				dir := sudoHost(t, sudoPassword)
				code, out, err := exec(t, dir, remote.ExecSpec{TTY: true, SudoPassword: sudoPassword,
					Script: "printf '[sudo] password for deploy: ' > /dev/tty\n" +
						"timeout 1 head -c 1 /dev/tty > " + dir + "/leak\necho read=$?"})
				if err != nil || code != 0 || !strings.Contains(out, "read=124") {
					t.Errorf("exit %d, %v; want the read to time out:\n%s", code, err, out)
				}
				if got := read(t, filepath.Join(dir, "leak")); got != "" {
					t.Errorf("the terminal was sent %q without sudo's prompt", got)
				}
			})
			t.Run("tty_without_password", func(t *testing.T) {
				dir := sudoHost(t, sudoPassword)
				code, out, err := exec(t, dir, remote.ExecSpec{TTY: true,
					Script: `: < /dev/tty && echo has a terminal; echo "prompt=[${SUDO_PROMPT-unset}]"`})
				if err != nil || code != 0 || !strings.Contains(out, "has a terminal") || !strings.Contains(out, "prompt=[unset]") {
					t.Errorf("exit %d, %v:\n%s", code, err, out)
				}
			})
			t.Run("no_tty", func(t *testing.T) {
				dir := sudoHost(t, sudoPassword)
				code, out, err := exec(t, dir, remote.ExecSpec{SudoPassword: sudoPassword,
					Script: `(: < /dev/tty) 2>/dev/null && echo has a terminal || echo no terminal; echo "prompt=[${SUDO_PROMPT-unset}]"`})
				if err != nil || code != 0 || !strings.Contains(out, "no terminal") || !strings.Contains(out, "prompt=[unset]") {
					t.Errorf("exit %d, %v:\n%s", code, err, out)
				}
			})
			t.Run("script_bytes", func(t *testing.T) {
				// The script reaches sh byte for byte through the
				// terminal: control characters, CR, a long line, a
				// backslash at the end of a line.
				dir := sudoHost(t, sudoPassword)
				long := strings.Repeat("x", 9000)
				code, out, err := exec(t, dir, remote.ExecSpec{TTY: true,
					Script: "printf '%s' 'a\x03b\x04c\x11d\x13e\x1a\x15\x7f' | od -An -c | tr -s ' '\n" +
						"printf 'cr\\r\\n'\necho " + long + " | wc -c\necho 'end\\'"})
				want := []string{" a 003 b 004 c 021 d 023 e 032 025 177", "cr\r\n", "9001", "end\\"}
				for _, w := range want {
					if !strings.Contains(out, w) {
						t.Errorf("output misses %q:\n%q", w, out)
					}
				}
				if err != nil || code != 0 {
					t.Errorf("exit %d, %v", code, err)
				}
			})
		})
	}
}

func TestTTYLocal(t *testing.T) {
	ttyCases(t, remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()}))
}

func TestTTYSSHD(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	ttyCases(t, connect(t, p, cfg))
}

// A run with markers and a terminal outlives a dropped connection, as one
// without a terminal does: the terminal's hang-up does not end it, and its
// outcome is adopted afterwards.
func TestTTYRunOutlivesADroppedConnection(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	dir, token := t.TempDir(), "r1-s01-hup-a1-sshd-00"
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), remote.ExecSpec{TTY: true, Token: token,
			Script: "touch " + dir + "/ready; sleep 2; echo finished > " + dir + "/done; exit 3"})
		done <- err
	}()
	waitFor(t, "the script to start", func() bool { return exists(filepath.Join(dir, "ready")) })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, remote.ErrInDoubt) {
		t.Fatalf("Exec on a dropped connection: %v, want ErrInDoubt", err)
	}
	c = connect(t, p, cfg)
	if code, err := c.Wait(context.Background(), token, nil); err != nil || code != 3 {
		t.Fatalf("Wait: %d %v, want the run's own exit 3", code, err)
	}
	if read(t, filepath.Join(dir, "done")) != "finished\n" {
		t.Errorf("the run did not finish after the connection dropped")
	}
}
