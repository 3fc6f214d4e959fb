package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"text/template"
)

// The secrets of the security review's masking attempts (finding M-5): a
// password and an SSH private key made for this test only.
const (
	reviewPassword = "S3cr3t-P4ss/w0rd+xyz=Q"
	reviewKey      = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACD5w+Q+wwxVkelrgGjm88mWMTHOd+bw96/xUnWdVfdXzgAAAIh0NLZQdDS2
UAAAAAtzc2gtZWQyNTUxOQAAACD5w+Q+wwxVkelrgGjm88mWMTHOd+bw96/xUnWdVfdXzg
AAAEDNJKyraWMXJNWQy4TcC5NA8OZnENg48m0b9wh5sf/hnPnD5D7DDFWR6WuAaObzyZYx
Mc535vD3r/FSdZ1V91fOAAAABHRlc3QB
-----END OPENSSH PRIVATE KEY-----
`
)

// templateOutput renders a template the way a runbook command does, with
// the secret as .S.
func templateOutput(t *testing.T, text, secret string) string {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("").Parse(text)).Execute(&b, map[string]string{"S": secret}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestMaskReviewGaps replays every form in which the review saw a secret
// pass the masker, and checks that none of it survives: neither the whole
// text nor any 8 bytes of it (the encoded text with its line breaks taken
// out, in any case).
func TestMaskReviewGaps(t *testing.T) {
	// awkward (mask_test.go) has what HTML and Go quoting escape.
	m := NewMasker()
	m.Add(reviewPassword, reviewKey, awkward)
	pw, key := reviewPassword, reviewKey
	hexPw := hex.EncodeToString([]byte(pw))
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	percentLower := strings.NewReplacer("%2F", "%2f", "%2B", "%2b", "%3D", "%3d").Replace(url.QueryEscape(pw))

	cases := []struct {
		name string
		out  string // what the command printed
		// revealed is the text whose every 8 bytes must be gone; "" means
		// out itself.
		revealed string
	}{
		{"echo | base64", wrap(b64(pw+"\n"), 76, "\n"), b64(pw)},
		{"base64 -w 8", wrap(b64(pw), 8, "\n"), b64(pw)},
		{"ssh key, base64 wrapped at 76", wrap(b64(key), 76, "\n"), b64(key)},
		{"ssh key, base64 wrapped at 64 (openssl base64)", wrap(b64(key), 64, "\n"), b64(key)},
		{"ssh key, base64 at an offset, wrapped at 76", wrap(b64("key: "+key), 76, "\n"), b64("key: " + key)[8:]},
		{"ssh key as hex, wrapped at 60 (xxd -p)", wrap(hex.EncodeToString([]byte(key)), 60, "\n"), hex.EncodeToString([]byte(key))},
		{"split over two lines", pw[:10] + "\n" + pw[10:] + "\n", pw},
		{"split over three lines", pw[:8] + "\r\n" + pw[8:16] + "\r\n" + pw[16:] + "\r\n", pw[:16]},
		{"lower-case %xx", percentLower, ""},
		{"%2f mixed into the original case", "S3cr3t-P4ss%2fw0rd+xyz=Q", ""},
		{"upper-case hex", strings.ToUpper(hexPw), ""},
		{"mixed-case hex", strings.ToUpper(hexPw[:20]) + hexPw[20:], ""},
		{"upper-cased secret", strings.ToUpper(pw), ""},
		{"template js", templateOutput(t, `{{ .S | js }}`, pw), ""},
		{"js, lower-case escape", strings.ToLower(template.JSEscapeString(pw)), ""},
		{"template html", templateOutput(t, `{{ .S | html }}`, awkward), ""},
		{`template printf "% x"`, templateOutput(t, `{{ printf "% x" .S }}`, pw), ""},
		{`template printf "% X"`, templateOutput(t, `{{ printf "% X" .S }}`, pw), ""},
		{`template printf "%q"`, templateOutput(t, `{{ printf "%q" .S }}`, awkward), ""},
		{`template printf "%+q"`, templateOutput(t, `{{ printf "%+q" .S }}`, awkward), ""},
		{"od -An -tx1", odHex(pw), ""},
		{"template slice, a prefix", templateOutput(t, `{{ slice .S 0 10 }}`, pw), ""},
		{"template slice, a suffix", templateOutput(t, `{{ slice .S 12 }}`, pw), ""},
		{"template slice, the middle", templateOutput(t, `{{ slice .S 5 15 }}`, pw), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := m.Mask(c.out)
			if !strings.Contains(got, Redacted) {
				t.Fatalf("nothing masked in %q", c.out)
			}
			revealed := c.revealed
			if revealed == "" {
				revealed = strings.TrimSpace(c.out)
			}
			if w := pieceIn(got, revealed); w != "" {
				t.Fatalf("%q masked to %q keeps %q", c.out, got, w)
			}
		})
	}
}

// pieceIn returns the first 8 bytes of a line of revealed that out still
// holds in any letter case; "" when none.
func pieceIn(out, revealed string) string {
	out = foldString(out)
	for _, line := range strings.FieldsFunc(revealed, isLineBreak) {
		line = foldString(line)
		for i := 0; i+minFragLen <= len(line); i++ {
			if w := line[i : i+minFragLen]; strings.Contains(out, w) {
				return w
			}
		}
	}
	return ""
}

// odHex is `printf %s S | od -An -tx1`: 16 bytes a line, each line begun
// and its bytes parted by a space.
func odHex(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 16 {
		b.WriteString(" " + fmt.Sprintf("% x", s[i:min(i+16, len(s))]) + "\n")
	}
	return b.String()
}

// TestMaskKeepsShortPieces pins the documented limits: a piece of fewer
// than minFragLen bytes that is not a whole form is left alone, so that a
// secret's common letters do not blank innocent text; so is a piece of
// plain words; and the words of a multi-line secret (its PEM header) are
// masked only as whole lines.
func TestMaskKeepsShortPieces(t *testing.T) {
	m := NewMasker()
	m.Add(reviewPassword, reviewKey, "correct horse battery staple", "billing-db-password-2024")
	for _, innocent := range []string{
		reviewPassword[:minFragLen-1],
		reviewPassword[len(reviewPassword)-minFragLen+1:],
		"-----BEGIN CERTIFICATE-----",
		"-----END RSA PRIVATE KEY-----",
		"        indented by eight spaces",
		"the horse battery is low",
		"enter the database password:",
	} {
		if got := m.Mask(innocent); got != innocent {
			t.Errorf("Mask(%q) = %q, want it unchanged", innocent, got)
		}
	}
	for _, secret := range []string{"-----BEGIN OPENSSH PRIVATE KEY-----", "correct horse battery staple", "db-password-"} {
		if got := m.Mask(secret); got != Redacted {
			t.Errorf("Mask(%q) = %q, want %q", secret, got, Redacted)
		}
	}
}
