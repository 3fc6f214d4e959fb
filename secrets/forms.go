package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"text/template"
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
	f, _ := revealing(value)
	return f
}

// revealing returns the forms of value (see forms) and the texts whose
// pieces of minFragLen bytes or more are masked too (see fragments): every
// binary encoding (base64, hex) and, for a value of one line, the value
// and its escaped forms. The text forms of a multi-line value (a PEM key,
// a JSON credentials file) give no pieces: their words and structure
// ("-----BEGIN", "\"type\": ") are everywhere in innocent output, so they
// are masked only whole and line by line.
func revealing(value string) (forms, pieces []string) {
	forms = []string{value}
	seen := map[string]bool{value: true}
	seenPiece := map[string]bool{}
	piece := func(f string) {
		if len(f) >= minFragLen && !seenPiece[f] {
			seenPiece[f] = true
			pieces = append(pieces, f)
		}
	}
	add := func(f string, piecewise bool) {
		if len(f) < minFormLen {
			return
		}
		if piecewise {
			piece(f)
		}
		if !seen[f] {
			seen[f] = true
			forms = append(forms, f)
		}
	}
	oneLine := !strings.ContainsAny(value, "\r\n")
	if oneLine {
		piece(value)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString([]byte(value)), true)
		raw := enc.WithPadding(base64.NoPadding)
		add(raw.EncodeToString([]byte(value)), true)
		for offset := range 3 {
			add(base64Stable(raw, value, offset), true)
		}
	}
	// Hex and %XX in either case: the matcher ignores ASCII case.
	add(hex.EncodeToString([]byte(value)), true)
	add(spacedHex(value), true) // printf "% x"; od -An -tx1 cuts it into lines
	add(url.QueryEscape(value), oneLine)
	add(url.PathEscape(value), oneLine)
	add(jsonEscaped(value, true), oneLine)
	add(jsonEscaped(value, false), oneLine)
	// The escaping functions of text/template: {{ secret "x" | js }},
	// {{ ... | html }}, {{ printf "%q" ... }} and its ASCII-only variant.
	add(template.JSEscapeString(value), oneLine)
	add(template.HTMLEscapeString(value), oneLine)
	add(goQuoted(strconv.Quote(value)), oneLine)
	add(goQuoted(strconv.QuoteToASCII(value)), oneLine)
	// A multi-line secret (a PEM key) is often printed a line at a time.
	// Short lines are structure ("}", "  ],"), not secret, and masking them
	// would blank innocent output everywhere.
	if !oneLine {
		for line := range strings.Lines(value) {
			if line = strings.TrimRight(line, "\r\n"); len(strings.TrimSpace(line)) >= minLineLen {
				add(line, false)
			}
		}
	}
	return forms, pieces
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

// spacedHex is the hex of value with a space between bytes: "73 33 63".
func spacedHex(value string) string {
	var b strings.Builder
	for i := 0; i < len(value); i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(hex.EncodeToString([]byte{value[i]}))
	}
	return b.String()
}

// goQuoted drops the quotes strconv.Quote puts around a value.
func goQuoted(q string) string { return q[1 : len(q)-1] }

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
