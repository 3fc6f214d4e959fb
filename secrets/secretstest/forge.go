// Package secretstest makes, for tests outside package secrets, the vault
// files runbook itself never writes: the ones an attacker can. It keeps
// filippo.io/age inside the secrets room.
package secretstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// ForgeVault writes at path a vault sealed to the X25519 public keys
// sealedTo, whose plaintext records the recipients recorded and holds
// secrets. Anyone who can write the vault file and knows the team's public
// keys can make one, since age authenticates no sender: the attack of the
// security review's finding M-1, with recorded naming the attacker's key.
func ForgeVault(path string, sealedTo, recorded []string, secrets map[string]string) error {
	var recipients []age.Recipient
	for _, r := range sealedTo {
		parsed, err := age.ParseX25519Recipient(r)
		if err != nil {
			return err
		}
		recipients = append(recipients, parsed)
	}
	// The plaintext format of secrets/format.go, version 1.
	plain, err := json.Marshal(struct {
		Version    int               `json:"version"`
		Recipients []string          `json:"recipients"`
		Secrets    map[string]string `json:"secrets"`
	}{1, recorded, secrets})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, recipients...)
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o600)
}

// OpensWith reports whether the identities of the age key file keyFile
// decrypt the file at path, by age alone: whoever holds the key reads it,
// whatever runbook would make of it.
func OpensWith(path, keyFile string) (bool, error) {
	kf, err := os.ReadFile(keyFile)
	if err != nil {
		return false, err
	}
	ids, err := age.ParseIdentities(bytes.NewReader(kf))
	if err != nil {
		return false, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	r, err := age.Decrypt(bytes.NewReader(data), ids...)
	if err != nil {
		return false, nil
	}
	_, err = io.ReadAll(r)
	return err == nil, nil
}

// Identity is a fresh X25519 key pair: the key file's text, as age-keygen
// writes it, and the public key.
func Identity() (keyFile, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	r := id.Recipient().String()
	return fmt.Sprintf("# public key: %s\n%s\n", r, strings.TrimSpace(id.String())), r, nil
}
