package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
)

// streamMask writes text to a masking writer in the given chunks and
// returns what reached the underlying writer.
func streamMask(t testing.TB, m *Masker, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := m.Writer(&out)
	for _, c := range chunks {
		n, err := io.WriteString(w, c)
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestWriterSplitAtEveryOffset(t *testing.T) {
	m := NewMasker()
	m.Add("topsecret", "secret-two")
	text := "a topsecret b secret-twotopsecret c dG9wc2VjcmV0 746f70736563726574 topsecre"
	want := m.Mask(text)
	if strings.Contains(want, "topsecret") || strings.Count(want, Redacted) != 4 {
		t.Fatalf("Mask itself is wrong: %q", want)
	}
	for i := 0; i <= len(text); i++ {
		for j := i; j <= len(text); j++ {
			got := streamMask(t, m, text[:i], text[i:j], text[j:])
			if got != want {
				t.Fatalf("split at %d,%d: got %q, want %q", i, j, got, want)
			}
		}
	}
	// A byte at a time.
	var chunks []string
	for i := range len(text) {
		chunks = append(chunks, text[i:i+1])
	}
	if got := streamMask(t, m, chunks...); got != want {
		t.Fatalf("byte by byte: got %q, want %q", got, want)
	}
}

func TestWriterIsLineTimely(t *testing.T) {
	m := NewMasker()
	m.Add("topsecretvalue")
	var out bytes.Buffer
	w := m.Writer(&out)

	step := func(in, want string) {
		t.Helper()
		io.WriteString(w, in)
		if out.String() != want {
			t.Fatalf("after writing %q the output is %q, want %q", in, out.String(), want)
		}
	}
	step("building module 1\n", "building module 1\n")
	step("no secret here, no newline", "building module 1\nno secret here, no newline")
	step("\ntoken=top", "building module 1\nno secret here, no newline\ntoken=")
	step("secretvalue", "building module 1\nno secret here, no newline\ntoken=****")
	step(" done\n", "building module 1\nno secret here, no newline\ntoken=**** done\n")
	step("tops", "building module 1\nno secret here, no newline\ntoken=**** done\n")
	step("oil\n", "building module 1\nno secret here, no newline\ntoken=**** done\ntopsoil\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriterHoldsBackOnlyWhatCouldBeASecret(t *testing.T) {
	m := NewMasker()
	m.Add("0123456789abcdefghij")
	maxForm := 0
	for _, f := range forms("0123456789abcdefghij") {
		maxForm = max(maxForm, len(f))
	}
	var out bytes.Buffer
	w := m.Writer(&out)
	written := 0
	// Digits and hex letters begin many forms; the tail held back must stay
	// under the longest form.
	text := strings.Repeat("0123456789abcdef3031", 50)
	for i := 0; i < len(text); i += 7 {
		chunk := text[i:min(i+7, len(text))]
		io.WriteString(w, chunk)
		written += len(chunk)
		if held := written - out.Len(); held < 0 || held >= maxForm {
			t.Fatalf("after %d bytes, %d held back (longest form %d)", written, held, maxForm)
		}
	}
	w.Close()
	if out.String() != m.Mask(text) {
		t.Fatalf("stream and Mask differ")
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write(p []byte) (int, error) { return 0, f.err }

type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestWriterCloseAndErrors(t *testing.T) {
	m := NewMasker()
	m.Add("topsecret")

	var dst closeRecorder
	w := m.Writer(&dst)
	io.WriteString(w, "ends with tops")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if dst.String() != "ends with tops" || dst.closed {
		t.Fatalf("Close: output %q, underlying closed %v", dst.String(), dst.closed)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Fatal("Write after Close succeeded")
	}

	boom := errors.New("disk full")
	w = m.Writer(failingWriter{boom})
	if _, err := io.WriteString(w, "line\n"); !errors.Is(err, boom) {
		t.Fatalf("Write: %v, want the underlying error", err)
	}
	if _, err := io.WriteString(w, "more\n"); !errors.Is(err, boom) {
		t.Fatalf("second Write: %v, want the same error", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v, want the same error", err)
	}
}

func TestWriterConcurrent(t *testing.T) {
	m := NewMasker()
	m.Add("topsecret-1", "topsecret-2")
	text := strings.Repeat("log topsecret-1 and topsecret-2 and dG9wc2VjcmV0LTE= end\n", 40)
	want := m.Mask(text)

	// Independent writers, while values that do not occur are added and
	// Mask runs alongside.
	var wg sync.WaitGroup
	outs := make([]string, 8)
	for g := range outs {
		wg.Go(func() {
			var chunks []string
			for i := 0; i < len(text); i += 3 + g {
				chunks = append(chunks, text[i:min(i+3+g, len(text))])
			}
			outs[g] = streamMask(t, m, chunks...)
		})
	}
	for i := range 8 {
		wg.Go(func() {
			m.Add(fmt.Sprintf("unrelated-value-%d", i))
			m.Mask(text)
		})
	}
	wg.Wait()
	for g, got := range outs {
		if got != want {
			t.Fatalf("writer %d: output differs from Mask", g)
		}
	}

	// One writer shared by goroutines writing whole lines.
	var out bytes.Buffer
	w := m.Writer(&out)
	lines := strings.SplitAfter(text, "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	for _, line := range lines {
		wg.Go(func() { io.WriteString(w, line) })
	}
	wg.Wait()
	w.Close()
	got := strings.SplitAfter(out.String(), "\n")
	wantLines := strings.SplitAfter(m.Mask(strings.Join(lines, "")), "\n")
	slices.Sort(got)
	slices.Sort(wantLines)
	if !slices.Equal(got, wantLines) {
		t.Fatalf("shared writer: got %q, want %q", got, wantLines)
	}
}
