package cli

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/secrets/secretstest"
)

func (vt *vaultTest) opensWith(keyFile string) bool {
	vt.t.Helper()
	ok, err := secretstest.OpensWith(vt.path("secrets.vault"), keyFile)
	if err != nil {
		vt.t.Fatal(err)
	}
	return ok
}

// TestVaultSetRefusesForgedRecipients replays the security review's M-1:
// Mallory, who can write the vault file but holds no key of the team,
// forges Alice's vault to Alice's public key with a plaintext that lists
// Mallory among the recipients. Alice's next `vault set` must refuse
// (exit 5), name Mallory's key, and never seal anything to Mallory; the
// deliberate re-seal drops Mallory.
func TestVaultSetRefusesForgedRecipients(t *testing.T) {
	vt := newVaultTest(t)
	alice := vt.identityFile("alice.key", testIdentity1)
	mallory := vt.identityFile("mallory.key", testIdentity2)
	malloryKey := testRecipient2

	r := vt.must(0, "", "vault", "init", "--recipient", testRecipient1)
	if !strings.Contains(r.stdout, "secrets.vault.recipients") {
		t.Errorf("init does not name the recipients file:\n%s", r)
	}
	vt.must(0, dbPassword, "--identity", alice, "vault", "set", "db/password")
	if err := secretstest.ForgeVault(vt.path("secrets.vault"), []string{testRecipient1}, []string{testRecipient1, malloryKey},
		map[string]string{"db/password": dbPassword}); err != nil {
		t.Fatal(err)
	}
	forged := vt.read("secrets.vault")

	r = vt.must(5, "brand-new-root-password-XYZ\n", "--identity", alice, "vault", "set", "root/password")
	for _, want := range []string{malloryKey, "secrets.vault.recipients", "runbook vault recipients seal"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r)
		}
	}
	if !bytes.Equal(vt.read("secrets.vault"), forged) || vt.opensWith(mallory) {
		t.Fatal("the refused set changed the vault, or sealed it to mallory")
	}
	for _, args := range [][]string{{"vault", "list"}, {"vault", "get", "db/password"}, {"vault", "rekey", "--recipient", testRecipient1}} {
		vt.must(5, "", append([]string{"--identity", alice}, args...)...)
	}

	// Alice reviews the list (unchanged: only her) and re-seals to it.
	if r := vt.must(0, "", "vault", "recipients"); r.stdout != testRecipient1+"\n" {
		t.Errorf("recipients lists %q", r.stdout)
	}
	r = vt.must(0, "", "--identity", alice, "vault", "recipients", "seal")
	if !strings.Contains(r.stdout, "removed: "+malloryKey) {
		t.Errorf("seal does not say it removed mallory:\n%s", r)
	}
	vt.must(0, "brand-new-root-password-XYZ\n", "--identity", alice, "vault", "set", "root/password")
	if vt.opensWith(mallory) || !vt.opensWith(alice) {
		t.Fatal("after the re-seal the vault opens for mallory, or not for alice")
	}
}

