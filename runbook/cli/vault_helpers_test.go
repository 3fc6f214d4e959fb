package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/secrets"
)

// Two age identities made for these tests only (age-keygen format); they
// lock nothing outside the test vaults.
const (
	testRecipient1 = "age1x7qmhydk93kac7g6cld6ydhsesvw2y7xvy9u0626e0l42syt3p6qvt0eay"
	testIdentity1  = "AGE-SECRET-KEY-10KNNH9D6ZTWZJZGW9XHQPRX22AWZRH3WQSM5PTPKRYN87E8GS6ASQEHLEW"
	testRecipient2 = "age1f5wm7eu5wv6caztxn76gs94nuyw5eskvgeukgk0llvd0jqk8jqtqcujk3f"
	testIdentity2  = "AGE-SECRET-KEY-16D2JP8AWFCENAEU2PF327WPHQZSA4G0GJ3UTLC06QXSMYX5Z6N9Q5WQ20M"
)

// cliResult is one in-process run of the command line.
type cliResult struct {
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// vaultTest runs vault commands in process, against a directory of its
// own, with a cheap scrypt and no key leaking in from the developer's
// environment.
type vaultTest struct {
	t   *testing.T
	dir string
}

func newVaultTest(t *testing.T) *vaultTest {
	t.Helper()
	old := secrets.ScryptWorkFactor
	secrets.ScryptWorkFactor = 8
	t.Cleanup(func() { secrets.ScryptWorkFactor = old })
	for _, k := range []string{"RUNBOOK_FILE", "RUNBOOK_STATE", "RUNBOOK_IDENTITY", secrets.EnvPassFile, secrets.EnvPassphrase, secrets.EnvNewPassphrase} {
		t.Setenv(k, "")
	}
	return &vaultTest{t: t, dir: t.TempDir()}
}

// run runs runbook with args, the runbook file (which may not exist) and
// stdin given.
func (vt *vaultTest) run(stdin string, args ...string) cliResult {
	vt.t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"-f", vt.path("runbook.yaml")}, args...)
	code := Main(vt.t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// must runs and fails the test unless the exit code is want.
func (vt *vaultTest) must(want int, stdin string, args ...string) cliResult {
	vt.t.Helper()
	r := vt.run(stdin, args...)
	if r.code != want {
		vt.t.Fatalf("runbook %s: want exit %d, got %s", strings.Join(args, " "), want, r)
	}
	return r
}

func (vt *vaultTest) path(name string) string { return filepath.Join(vt.dir, name) }

func (vt *vaultTest) write(name, content string) string {
	vt.t.Helper()
	p := vt.path(name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		vt.t.Fatal(err)
	}
	return p
}

func (vt *vaultTest) read(name string) []byte {
	vt.t.Helper()
	b, err := os.ReadFile(vt.path(name))
	if err != nil {
		vt.t.Fatal(err)
	}
	return b
}

// identityFile writes an age identity as age-keygen does.
func (vt *vaultTest) identityFile(name, identity string) string {
	return vt.write(name, "# created by the runbook tests\n"+identity+"\n")
}

// passVault makes the passphrase vault secrets.vault with the secrets given.
func (vt *vaultTest) passVault(pass string, kv ...string) {
	vt.t.Helper()
	enc, err := secrets.PassphraseEncrypter([]byte(pass))
	if err != nil {
		vt.t.Fatal(err)
	}
	v, err := secrets.Create(vt.path("secrets.vault"), enc)
	if err != nil {
		vt.t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if err := v.Set(kv[i], kv[i+1]); err != nil {
			vt.t.Fatal(err)
		}
	}
	if err := v.Save(); err != nil {
		vt.t.Fatal(err)
	}
}
