package remote

import (
	"bytes"
	"testing"
)

// A run's frame passes on exactly what lies between its start and end
// lines, however the stream is cut into reads, and finds the code.
func TestFrameAtEveryCut(t *testing.T) {
	mark := "\036runbook-0123456789abcdef:"
	for _, c := range []struct {
		name, stream, want string
		code               int
		ended              bool
	}{
		{"plain", mark + "s\nhello\nworld\n" + mark + "e0\n", "hello\nworld\n", 0, true},
		{"no final line break", mark + "s\nno newline" + mark + "e17\n", "no newline", 17, true},
		{"empty", mark + "s\n" + mark + "e1\n", "", 1, true},
		{"before the start is dropped", "stray\n" + mark + "s\nout\n" + mark + "e0\n", "out\n", 0, true},
		{"RS in the output", mark + "s\na\036b\036\n\036runbook-other:e5\n" + mark + "e3\n", "a\036b\036\n\036runbook-other:e5\n", 3, true},
		{"code 255", mark + "s\nx\n" + mark + "e255\n", "x\n", 255, true},
		{"the stream ends", mark + "s\npartial\n\036runbook-01", "partial\n\036runbook-01", 0, false},
		{"never started", "nothing\n", "", 0, false},
	} {
		for cut := 0; cut <= len(c.stream); cut++ {
			for step := 1; step <= 3; step++ {
				var out bytes.Buffer
				f := newFrame(mark, &out)
				f.feed([]byte(c.stream[:cut]))
				for i := cut; i < len(c.stream); i += step {
					f.feed([]byte(c.stream[i:min(i+step, len(c.stream))]))
				}
				f.close()
				if out.String() != c.want || f.ended != c.ended || (c.ended && f.code != c.code) {
					t.Fatalf("%s, cut at %d, then %d at a time: %q ended %v code %d, want %q %v %d",
						c.name, cut, step, out.String(), f.ended, f.code, c.want, c.ended, c.code)
				}
			}
		}
	}
}
