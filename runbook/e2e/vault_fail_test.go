package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stopRunbook's first step needs no secret: if it ran, the vault was
// checked too late. The second refers to the secret NAME.
const stopRunbook = `name: stop
environments:
  build: {local: true}
steps:
  - name: first
    on: build
    run: touch first.ran
  - name: second
    on: build
    run: echo '{{ secret "NAME" }}' > second.ran
`

// TestVaultFailureStopsBeforeAnyStep starts a release with a vault that
// cannot give its secrets: a wrong passphrase, a flipped byte in the
// encrypted body, a truncated file, a secret it lacks, no vault at all.
// Each must exit 5 with a message that says what to do, before any step
// ran and without a release recorded.
func TestVaultFailureStopsBeforeAnyStep(t *testing.T) {
	good := fixtureVault(t)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-20] ^= 0x01 // inside the encrypted payload, past the header
	cases := []struct {
		name   string
		vault  []byte
		secret string
		pass   string
		want   []string
	}{
		{"wrong passphrase", good, "db/password", "not the passphrase",
			[]string{"wrong passphrase for the vault"}},
		{"flipped byte", flipped, "db/password", vaultPass,
			[]string{"is damaged or truncated", "restore it from a backup"}},
		{"truncated", good[:len(good)-10], "db/password", vaultPass,
			[]string{"is damaged or truncated"}},
		{"truncated to the header", good[:bytes.Index(good, []byte("\n---"))+1], "db/password", vaultPass,
			[]string{"is damaged or truncated"}},
		{"missing secret", good, "db/missing", vaultPass,
			[]string{`no secret "db/missing"`, "runbook: hint: `runbook vault set db/missing` adds it"}},
		{"no vault", nil, "db/password", vaultPass,
			[]string{"no vault at", "runbook vault init"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "runbook.yaml", strings.Replace(stopRunbook, "NAME", c.secret, 1))
			if c.vault != nil {
				writeVault(t, dir, c.vault)
			}
			r := runEnv(t, dir, []string{"RUNBOOK_VAULT_PASSPHRASE=" + c.pass}, "start", "--version", "1.0.0", "--yes")
			if r.code != 5 {
				t.Fatalf("start: want exit 5, got %s", r)
			}
			for _, want := range c.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r)
				}
			}
			if lines := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; lines > 2 || strings.Contains(r.stderr, "goroutine") {
				t.Errorf("the message takes %d lines, want one or two:\n%s", lines, r.stderr)
			}
			for _, f := range []string{"first.ran", "second.ran"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s exists: a step ran although the vault failed", f)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, ".runbook/state.db")); err == nil {
				h := run(t, dir, "history", "--json")
				if h.code != 0 || strings.TrimSpace(h.stdout) != "[]" {
					t.Errorf("a release was recorded: %s", h)
				}
			}
			if tr := leakIn([]byte(r.stdout + r.stderr)); tr != "" {
				t.Errorf("the output shows %q:\n%s", tr, r)
			}
		})
	}
}

// TestValidateFindsMissingSecret checks the vault look-up of validate
// through the binary: the missing name at its place, exit 2.
func TestValidateFindsMissingSecret(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", strings.Replace(stopRunbook, "NAME", "db/pasword", 1))
	writeVault(t, dir, fixtureVault(t))

	r := runEnv(t, dir, []string{passEnv}, "validate")
	if r.code != 2 || !strings.HasPrefix(r.stderr, "runbook.yaml:10:19: secret db/pasword is not in the vault\n") ||
		!strings.Contains(r.stderr, "runbook vault set NAME") {
		t.Fatalf("validate: %s", r)
	}
	r = run(t, dir, "validate")
	if r.code != 0 || !strings.Contains(r.stderr, "1 secret not checked against the vault") {
		t.Fatalf("validate without a key: %s", r)
	}
}
