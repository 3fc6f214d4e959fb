package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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
	// "topsecr" is a near miss: 7 bytes, one short of a masked piece.
	text := "a topsecret b secret-twotopsecret c dG9wc2VjcmV0 746f70736563726574 topsecr"
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
	// A partial line keeps back only the tail that could still grow into a
	// piece of a form: "e" occurs in "topsecretvalue", "ne" does not.
	step("no secret here, no newline", "building module 1\nno secret here, no newlin")
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
	// Digits and hex letters begin many forms and occur in most of them;
	// the tail held back must stay under the longest form. No 8 bytes of
	// the text are a piece of a form, so nothing is masked and what is not
	// yet out is exactly what is held back.
	text := strings.Repeat("0123456 9abcdef 3031 ", 50)
	if m.Mask(text) != text {
		t.Fatalf("the text holds a piece of the secret: %q", m.Mask(text))
	}
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

// TestWritersMaskASecretSplitBetweenStreams writes a secret to stdout and
// stderr in turns, in pieces too short to be masked on their own, as a
// command printing it with some characters on each stream would: each
// stream must show Redacted, never its pieces, and only its own bytes.
func TestWritersMaskASecretSplitBetweenStreams(t *testing.T) {
	m := NewMasker()
	m.Add("S3cr3t-P4ss/w0rd+xyz=Q")
	var stdout, stderr bytes.Buffer
	ws := m.Writers(&stdout, &stderr)
	for _, w := range []streamWrite{
		{0, "building\n"}, {1, "warning: slow disk\n"},
		{0, "pw=S3cr3t-"}, {1, "P4ss/w0"}, {0, "rd+xyz="}, {1, "Q\n"}, {0, "\n"},
		{1, "done\n"},
	} {
		if _, err := io.WriteString(ws[w.to], w.text); err != nil {
			t.Fatal(err)
		}
	}
	ws[0].Close()
	ws[1].Close()
	if got, want := stdout.String(), "building\npw=****\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := stderr.String(), "warning: slow disk\n****\ndone\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}

	// A stream closed while it holds the beginning of a secret back keeps
	// it until the last Close: the other stream may still complete it.
	stdout.Reset()
	stderr.Reset()
	ws = m.Writers(&stdout, &stderr)
	io.WriteString(ws[0], "x=S3cr3t-")
	ws[0].Close()
	if stdout.String() != "x=" {
		t.Fatalf("after its Close, stdout = %q, want the beginning of the secret held back", stdout.String())
	}
	io.WriteString(ws[1], "P4ss/w0rd+xyz=Q\n")
	ws[1].Close()
	if stdout.String() != "x=****" || stderr.String() != "****\n" {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// TestWritersMaskEachStreamAlone interleaves another stream's output into
// a secret written to one stream: the secret is whole in its own stream.
func TestWritersMaskEachStreamAlone(t *testing.T) {
	m := NewMasker()
	m.Add("topsecret")
	var stdout, stderr bytes.Buffer
	ws := m.Writers(&stdout, &stderr)
	io.WriteString(ws[0], "key=tops")
	io.WriteString(ws[1], "progress 50%\n")
	io.WriteString(ws[0], "ecret\n")
	ws[1].Close()
	ws[0].Close()
	if stdout.String() != "key=****\n" || stderr.String() != "progress 50%\n" {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// maskStreams is what Writers must produce for writes (stream, text) made
// in this order, computed in one go: a byte is masked when an occurrence
// covers it in the text of all writes or in its own stream's text.
func maskStreams(m *Masker, n int, writes []streamWrite) []string {
	var joint []byte
	var owner []int
	for _, w := range writes {
		joint = append(joint, w.text...)
		for range len(w.text) {
			owner = append(owner, w.to)
		}
	}
	covered := make([]bool, len(joint))
	runs, _ := cover(m.cur.Load(), joint)
	for _, r := range runs {
		for i := r.start; i < r.end; i++ {
			covered[i] = true
		}
	}
	for s := range n {
		var idx []int
		var sub []byte
		for i, o := range owner {
			if o == s {
				idx, sub = append(idx, i), append(sub, joint[i])
			}
		}
		runs, _ := cover(m.cur.Load(), sub)
		for _, r := range runs {
			for k := r.start; k < r.end; k++ {
				covered[idx[k]] = true
			}
		}
	}
	outs := make([]strings.Builder, n)
	inRun := make([]bool, n)
	for i, c := range joint {
		s := owner[i]
		switch {
		case !covered[i]:
			outs[s].WriteByte(c)
			inRun[s] = false
		case !inRun[s]:
			outs[s].WriteString(Redacted)
			inRun[s] = true
		}
	}
	res := make([]string, n)
	for i := range outs {
		res[i] = outs[i].String()
	}
	return res
}

type streamWrite struct {
	to   int
	text string
}

// TestWritersProperty streams random texts holding secrets, whole or in
// pieces, to two or three writers of one group in random interleavings:
// each writer's output must be exactly maskStreams', and hold no form or
// piece of a secret that was whole in its own stream.
func TestWritersProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 1500 {
		secrets := make([]string, 1+r.IntN(2))
		for i := range secrets {
			secrets[i] = randomString(r, 1, 24, trial%5 == 0)
		}
		m := NewMasker()
		m.Add(secrets...)
		n := 2 + r.IntN(2)

		var writes []streamWrite
		for range 1 + r.IntN(6) {
			text := randomString(r, 0, 20, true) + embedding(r, secrets[r.IntN(len(secrets))])
			for _, c := range randomChunks(r, text) {
				writes = append(writes, streamWrite{r.IntN(n), c})
			}
		}
		bufs := make([]bytes.Buffer, n)
		ws := make([]io.Writer, n)
		for i := range bufs {
			ws[i] = &bufs[i]
		}
		group := m.Writers(ws...)
		for _, w := range writes {
			if _, err := io.WriteString(group[w.to], w.text); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range r.Perm(n) {
			if err := group[i].Close(); err != nil {
				t.Fatal(err)
			}
		}
		want := maskStreams(m, n, writes)
		for i := range n {
			if got := bufs[i].String(); got != want[i] {
				t.Fatalf("trial %d, stream %d: %q != %q (secrets %q)", trial, i, got, want[i], secrets)
			}
			assertNoLeak(t, want[i], secrets)
		}
	}
}
