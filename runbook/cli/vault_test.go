package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/secrets"
)

const (
	dbPassword = "Kx7Qp2Vr9Wm4Tz8Lb3Nc"
	deployKey  = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----\n"
)

// TestVaultRoundTrip walks init, set, get, list, rm and rekey with the
// passphrases in the environment, and checks that only get shows a value.
func TestVaultRoundTrip(t *testing.T) {
	vt := newVaultTest(t)
	t.Setenv(secrets.EnvPassphrase, "first passphrase")

	r := vt.must(0, "", "vault", "init")
	if !strings.Contains(r.stdout, "created the vault "+vt.path("secrets.vault")) || !strings.Contains(r.stdout, "a passphrase") {
		t.Errorf("init says:\n%s", r)
	}
	fi, err := os.Stat(vt.path("secrets.vault"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("vault file %v, mode %v", err, fi.Mode())
	}

	// stdin: one trailing newline (also CRLF) is dropped.
	var shown []cliResult
	shown = append(shown, vt.must(0, dbPassword+"\r\n", "vault", "set", "db/password"))
	// --from-file: byte for byte, the key's final newline kept.
	shown = append(shown, vt.must(0, "", "vault", "set", "ssh/deploy_key", "--from-file", vt.write("key", deployKey)))
	if !strings.Contains(shown[0].stdout, "stored db/password") {
		t.Errorf("set says:\n%s", shown[0])
	}

	if r := vt.must(0, "", "vault", "get", "db/password"); r.stdout != dbPassword+"\n" {
		t.Errorf("get db/password printed %q", r.stdout)
	}
	if r := vt.must(0, "", "vault", "get", "ssh/deploy_key"); r.stdout != deployKey {
		t.Errorf("get ssh/deploy_key printed %q", r.stdout)
	}
	if r := vt.must(0, "", "vault", "list"); r.stdout != "db/password\nssh/deploy_key\n" {
		t.Errorf("list printed %q", r.stdout)
	}

	r = vt.must(0, "other value 12345\n", "vault", "set", "db/password")
	shown = append(shown, r)
	if !strings.Contains(r.stdout, "replaced db/password") {
		t.Errorf("a second set says:\n%s", r)
	}
	shown = append(shown, vt.must(0, "", "vault", "rm", "ssh/deploy_key"))
	shown = append(shown, vt.must(0, "", "vault", "list"))
	if got := shown[len(shown)-1].stdout; got != "db/password\n" {
		t.Errorf("list after rm printed %q", got)
	}

	t.Setenv(secrets.EnvNewPassphrase, "second passphrase")
	r = vt.must(0, "", "vault", "rekey")
	shown = append(shown, r)
	if !strings.Contains(r.stdout, "now locked with a passphrase") {
		t.Errorf("rekey says:\n%s", r)
	}
	r = vt.must(5, "", "vault", "get", "db/password")
	if !strings.Contains(r.stderr, "wrong passphrase") || r.stdout != "" {
		t.Errorf("the old passphrase after rekey:\n%s", r)
	}
	t.Setenv(secrets.EnvPassphrase, "second passphrase")
	if r := vt.must(0, "", "vault", "get", "db/password"); r.stdout != "other value 12345\n" {
		t.Errorf("get after rekey printed %q", r.stdout)
	}

	for _, r := range shown {
		for _, v := range []string{dbPassword, "other value 12345", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU", "first passphrase", "second passphrase"} {
			if strings.Contains(r.stdout+r.stderr, v) {
				t.Errorf("a command other than get shows %q:\n%s", v, r)
			}
		}
	}
}

func TestVaultPassFiles(t *testing.T) {
	vt := newVaultTest(t)
	old := vt.write("old.pass", "old pass phrase\n")
	vt.must(0, "", "--vault-pass-file", old, "vault", "init")
	vt.must(0, "s3cr3t-value-1\n", "--vault-pass-file", old, "vault", "set", "a")
	newPass := vt.write("new.pass", "new pass phrase\n")
	vt.must(0, "", "--vault-pass-file", old, "vault", "rekey", "--new-pass-file", newPass)
	t.Setenv(secrets.EnvPassFile, newPass)
	if r := vt.must(0, "", "vault", "get", "a"); r.stdout != "s3cr3t-value-1\n" {
		t.Errorf("get with RUNBOOK_VAULT_PASS_FILE printed %q", r.stdout)
	}
}

func TestVaultRecipients(t *testing.T) {
	vt := newVaultTest(t)
	id1 := vt.identityFile("key1.txt", testIdentity1)
	id2 := vt.identityFile("key2.txt", testIdentity2)

	r := vt.must(0, "", "vault", "init", "--recipient", testRecipient1, "--recipient", testRecipient2)
	if !strings.Contains(r.stdout, "2 age recipients") || !strings.Contains(r.stdout, "--identity") {
		t.Errorf("init --recipient says:\n%s", r)
	}
	// One teammate stores, the other reads: the vault stays locked to both.
	vt.must(0, dbPassword, "--identity", id1, "vault", "set", "db/password")
	t.Setenv("RUNBOOK_IDENTITY", id2)
	if r := vt.must(0, "", "vault", "get", "db/password"); r.stdout != dbPassword+"\n" {
		t.Errorf("get with the second identity printed %q", r.stdout)
	}
	t.Setenv("RUNBOOK_IDENTITY", "")
	t.Setenv(secrets.EnvPassphrase, "a passphrase")
	if r := vt.must(5, "", "vault", "list"); !strings.Contains(r.stderr, "locked to age recipients") {
		t.Errorf("a passphrase for a recipients vault:\n%s", r)
	}

	// Back to a passphrase, then to only the second teammate.
	t.Setenv(secrets.EnvNewPassphrase, "team passphrase")
	vt.must(0, "", "--identity", id1, "vault", "rekey")
	t.Setenv(secrets.EnvPassphrase, "team passphrase")
	vt.must(0, "", "vault", "rekey", "--recipient", testRecipient2)
	t.Setenv(secrets.EnvPassphrase, "")
	if r := vt.must(5, "", "--identity", id1, "vault", "list"); !strings.Contains(r.stderr, "does not open the vault") {
		t.Errorf("a removed teammate:\n%s", r)
	}
	if r := vt.must(0, "", "--identity", id2, "vault", "list"); r.stdout != "db/password\n" {
		t.Errorf("list with the remaining identity printed %q", r.stdout)
	}
}

// TestVaultFailures checks the exit code and the message of each way a
// vault command can fail, and that a failed command changed nothing.
func TestVaultFailures(t *testing.T) {
	vt := newVaultTest(t)
	const pass = "right passphrase"
	vt.passVault(pass, "db/password", dbPassword)
	good := vt.read("secrets.vault")
	flipped := bytes.Clone(good)
	flipped[len(flipped)-20] ^= 0x01 // in the encrypted payload, past the header
	truncated := good[:len(good)-10]

	cases := []struct {
		name   string
		vault  []byte // nil: no vault file
		env    map[string]string
		stdin  string
		args   []string
		code   int
		stderr []string
	}{
		{"no vault", nil, map[string]string{secrets.EnvPassphrase: pass}, "", []string{"vault", "list"}, 5,
			[]string{"no vault at", "runbook vault init"}},
		{"wrong passphrase", good, map[string]string{secrets.EnvPassphrase: "wrong"}, "", []string{"vault", "get", "db/password"}, 5,
			[]string{"wrong passphrase for the vault"}},
		{"flipped byte", flipped, map[string]string{secrets.EnvPassphrase: pass}, "", []string{"vault", "get", "db/password"}, 5,
			[]string{"damaged or truncated", "restore it from a backup"}},
		{"truncated", truncated, map[string]string{secrets.EnvPassphrase: pass}, "", []string{"vault", "list"}, 5,
			[]string{"damaged or truncated"}},
		{"missing secret", good, map[string]string{secrets.EnvPassphrase: pass}, "", []string{"vault", "get", "db/pasword"}, 5,
			[]string{`no secret "db/pasword"`, "runbook vault set db/pasword"}},
		{"rm missing", good, map[string]string{secrets.EnvPassphrase: pass}, "", []string{"vault", "rm", "nope"}, 5,
			[]string{`no secret "nope"`}},
		{"no key and no terminal", good, nil, "", []string{"vault", "list"}, 5,
			[]string{"no terminal to ask", "RUNBOOK_VAULT_PASS_FILE"}},
		{"empty pass file", good, map[string]string{secrets.EnvPassFile: vt.write("empty.pass", "\n")}, "", []string{"vault", "list"}, 5,
			[]string{"pass file", "is empty"}},
		{"init over a vault", good, map[string]string{secrets.EnvPassphrase: pass}, "", []string{"vault", "init"}, 5,
			[]string{"already exists", "vault rekey"}},
		{"rekey without a new passphrase", good, map[string]string{secrets.EnvPassphrase: pass}, "", []string{"vault", "rekey"}, 5,
			[]string{"new passphrase", "RUNBOOK_NEW_VAULT_PASSPHRASE"}},
		{"empty value", good, map[string]string{secrets.EnvPassphrase: pass}, "\n", []string{"vault", "set", "x"}, 2,
			[]string{"value of x is empty"}},
		{"bad name", good, nil, "", []string{"vault", "set", "no spaces"}, 2,
			[]string{"not a valid secret name"}},
		{"no name", good, nil, "", []string{"vault", "get"}, 2,
			[]string{"takes one secret NAME"}},
		{"bad recipient", nil, nil, "", []string{"vault", "init", "--recipient", "age1nope"}, 2,
			[]string{"is not an age recipient"}},
		{"recipient and pass file", nil, nil, "", []string{"--vault-pass-file", "p", "vault", "init", "--recipient", testRecipient1}, 2,
			[]string{"exclude each other"}},
		{"unknown subcommand", nil, nil, "", []string{"vault", "show"}, 2,
			[]string{`unknown vault command "show"`}},
		{"list takes no argument", good, nil, "", []string{"vault", "list", "x"}, 2,
			[]string{"takes no arguments"}},
		{"from-file missing", good, map[string]string{secrets.EnvPassphrase: pass}, "", []string{"vault", "set", "k", "--from-file", "/nonexistent/key"}, 2,
			[]string{"cannot read the value from --from-file"}},
		{"value too large", good, map[string]string{secrets.EnvPassphrase: pass}, strings.Repeat("x", maxSecretSize+1), []string{"vault", "set", "big"}, 2,
			[]string{"larger than"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(vt.path("secrets.vault"))
			if c.vault != nil {
				vt.write("secrets.vault", string(c.vault))
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			r := vt.must(c.code, c.stdin, c.args...)
			for _, want := range c.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r)
				}
			}
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; n > 2 {
				t.Errorf("the message takes %d lines, want one or two:\n%s", n, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, dbPassword) {
				t.Errorf("the secret is shown:\n%s", r)
			}
			if c.vault != nil && !bytes.Equal(vt.read("secrets.vault"), c.vault) {
				t.Errorf("a failed command changed the vault")
			}
		})
	}
}

