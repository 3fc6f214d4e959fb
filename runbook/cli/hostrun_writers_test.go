package cli

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/runbook-dev/runbook/secrets"
)

// TestHostStreamsInterleaveByLine writes two streams in small pieces from
// two goroutines, as the SSH transport does with stdout and stderr: the
// shared sink must see whole lines only, secrets masked across pieces.
func TestHostStreamsInterleaveByLine(t *testing.T) {
	m := secrets.NewMasker()
	m.Add("hunter2-secret")
	var sink bytes.Buffer
	shared := &lockedWriter{w: &sink}
	out, errs := newHostStreams(m, shared)
	var wg sync.WaitGroup
	for _, s := range []struct {
		w    *hostStream
		line string
	}{{out, "stdout line with hunter2-secret inside\n"}, {errs, "stderr line\n"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				for i := 0; i < len(s.line); i += 3 {
					_, _ = s.w.Write([]byte(s.line[i:min(i+3, len(s.line))]))
				}
			}
		}()
	}
	wg.Wait()
	_, _ = out.Write([]byte("no newline at the end"))
	closeHostStreams(out, errs)

	lines := strings.Split(strings.TrimSuffix(sink.String(), "\n"), "\n")
	if len(lines) != 401 {
		t.Fatalf("%d lines, want 401", len(lines))
	}
	counts := map[string]int{}
	for _, l := range lines {
		counts[l]++
	}
	want := map[string]int{"stdout line with **** inside": 200, "stderr line": 200, "no newline at the end": 1}
	for l, n := range want {
		if counts[l] != n {
			t.Errorf("%q seen %d times, want %d (all: %v)", l, counts[l], n, counts)
		}
	}
}

func TestTailWriterKeepsTheEnd(t *testing.T) {
	tw := &tailWriter{max: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnopq", "r"} {
		if n, err := tw.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("write %q: %d %v", s, n, err)
		}
	}
	if got := tw.String(); got != "klmnopqr" {
		t.Errorf("tail %q", got)
	}
}

// TestHostStreamsMaskASecretSplitBetweenThem has a command print a secret
// partly on stdout and partly on stderr, each part too short to be masked
// on its own (finding M-5 of the security review): neither may show.
func TestHostStreamsMaskASecretSplitBetweenThem(t *testing.T) {
	m := secrets.NewMasker()
	m.Add("S3cr3t-P4ss/w0rd+xyz=Q")
	var sink bytes.Buffer
	out, errs := newHostStreams(m, &lockedWriter{w: &sink})
	for _, w := range []struct {
		s    *hostStream
		text string
	}{{out, "pw=S3cr3t-"}, {errs, "P4ss/w0"}, {out, "rd+xyz="}, {errs, "Q\n"}, {out, "\n"}} {
		if _, err := w.s.Write([]byte(w.text)); err != nil {
			t.Fatal(err)
		}
	}
	closeHostStreams(out, errs)
	lines := strings.Split(sink.String(), "\n")
	slices.Sort(lines)
	if want := []string{"", "****", "pw=****"}; !slices.Equal(lines, want) {
		t.Fatalf("the sink got %q, want the lines %q", sink.String(), want)
	}
}
