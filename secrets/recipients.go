package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
)

type recipientsKey struct {
	list       []string
	recipients []age.Recipient
}

// RecipientsEncrypter locks a vault to age recipients ("age1..." X25519 or
// "age1pq1..." hybrid public keys, one per teammate): the holder of any
// matching identity opens it. Create and Rekey write the list to the
// vault's recipients file (see RecipientsFile), which every later save of
// the vault seals to, and record it inside the encrypted plaintext, which
// Open checks against the file. Blank entries are ignored and duplicates
// dropped; an empty list or a malformed recipient is an error matching
// ErrInvalid.
func RecipientsEncrypter(recipients []string) (Encrypter, error) {
	k := &recipientsKey{}
	seen := make(map[string]bool)
	for _, s := range recipients {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		parsed, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil || len(parsed) != 1 {
			return nil, invalid("%q is not an age recipient: give public keys as age-keygen prints them (age1...)", s)
		}
		k.list = append(k.list, s)
		k.recipients = append(k.recipients, parsed[0])
	}
	if len(k.list) == 0 {
		return nil, invalid("no age recipients given: give at least one public key (age1...)")
	}
	return k, nil
}

func (k *recipientsKey) String() string {
	if len(k.list) == 1 {
		return "1 age recipient"
	}
	return fmt.Sprintf("%d age recipients", len(k.list))
}

func (k *recipientsKey) ageRecipients() ([]age.Recipient, error) { return k.recipients, nil }

func (k *recipientsKey) recipientList() []string { return append([]string(nil), k.list...) }

func (k *recipientsKey) keyMaterial() []string { return nil }

type identityKey struct {
	file       string
	identities []age.Identity
	secret     []string // the key lines of the file
}

// IdentityDecrypter opens a recipients vault with the age identities of a
// key file, in the format age-keygen writes (one AGE-SECRET-KEY-1... per
// line, "#" comments); the file may be a pipe (--identity <(...)). A vault
// opened with it is saved again to the recipients of its recipients file.
// An unreadable or malformed file, or one larger than 64 KiB, is an error
// matching ErrVault.
func IdentityDecrypter(identityFile string) (Decrypter, error) {
	b, err := readSmallFile(identityFile, true)
	if err != nil {
		return nil, vaultErr(ErrVault, identityFile, err,
			"cannot read the age identity file %s: %v: check --identity or RUNBOOK_IDENTITY", identityFile, pathlessError(err))
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		// age keeps key material out of its parse errors.
		return nil, vaultErr(ErrVault, identityFile, err,
			"the age identity file %s is not usable: %v: give a file written by age-keygen", identityFile, err)
	}
	k := &identityKey{file: identityFile, identities: ids}
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			k.secret = append(k.secret, line)
		}
	}
	return k, nil
}

func (k *identityKey) String() string { return "the age identity in " + k.file }

func (k *identityKey) ageIdentities() ([]age.Identity, error) { return k.identities, nil }

func (k *identityKey) keyMaterial() []string { return k.secret }

func (k *identityKey) resealer(recorded []string) (Encrypter, error) {
	if len(recorded) == 0 {
		return nil, errors.New("a recipients vault records no recipients")
	}
	return RecipientsEncrypter(recorded)
}
