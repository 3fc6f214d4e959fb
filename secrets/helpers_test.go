package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// testWorkFactor makes scrypt nearly free, so tests can open hundreds of
// damaged vaults; TestMain sets it for every test and fuzz target.
const testWorkFactor = 6

func TestMain(m *testing.M) {
	ScryptWorkFactor = testWorkFactor
	os.Exit(m.Run())
}

// Values distinctive enough that finding them in an error message can only
// mean a leak.
var testValues = map[string]string{
	"db/password":    "hunter2-Zq8-db-password",
	"ssh/deploy_key": "-----BEGIN KEY-----\nMIIEpQIBAAKCAQEAvZ9\n-----END KEY-----\n",
	"api.token":      "tok_Ab3dE5gH7jK9mN",
}

func passEnc(t testing.TB, pass string) Encrypter {
	t.Helper()
	enc, err := PassphraseEncrypter([]byte(pass))
	if err != nil {
		t.Fatalf("PassphraseEncrypter: %v", err)
	}
	return enc
}

func passDec(t testing.TB, pass string) Decrypter {
	t.Helper()
	dec, err := PassphraseDecrypter([]byte(pass))
	if err != nil {
		t.Fatalf("PassphraseDecrypter: %v", err)
	}
	return dec
}

// newIdentity generates an X25519 identity, writes it to a key file as
// age-keygen does, and returns the file and the recipient.
func newIdentity(t testing.TB) (file, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "key.txt")
	content := "# created: 2026-11-26T21:00:00Z\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, id.Recipient().String()
}

func idDec(t testing.TB, file string) Decrypter {
	t.Helper()
	dec, err := IdentityDecrypter(file)
	if err != nil {
		t.Fatalf("IdentityDecrypter: %v", err)
	}
	return dec
}

func recipientsEnc(t testing.TB, recipients ...string) Encrypter {
	t.Helper()
	enc, err := RecipientsEncrypter(recipients)
	if err != nil {
		t.Fatalf("RecipientsEncrypter: %v", err)
	}
	return enc
}

// filledVault creates a vault at a fresh path holding testValues, saved.
func filledVault(t testing.TB, enc Encrypter) (*Vault, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secrets.vault")
	v, err := Create(path, enc)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for name, value := range testValues {
		if err := v.Set(name, value); err != nil {
			t.Fatalf("Set(%s): %v", name, err)
		}
	}
	if err := v.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return v, path
}

// assertVaultErr checks that err is a vault error of the wanted kind whose
// message reveals no secret value.
func assertVaultErr(t testing.TB, err error, kinds ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one of %v", kinds)
	}
	if !errors.Is(err, ErrVault) {
		t.Fatalf("error %q (%T) does not match ErrVault", err, err)
	}
	assertNoPlaintext(t, err.Error())
	for _, k := range kinds {
		if errors.Is(err, k) {
			return
		}
	}
	t.Fatalf("error %q matches none of %v", err, kinds)
}

func assertNoPlaintext(t testing.TB, msg string) {
	t.Helper()
	for name, value := range testValues {
		for line := range strings.Lines(value) {
			if l := strings.TrimSpace(line); len(l) > 8 && strings.Contains(msg, l) {
				t.Fatalf("message reveals the value of %s: %q", name, msg)
			}
		}
	}
}

func assertContents(t testing.TB, v *Vault, want map[string]string) {
	t.Helper()
	if got := v.Names(); len(got) != len(want) {
		t.Fatalf("Names() = %v, want %d names", got, len(want))
	}
	for name, value := range want {
		got, err := v.Get(name)
		if err != nil {
			t.Fatalf("Get(%s): %v", name, err)
		}
		if got != value {
			t.Fatalf("Get(%s) = %q, want %q", name, got, value)
		}
	}
}
