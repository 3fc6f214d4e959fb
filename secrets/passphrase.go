package secrets

import (
	"errors"
	"fmt"

	"filippo.io/age"
)

// ScryptWorkFactor is the scrypt work factor (log2 of N) that passphrase
// vaults are written with; 18 is age's default, about a second on a modern
// machine. Open accepts vaults written with a factor of at most
// ScryptWorkFactor+4 (22 by default, age's own ceiling), so a planted file
// cannot stall the command for minutes. Lowered only in tests.
var ScryptWorkFactor = 18

// maxWorkFactor is the ceiling Open accepts; see ScryptWorkFactor.
func maxWorkFactor() int {
	return min(ScryptWorkFactor+4, 30)
}

type passphraseKey struct{ pass []byte }

// PassphraseEncrypter locks a vault with a passphrase (age scrypt
// recipient). The passphrase is copied, so the caller may clear its slice.
// An empty passphrase is refused with an error matching ErrInvalid.
func PassphraseEncrypter(pass []byte) (Encrypter, error) {
	k, err := newPassphraseKey(pass)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// PassphraseDecrypter opens a passphrase vault; a vault opened with it is
// saved again with the same passphrase. The passphrase is copied. An empty
// passphrase is refused with an error matching ErrInvalid.
func PassphraseDecrypter(pass []byte) (Decrypter, error) {
	k, err := newPassphraseKey(pass)
	if err != nil {
		return nil, err
	}
	return k, nil
}

func newPassphraseKey(pass []byte) (*passphraseKey, error) {
	if len(pass) == 0 {
		return nil, invalid("the vault passphrase is empty: give a non-empty passphrase")
	}
	return &passphraseKey{pass: append([]byte(nil), pass...)}, nil
}

func (k *passphraseKey) String() string { return "a passphrase" }

func (k *passphraseKey) ageRecipients() ([]age.Recipient, error) {
	r, err := age.NewScryptRecipient(string(k.pass))
	if err != nil {
		return nil, fmt.Errorf("prepare the passphrase recipient: %w", err)
	}
	r.SetWorkFactor(ScryptWorkFactor)
	return []age.Recipient{r}, nil
}

func (k *passphraseKey) recipientList() []string { return nil }

func (k *passphraseKey) keyMaterial() []string { return []string{string(k.pass)} }

func (k *passphraseKey) ageIdentities() ([]age.Identity, error) {
	id, err := age.NewScryptIdentity(string(k.pass))
	if err != nil {
		return nil, fmt.Errorf("prepare the passphrase identity: %w", err)
	}
	id.SetMaxWorkFactor(maxWorkFactor())
	return []age.Identity{id}, nil
}

func (k *passphraseKey) resealer(recorded []string) (Encrypter, error) {
	// age refuses to mix an scrypt stanza with any other, so a passphrase
	// vault that records recipients was not written by runbook.
	if len(recorded) > 0 {
		return nil, errors.New("a passphrase vault records age recipients")
	}
	return k, nil
}
