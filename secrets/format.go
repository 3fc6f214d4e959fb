package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// formatVersion is the version of the plaintext this runbook writes.
//
// The plaintext inside the age file is JSON:
//
//	{"version":1,"recipients":["age1..."],"secrets":{"NAME":"value"}}
//
// "recipients" is present only for a vault locked to age recipients.
const formatVersion = 1

type plaintext struct {
	Version    int               `json:"version"`
	Recipients []string          `json:"recipients,omitempty"`
	Secrets    map[string]string `json:"secrets"`
}

// errNewer tells Open that the plaintext is of a later version.
var errNewer = errors.New("vault format")

// ValidName reports whether name may name a secret: one or more of
// A-Z a-z 0-9 _ . / - (so "ssh/deploy_key" or "db.password").
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_', c == '.', c == '/', c == '-':
		default:
			return false
		}
	}
	return true
}

// checkValue refuses values JSON cannot carry unchanged: encoding/json
// would silently replace invalid UTF-8 with U+FFFD.
func checkValue(name, value string) error {
	if value == "" {
		return invalid("the value of %s is empty: nothing was stored", name)
	}
	if !utf8.ValidString(value) {
		return invalid("the value of %s is not UTF-8 text: store binary secrets base64-encoded", name)
	}
	return nil
}

func encodePlaintext(p *plaintext) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode the vault contents: %w", err)
	}
	return b, nil
}

// decodePlaintext parses a decrypted vault. Its errors never quote the
// input: json's syntax errors can show plaintext characters, so they are
// replaced by a description.
func decodePlaintext(b []byte) (*plaintext, error) {
	var probe struct {
		Version int `json:"version"`
	}
	if json.Unmarshal(b, &probe) == nil && probe.Version > formatVersion {
		return nil, fmt.Errorf("%w %d", errNewer, probe.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plaintext
	if err := dec.Decode(&p); err != nil {
		return nil, errors.New("the contents are not a runbook vault")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the contents have trailing data")
	}
	if p.Version != formatVersion {
		return nil, errors.New("the contents have no vault format version")
	}
	if p.Secrets == nil {
		p.Secrets = make(map[string]string)
	}
	for name, value := range p.Secrets {
		if !ValidName(name) || value == "" {
			return nil, errors.New("the contents hold an invalid secret entry")
		}
	}
	return &p, nil
}
