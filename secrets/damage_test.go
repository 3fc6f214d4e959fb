package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// headerEnd returns the offset of the payload: just past the "---" line.
func headerEnd(t *testing.T, data []byte) int {
	t.Helper()
	i := bytes.Index(data, []byte("\n---"))
	if i < 0 {
		t.Fatal("no header footer in the vault")
	}
	j := bytes.IndexByte(data[i+1:], '\n')
	return i + 1 + j + 1
}

func TestDamagedVault(t *testing.T) {
	aliceKey, alice := newIdentity(t)
	cases := []struct {
		name string
		enc  Encrypter
		dec  Decrypter
	}{
		{"passphrase", passEnc(t, "pw"), passDec(t, "pw")},
		{"recipients", recipientsEnc(t, alice), idDec(t, aliceKey)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, path := filledVault(t, c.enc)
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			body := headerEnd(t, good)

			t.Run("flipped byte", func(t *testing.T) {
				for i := range good {
					bad := bytes.Clone(good)
					bad[i] ^= 0x01
					os.WriteFile(path, bad, 0o600)
					_, err := Open(path, c.dec)
					if i >= body {
						assertVaultErr(t, err, ErrDamaged)
					} else {
						// A flipped bit in a stanza looks like a wrong key to age.
						assertVaultErr(t, err, ErrDamaged, ErrWrongPassphrase)
					}
				}
			})
			t.Run("truncated", func(t *testing.T) {
				for n := range len(good) {
					os.WriteFile(path, good[:n], 0o600)
					_, err := Open(path, c.dec)
					if n >= body {
						assertVaultErr(t, err, ErrDamaged)
						want := "the vault " + path + " is damaged or truncated: restore it from a backup"
						if err.Error() != want {
							t.Fatalf("message = %q, want %q", err, want)
						}
					} else {
						assertVaultErr(t, err, ErrDamaged, ErrWrongPassphrase)
					}
				}
			})
			t.Run("trailing data", func(t *testing.T) {
				os.WriteFile(path, append(bytes.Clone(good), 0), 0o600)
				_, err := Open(path, c.dec)
				assertVaultErr(t, err, ErrDamaged)
			})
		})
	}
}

// sealRaw encrypts an arbitrary plaintext with a passphrase, as a foreign
// tool or a future runbook would.
func sealRaw(t *testing.T, plain string) string {
	t.Helper()
	sealed, err := seal([]byte(plain), passEnc(t, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "secrets.vault")
	if err := os.WriteFile(path, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenForeignPlaintext(t *testing.T) {
	const leak = "hunter2-Zq8-db-password"
	tests := []struct {
		name  string
		plain string
		kind  error
	}{
		{"not json", "password=" + leak, ErrDamaged},
		{"json syntax error after a value", `{"version":1,"secrets":{"a":"` + leak + `"}`, ErrDamaged},
		{"unknown field", `{"version":1,"secrets":{},"extra":"` + leak + `"}`, ErrDamaged},
		{"no version", `{"secrets":{"a":"` + leak + `"}}`, ErrDamaged},
		{"bad name", `{"version":1,"secrets":{"a b":"` + leak + `"}}`, ErrDamaged},
		{"empty value", `{"version":1,"secrets":{"a":""}}`, ErrDamaged},
		{"trailing data", `{"version":1,"secrets":{}} {"x":"` + leak + `"}`, ErrDamaged},
		{"recipients in a passphrase vault", `{"version":1,"recipients":["age1x"],"secrets":{}}`, ErrDamaged},
		{"newer format", `{"version":2,"secrets":{"a":"` + leak + `"},"more":true}`, ErrNewerFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(sealRaw(t, tt.plain), passDec(t, "pw"))
			assertVaultErr(t, err, tt.kind)
			if errors.Is(err, ErrDamaged) == errors.Is(err, ErrNewerFormat) {
				t.Fatalf("error %v is both or neither damaged and newer", err)
			}
		})
	}
	// Null secrets are an empty vault, not an error.
	v, err := Open(sealRaw(t, `{"version":1,"secrets":null}`), passDec(t, "pw"))
	if err != nil || len(v.Names()) != 0 {
		t.Fatalf("null secrets: %v, names %v", err, v.Names())
	}
}

func TestWorkFactorCeiling(t *testing.T) {
	ScryptWorkFactor = maxWorkFactor() + 1
	_, path := filledVault(t, passEnc(t, "pw"))
	ScryptWorkFactor = testWorkFactor
	_, err := Open(path, passDec(t, "pw"))
	assertVaultErr(t, err, ErrDamaged)
}
