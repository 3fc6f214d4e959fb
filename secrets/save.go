package secrets

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"filippo.io/age"
)

// Save encrypts the vault with its current Encrypter and atomically
// replaces the file, mode 0600 (see writeFileAtomic): a crash leaves the
// old vault or the new one, never a mix. A team vault is sealed to exactly
// the keys of its recipients file: if the file lists others than when the
// vault was opened, nothing is saved (ErrRecipients). If the vault file is
// no longer the one this Vault read or last wrote, nothing is saved
// (ErrChanged). Errors match ErrVault.
func (v *Vault) Save() error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.write(false)
}

// Rekey locks the vault with enc from now on and saves it. Locked to
// recipients, the vault gets its recipients file rewritten to list them
// first (its comments and the lines of the keys that stay are kept);
// locked with a passphrase, it has its recipients file removed, as no
// team opens it any more. If the save fails, the vault keeps its previous
// Encrypter and recipients file, matching the vault on disk. Locking to
// recipients that exclude the caller's own identity locks the caller out:
// that is the caller's check to make.
func (v *Vault) Rekey(enc Encrypter) error {
	if enc == nil {
		return errors.New("rekey vault: no encrypter given")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.enc
	file := RecipientsFile(v.path)
	if list := enc.recipientList(); len(list) > 0 {
		previous, err := readSmallFile(file, false)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return vaultErr(ErrVault, file, err, "cannot read the recipients file %s: %v: nothing was changed", file, pathlessError(err))
		}
		if err := writeRecipientsFile(file, list); err != nil {
			return vaultErr(ErrVault, file, err, "cannot write the recipients file %s: %v: nothing was changed", file, pathlessError(err))
		}
		v.enc = enc
		if err := v.write(false); err != nil {
			v.enc = old
			// Best effort: the vault was not written, so its list stands.
			if previous == nil {
				_ = os.Remove(file)
			} else {
				_, _ = writeFileAtomic(file, previous, atomicOptions{mode: 0o644})
			}
			return err
		}
		return nil
	}
	v.enc = enc
	if err := v.write(false); err != nil {
		v.enc = old
		return err
	}
	if len(old.recipientList()) > 0 {
		// Left there, it would claim a team the vault no longer opens for.
		_ = os.Remove(file)
	}
	return nil
}

// write encrypts and stores the vault; the caller holds v.mu.
func (v *Vault) write(exclusive bool) error {
	if v.closed {
		return errors.New("save vault: the vault was closed")
	}
	list := v.enc.recipientList()
	if len(list) > 0 {
		if err := v.checkRecipientsFile(list); err != nil {
			return err
		}
	}
	plain, err := encodePlaintext(&plaintext{
		Version:    formatVersion,
		Recipients: list,
		Secrets:    v.secrets,
	})
	if err != nil {
		return vaultErr(ErrVault, v.path, err, "cannot encode the vault %s: %v", v.path, err)
	}
	sealed, err := seal(plain, v.enc)
	if err != nil {
		return vaultErr(ErrVault, v.path, err, "cannot encrypt the vault %s to %s: %v", v.path, v.enc, err)
	}
	// An update holding the vault's lock keeps it on the new file.
	o := atomicOptions{mode: 0o600, exclusive: exclusive, vault: true, lock: v.lock != nil}
	if !exclusive {
		o.check = v.unchanged
	}
	locked, err := writeFileAtomic(v.path, sealed, o)
	if exclusive && errors.Is(err, fs.ErrExist) {
		return vaultErr(ErrExists, v.path, err,
			"a file already exists at %s: open that vault, or move it away to create a new one", v.path)
	}
	var ve *Error
	if errors.As(err, &ve) {
		return err
	}
	if err != nil {
		return vaultErr(ErrVault, v.path, err,
			"cannot write the vault %s: %v: check that %s is writable and has space", v.path, pathlessError(err), filepath.Dir(v.path))
	}
	if locked != nil {
		v.lock.Close()
		v.lock = locked
	}
	v.recorded = list
	v.digest = sha256.Sum256(sealed)
	return nil
}

// checkRecipientsFile makes sure the team vault is sealed to exactly the
// keys its recipients file lists now.
func (v *Vault) checkRecipientsFile(list []string) error {
	file := RecipientsFile(v.path)
	reviewed, err := ReadRecipientsFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return &RecipientsError{Vault: v.path, File: file, NoFile: true}
	}
	if err != nil {
		return err
	}
	if unlisted, missing := diffRecipients(list, reviewed); len(unlisted)+len(missing) > 0 {
		return &RecipientsError{Vault: v.path, File: file, Unlisted: unlisted, Missing: missing}
	}
	return nil
}

// unchanged fails unless the vault file is still the one this Vault read
// or last wrote, or is gone: a write by someone else meanwhile is never
// overwritten.
func (v *Vault) unchanged() error {
	f, _, err := openFile(v.path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		var now []byte
		now, err = readCapped(f, MaxVaultSize)
		f.Close()
		if err == nil && sha256.Sum256(now) == v.digest {
			return nil
		}
	}
	return vaultErr(ErrChanged, v.path, err,
		"the vault %s changed on disk since this command read it (another runbook or a checkout wrote it): nothing was saved; run the command again", v.path)
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
