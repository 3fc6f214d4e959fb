package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestWrongKeys(t *testing.T) {
	_, passPath := filledVault(t, passEnc(t, "right"))
	aliceKey, alice := newIdentity(t)
	malloryKey, _ := newIdentity(t)
	_, recPath := filledVault(t, recipientsEnc(t, alice))

	tests := []struct {
		name    string
		path    string
		dec     Decrypter
		message string
	}{
		{"wrong passphrase", passPath, passDec(t, "wrong"), "wrong passphrase for the vault"},
		{"identity on a passphrase vault", passPath, idDec(t, aliceKey), "is locked with a passphrase"},
		{"passphrase on a recipients vault", recPath, passDec(t, "right"), "is locked to age recipients"},
		{"identity not among the recipients", recPath, idDec(t, malloryKey), "does not open the vault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.path, tt.dec)
			assertVaultErr(t, err, ErrWrongPassphrase)
			if !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("message %q does not say %q about %s", err, tt.message, tt.path)
			}
			var noMatch *age.NoIdentityMatchError
			if !errors.As(err, &noMatch) {
				t.Fatalf("the age cause is not reachable through %v", err)
			}
		})
	}
}

func TestKeyConstructors(t *testing.T) {
	if _, err := PassphraseEncrypter(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty passphrase encrypter: %v", err)
	}
	if _, err := PassphraseDecrypter([]byte{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty passphrase decrypter: %v", err)
	}
	if _, err := RecipientsEncrypter([]string{" ", ""}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no recipients: %v", err)
	}
	if _, err := RecipientsEncrypter([]string{"age1notakey"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad recipient: %v", err)
	}
	_, r := newIdentity(t)
	enc, err := RecipientsEncrypter([]string{r, " " + r + " "})
	if err != nil || enc.String() != "1 age recipient" {
		t.Errorf("duplicates: %v, %v", enc, err)
	}

	// The passphrase is copied: clearing the caller's slice changes nothing.
	pass := []byte("copied")
	e, _ := PassphraseEncrypter(pass)
	d, _ := PassphraseDecrypter(pass)
	clear(pass)
	path := filepath.Join(t.TempDir(), "v")
	if _, err := Create(path, e); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, d); err != nil {
		t.Fatalf("open after clearing the caller's passphrase: %v", err)
	}

	dir := t.TempDir()
	_, err = IdentityDecrypter(filepath.Join(dir, "absent"))
	assertVaultErr(t, err, ErrVault)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("AGE-SECRET-KEY-1NOTAKEY\n"), 0o600)
	_, err = IdentityDecrypter(bad)
	assertVaultErr(t, err, ErrVault)
	if strings.Contains(err.Error(), "NOTAKEY") {
		t.Fatalf("message quotes key material: %q", err)
	}
}

// TestAddKeyMasksTheKey: the passphrase and the identity's secret key,
// once read, are masked like any secret (finding H-2 of the security
// review); a public recipient is not secret.
func TestAddKeyMasksTheKey(t *testing.T) {
	m := NewMasker()
	m.AddKey(passDec(t, "correct horse battery staple 42"))
	m.AddKey(passEnc(t, "the new passphrase of a rekey"))
	keyFile, recipient := newIdentity(t)
	m.AddKey(idDec(t, keyFile))
	m.AddKey(recipientsEnc(t, recipient))
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secretKey := strings.TrimSpace(string(raw[strings.LastIndex(string(raw), "AGE-SECRET-KEY-"):]))
	for _, leak := range []string{
		"RUNBOOK_VAULT_PASSPHRASE=correct horse battery staple 42",
		"RUNBOOK_NEW_VAULT_PASSPHRASE=the new passphrase of a rekey",
		secretKey,
		strings.ToLower(secretKey), // bech32 reads either case
	} {
		if got := m.Mask(leak); strings.Contains(got, "horse battery") || strings.Contains(got, "passphrase of a") || strings.Contains(got, secretKey[16:40]) ||
			strings.Contains(got, strings.ToLower(secretKey[16:40])) || !strings.Contains(got, Redacted) {
			t.Errorf("Mask(%q) = %q", leak, got)
		}
	}
	if got := m.Mask("recipient " + recipient); got != "recipient "+recipient {
		t.Errorf("a public key was masked: %q", got)
	}
	if m.Len() != 3 {
		t.Errorf("Len = %d, want 3: two passphrases and the key", m.Len())
	}
}
