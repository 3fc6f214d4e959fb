package secrets

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestPassphraseRoundTrip(t *testing.T) {
	_, path := filledVault(t, passEnc(t, "correct horse"))

	v, err := Open(path, passDec(t, "correct horse"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	assertContents(t, v, testValues)
	if v.Recipients() != nil || v.Protection() != "a passphrase" {
		t.Fatalf("lock = %q recipients = %v, want a passphrase and none", v.Protection(), v.Recipients())
	}

	// Save after Open keeps the same passphrase.
	if err := v.Set("new", "value-added-later"); err != nil {
		t.Fatal(err)
	}
	if err := v.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	again, err := Open(path, passDec(t, "correct horse"))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	want := map[string]string{"new": "value-added-later"}
	for k, val := range testValues {
		want[k] = val
	}
	assertContents(t, again, want)
}

func TestRecipientsRoundTrip(t *testing.T) {
	aliceKey, alice := newIdentity(t)
	bobKey, bob := newIdentity(t)
	_, path := filledVault(t, recipientsEnc(t, alice, bob))

	// Bob opens, changes and saves: Alice must still open the result.
	v, err := Open(path, idDec(t, bobKey))
	if err != nil {
		t.Fatalf("Open as bob: %v", err)
	}
	assertContents(t, v, testValues)
	if got := v.Recipients(); !slices.Equal(got, []string{alice, bob}) {
		t.Fatalf("Recipients() = %v, want alice and bob", got)
	}
	if v.Protection() != "2 age recipients" {
		t.Fatalf("Lock() = %q", v.Protection())
	}
	if err := v.Remove("api.token"); err != nil {
		t.Fatal(err)
	}
	if err := v.Save(); err != nil {
		t.Fatalf("Save as bob: %v", err)
	}

	v, err = Open(path, idDec(t, aliceKey))
	if err != nil {
		t.Fatalf("Open as alice after bob saved: %v", err)
	}
	if _, err := v.Get("api.token"); !errors.Is(err, ErrMissing) {
		t.Fatalf("removed secret: got %v, want ErrMissing", err)
	}
	if _, err := v.Get("db/password"); err != nil {
		t.Fatalf("kept secret: %v", err)
	}

	// The file is a plain age file: age itself opens it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := age.Decrypt(bytes.NewReader(data), ids...); err != nil {
		t.Fatalf("age.Decrypt: %v", err)
	}
}

func TestSaveWritesMode0600Atomically(t *testing.T) {
	v, path := filledVault(t, passEnc(t, "pw"))
	// A looser mode left by someone else is tightened by the next save.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := v.Save(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", st.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the vault (no temporary files)", len(entries))
	}
}

