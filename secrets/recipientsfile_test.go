package secrets

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/secrets/secretstest"
)

// forgeVault writes the attack of the security review (M-1): someone who
// can write the vault file but holds no identity of the team encrypts, to
// the team's public keys, a plaintext of their own that records extra
// recipients. age authenticates no sender, so it opens with the team's
// identities.
func forgeVault(t *testing.T, path string, sealedTo, recorded []string, secrets map[string]string) []byte {
	t.Helper()
	if err := secretstest.ForgeVault(path, sealedTo, recorded, secrets); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opensWith reports whether the file at path decrypts with the identity in
// keyFile, by age alone.
func opensWith(t *testing.T, path, keyFile string) bool {
	t.Helper()
	ok, err := secretstest.OpensWith(path, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestForgedRecipientsAreRefused replays the review's attack: Mallory
// forges Alice's team vault, sealed to Alice's public key, recording
// Mallory among its recipients. Alice's next update must refuse, naming
// Mallory's key, and nothing may ever be sealed to Mallory; a deliberate
// Reseal seals it to the reviewed list only.
func TestForgedRecipientsAreRefused(t *testing.T) {
	aliceKey, alice := newIdentity(t)
	malloryKey, mallory := newIdentity(t)
	_, path := filledVault(t, recipientsEnc(t, alice))
	if got, err := ReadRecipientsFile(RecipientsFile(path)); err != nil || !slices.Equal(got, []string{alice}) {
		t.Fatalf("the recipients file Create wrote lists %v (%v), want alice", got, err)
	}

	forged := forgeVault(t, path, []string{alice}, []string{alice, mallory}, map[string]string{"db/password": "forged-but-plausible"})
	for _, open := range []func() (*Vault, error){
		func() (*Vault, error) { return Open(path, idDec(t, aliceKey)) },
		func() (*Vault, error) { return OpenForUpdate(t.Context(), path, idDec(t, aliceKey), nil) },
	} {
		_, err := open()
		assertVaultErr(t, err, ErrRecipients)
		var re *RecipientsError
		if !errors.As(err, &re) || !slices.Equal(re.Unlisted, []string{mallory}) || len(re.Missing) != 0 {
			t.Fatalf("error %v names %+v, want mallory as the key the list lacks", err, re)
		}
		if !strings.Contains(err.Error(), mallory) || !strings.Contains(err.Error(), RecipientsFile(path)) {
			t.Fatalf("message %q does not name the key and the list", err)
		}
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, forged) || opensWith(t, path, malloryKey) {
		t.Fatal("the refused open changed the vault, or it opens for mallory")
	}

	// Alice re-seals deliberately, to the reviewed list: Mallory is out.
	removed, added, err := Reseal(t.Context(), path, idDec(t, aliceKey), nil)
	if err != nil || !slices.Equal(removed, []string{mallory}) || len(added) != 0 {
		t.Fatalf("Reseal = %v, %v, %v; want mallory removed", removed, added, err)
	}
	if opensWith(t, path, malloryKey) || !opensWith(t, path, aliceKey) {
		t.Fatal("after Reseal the vault opens for mallory, or not for alice")
	}
	v, err := Open(path, idDec(t, aliceKey))
	if err != nil || !slices.Equal(v.Recipients(), []string{alice}) {
		t.Fatalf("after Reseal: %v, recipients %v", err, v.Recipients())
	}
	if removed, added, err := Reseal(t.Context(), path, idDec(t, aliceKey), nil); err != nil || removed != nil || added != nil {
		t.Fatalf("a second Reseal = %v, %v, %v; want nothing to do", removed, added, err)
	}
}

// TestRecipientsFileIsTheList: every save seals to exactly the file; an
// edit of the file shows at the next open until it is re-sealed; Rekey
// keeps the file's comments; a passphrase vault has no file.
func TestRecipientsFileIsTheList(t *testing.T) {
	aliceKey, alice := newIdentity(t)
	carolKey, carol := newIdentity(t)
	_, path := filledVault(t, recipientsEnc(t, alice))
	file := RecipientsFile(path)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("recipients file: %v, mode %v", err, fi.Mode())
	}

	// A teammate adds Carol to the file, with her name; it is reviewed
	// and merged. The vault, not re-sealed yet, says so.
	edited := "# alice\n" + alice + "\n\n# carol\n" + carol + "\n"
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, idDec(t, aliceKey))
	var re *RecipientsError
	if !errors.As(err, &re) || !slices.Equal(re.Missing, []string{carol}) || len(re.Unlisted) != 0 {
		t.Fatalf("open after the file gained carol: %v", err)
	}
	if _, added, err := Reseal(t.Context(), path, idDec(t, aliceKey), nil); err != nil || !slices.Equal(added, []string{carol}) {
		t.Fatalf("Reseal: %v %v", added, err)
	}
	v, err := Open(path, idDec(t, carolKey))
	if err != nil {
		t.Fatalf("carol after the re-seal: %v", err)
	}
	assertContents(t, v, testValues)

	// The file changes while a vault is open: the save refuses, so it
	// never seals to a list other than the file's.
	if err := os.WriteFile(file, []byte(alice+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v.Set("db/password", "changed-meanwhile")
	assertVaultErr(t, v.Save(), ErrRecipients)
	os.WriteFile(file, []byte(edited), 0o644)

	// Rekey to Alice alone drops Carol's line and keeps the comments.
	if err := v.Rekey(recipientsEnc(t, alice)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(file); string(got) != "# alice\n"+alice+"\n\n# carol\n" {
		t.Fatalf("the file after Rekey:\n%s", got)
	}
	if !opensWith(t, path, aliceKey) || opensWith(t, path, carolKey) {
		t.Fatal("Rekey did not seal to exactly alice")
	}

	// A passphrase vault has no recipients file, and ignores one.
	if err := v.Rekey(passEnc(t, "pass")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the recipients file outlived the rekey to a passphrase: %v", err)
	}
	os.WriteFile(file, []byte(carol+"\n"), 0o644)
	if _, err := Open(path, passDec(t, "pass")); err != nil {
		t.Fatalf("a passphrase vault with a recipients file beside it: %v", err)
	}
}

// TestRecipientsFileProblems: a team vault without its file, and files
// that are not lists of keys.
func TestRecipientsFileProblems(t *testing.T) {
	aliceKey, alice := newIdentity(t)
	_, path := filledVault(t, recipientsEnc(t, alice))
	file := RecipientsFile(path)

	os.Remove(file)
	_, err := Open(path, idDec(t, aliceKey))
	var re *RecipientsError
	if !errors.As(err, &re) || !re.NoFile || !strings.Contains(err.Error(), "no reviewed list") {
		t.Fatalf("no recipients file: %v", err)
	}
	// Written from the team's keys, it is adopted by a re-seal.
	os.WriteFile(file, []byte(alice+"\n"), 0o644)
	if removed, added, err := Reseal(t.Context(), path, idDec(t, aliceKey), nil); err != nil || removed != nil || added != nil {
		t.Fatalf("Reseal to the same keys: %v %v %v", removed, added, err)
	}

	for name, content := range map[string]string{
		"a private key":  "AGE-SECRET-KEY-1QQQQ\n",
		"an ssh key":     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG\n",
		"only comments":  "# nobody\n\n",
		"a trailing tag": alice + " alice\n",
	} {
		os.WriteFile(file, []byte(content), 0o644)
		_, err := Open(path, idDec(t, aliceKey))
		assertVaultErr(t, err, ErrVault)
		if !strings.Contains(err.Error(), file) || strings.Contains(err.Error(), "QQQQ") {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Create does not replace a file listing other keys.
	_, bob := newIdentity(t)
	other := filepath.Join(t.TempDir(), "secrets.vault")
	os.WriteFile(RecipientsFile(other), []byte(bob+"\n"), 0o644)
	_, err = Create(other, recipientsEnc(t, alice))
	assertVaultErr(t, err, ErrExists)
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a vault was created beside a list of other keys")
	}
	if b, _ := os.ReadFile(RecipientsFile(other)); string(b) != bob+"\n" {
		t.Fatalf("the list was changed: %q", b)
	}
	// Reseal of a passphrase vault is a usage error.
	_, passPath := filledVault(t, passEnc(t, "pass"))
	if _, _, err := Reseal(context.Background(), passPath, passDec(t, "pass"), nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reseal of a passphrase vault: %v", err)
	}
}
