package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// Pieces random secrets and texts are built from: ASCII, multi-byte UTF-8,
// bytes that are not UTF-8, separators, and the mask character itself.
var pieces = []string{
	"a", "Z", "0", "9", "-", "_", "+", "/", "=", " ", "\n", "\t", "\"", "\\",
	"<", "&", "%", "?", "é", "ключ", "🔑", "\u2028", "\x00", "\xff", "\xc3", "*",
}

func randomString(r *rand.Rand, minLen, maxLen int, star bool) string {
	var b strings.Builder
	n := minLen + r.IntN(maxLen-minLen+1)
	for b.Len() < n {
		p := pieces[r.IntN(len(pieces))]
		if p == "*" && !star {
			continue
		}
		if r.IntN(3) == 0 {
			p = string(rune('a' + r.IntN(26)))
		}
		b.WriteString(p)
	}
	return b.String()
}

// embedding returns a way secret can show up in output: itself, one of its
// registered encodings (in any letter case), its base64 inside a longer
// stream at a random alignment (wrapped at a random width, as base64 and
// openssl print it), its JSON string, the secret or a form cut by line
// breaks, a slice of it, or a near miss (a proper prefix).
func embedding(r *rand.Rand, secret string) string {
	switch r.IntN(10) {
	case 0:
		return secret
	case 1:
		fs := forms(secret)
		return fs[r.IntN(len(fs))]
	case 2:
		data := randomString(r, 0, 5, true) + secret + randomString(r, 0, 5, true)
		return base64.StdEncoding.EncodeToString([]byte(data))
	case 3:
		data := randomString(r, 0, 5, true) + secret + randomString(r, 0, 5, true)
		return base64.RawURLEncoding.EncodeToString([]byte(data))
	case 4:
		b, _ := json.Marshal(map[string]string{"password": secret})
		return string(b)
	case 5:
		fs := forms(secret)
		return randomCase(r, fs[r.IntN(len(fs))])
	case 6:
		data := randomString(r, 0, 5, true) + secret + randomString(r, 0, 5, true)
		return wrap(base64.StdEncoding.EncodeToString([]byte(data)), 4+r.IntN(80), "\n")
	case 7:
		fs := forms(secret)
		return wrap(fs[r.IntN(len(fs))], 1+r.IntN(len(secret)+1), []string{"\n", "\r\n"}[r.IntN(2)])
	case 8:
		i := r.IntN(len(secret))
		return secret[i : i+r.IntN(len(secret)-i+1)]
	default:
		return secret[:r.IntN(len(secret))]
	}
}

// wrap breaks s into lines of width bytes, as `base64 -w width` does.
func wrap(s string, width int, eol string) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width])
		b.WriteString(eol)
		s = s[width:]
	}
	b.WriteString(s)
	return b.String()
}

// randomCase flips the case of random ASCII letters of s.
func randomCase(r *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if r.IntN(2) == 0 {
			continue
		}
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// randomChunks cuts s into pieces of random sizes, sometimes tiny,
// sometimes larger than any form.
func randomChunks(r *rand.Rand, s string) []string {
	var chunks []string
	for len(s) > 0 {
		n := 1 + r.IntN(1+r.IntN(64))
		n = min(n, len(s))
		chunks = append(chunks, s[:n])
		s = s[n:]
	}
	return chunks
}

// assertNoLeak checks the masking promise: no registered form of any
// secret survives, in any letter case, nor any piece of minFragLen bytes
// of the texts masked in pieces, unless it contains '*' and could be
// rebuilt from Redacted and its neighbours (see the Masker documentation).
func assertNoLeak(t testing.TB, out string, secrets []string) {
	t.Helper()
	folded := foldString(out)
	for _, s := range secrets {
		fs, pieces := revealing(s)
		for _, f := range fs {
			if !strings.Contains(f, "*") && strings.Contains(folded, foldString(f)) {
				t.Fatalf("output %q contains form %q of secret %q", out, f, s)
			}
		}
		for _, p := range pieces {
			p = foldString(p)
			for i := 0; i+minFragLen <= len(p); i++ {
				if w := p[i : i+minFragLen]; !strings.ContainsAny(w, "*\r\n") && !onlyWordBytes(w) && strings.Contains(folded, w) {
					t.Fatalf("output %q contains %q, a piece of a form of secret %q", out, w, s)
				}
			}
		}
	}
}

func TestMaskProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		secrets := make([]string, 1+r.IntN(3))
		for i := range secrets {
			secrets[i] = randomString(r, 1, 24, trial%5 == 0)
		}
		m := NewMasker()
		m.Add(secrets...)

		var input strings.Builder
		for range 1 + r.IntN(8) {
			input.WriteString(randomString(r, 0, 30, true))
			input.WriteString(embedding(r, secrets[r.IntN(len(secrets))]))
		}
		text := input.String()

		var out bytes.Buffer
		w := m.Writer(&out)
		for _, c := range randomChunks(r, text) {
			if _, err := io.WriteString(w, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		want := m.Mask(text)
		if out.String() != want {
			t.Fatalf("trial %d: stream %q != Mask %q (secrets %q)", trial, out.String(), want, secrets)
		}
		assertNoLeak(t, want, secrets)
	}
}
