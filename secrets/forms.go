package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
)

// minFormLen is the shortest encoded form worth masking: shorter ones are
// mostly edge fragments that would mask innocent text everywhere.
const minFormLen = 4

// minLineLen is the shortest line of a multi-line value masked on its own.
const minLineLen = 8

// forms returns the strings that reveal value: the value itself and the
// encodings a secret commonly travels in through logs and tool output.
// An encoding is kept only when it differs from the value and has at least
// minFormLen bytes. The value itself is always kept, however short.
func forms(value string) []string {
	out := []string{value}
	seen := map[string]bool{value: true}
	add := func(f string) {
		if len(f) >= minFormLen && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString([]byte(value)))
		raw := enc.WithPadding(base64.NoPadding)
		add(raw.EncodeToString([]byte(value)))
		for offset := range 3 {
			add(base64Stable(raw, value, offset))
		}
	}
	add(hex.EncodeToString([]byte(value)))
	add(strings.ToUpper(hex.EncodeToString([]byte(value))))
	add(url.QueryEscape(value))
	add(url.PathEscape(value))
	add(jsonEscaped(value, true))
	add(jsonEscaped(value, false))
	// A multi-line secret (a PEM key) is often printed a line at a time.
	// Short lines are structure ("}", "  ],"), not secret, and masking them
	// would blank innocent output everywhere.
	if strings.Contains(value, "\n") {
		for line := range strings.Lines(value) {
			if line = strings.TrimRight(line, "\r\n"); len(strings.TrimSpace(line)) >= minLineLen {
				add(line)
			}
		}
	}
	return out
}

// base64Stable returns the part of the base64 text of a longer stream that
// depends only on value, when value starts offset bytes (mod 3) into that
// stream: the characters that mix in neighbouring bytes are dropped. At
// each end up to 4 bits of the value stay outside the masked text, which
// cannot be helped without masking innocent neighbours.
func base64Stable(enc *base64.Encoding, value string, offset int) string {
	padded := make([]byte, offset+len(value))
	copy(padded[offset:], value)
	text := enc.EncodeToString(padded)
	start := (8*offset + 5) / 6          // first character free of the leading filler
	end := 8 * (offset + len(value)) / 6 // characters before end hold no trailing filler
	if end <= start {
		return ""
	}
	return text[start:end]
}

// jsonEscaped is value as it appears inside a JSON string, with or without
// the HTML escaping (\u003c for <) that encoding/json applies by default.
func jsonEscaped(value string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(value); err != nil {
		return ""
	}
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}