// TestVaultRecipientsCommands walks a team's changes: add and remove a
// teammate, a reviewed hand edit applied by seal, and the mistakes.
func TestVaultRecipientsCommands(t *testing.T) {
	vt := newVaultTest(t)
	alice := vt.identityFile("alice.key", testIdentity1)
	bob := vt.identityFile("bob.key", testIdentity2)
	file := secrets.RecipientsFile(vt.path("secrets.vault"))

	vt.must(0, "", "vault", "init", "--recipient", testRecipient1)
	vt.must(0, dbPassword, "--identity", alice, "vault", "set", "db/password")
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("recipients file %v, mode %v", err, fi.Mode())
	}
	if vt.opensWith(bob) {
		t.Fatal("bob opens a vault sealed to alice")
	}

	r := vt.must(0, "", "--identity", alice, "vault", "recipients", "add", testRecipient2)
	if !strings.Contains(r.stdout, "added "+testRecipient2) || !strings.Contains(r.stdout, "2 age recipients") {
		t.Errorf("add says:\n%s", r)
	}
	if r := vt.must(0, "", "vault", "recipients", "list"); r.stdout != testRecipient1+"\n"+testRecipient2+"\n" {
		t.Errorf("list after add: %q", r.stdout)
	}
	if r := vt.must(0, "", "--identity", bob, "vault", "get", "db/password"); r.stdout != dbPassword+"\n" {
		t.Errorf("bob after add: %q", r.stdout)
	}
	vt.must(0, "", "--identity", bob, "vault", "recipients", "add", testRecipient2) // nothing to do

	r = vt.must(0, "", "--identity", bob, "vault", "recipients", "rm", testRecipient1)
	if !strings.Contains(r.stdout, "removed "+testRecipient1) || !strings.Contains(r.stdout, "rotate the secrets") {
		t.Errorf("rm says:\n%s", r)
	}
	if vt.opensWith(alice) {
		t.Fatal("alice still opens the vault after rm")
	}

	// A reviewed hand edit puts Alice back, with her name; seal applies it.
	if err := os.WriteFile(file, []byte("# bob\n"+testRecipient2+"\n# alice\n"+testRecipient1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = vt.must(5, "", "--identity", bob, "vault", "list")
	if !strings.Contains(r.stderr, "not sealed to "+testRecipient1) {
		t.Errorf("an unsealed edit of the file:\n%s", r)
	}
	r = vt.must(0, "", "--identity", bob, "vault", "recipients", "seal")
	if !strings.Contains(r.stdout, "added:   "+testRecipient1) {
		t.Errorf("seal says:\n%s", r)
	}
	vt.must(0, "", "--identity", alice, "vault", "list")
	if b := vt.read("secrets.vault.recipients"); !strings.Contains(string(b), "# alice\n") {
		t.Errorf("seal changed the file: %q", b)
	}

	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"vault", "recipients", "add", "age1nope"}, 2, "is not an age recipient"},
		{[]string{"vault", "recipients", "add"}, 2, "takes one or more"},
		{[]string{"vault", "recipients", "rm", "age1x7qmhydk93kac7g6cld6ydhsesvw2y7xvy9u0626e0l42syt3p6qvt0eaz"}, 2, "is not an age recipient"},
		{[]string{"vault", "recipients", "frob"}, 2, `unknown vault recipients command "frob"`},
		{[]string{"vault", "recipients", "seal", "x"}, 2, "takes no keys"},
	} {
		r := vt.must(c.code, "", append([]string{"--identity", alice}, c.args...)...)
		if !strings.Contains(r.stderr, c.says) {
			t.Errorf("%v: stderr lacks %q:\n%s", c.args, c.says, r)
		}
	}
	// Removing everyone is refused; so is a key that is not there.
	vt.must(0, "", "--identity", alice, "vault", "recipients", "rm", testRecipient2)
	if r := vt.must(2, "", "--identity", alice, "vault", "recipients", "rm", testRecipient1); !strings.Contains(r.stderr, "no recipient") {
		t.Errorf("removing the last recipient:\n%s", r)
	}
	if r := vt.must(2, "", "--identity", alice, "vault", "recipients", "rm", testRecipient2); !strings.Contains(r.stderr, "is not a recipient") {
		t.Errorf("removing a key that is not there:\n%s", r)
	}

	// A passphrase vault has none.
	t.Setenv(secrets.EnvNewPassphrase, "a team passphrase 9")
	r = vt.must(0, "", "--identity", alice, "vault", "rekey")
	if !strings.Contains(r.stdout, "removed "+file) {
		t.Errorf("rekey to a passphrase says:\n%s", r)
	}
	if r := vt.must(5, "", "vault", "recipients"); !strings.Contains(r.stderr, "no recipients file") {
		t.Errorf("recipients of a passphrase vault:\n%s", r)
	}
	t.Setenv(secrets.EnvPassphrase, "a team passphrase 9")
	if r := vt.must(2, "", "vault", "recipients", "add", testRecipient2); !strings.Contains(r.stderr, "vault rekey --recipient") {
		t.Errorf("add to a passphrase vault:\n%s", r)
	}
}

// TestVaultTeamWithoutRecipientsFile: a team vault made before recipients
// files (or with the file lost) is refused until the team writes the list
// and seals to it.
func TestVaultTeamWithoutRecipientsFile(t *testing.T) {
	vt := newVaultTest(t)
	alice := vt.identityFile("alice.key", testIdentity1)
	vt.must(0, "", "vault", "init", "--recipient", testRecipient1)
	file := secrets.RecipientsFile(vt.path("secrets.vault"))
	os.Remove(file)
	r := vt.must(5, "", "--identity", alice, "vault", "list")
	if !strings.Contains(r.stderr, "no reviewed list") || !strings.Contains(r.stderr, "runbook vault recipients seal") {
		t.Errorf("a team vault without its file:\n%s", r)
	}
	os.WriteFile(file, []byte(testRecipient1+"\n"), 0o644)
	vt.must(0, "", "--identity", alice, "vault", "recipients", "seal")
	vt.must(0, "", "--identity", alice, "vault", "list")
}

// TestVaultFileMustBeRegular: `vault list --vault /dev/zero` grew to 24 GB
// before the OOM killer ended it, a FIFO hung (security review L-1). They,
// and a directory, must fail at once with exit 5, before any passphrase is
// asked.
func TestVaultFileMustBeRegular(t *testing.T) {
	vt := newVaultTest(t)
	t.Setenv(secrets.EnvPassphrase, "a passphrase")
	fifo := vt.path("fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, says := range map[string]string{
		"/dev/zero":    "it is a character device, not a regular file",
		fifo:           "it is a FIFO, not a regular file",
		vt.path(""):    "it is a directory, not a regular file",
		"/dev/urandom": "it is a character device",
	} {
		for _, cmd := range [][]string{{"vault", "list"}, {"vault", "set", "x"}} {
			start := time.Now()
			r := vt.must(5, "value\n", append([]string{"--vault", path}, cmd...)...)
			if !strings.Contains(r.stderr, says) || !strings.Contains(r.stderr, "--vault") {
				t.Errorf("%s %v:\n%s", path, cmd, r)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s %v took %v", path, cmd, d)
			}
		}
	}
	// Without a key in the environment it still says what is wrong, rather
	// than ask for a passphrase.
	t.Setenv(secrets.EnvPassphrase, "")
	if r := vt.must(5, "", "--vault", "/dev/zero", "vault", "list"); !strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("no key:\n%s", r)
	}
}
