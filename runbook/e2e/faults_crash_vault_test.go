package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// TestKillVaultRewrite kills `vault init`, `vault set` and `vault rekey`
// with SIGKILL at every crash point of a vault rewrite. The vault must
// open every time, mode 0600, holding either the old content (killed
// before the rename) or the new (after), never a mix, and the next write
// must work. Each write and each open of a vault written by the binary
// costs a default scrypt (about a second): `make test` kills `vault set`
// only.
func TestKillVaultRewrite(t *testing.T) {
	fb := faultsBin(t)
	const newPass = "another passphrase entirely"
	const token = "Zq8Wm3Lr7Tx2Pv5K"
	kills, strays := 0, 0
	for _, point := range secrets.Points {
		after := point == secrets.PointVaultRenamed
		kill := "RUNBOOK_KILLPOINT=" + point

		t.Run("init/"+point, func(t *testing.T) {
			if !remotetest.FullFaults() {
				t.Skip("make faults kills vault init too")
			}
			dir := t.TempDir()
			killedAt(t, runProc(t, fb, dir, []string{passEnv, kill}, "", "vault", "init"), point, 1)
			kills++
			strays += strayCount(t, dir)
			if !after {
				if _, err := os.Stat(filepath.Join(dir, "secrets.vault")); !os.IsNotExist(err) {
					t.Fatalf("a vault killed before it was in place exists: %v", err)
				}
				if r := runEnv(t, dir, []string{passEnv}, "vault", "init"); r.code != 0 {
					t.Fatalf("vault init after a killed one: %s", r)
				}
			}
			if n := vaultIntact(t, dir); n != 0 {
				t.Fatalf("%d temporary files outlived the next write", n)
			}
			if r := runEnv(t, dir, []string{passEnv}, "vault", "list"); r.code != 0 || r.stdout != "" {
				t.Fatalf("the new vault does not open empty: %s", r)
			}
		})

		t.Run("set/"+point, func(t *testing.T) {
			dir := t.TempDir()
			writeVault(t, dir, fixtureVault(t))
			killedAt(t, runProc(t, fb, dir, []string{passEnv, kill}, token+"\n", "vault", "set", "api/token"), point, 1)
			kills++
			strays += vaultIntact(t, dir)
			r := runEnv(t, dir, []string{passEnv}, "vault", "get", "db/password")
			if r.code != 0 || r.stdout != testSecret+"\n" {
				t.Fatalf("the secret stored before the kill: %s", r)
			}
			r = runEnv(t, dir, []string{passEnv}, "vault", "get", "api/token")
			switch {
			case after && (r.code != 0 || r.stdout != token+"\n"):
				t.Fatalf("killed after the rename, the new secret is lost: %s", r)
			case !after && r.code != 5:
				t.Fatalf("killed before the rename, the new secret is there: %s", r)
			}
			if after && !remotetest.FullFaults() {
				return // nothing was left to retire; make faults rekeys anyway
			}
			// The passphrase is retired next (as after a leak): the
			// rekey must work, and leave nothing that opens with it.
			if r := runEnv(t, dir, []string{passEnv, "RUNBOOK_NEW_VAULT_PASSPHRASE=" + newPass}, "vault", "rekey"); r.code != 0 {
				t.Fatalf("vault rekey after a killed vault set: %s", r)
			}
			if n := vaultIntact(t, dir); n != 0 {
				t.Fatalf("%d copies of the vault under the retired passphrase outlived the rekey", n)
			}
			if r := runEnv(t, dir, []string{"RUNBOOK_VAULT_PASSPHRASE=" + newPass}, "vault", "get", "db/password"); r.code != 0 || r.stdout != testSecret+"\n" {
				t.Fatalf("after the rekey: %s", r)
			}
		})

		t.Run("rekey/"+point, func(t *testing.T) {
			if !remotetest.FullFaults() {
				t.Skip("make faults kills vault rekey too")
			}
			dir := t.TempDir()
			writeVault(t, dir, fixtureVault(t))
			killedAt(t, runProc(t, fb, dir, []string{passEnv, "RUNBOOK_NEW_VAULT_PASSPHRASE=" + newPass, kill}, "", "vault", "rekey"), point, 1)
			kills++
			strays += vaultIntact(t, dir)
			opens, fails := passEnv, "RUNBOOK_VAULT_PASSPHRASE="+newPass
			if after {
				opens, fails = fails, opens
			}
			if r := runEnv(t, dir, []string{opens}, "vault", "get", "db/password"); r.code != 0 || r.stdout != testSecret+"\n" {
				t.Fatalf("killed %s the rename, the vault does not open with the passphrase it should: %s", map[bool]string{true: "after", false: "before"}[after], r)
			}
			if r := runEnv(t, dir, []string{fails}, "vault", "list"); r.code != 5 || !strings.Contains(r.stderr, "wrong passphrase") {
				t.Fatalf("the vault opens with both passphrases, or fails otherwise: %s", r)
			}
			if r := runStdin(t, dir, []string{opens}, token+"\n", "vault", "set", "api/token"); r.code != 0 {
				t.Fatalf("vault set after a killed rekey: %s", r)
			}
			if n := vaultIntact(t, dir); n != 0 {
				t.Fatalf("%d temporary files outlived the next write", n)
			}
		})
	}
	remotetest.Figure(t, "vault rewrites: %d kill -9 runs (%s, at each of %d crash points): the vault opened every time with exactly the old or the new content, mode 0600; "+
		"%d killed writes left an encrypted temporary file, every one removed by the next write (a rekey leaves no copy under the retired passphrase)",
		kills, map[bool]string{true: "vault init, set and rekey", false: "vault set"}[remotetest.FullFaults()], len(secrets.Points), strays)
}

// vaultIntact checks the vault file's mode and returns how many temporary
// files killed rewrites left beside it (each a whole vault, encrypted,
// 0600).
func vaultIntact(t *testing.T, dir string) int {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, "secrets.vault"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the vault file: %v, mode %v", err, fi.Mode())
	}
	return strayCount(t, dir)
}

// strayCount returns how many temporary vault files are in dir, and fails
// if one is readable by others.
func strayCount(t *testing.T, dir string) int {
	t.Helper()
	tmps, _ := filepath.Glob(filepath.Join(dir, ".secrets.vault.tmp-*"))
	for _, p := range tmps {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("a temporary vault file is readable by others: %v %v", err, fi.Mode())
		}
	}
	return len(tmps)
}
