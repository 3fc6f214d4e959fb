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
// registered encodings, its base64 inside a longer stream at a random
// alignment, its JSON string, or a near miss (a proper prefix).
func embedding(r *rand.Rand, secret string) string {
	switch r.IntN(6) {
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
	default:
		return secret[:r.IntN(len(secret))]
	}
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
// secret survives, unless the form contains '*' and could be rebuilt from
// Redacted and its neighbours (see the Masker documentation).
func assertNoLeak(t testing.TB, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		for _, f := range forms(s) {
			if !strings.Contains(f, "*") && strings.Contains(out, f) {
				t.Fatalf("output %q contains form %q of secret %q", out, f, s)
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
