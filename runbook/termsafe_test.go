package runbook

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// termSafeCases are host outputs that try to act on the terminal, and
// what reaches it.
var termSafeCases = []struct{ name, in, want string }{
	{"plain text", "deploying 2.4.0\n", "deploying 2.4.0\n"},
	{"UTF-8 text", "签核：李娜 ✓ naïve\n", "签核：李娜 ✓ naïve\n"},
	{"tab", "a\tb\n", "a\tb\n"},
	{"OSC 52 clipboard write, BEL", "x\x1b]52;c;ZXZpbA==\x07y\n", "xy\n"},
	{"OSC 52 clipboard write, ST", "x\x1b]52;c;ZXZpbA==\x1b\\y\n", "xy\n"},
	{"OSC 8 hyperlink", "\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\\n", "click\n"},
	{"window title", "\x1b]0;pwned\x07ok\n", "ok\n"},
	{"SGR colours", "\x1b[1;31mred\x1b[0m\n", "red\n"},
	{"SGR conceal", "a\x1b[8mhidden\x1b[28m\n", "ahidden\n"},
	{"cursor movement and erase", "a\x1b[2K\x1b[1A\x1b[10;20Hb\n", "ab\n"},
	{"private mode", "\x1b[?1049h\x1b[?25lscreen\n", "screen\n"},
	{"DCS", "\x1bP1$r0m\x1b\\after\n", "after\n"},
	{"APC, PM, SOS", "\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\z\n", "z\n"},
	{"charset switch", "\x1b(0lqqk\x1b(B\n", "lqqk\n"},
	{"reset and cursor save", "\x1bc\x1b7a\x1b8\n", "a\n"},
	{"C1 CSI as UTF-8", "a\u009b2Jb\n", "ab\n"},
	{"C1 OSC as UTF-8, ST as UTF-8", "a\u009d52;c;eA==\u009cb\n", "ab\n"},
	{"other C1", "a\u0085b\u0084c\n", "abc\n"},
	{"8-bit CSI byte", "a\x9b2Jb\n", "a\ufffd2Jb\n"},
	{"backspace overwrite", "Wang\b\b\b\bCEO\n", "WangCEO\n"},
	{"bell, NUL, DEL", "a\x07b\x00c\x7fd\n", "abcd\n"},
	{"CR LF", "line\r\n", "line\n"},
	{"bare CR (progress)", "10%\r50%\r100%\n", "10%\n50%\n100%\n"},
	{"CR erase LF", "50%\r\x1b[K\n", "50%\n"},
	{"CR to rewrite the host prefix", "harmless\rprod2 │ FAKE\n", "harmless\nprod2 │ FAKE\n"},
	{"sign-off forgery", "Wang\x1b[2K\rDBA signed by CEO\n", "Wang\nDBA signed by CEO\n"},
	{"invalid UTF-8", "a\xffb\xc3(\n", "a\ufffdb\ufffd(\n"},
	{"truncated UTF-8 at the end", "a\xe6\x9d", "a\ufffd"},
	{"surrogate half", "\xed\xa0\x80x", "\ufffd\ufffdx"},
	{"unterminated OSC ends at newline", "\x1b]52;c;AAAA\nnext line\n", "\nnext line\n"},
	{"CAN cancels a sequence", "\x1b[12\x18ok\n", "ok\n"},
	{"ESC ESC", "\x1b\x1b[31mx\n", "x\n"},
	{"ESC then UTF-8", "\x1b李\n", "李\n"},
	{"CSI then UTF-8", "\x1b[1李\n", "李\n"},
	{"lone ESC at the end", "done\x1b", "done"},
}

