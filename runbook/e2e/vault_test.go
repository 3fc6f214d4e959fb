package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestVaultRoundTrip drives every vault command through the binary with
// the passphrases in the environment. The binary writes with the default
// scrypt work factor, so each open costs about a second: the steps are
// few on purpose.
func TestVaultRoundTrip(t *testing.T) {
	dir := t.TempDir()
	newPass := "RUNBOOK_NEW_VAULT_PASSPHRASE=another passphrase entirely"

	r := runEnv(t, dir, []string{passEnv}, "vault", "init")
	if r.code != 0 || !strings.Contains(r.stdout, "created the vault") {
		t.Fatalf("vault init: %s", r)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets.vault"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the vault file: %v, mode %v", err, fi.Mode())
	}

	var quiet []result // commands that must not show the value
	r = runStdin(t, dir, []string{passEnv}, testSecret+"\n", "vault", "set", "db/password")
	if r.code != 0 || !strings.Contains(r.stdout, "stored db/password") {
		t.Fatalf("vault set: %s", r)
	}
	quiet = append(quiet, r)

	r = runEnv(t, dir, []string{passEnv}, "vault", "get", "db/password")
	if r.code != 0 || r.stdout != testSecret+"\n" {
		t.Fatalf("vault get: %s", r)
	}

	r = runStdin(t, dir, []string{passEnv}, "tok\n", "vault", "set", "api/token")
	if r.code != 0 || !strings.Contains(r.stderr, "shorter than 8 characters") {
		t.Fatalf("vault set of a weak value: %s", r)
	}
	r = runEnv(t, dir, []string{passEnv}, "vault", "list")
	if r.code != 0 || r.stdout != "api/token\ndb/password\n" {
		t.Fatalf("vault list: %s", r)
	}
	quiet = append(quiet, r)

	r = runEnv(t, dir, []string{passEnv}, "vault", "rm", "api/token")
	if r.code != 0 || !strings.Contains(r.stdout, "removed api/token") {
		t.Fatalf("vault rm: %s", r)
	}

	r = runEnv(t, dir, []string{passEnv, newPass}, "vault", "rekey")
	if r.code != 0 || !strings.Contains(r.stdout, "now locked with a passphrase") {
		t.Fatalf("vault rekey: %s", r)
	}
	quiet = append(quiet, r)

	r = runEnv(t, dir, []string{passEnv}, "vault", "list")
	if r.code != 5 || !strings.Contains(r.stderr, "wrong passphrase") || r.stdout != "" {
		t.Fatalf("the old passphrase after rekey: %s", r)
	}
	quiet = append(quiet, r)

	r = runEnv(t, dir, []string{"RUNBOOK_VAULT_PASSPHRASE=another passphrase entirely"}, "vault", "get", "db/password")
	if r.code != 0 || r.stdout != testSecret+"\n" {
		t.Fatalf("vault get with the new passphrase: %s", r)
	}

	for _, q := range quiet {
		if tr := leakIn([]byte(q.stdout + q.stderr)); tr != "" {
			t.Errorf("%q shown by a command other than get:\n%s", tr, q)
		}
	}
}

// TestVaultPrompts types the passphrase twice and a secret at hidden
// prompts in a real terminal, and checks nothing typed is echoed.
func TestVaultPrompts(t *testing.T) {
	dir := t.TempDir()
	tm := newTmux(t)
	// The terminal inherits this process's environment: a key there would
	// answer the prompts this test means to see.
	runbook := "env -u RUNBOOK_VAULT_PASSPHRASE -u RUNBOOK_VAULT_PASS_FILE -u RUNBOOK_IDENTITY -u RUNBOOK_FILE " + bin
	tm.run(dir, runbook+" vault init")
	tm.waitFor("New passphrase for secrets.vault")
	typeHidden(tm, vaultPass)
	tm.waitFor("Type it again")
	typeHidden(tm, vaultPass)
	tm.waitFor("EXIT=0")

	// A fresh server for each command: killing the only session ends the
	// server, and a new session could race its exit.
	tm = newTmux(t)
	tm.run(dir, runbook+" vault set db/password")
	tm.waitFor("Passphrase of secrets.vault")
	typeHidden(tm, vaultPass)
	tm.waitFor("Value of db/password")
	typeHidden(tm, testSecret)
	tm.waitFor("EXIT=0")
	screen := tm.screen()
	if strings.Contains(screen, vaultPass) || leakIn([]byte(screen)) != "" {
		t.Errorf("a hidden prompt echoed what was typed:\n%s", screen)
	}

	if r := runEnv(t, dir, []string{passEnv}, "vault", "get", "db/password"); r.code != 0 || r.stdout != testSecret+"\n" {
		t.Fatalf("vault get after the prompts: %s", r)
	}

	// Two different passphrases: nothing is created.
	other := t.TempDir()
	tm = newTmux(t)
	tm.run(other, runbook+" vault init")
	tm.waitFor("New passphrase")
	typeHidden(tm, "one passphrase")
	tm.waitFor("Type it again")
	typeHidden(tm, "another one")
	tm.waitFor("EXIT=2")
	if !strings.Contains(tm.screen(), "the two passphrases differ") {
		t.Errorf("no message for differing passphrases:\n%s", tm.screen())
	}
	if _, err := os.Stat(filepath.Join(other, "secrets.vault")); err == nil {
		t.Errorf("a vault was created although the passphrases differ")
	}
}

// typeHidden types text and Enter at a hidden prompt once the terminal has
// stopped echoing. The prompt is drawn before echo is turned off, and keys
// typed in between are echoed by the terminal itself, as they would be
// for an operator typing ahead: waiting for the mode, not for time, keeps
// the test exact.
func typeHidden(tm *tmux, text string) {
	tm.t.Helper()
	tty := strings.TrimSpace(tm.cmd("display-message", "-p", "-t", "t", "#{pane_tty}"))
	waitFor(tm.t, "the terminal to stop echoing", func() bool {
		out, err := exec.Command("stty", "-F", tty, "-a").Output()
		return err == nil && slices.Contains(strings.Fields(string(out)), "-echo")
	})
	tm.keys(text, "Enter")
}
