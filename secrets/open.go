package secrets

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"

	"filippo.io/age"
)

// Open reads and decrypts the vault at path. The whole plaintext is read
// and authenticated before any of it is parsed, so a damaged or truncated
// file never yields a partial vault. Errors match ErrVault and one of
// ErrNoVault, ErrWrongPassphrase, ErrDamaged, ErrNewerFormat.
func Open(path string, dec Decrypter) (*Vault, error) {
	if dec == nil {
		return nil, errors.New("open vault: no decrypter given")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, vaultErr(ErrNoVault, path, err, "no vault at %s: create one with `runbook vault init`", path)
	}
	if err != nil {
		return nil, vaultErr(ErrVault, path, err, "cannot read the vault %s: %v: check its permissions", path, pathlessError(err))
	}
	ids, err := dec.ageIdentities()
	if err != nil {
		return nil, vaultErr(ErrVault, path, err, "cannot use %s to open the vault %s: %v", dec, path, err)
	}
	r, err := age.Decrypt(bytes.NewReader(data), ids...)
	if err != nil {
		return nil, decryptError(path, dec, err)
	}
	// age authenticates chunk by chunk: only a nil error from reading to
	// the end proves the whole plaintext is genuine and complete.
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, damaged(path, err)
	}
	p, err := decodePlaintext(plain)
	if errors.Is(err, errNewer) {
		return nil, vaultErr(ErrNewerFormat, path, err, "the vault %s was written by a newer runbook (%v): upgrade runbook to open it", path, err)
	}
	if err != nil {
		return nil, damaged(path, err)
	}
	enc, err := dec.resealer(p.Recipients)
	if err != nil {
		return nil, damaged(path, err)
	}
	return &Vault{path: path, enc: enc, secrets: p.Secrets}, nil
}

func damaged(path string, cause error) error {
	return vaultErr(ErrDamaged, path, cause, "the vault %s is damaged or truncated: restore it from a backup", path)
}

// decryptError sorts age's failures: a key that matches no stanza is a
// wrong key (said precisely when the vault is locked the other way), any
// other failure means the file is not a sound age file.
func decryptError(path string, dec Decrypter, err error) error {
	var noMatch *age.NoIdentityMatchError
	if !errors.As(err, &noMatch) {
		return damaged(path, err)
	}
	scrypt := slices.Contains(noMatch.StanzaTypes, "scrypt")
	switch dec.(type) {
	case *passphraseKey:
		if !scrypt {
			return vaultErr(ErrWrongPassphrase, path, err,
				"the vault %s is locked to age recipients, not a passphrase: open it with --identity or RUNBOOK_IDENTITY", path)
		}
		return vaultErr(ErrWrongPassphrase, path, err,
			"wrong passphrase for the vault %s: try again (if the passphrase is right, the vault is damaged: restore it from a backup)", path)
	default:
		if scrypt {
			return vaultErr(ErrWrongPassphrase, path, err,
				"the vault %s is locked with a passphrase, not age recipients: give the passphrase instead of an identity", path)
		}
		return vaultErr(ErrWrongPassphrase, path, err,
			"%s does not open the vault %s: ask a teammate who can open it to add your recipient with `runbook vault rekey`", dec, path)
	}
}
