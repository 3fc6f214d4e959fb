package secrets

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Redacted replaces every masked run of text.
const Redacted = "****"

// Masker replaces secret values, and the encodings they commonly travel in
// (base64 at any alignment, base64url, hex, spaced hex, URL, JSON,
// JavaScript and HTML escaping, Go quoting, and each line of 8 bytes or
// more of a multi-line value), with Redacted, in any ASCII letter case.
// Every piece of 8 bytes or more (minFragLen) of a one-line value, of its
// escaped forms, and of the base64 and hex of any value is masked too,
// wherever it appears: so a secret split across lines or cut by a
// template's slice, and base64 or hex wrapped at any width, leave at most
// 7 bytes visible at each cut. Overlapping or adjacent occurrences become
// a single Redacted, so a value and its own prefix, or two secrets side by
// side, mask fully.
//
// Not masked: pieces shorter than 8 bytes that are not a whole form; a
// multi-line value's text cut other than at its line breaks (its words,
// such as a PEM header's, are everywhere in innocent output); and any
// other transformation (reversed, rot13, compressed, other encodings).
//
// A Masker is safe for concurrent use; its zero value masks nothing until
// Add. Values added after some output was written do not reach back into
// it: add every value before the output that might carry it.
//
// Degenerate values: a value made of, or containing, "*" can reappear in
// masked output, assembled from Redacted and its neighbours (the value "**"
// is in every "****"); masking removes each occurrence of the value, which
// is all it can do. A very short value masks every occurrence of itself,
// wanted or not: see WeakSecret. Likewise a value holding common text (a
// URL with its host name, words) masks those 8-byte pieces of it wherever
// they appear.
type Masker struct {
	mu     sync.Mutex
	values map[string]bool
	forms  []string                // masked whole
	pieces []string                // masked in pieces too (see fragments)
	cur    atomic.Pointer[matcher] // rebuilt by Add, read lock-free
}

// NewMasker returns a Masker that masks nothing yet.
func NewMasker() *Masker { return &Masker{} }

// Add registers values, with their encodings, for masking. Empty values
// and values already added are ignored.
func (m *Masker) Add(values ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	grew := false
	for _, v := range values {
		if v == "" || m.values[v] {
			continue
		}
		if m.values == nil {
			m.values = make(map[string]bool)
		}
		m.values[v] = true
		f, p := revealing(v)
		m.forms = append(m.forms, f...)
		m.pieces = append(m.pieces, p...)
		grew = true
	}
	if grew {
		m.cur.Store(newMatcher(m.forms, m.pieces))
	}
}

// AddKey registers the secret material of a vault key: the passphrase of
// a PassphraseEncrypter or PassphraseDecrypter, the AGE-SECRET-KEY-1...
// lines of an IdentityDecrypter's file (public recipients hold none). Once
// a command has read the key, nothing it runs can print the key in clear,
// wherever that process found it.
func (m *Masker) AddKey(k Key) {
	if k != nil {
		m.Add(k.keyMaterial()...)
	}
}

// Len returns the number of distinct values added.
func (m *Masker) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.values)
}

// Mask returns s with every registered value and encoding replaced by
// Redacted.
func (m *Masker) Mask(s string) string {
	runs, _ := cover(m.cur.Load(), s)
	if len(runs) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prev := 0
	for _, r := range runs {
		b.WriteString(s[prev:r.start])
		b.WriteString(Redacted)
		prev = r.end
	}
	b.WriteString(s[prev:])
	return b.String()
}

// MaskError returns err with its message masked, or nil for nil. The
// result still unwraps to err, so errors.Is and errors.As see through it;
// only its Error text changes.
func (m *Masker) MaskError(err error) error {
	if err == nil {
		return nil
	}
	return &maskedError{msg: m.Mask(err.Error()), err: err}
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }

func (e *maskedError) Unwrap() error { return e.err }

// WeakSecret reports whether value is short enough (under 8 characters) to
// be guessed easily and to mask innocent text wherever it occurs; `vault
// set` warns about such values.
func WeakSecret(value string) bool {
	return utf8.RuneCountInString(value) < 8
}
