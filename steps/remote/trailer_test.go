package remote

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer the flush timer and a test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const testNonce = "0123456789abcdef"

func TestTrailerWriter(t *testing.T) {
	trailer := "\nrunbook-" + testNonce + ":D\n"
	for _, tc := range []struct {
		name   string
		chunks []string
		out    string
		code   byte
	}{
		{"plain output", []string{"hello ", "world\n"}, "hello world\n", 0},
		{"short output", []string{"x"}, "x", 0},
		{"trailer alone", []string{trailer}, "", 'D'},
		{"trailer after output", []string{"out\n" + trailer}, "out\n", 'D'},
		{"trailer split", []string{"out\n", trailer[:5], trailer[5:]}, "out\n", 'D'},
		{"trailer byte by byte", splitBytes("out" + trailer), "out", 'D'},
		{"trailer-like text mid-stream", []string{trailer, "more"}, trailer + "more", 0},
		{"other nonce", []string{"\nrunbook-ffffffffffffffff:D\n"}, "\nrunbook-ffffffffffffffff:D\n", 0},
		{"marker without code", []string{"a\nrunbook-" + testNonce + ":"}, "a\nrunbook-" + testNonce + ":", 0},
		{"empty lines", []string{"\n\n", "\n"}, "\n\n\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf lockedBuffer
			w := newTrailerWriter(&buf, testNonce)
			w.flushDelay = time.Hour // only finish passes a held tail on
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

func splitBytes(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}

// What a write brings is passed on at once, but for a tail that could
// begin the trailer; that tail follows after the flush delay, without
// waiting for more output: a line shows while its command works on.
func TestTrailerWriterStreamsEachLine(t *testing.T) {
	var buf lockedBuffer
	w := newTrailerWriter(&buf, testNonce)
	if _, err := w.Write([]byte("a whole line of output, longer than a trailer\nstarting")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "a whole line of output, longer than a trailer\nstarting" {
		t.Fatalf("at once: %q", got)
	}
	if _, err := w.Write([]byte("…\n")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "a whole line of output, longer than a trailer\nstarting…" {
		t.Fatalf("the line break that may begin the trailer is held: %q", got)
	}
	waitUntil(t, "the held line break", func() bool { return buf.String() == "a whole line of output, longer than a trailer\nstarting…\n" })
	// A trailer after a flushed line break is still one.
	if _, err := w.Write([]byte("\nrunbook-" + testNonce + ":M\n")); err != nil {
		t.Fatal(err)
	}
	if code := w.finish(); code != 'M' || buf.String() != "a whole line of output, longer than a trailer\nstarting…\n" {
		t.Errorf("got %q code %q", buf.String(), code)
	}
}

// The whole marker is the trailer: the flush timer never passes it on.
func TestTrailerWriterHoldsTheMarker(t *testing.T) {
	var buf lockedBuffer
	w := newTrailerWriter(&buf, testNonce)
	w.flushDelay = time.Millisecond
	if _, err := w.Write([]byte("out\nrunbook-" + testNonce + ":")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := buf.String(); got != "out" {
		t.Fatalf("the marker was passed on: %q", got)
	}
	if _, err := w.Write([]byte("I\n")); err != nil {
		t.Fatal(err)
	}
	if code := w.finish(); code != 'I' || buf.String() != "out" {
		t.Errorf("got %q code %q", buf.String(), code)
	}
}

// A write to stderr first passes on what stdout holds back, so a line
// written to stdout before a stderr line shows before it (the secrets
// review found stderr overtaking stdout's held bytes).
func TestTrailerWriterStderrDoesNotOvertake(t *testing.T) {
	var buf lockedBuffer
	w := newTrailerWriter(&buf, testNonce)
	w.flushDelay = time.Hour
	stderr := w.stderr(&buf)
	for _, step := range []struct{ stdout, stderr string }{{"out 1\n", "err 1\n"}, {"out 2\n", "err 2\n"}} {
		if _, err := w.Write([]byte(step.stdout)); err != nil {
			t.Fatal(err)
		}
		if _, err := stderr.Write([]byte(step.stderr)); err != nil {
			t.Fatal(err)
		}
	}
	if code := w.finish(); code != 0 || buf.String() != "out 1\nerr 1\nout 2\nerr 2\n" {
		t.Errorf("got %q code %q", buf.String(), code)
	}
}

// After finish nothing reaches the destination, whatever a late timer or
// write does.
func TestTrailerWriterSilentAfterFinish(t *testing.T) {
	var buf lockedBuffer
	w := newTrailerWriter(&buf, testNonce)
	w.flushDelay = time.Millisecond
	_, _ = w.Write([]byte("x\n"))
	w.finish()
	_, _ = w.Write([]byte("late\n"))
	time.Sleep(20 * time.Millisecond)
	if got := buf.String(); got != "x\n" {
		t.Errorf("got %q", got)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A plain run's first line names its process group (see plainScript):
// it is taken off the output, whole or in pieces; a first line that is
// not one is output.
func TestTrailerWriterHeader(t *testing.T) {
	header := "runbook-" + testNonce + ":P4242\n"
	for _, tc := range []struct {
		name   string
		chunks []string
		out    string
		pid    int
	}{
		{"whole", []string{header + "out\n"}, "out\n", 4242},
		{"in pieces", splitBytes(header + "out\n"), "out\n", 4242},
		{"alone", []string{header}, "", 4242},
		{"not a header", []string{"hello\n", "world\n"}, "hello\nworld\n", 0},
		{"other nonce", []string{"runbook-ffffffffffffffff:P1\nx"}, "runbook-ffffffffffffffff:P1\nx", 0},
		{"no newline", []string{"runbook-" + testNonce + ":P42"}, "runbook-" + testNonce + ":P42", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf lockedBuffer
			w := newTrailerWriter(&buf, testNonce)
			w.header, w.flushDelay = true, time.Hour
			for _, c := range tc.chunks {
				if n, err := w.Write([]byte(c)); err != nil || n != len(c) {
					t.Fatalf("write: %d %v", n, err)
				}
			}
			w.finish()
			if buf.String() != tc.out || w.groupPID() != tc.pid {
				t.Errorf("got %q pid %d, want %q pid %d", buf.String(), w.groupPID(), tc.out, tc.pid)
			}
		})
	}
}
