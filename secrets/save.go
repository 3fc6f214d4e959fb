package secrets

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"

	"filippo.io/age"
)

// Save encrypts the vault with its current Encrypter and atomically
// replaces the file, mode 0600 (see writeFileAtomic): a crash leaves the
// old vault or the new one, never a mix. Errors match ErrVault.
func (v *Vault) Save() error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.write(false)
}

// Rekey locks the vault with enc from now on and saves it. If the save
// fails the vault keeps its previous Encrypter, matching the file on disk.
// Locking to recipients that exclude the caller's own identity locks the
// caller out: that is the caller's check to make.
func (v *Vault) Rekey(enc Encrypter) error {
	if enc == nil {
		return errors.New("rekey vault: no encrypter given")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.enc
	v.enc = enc
	if err := v.write(false); err != nil {
		v.enc = old
		return err
	}
	return nil
}

// write encrypts and stores the vault; the caller holds v.mu.
func (v *Vault) write(exclusive bool) error {
	plain, err := encodePlaintext(&plaintext{
		Version:    formatVersion,
		Recipients: v.enc.recipientList(),
		Secrets:    v.secrets,
	})
	if err != nil {
		return vaultErr(ErrVault, v.path, err, "cannot encode the vault %s: %v", v.path, err)
	}
	sealed, err := seal(plain, v.enc)
	if err != nil {
		return vaultErr(ErrVault, v.path, err, "cannot encrypt the vault %s to %s: %v", v.path, v.enc, err)
	}
	err = writeFileAtomic(v.path, sealed, exclusive)
	if exclusive && errors.Is(err, fs.ErrExist) {
		return vaultErr(ErrExists, v.path, err,
			"a file already exists at %s: open that vault, or move it away to create a new one", v.path)
	}
	if err != nil {
		return vaultErr(ErrVault, v.path, err,
			"cannot write the vault %s: %v: check that %s is writable and has space", v.path, pathlessError(err), filepath.Dir(v.path))
	}
	return nil
}

func seal(plain []byte, enc Encrypter) ([]byte, error) {
	recipients, err := enc.ageRecipients()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, recipients...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