func TestSaveKeepsSymlink(t *testing.T) {
	_, target := filledVault(t, passEnc(t, "pw"))
	link := filepath.Join(t.TempDir(), "secrets.vault")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	v, err := Open(link, passDec(t, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Set("x", "value-through-link"); err != nil {
		t.Fatal(err)
	}
	if err := v.Save(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced by a file (err %v)", err)
	}
	v2, err := Open(target, passDec(t, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := v2.Get("x"); got != "value-through-link" {
		t.Fatalf("target not updated: Get(x) = %q", got)
	}
}

func TestCreateRefusesToOverwrite(t *testing.T) {
	_, path := filledVault(t, passEnc(t, "pw"))
	before, _ := os.ReadFile(path)

	_, err := Create(path, passEnc(t, "other"))
	assertVaultErr(t, err, ErrExists)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("error %v does not match fs.ErrExist", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("Create changed the existing vault")
	}
	// A file that is not a vault is not replaced either.
	other := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(other, []byte("keep me"), 0o644)
	if _, err := Create(other, passEnc(t, "pw")); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over a file: %v, want ErrExists", err)
	}
}

func TestCreateEmptyVault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.vault")
	if _, err := Create(path, passEnc(t, "pw")); err != nil {
		t.Fatal(err)
	}
	v, err := Open(path, passDec(t, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	if n := v.Names(); len(n) != 0 {
		t.Fatalf("new vault holds %v", n)
	}
}

func TestOpenNoVault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.vault")
	_, err := Open(path, passDec(t, "pw"))
	assertVaultErr(t, err, ErrNoVault)
	want := "no vault at " + path + ": create one with `runbook vault init`"
	if err.Error() != want {
		t.Fatalf("message = %q, want %q", err, want)
	}
}

func TestGetSetRemove(t *testing.T) {
	v, _ := filledVault(t, passEnc(t, "pw"))

	_, err := v.Get("nope")
	var missing *MissingError
	if !errors.As(err, &missing) || missing.Name != "nope" {
		t.Fatalf("Get(nope) = %v, want *MissingError{Name: nope}", err)
	}
	assertVaultErr(t, err, ErrMissing)
	if !strings.Contains(err.Error(), "runbook vault set nope") {
		t.Fatalf("message %q gives no hint", err)
	}
	assertVaultErr(t, v.Remove("nope"), ErrMissing)

	if got := v.Names(); !slices.IsSorted(got) || len(got) != len(testValues) {
		t.Fatalf("Names() = %v, want %d sorted names", got, len(testValues))
	}

	if err := v.Set("db/password", "replaced-value"); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.Get("db/password"); got != "replaced-value" {
		t.Fatalf("Set did not replace: %q", got)
	}

	for _, bad := range []string{"", "a b", "ключ", "x;rm", "tab\t", "$HOME"} {
		err := v.Set(bad, "value-for-bad-name")
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrVault) {
			t.Errorf("Set(%q) = %v, want ErrInvalid only", bad, err)
		}
	}
	if err := v.Set("a b", "x"); err.Error() != `"a b" is not a valid secret name: use letters, digits and _ . / -` {
		t.Errorf("message = %q", err)
	}
	for _, good := range []string{"a", "A-Z_0.9/x", "ssh/deploy_key"} {
		if err := v.Set(good, "v"); err != nil {
			t.Errorf("Set(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "\xff\xfe"} {
		err := v.Set("name", bad)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(name, %q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRekey(t *testing.T) {
	v, path := filledVault(t, passEnc(t, "old"))

	if err := v.Rekey(passEnc(t, "new")); err != nil {
		t.Fatalf("Rekey to a new passphrase: %v", err)
	}
	_, err := Open(path, passDec(t, "old"))
	assertVaultErr(t, err, ErrWrongPassphrase)
	v, err = Open(path, passDec(t, "new"))
	if err != nil {
		t.Fatalf("open with the new passphrase: %v", err)
	}
	assertContents(t, v, testValues)

	key, recipient := newIdentity(t)
	if err := v.Rekey(recipientsEnc(t, recipient)); err != nil {
		t.Fatalf("Rekey to recipients: %v", err)
	}
	_, err = Open(path, passDec(t, "new"))
	assertVaultErr(t, err, ErrWrongPassphrase)
	v, err = Open(path, idDec(t, key))
	if err != nil {
		t.Fatalf("open with the identity: %v", err)
	}
	assertContents(t, v, testValues)

	// And back to a passphrase: the recorded recipients go.
	if err := v.Rekey(passEnc(t, "back")); err != nil {
		t.Fatal(err)
	}
	v, err = Open(path, passDec(t, "back"))
	if err != nil || v.Recipients() != nil {
		t.Fatalf("back to a passphrase: %v, recipients %v", err, v.Recipients())
	}
}

func TestRekeyFailureKeepsOldLock(t *testing.T) {
	v, path := filledVault(t, passEnc(t, "old"))
	// Without its directory the vault cannot be written, even by root.
	dir := filepath.Dir(path)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err := v.Rekey(passEnc(t, "new"))
	assertVaultErr(t, err, ErrVault)
	if !strings.Contains(err.Error(), "cannot write the vault") {
		t.Fatalf("message %q does not say what failed", err)
	}
	if v.Protection() != "a passphrase" {
		t.Fatal("lock changed")
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := v.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, passDec(t, "old")); err != nil {
		t.Fatalf("after a failed rekey the old passphrase must still open the vault: %v", err)
	}
}

// A write killed before its rename leaves a whole vault under a temporary
// name, locked with the passphrase of its day. The rekey that retires a
// leaked passphrase must not leave such a copy behind, still opening with
// it.
func TestRekeyRemovesCopiesUnderTheOldKey(t *testing.T) {
	v, path := filledVault(t, passEnc(t, "leaked"))
	stray := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-123456")
	sealed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stray, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.Rekey(passEnc(t, "fresh")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(filepath.Dir(path), e.Name())
		if _, err := Open(p, passDec(t, "leaked")); err == nil {
			t.Errorf("%s still opens with the retired passphrase", e.Name())
		}
	}
}
