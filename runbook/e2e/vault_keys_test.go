package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/secrets/secretstest"
)

// keysRunbook's step prints the vault's key every way a step could find
// it: the variables runbook reads it from, and copies of the pass file and
// the identity file it can read (build steps run third-party code).
const keysRunbook = `name: keys
environments:
  build: {local: true}
steps:
  - name: show-keys
    on: build
    run: |
      echo 'uses {{ secret "db/password" }}'
      echo "env: $RUNBOOK_VAULT_PASSPHRASE"
      echo "pass file: $(cat vault.pass)"
      echo "identity: $(grep -v '^#' key.txt)"
`

// TestVaultKeysAreMasked is the security review's H-2: with the passphrase
// in RUNBOOK_VAULT_PASSPHRASE, a step printed it in clear to the terminal,
// the logs, state.db and every report. Once the key has opened the vault,
// the passphrase (from the environment or a pass file) and the identity's
// secret key are masked wherever a step prints them from.
func TestVaultKeysAreMasked(t *testing.T) {
	keyText, recipient, err := secretstest.Identity()
	if err != nil {
		t.Fatal(err)
	}
	identity := strings.TrimSpace(keyText[strings.Index(keyText, "AGE-SECRET-KEY-"):])
	for _, c := range []struct {
		name  string
		env   func(dir string) []string
		vault func(t *testing.T, dir string)
		keys  []string // what opens the vault, so must not show
	}{
		{"passphrase in the environment", func(string) []string { return []string{passEnv} }, passphraseVault, []string{vaultPass}},
		{"pass file", func(dir string) []string {
			return []string{secrets.EnvPassFile + "=" + filepath.Join(dir, "vault.pass")}
		}, passphraseVault,
			[]string{vaultPass}},
		{"identity", func(dir string) []string { return []string{"RUNBOOK_IDENTITY=" + filepath.Join(dir, "key.txt")} },
			func(t *testing.T, dir string) { teamVault(t, dir, recipient) }, []string{identity, strings.ToLower(identity)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "runbook.yaml", keysRunbook)
			write(t, dir, "vault.pass", vaultPass+"\n")
			write(t, dir, "key.txt", keyText)
			c.vault(t, dir)

			r := runEnv(t, dir, c.env(dir), "start", "--version", "1.0.0", "--yes")
			if r.code != 0 || !strings.Contains(r.stdout, "uses ****") {
				t.Fatalf("start: %s", r)
			}
			leaks := func(where string, b []byte) {
				t.Helper()
				for _, key := range c.keys {
					if i := strings.Index(string(b), key); i >= 0 {
						t.Errorf("%s shows the key: %q", where, b[max(0, i-40):min(len(b), i+len(key)+10)])
					}
				}
			}
			leaks("the terminal", []byte(r.stdout+r.stderr))
			for _, args := range [][]string{{"report"}, {"report", "--format", "json"}, {"status", "--json"}} {
				o := runEnv(t, dir, c.env(dir), args...)
				leaks(strings.Join(args, " "), []byte(o.stdout+o.stderr))
			}
			err := filepath.WalkDir(filepath.Join(dir, ".runbook"), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				leaks(p, b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// passphraseVault puts the fixture vault (passphrase vaultPass) in dir.
func passphraseVault(t *testing.T, dir string) { writeVault(t, dir, fixtureVault(t)) }

// teamVault makes dir/secrets.vault, sealed to recipient and listed in its
// recipients file, holding db/password.
func teamVault(t testing.TB, dir, recipient string) {
	t.Helper()
	enc, err := secrets.RecipientsEncrypter([]string{recipient})
	if err != nil {
		t.Fatal(err)
	}
	v, err := secrets.Create(filepath.Join(dir, "secrets.vault"), enc)
	if err == nil {
		err = v.Set("db/password", testSecret)
	}
	if err == nil {
		err = v.Save()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestVaultConcurrentSetsLoseNothing is the security review's L-9: two
// `vault set` run at once both said "stored", and one secret was lost.
// Two processes of the binary store a secret each at the same moment,
// round after round: every one must be in the vault at the end.
func TestVaultConcurrentSetsLoseNothing(t *testing.T) {
	dir := t.TempDir()
	keyText, recipient, err := secretstest.Identity()
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "key.txt", keyText)
	teamVault(t, dir, recipient) // X25519: each open costs microseconds, not a scrypt
	idEnv := []string{"RUNBOOK_IDENTITY=" + filepath.Join(dir, "key.txt")}

	const rounds = 25
	var want []string
	for round := range rounds {
		var wg sync.WaitGroup
		results := make([]result, 2)
		for i, side := range []string{"a", "b"} {
			name := side + "/" + string(rune('a'+round/26)) + string(rune('a'+round%26))
			want = append(want, name)
			cmd := exec.Command(bin, "vault", "set", name)
			cmd.Dir, cmd.Env = dir, env(idEnv...)
			cmd.Stdin = strings.NewReader("value of " + name + "\n")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				err := cmd.Wait()
				results[i] = result{stdout: out.String(), code: cmd.ProcessState.ExitCode()}
				if err != nil && results[i].code == 0 {
					results[i].code = -1
				}
			})
		}
		wg.Wait()
		for _, r := range results {
			if r.code != 0 || !strings.Contains(r.stdout, "stored") {
				t.Fatalf("round %d: vault set: %s", round, r)
			}
		}
	}
	r := runEnv(t, dir, idEnv, "vault", "list")
	if r.code != 0 {
		t.Fatalf("vault list: %s", r)
	}
	got := strings.Fields(r.stdout)
	for _, name := range want {
		if !strings.Contains("\n"+r.stdout, "\n"+name+"\n") {
			t.Errorf("%s was stored, then lost (the vault holds %d secrets, want %d)", name, len(got), len(want)+1)
		}
	}
}
