package secrets

import (
	"errors"
	"sync"
)

// Resolver resolves secret references against a vault opened on first
// use, so a runbook that needs no secret never asks for a passphrase, and
// registers every value it returns with a Masker first. It is safe for
// concurrent use.
type Resolver struct {
	open   func() (*Vault, error)
	masker *Masker

	mu    sync.Mutex
	vault *Vault
	err   error
}

// NewResolver returns a Resolver that calls open once, at the first
// Secret, and masks resolved values with masker.
func NewResolver(open func() (*Vault, error), masker *Masker) *Resolver {
	return &Resolver{open: open, masker: masker}
}

// Secret returns the value of the secret name, registered with the Masker
// before it is returned. The vault is opened at the first call; if that
// fails, this and every later call return the same error (asking for a
// passphrase again belongs to the caller). A name the vault lacks is a
// *MissingError.
func (r *Resolver) Secret(name string) (string, error) {
	v, err := r.vaultOnce()
	if err != nil {
		return "", err
	}
	value, err := v.Get(name)
	if err != nil {
		return "", err
	}
	r.masker.Add(value)
	return value, nil
}

func (r *Resolver) vaultOnce() (*Vault, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vault == nil && r.err == nil {
		r.vault, r.err = r.open()
		if r.vault == nil && r.err == nil {
			r.err = errors.New("open the vault: no vault was returned")
		}
	}
	return r.vault, r.err
}
