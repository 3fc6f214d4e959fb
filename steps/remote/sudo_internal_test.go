package remote

import (
	"bytes"
	"strings"
	"testing"
)

// The marker is found however the output is cut into writes, is never
// passed on, and only a tail that may begin it is held back.
func TestSudoAnswererSplitWrites(t *testing.T) {
	marker := newSudoMarker()
	stream := "line 1\n\x1e not it\n" + marker + "\nran\n" + marker + "tail\x1e"
	for size := 1; size <= len(stream); size++ {
		var out bytes.Buffer
		answers, agains := 0, 0
		a := newSudoAnswerer(&out, marker, func() { answers++ }, func() { agains++ })
		for i := 0; i < len(stream); i += size {
			_, _ = a.Write([]byte(stream[i:min(i+size, len(stream))]))
			if strings.Contains(out.String(), "runbook-sudo") {
				t.Fatalf("size %d: the marker was passed on: %q", size, out.String())
			}
		}
		if got := out.String(); !strings.HasSuffix(got, "tail") || strings.HasSuffix(got, "tail\x1e") {
			t.Errorf("size %d: %q does not end with what may begin the marker held back", size, got)
		}
		a.flush()
		want := "line 1\n\x1e not it\n" + sudoShown + "\nran\n" + sudoShown + "tail\x1e"
		if got := out.String(); got != want || answers != 1 || agains != 1 {
			t.Errorf("size %d: %q, %d answers, %d agains; want %q, 1, 1", size, got, answers, agains, want)
		}
	}
}

// A script echoed back by a terminal shows no whole marker.
func TestSudoExportHidesTheMarker(t *testing.T) {
	m := newSudoMarker()
	if line := sudoExport(m); strings.Contains(line, m) {
		t.Errorf("%q holds the marker whole", line)
	}
}
