package remote

import (
	"bytes"
	"strings"
	"testing"
)

func TestTrailerWriter(t *testing.T) {
	const nonce = "0123456789abcdef"
	trailer := "\nrunbook-" + nonce + ":D\n"
	for _, tc := range []struct {
		name   string
		chunks []string
		out    string
		code   byte
	}{
		{"plain output", []string{"hello ", "world\n"}, "hello world\n", 0},
		{"short output", []string{"x"}, "x", 0},
		{"trailer alone", []string{trailer}, "", 'D'},
		{"trailer split", []string{"out\n", trailer[:5], trailer[5:]}, "out\n", 'D'},
		{"trailer-like text mid-stream", []string{trailer, "more"}, trailer + "more", 0},
		{"other nonce", []string{"\nrunbook-ffffffffffffffff:D\n"}, "\nrunbook-ffffffffffffffff:D\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := newTrailerWriter(&buf, nonce)
			for _, c := range tc.chunks {
				if _, err := w.Write([]byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			if code := w.finish(); code != tc.code || buf.String() != tc.out {
				t.Errorf("got %q code %q, want %q code %q", buf.String(), code, tc.out, tc.code)
			}
		})
	}
}

func TestHeredocDelimiterNeverInScript(t *testing.T) {
	open, rest := heredoc("echo a\nRUNBOOK_x\n")
	delim := strings.TrimSuffix(strings.TrimPrefix(open, "<<'"), "'")
	if strings.Count(rest, "\n"+delim+"\n") != 1 || !strings.HasSuffix(rest, "\n"+delim+"\n") {
		t.Errorf("heredoc %q ... %q is not closed exactly once at the end", open, rest)
	}
	if _, rest := heredoc("no newline"); !strings.HasPrefix(rest, "no newline\n") {
		t.Errorf("body without final newline: %q", rest)
	}
}

func TestHostPath(t *testing.T) {
	for in, want := range map[string]string{
		"/opt/it's": `'/opt/it'\''s'`,
		"~":         `"$HOME"`,
		"~/x y":     `"$HOME"/'x y'`,
	} {
		if got := hostPath(in); got != want {
			t.Errorf("hostPath(%q) = %s, want %s", in, got, want)
		}
	}
}
