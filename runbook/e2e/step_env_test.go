package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// envRunbook prints a local step's whole environment, with a secret the
// step is given on purpose.
const envRunbook = `name: env
environments:
  build: {local: true}
steps:
  - name: show-env
    on: build
    run: env
    env:
      DB_PASSWORD: '{{ secret "db/password" }}'
      MARKER: from-the-step
`

// TestStepEnvironmentHasNoVaultPassphrase: with the vault passphrase set
// the way SPEC allows (RUNBOOK_VAULT_PASSPHRASE), a local step's `env`
// shows neither it nor any other variable of runbook's own, anywhere:
// terminal, logs, state database.
func TestStepEnvironmentHasNoVaultPassphrase(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", envRunbook)
	writeVault(t, dir, fixtureVault(t))
	r := runEnv(t, dir, []string{passEnv, "RUNBOOK_HITLOG_UNUSED=x"}, "start", "--version", "1.0.0", "--yes")
	if r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	if !strings.Contains(r.stdout, "MARKER=from-the-step") || !strings.Contains(r.stdout, "DB_PASSWORD=****") || !strings.Contains(r.stdout, "PATH=") {
		t.Fatalf("the step's env did not print its own variables:\n%s", r)
	}
	for _, leak := range []string{vaultPass, "RUNBOOK_VAULT_PASSPHRASE", "RUNBOOK_HITLOG_UNUSED"} {
		if strings.Contains(r.stdout+r.stderr, leak) {
			t.Errorf("the terminal shows %q:\n%s", leak, r)
		}
		err := filepath.WalkDir(filepath.Join(dir, ".runbook"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), leak) {
				t.Errorf("%s holds %q", p, leak)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
