package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"testing"
)

const awkward = `p@ss/w0rd+<&>"é ünï?=%`

func TestMaskEveryEncoding(t *testing.T) {
	m := NewMasker()
	m.Add(awkward)
	jsonForm, _ := json.Marshal(awkward)
	encodings := map[string]string{
		"raw":            awkward,
		"base64":         base64.StdEncoding.EncodeToString([]byte(awkward)),
		"base64 raw":     base64.RawStdEncoding.EncodeToString([]byte(awkward)),
		"base64url":      base64.URLEncoding.EncodeToString([]byte(awkward)),
		"base64url raw":  base64.RawURLEncoding.EncodeToString([]byte(awkward)),
		"hex":            hex.EncodeToString([]byte(awkward)),
		"HEX":            strings.ToUpper(hex.EncodeToString([]byte(awkward))),
		"query escaped":  url.QueryEscape(awkward),
		"path escaped":   url.PathEscape(awkward),
		"json":           string(jsonForm[1 : len(jsonForm)-1]),
		"json, no html":  strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(jsonForm[1 : len(jsonForm)-1])),
		"json in object": strings.Trim(string(jsonForm), `"`),
	}
	for name, form := range encodings {
		got := m.Mask("before " + form + " after")
		if got != "before **** after" {
			t.Errorf("%s form %q: Mask = %q", name, form, got)
		}
	}
}

// TestMaskBase64AtEveryAlignment embeds the secret at each byte offset of a
// larger base64 stream (a Basic auth header, a base64'd config file): the
// characters that depend only on the secret must be masked.
func TestMaskBase64AtEveryAlignment(t *testing.T) {
	secret := "s3cret-Pa55word!"
	m := NewMasker()
	m.Add(secret)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for before := range 7 {
			for after := range 4 {
				data := strings.Repeat("u", before) + secret + strings.Repeat("v", after)
				text := enc.EncodeToString([]byte(data))
				start := (8*before + 5) / 6
				end := 8 * (before + len(secret)) / 6
				got := m.Mask("Authorization: Basic " + text)
				if strings.Contains(got, text[start:end]) || !strings.Contains(got, Redacted) {
					t.Errorf("offset %d+%d: %q masked to %q", before, after, text, got)
				}
				// Characters that carry only neighbouring bytes stay.
				keep := 8 * before / 6
				if !strings.HasPrefix(got, "Authorization: Basic "+text[:keep]) {
					t.Errorf("offset %d+%d: unrelated prefix masked: %q", before, after, got)
				}
			}
		}
	}
	// The classic: user:password.
	basic := base64.StdEncoding.EncodeToString([]byte("deploy:" + secret))
	if got := m.Mask(basic); strings.Count(got, Redacted) != 1 || len(got) > len(basic) {
		t.Errorf("basic auth %q masked to %q", basic, got)
	}
}

func TestMaskOverlapsAndPrefixes(t *testing.T) {
	m := NewMasker()
	m.Add("abcdef", "abc", "defghi")
	tests := map[string]string{
		"abc":          "****",
		"xabcdefx":     "x****x",
		"abcdefghi":    "****", // overlapping values merge
		"abcabc":       "****", // adjacent runs merge
		"ab cdef":      "ab cdef",
		"abcdefghi ab": "**** ab",
		"":             "",
	}
	for in, want := range tests {
		if got := m.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskShortAndMultilineValues(t *testing.T) {
	m := NewMasker()
	m.Add("pw", "")
	if m.Len() != 1 {
		t.Fatalf("Len() = %d, want 1 (empty values ignored)", m.Len())
	}
	if got := m.Mask("my pw is pw"); got != "my **** is ****" {
		t.Errorf("short value: %q", got)
	}
	// Encodings of at least 4 bytes are masked, shorter fragments not:
	// "cHc=" is base64 and "7077" hex of "pw", "cHc" its unpadded base64.
	if got := m.Mask("cHc= 7077 cHcK"); got != "**** **** cHcK" {
		t.Errorf("encodings of a short value: %q", got)
	}

	key := "-----BEGIN KEY-----\nMIIEpQIBAAKCAQEAvZ9\r\nQ2xvc2VkIGtleQ\n-----END KEY-----"
	m.Add(key, key) // twice: counted once
	if m.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", m.Len())
	}
	if got := m.Mask("line: MIIEpQIBAAKCAQEAvZ9\n"); got != "line: ****\n" {
		t.Errorf("one line of a multi-line value: %q", got)
	}
	m.Add("{\n  \"key\": \"c2VjcmV0LWtleQ\"\n}\n")
	if got := m.Mask("{\n  \"key\": \"c2VjcmV0LWtleQ\"\n}"); got != "{\n****\n}" {
		t.Errorf("structural lines masked or the secret line kept: %q", got)
	}
}

func TestMaskNothingRegistered(t *testing.T) {
	var m Masker // the zero value works
	if got := m.Mask("nothing to hide"); got != "nothing to hide" {
		t.Fatalf("Mask = %q", got)
	}
	if m.Len() != 0 {
		t.Fatal("Len of an empty masker")
	}
}

func TestMaskError(t *testing.T) {
	m := NewMasker()
	m.Add("hunter2-Zq8")
	cause := &fs.PathError{Op: "open", Path: "/tmp/hunter2-Zq8", Err: fs.ErrNotExist}
	err := m.MaskError(fmt.Errorf("login with hunter2-Zq8 failed: %w", cause))
	if got := err.Error(); got != "login with **** failed: open /tmp/****: file does not exist" {
		t.Fatalf("masked error = %q", got)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("masked error does not unwrap")
	}
	if m.MaskError(nil) != nil {
		t.Fatal("MaskError(nil) != nil")
	}
}

func TestWeakSecret(t *testing.T) {
	for value, weak := range map[string]bool{
		"":          true,
		"1234567":   true,
		"12345678":  false,
		"ключ-пар":  false, // 8 characters, 15 bytes
		"ключ-па":   true,
		"long pass": false,
	} {
		if WeakSecret(value) != weak {
			t.Errorf("WeakSecret(%q) = %v, want %v", value, !weak, weak)
		}
	}
}

func TestFormsRules(t *testing.T) {
	for _, value := range []string{"a", "ab", "abcd", "плохо", awkward, "line1\nline2"} {
		fs := forms(value)
		if fs[0] != value {
			t.Errorf("forms(%q)[0] = %q, want the value itself", value, fs[0])
		}
		seen := map[string]bool{}
		for _, f := range fs[1:] {
			if f == value || len(f) < minFormLen || seen[f] {
				t.Errorf("forms(%q) holds %q: encodings must differ, be unique and at least %d bytes", value, f, minFormLen)
			}
			seen[f] = true
		}
	}
}