func TestVaultSetWarnsAboutWeakValues(t *testing.T) {
	vt := newVaultTest(t)
	t.Setenv(secrets.EnvPassphrase, "a passphrase")
	vt.must(0, "", "vault", "init")
	r := vt.must(0, "abc123\n", "vault", "set", "short")
	if !strings.Contains(r.stderr, "runbook: warning: the value of short is shorter than 8 characters") {
		t.Errorf("no warning for a weak value:\n%s", r)
	}
	if r := vt.must(0, "long enough value\n", "vault", "set", "long"); r.stderr != "" {
		t.Errorf("a warning for a strong value:\n%s", r)
	}
	if r := vt.must(0, "", "vault", "get", "short"); r.stdout != "abc123\n" {
		t.Errorf("the weak value was not stored: %q", r.stdout)
	}
}

func TestVaultFollowsTheRunbook(t *testing.T) {
	vt := newVaultTest(t)
	t.Setenv(secrets.EnvPassphrase, "a passphrase")
	vt.write("runbook.yaml", "name: t\nvault: team/night.vault\nenvironments:\n  build: {local: true}\nsteps:\n  - {name: a, on: build, run: \"true\"}\n")
	if err := os.Mkdir(vt.path("team"), 0o755); err != nil {
		t.Fatal(err)
	}
	vt.must(0, "", "vault", "init")
	if _, err := os.Stat(vt.path("team/night.vault")); err != nil {
		t.Fatalf("the runbook's vault: key was not followed: %v", err)
	}
	// --vault wins, without reading the runbook.
	vt.must(0, "", "--vault", vt.path("other.vault"), "vault", "init")
	if _, err := os.Stat(vt.path("other.vault")); err != nil {
		t.Fatalf("--vault was not followed: %v", err)
	}
	// A broken runbook names no vault: its problem is shown (exit 2).
	vt.write("runbook.yaml", "name: [\n")
	if r := vt.must(2, "", "vault", "list"); !strings.Contains(r.stderr, "runbook.yaml:") {
		t.Errorf("a broken runbook:\n%s", r)
	}
}
