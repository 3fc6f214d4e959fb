package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/runbook-dev/runbook/secrets"
)

// The secret of the vault tests: distinctive enough that finding any 8
// bytes of it, or of its encodings, anywhere can only mean a leak.
const (
	testSecret = "Kx7Qp2Vr9Wm4Tz8Lb3Nc"
	vaultPass  = "correct horse battery staple"
	passEnv    = "RUNBOOK_VAULT_PASSPHRASE=" + vaultPass
)

var fixture struct {
	once  sync.Once
	vault []byte
	err   error
}

// fixtureVault returns a passphrase vault (vaultPass) holding db/password
// = testSecret. It is made in this process with a cheap scrypt work
// factor, so that every open by the binary costs milliseconds, not the
// second or more of the default; the binary reads it exactly as any vault
// (the work factor is in the file). The vault commands' own round trip
// pays the real cost.
func fixtureVault(t testing.TB) []byte {
	t.Helper()
	fixture.once.Do(func() {
		dir, err := os.MkdirTemp("", "runbook-e2e-vault")
		if err != nil {
			fixture.err = err
			return
		}
		defer os.RemoveAll(dir)
		secrets.ScryptWorkFactor = 10
		enc, err := secrets.PassphraseEncrypter([]byte(vaultPass))
		if err != nil {
			fixture.err = err
			return
		}
		v, err := secrets.Create(filepath.Join(dir, "v"), enc)
		if err == nil {
			err = v.Set("db/password", testSecret)
		}
		if err == nil {
			err = v.Save()
		}
		if err == nil {
			fixture.vault, err = os.ReadFile(filepath.Join(dir, "v"))
		}
		fixture.err = err
	})
	if fixture.err != nil {
		t.Fatalf("make the fixture vault: %v", fixture.err)
	}
	return fixture.vault
}

// writeVault puts data at dir/secrets.vault, mode 0600 as runbook writes it.
func writeVault(t testing.TB, dir string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "secrets.vault"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runStdin is runEnv with stdin.
func runStdin(t testing.TB, dir string, extra []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env(extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// secretTraces are the byte sequences that reveal testSecret: every 8-byte
// window of it, of its hex, and of its base64 without the last characters,
// which mix in the padding and are left visible by any masker.
func secretTraces() []string {
	b64 := base64.StdEncoding.EncodeToString([]byte(testSecret))
	forms := []string{testSecret, hex.EncodeToString([]byte(testSecret)), b64[:len(b64)-4]}
	var out []string
	for _, f := range forms {
		for i := 0; i+8 <= len(f); i++ {
			out = append(out, f[i:i+8])
		}
	}
	return out
}

// leakIn returns the first trace of testSecret in data, or "".
func leakIn(data []byte) string {
	for _, tr := range secretTraces() {
		if bytes.Contains(data, []byte(tr)) {
			return tr
		}
	}
	return ""
}