// writeChunks writes in through a TermSafeWriter in the given pieces.
func writeChunks(t testing.TB, chunks ...string) string {
	t.Helper()
	var b bytes.Buffer
	w := NewTermSafeWriter(&b)
	for _, c := range chunks {
		if n, err := w.Write([]byte(c)); err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTermSafe(t *testing.T) {
	for _, tc := range termSafeCases {
		if got := TermSafe(tc.in); got != tc.want {
			t.Errorf("%s: TermSafe(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// Hosts write in pieces of any size: a sequence or a character split
// across writes must come out as if written whole.
func TestTermSafeSplitAtEveryByte(t *testing.T) {
	for _, tc := range termSafeCases {
		for i := 0; i <= len(tc.in); i++ {
			for j := i; j <= len(tc.in); j++ {
				if got := writeChunks(t, tc.in[:i], tc.in[i:j], tc.in[j:]); got != tc.want {
					t.Fatalf("%s split at %d and %d: %q, want %q", tc.name, i, j, got, tc.want)
				}
			}
		}
		var one []string
		for i := range len(tc.in) {
			one = append(one, tc.in[i:i+1])
		}
		if got := writeChunks(t, one...); got != tc.want {
			t.Errorf("%s byte by byte: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTermSafeEndsLongSequences(t *testing.T) {
	// A stray ESC ] in binary output must not swallow what follows it.
	in := "\x1b]" + strings.Repeat("A", maxSequence+10) + "visible"
	got := TermSafe(in)
	if !strings.HasSuffix(got, "visible") || len(got) > 20 {
		t.Errorf("a sequence longer than %d bytes: %q", maxSequence, got)
	}
}

func TestTermSafeLine(t *testing.T) {
	if got := TermSafeLine("Li Na\n| forged | DBA | Mallory |\t\x1b[2Kx"); got != "Li Na | forged | DBA | Mallory | x" {
		t.Errorf("TermSafeLine = %q", got)
	}
}

type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTermSafeWriterCloseAndErrors(t *testing.T) {
	var c closeRecorder
	w := NewTermSafeWriter(&c)
	_, _ = w.Write([]byte("a\xe6"))
	if err := w.Close(); err != nil || !c.closed || c.String() != "a\ufffd" {
		t.Errorf("Close: %v, closed %v, wrote %q", err, c.closed, c.String())
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	fw := NewTermSafeWriter(failWriter{})
	if _, err := fw.Write([]byte("x")); err == nil {
		t.Error("a failing writer's error was lost")
	}
	if _, err := fw.Write([]byte("y")); err == nil {
		t.Error("the error did not stick")
	}
}

// checkTermSafeOutput fails when out holds anything a terminal acts on.
func checkTermSafeOutput(t testing.TB, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("output of %q is not UTF-8: %q", in, out)
	}
	for _, r := range out {
		if r < 0x20 && r != '\t' && r != '\n' || r >= 0x7f && r <= 0x9f {
			t.Fatalf("output of %q holds U+%04X: %q", in, r, out)
		}
	}
}

// FuzzTermSafe: whatever a host writes, in whatever pieces, the output is
// valid UTF-8 without a control character but tab and newline, the same
// for every chunking, unchanged when passed through again, and plain text
// passes unchanged. The seed corpus is testdata/fuzz/FuzzTermSafe and the
// cases above.
func FuzzTermSafe(f *testing.F) {
	for _, tc := range termSafeCases {
		f.Add([]byte(tc.in), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole := TermSafe(string(in))
		checkTermSafeOutput(t, string(in), whole)
		var chunks []string
		n := int(step%16) + 1
		for i := 0; i < len(in); i += n {
			chunks = append(chunks, string(in[i:min(i+n, len(in))]))
		}
		if got := writeChunks(t, chunks...); got != whole {
			t.Fatalf("%q in pieces of %d: %q, whole: %q", in, n, got, whole)
		}
		if again := TermSafe(whole); again != whole {
			t.Fatalf("not stable: %q -> %q -> %q", in, whole, again)
		}
		if termSafeAlready(string(in)) && whole != string(in) {
			t.Fatalf("plain text changed: %q -> %q", in, whole)
		}
	})
}
