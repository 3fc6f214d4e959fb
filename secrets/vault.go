package secrets

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sync"
)

// Vault is an open vault: its secrets in memory and the Encrypter that Save
// locks them with. Changes stay in memory until Save. A Vault is safe for
// concurrent use.
type Vault struct {
	path string

	mu      sync.RWMutex
	enc     Encrypter
	secrets map[string]string
	// recorded is the recipient list the file on disk records.
	recorded []string
	// digest is the SHA-256 of the file as this Vault last read or wrote
	// it: Save replaces that file only, never one written meanwhile.
	digest [sha256.Size]byte
	// lock is the vault file, locked from OpenForUpdate until Close.
	lock   *os.File
	closed bool
}

// Create writes a new, empty vault at path locked by enc and returns it
// open. It never replaces a file: if one exists the error matches ErrExists
// (and fs.ErrExist). A vault locked to recipients gets its recipients file
// (see RecipientsFile) first; one already there must list the same keys.
func Create(path string, enc Encrypter) (*Vault, error) {
	if enc == nil {
		return nil, errors.New("create vault: no encrypter given")
	}
	v := &Vault{path: path, enc: enc, secrets: make(map[string]string)}
	created := false
	if list := enc.recipientList(); len(list) > 0 {
		file := RecipientsFile(path)
		listed, err := ReadRecipientsFile(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := writeRecipientsFile(file, list); err != nil {
				return nil, vaultErr(ErrVault, file, err, "cannot write the recipients file %s: %v: nothing was created", file, pathlessError(err))
			}
			created = true
		case err != nil:
			return nil, err
		default:
			if unlisted, missing := diffRecipients(list, listed); len(unlisted)+len(missing) > 0 {
				return nil, vaultErr(ErrExists, file, nil,
					"a recipients file %s already lists other keys than those given: nothing was created; give its keys, or move it away", file)
			}
		}
	}
	if err := v.write(true); err != nil {
		if created {
			_ = os.Remove(RecipientsFile(path))
		}
		return nil, err
	}
	return v, nil
}

// Close releases the lock that OpenForUpdate took; for a vault from Open
// or Create it only ends its use. A closed vault is not saved again.
func (v *Vault) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	if v.lock != nil {
		return v.lock.Close()
	}
	return nil
}

// Path returns the file the vault is read from and saved to.
func (v *Vault) Path() string { return v.path }

// Protection describes how the vault is locked now, e.g. "a passphrase"
// or "3 age recipients".
func (v *Vault) Protection() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.enc.String()
}

// Recipients returns the age recipients the vault is locked to; nil for a
// passphrase vault.
func (v *Vault) Recipients() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.enc.recipientList()
}

// Get returns the value of the secret name, or a *MissingError (matching
// ErrMissing and ErrVault) when the vault has no such secret.
func (v *Vault) Get(name string) (string, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	value, ok := v.secrets[name]
	if !ok {
		return "", &MissingError{Name: name, Path: v.path}
	}
	return value, nil
}

// Set adds or replaces the secret name in memory; Save writes it. The name
// must satisfy ValidName and the value must be non-empty UTF-8 text, else
// the error matches ErrInvalid (a usage error, not ErrVault).
func (v *Vault) Set(name, value string) error {
	if !ValidName(name) {
		return invalid("%q is not a valid secret name: use letters, digits and _ . / -", name)
	}
	if err := checkValue(name, value); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[name] = value
	return nil
}

// Remove deletes the secret name in memory; Save writes the change. A name
// the vault does not hold is a *MissingError.
func (v *Vault) Remove(name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.secrets[name]; !ok {
		return &MissingError{Name: name, Path: v.path}
	}
	delete(v.secrets, name)
	return nil
}

// Names returns the names of the secrets, sorted.
func (v *Vault) Names() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return slices.Sorted(maps.Keys(v.secrets))
}
