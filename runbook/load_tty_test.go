package runbook

import (
	"slices"
	"strings"
	"testing"
)

func TestLoadTTY(t *testing.T) {
	rb, err := Parse("rb.yaml", []byte(env+`steps:
  - {name: restart, on: pre, run: sudo ./restart.sh, tty: true, sudo_password: secret:pre/sudo}
  - {name: op, on: pre, op: restart, tty: true}
  - {name: plain, on: pre, run: ./restart.sh}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step string
		tty  bool
		pw   string
	}{
		{"restart", true, "secret:pre/sudo"},
		{"op", true, ""},
		{"plain", false, ""},
	} {
		if s := rb.Step(tc.step); s.TTY != tc.tty || s.SudoPassword != tc.pw {
			t.Errorf("step %s: tty %v, sudo_password %q; want %v, %q", tc.step, s.TTY, s.SudoPassword, tc.tty, tc.pw)
		}
	}
	// Resolved (and so masked) before the night, and checked by validate.
	if !slices.Contains(rb.SecretNames(), "pre/sudo") {
		t.Errorf("secret names %v miss sudo_password's", rb.SecretNames())
	}
	if refs := rb.SecretRefPositions(); len(refs) != 1 || refs[0].Name != "pre/sudo" || refs[0].Pos.Line != 11 {
		t.Errorf("secret references %v, want pre/sudo at line 11", refs)
	}
}

func TestLoadTTYErrors(t *testing.T) {
	for _, tc := range []struct{ name, step, pos, msg string }{
		{"password without tty", "{name: a, on: pre, run: sudo x, sudo_password: secret:s}", "12:37",
			"has sudo_password, which answers sudo's prompt on a terminal, but no tty: add tty: true"},
		{"password with tty false", "{name: a, on: pre, run: sudo x, tty: false, sudo_password: secret:s}", "12:49",
			"but no tty: add tty: true"},
		{"password in the file", "{name: a, on: pre, run: sudo x, tty: true, sudo_password: hunter2}", "12:63",
			"sudo_password: write secret:NAME: the password lives in the vault"},
		{"malformed reference", "{name: a, on: pre, run: sudo x, tty: true, sudo_password: 'secret:a b'}", "12:63",
			"sudo_password: write secret:NAME"},
		{"empty password", "{name: a, on: pre, run: sudo x, tty: true, sudo_password: ''}", "12:63",
			"sudo_password is empty"},
		{"tty not a boolean", "{name: a, on: pre, run: sudo x, tty: yes please}", "12:42",
			"tty must be true or false"},
		{"tty on an upload", "{name: a, on: pre, upload: artifact, tty: true}", "12:42",
			`step "a" is an upload step, and tty is for the commands of run and op steps: remove it`},
		{"tty on a confirm", "{name: a, confirm: 'ok', tty: true}", "12:30",
			"is a confirm step, and tty is for the commands of run and op steps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The step is at line 12, from column 5.
			file := env + "artifact: {path: app.ear}\nsteps:\n  - " + tc.step + "\n"
			_, err := Parse("rb.yaml", []byte(file))
			if err == nil || !strings.Contains(err.Error(), "rb.yaml:"+tc.pos+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want rb.yaml:%s: …%s…", err, tc.pos, tc.msg)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes the password: %v", err)
			}
		})
	}
}
