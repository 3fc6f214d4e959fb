package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/fatih/color"
	"github.com/runbook-dev/runbook/runbook"
)

type noMask struct{}

func (noMask) Mask(s string) string { return s }

// syncBuffer is a terminal stand-in the printer and its ticker write to.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// boardPrinter is a printer on a terminal, without colours, writing to
// out.
func boardPrinter(t *testing.T) (*printer, *syncBuffer) {
	plainColors(t)
	out := &syncBuffer{}
	p := newPrinter(&outputGate{}, out, out, noMask{})
	p.live = true
	return p, out
}

func plainColors(t *testing.T) {
	old := color.NoColor
	color.NoColor = true
	t.Cleanup(func() { color.NoColor = old })
}

// runHosts plays the host runs of a batch on the printer: each host says
// one line, and the hosts of fail fail with exit 3 after saying more.
func runHosts(p *printer, s *runbook.Step, hosts []string, fail map[string]string) {
	for _, h := range hosts {
		w := p.HostOutput(s, h)
		fmt.Fprintf(w, "restarting on %s\n", h)
		hr := &runbook.HostRun{Host: h, State: runbook.RunSucceeded, DurationMS: 20}
		if more, ok := fail[h]; ok {
			io.WriteString(w, more)
			hr.State, hr.ExitCode = runbook.RunFailed, 3
		}
		_ = w.Close()
		p.HostDone(s, hr, "")
	}
}

func names(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("h%02d", i))
	}
	return out
}

// On a terminal, a step on more hosts than compactAbove is a board: no
// stream of the hosts that succeeded, a line per batch, the whole output
// of a host that failed, a summary at the end, and a status line that is
// erased before any other line and drawn again after it.
func TestBoardShowsFailuresInFullAndTheRestInSummary(t *testing.T) {
	p, out := boardPrinter(t)
	s := &runbook.Step{Name: "restart", On: "prod"}

	p.Batch(s, runbook.HostBatch{Index: 1, Count: 2, Hosts: names(1, 10), Total: 20})
	runHosts(p, s, names(1, 10), map[string]string{"h04": "jboss: port 8080 in use\nstack line 1\n"})
	p.Batch(s, runbook.HostBatch{Index: 2, Count: 2, Hosts: names(11, 20), Total: 20, Done: 9})
	runHosts(p, s, names(11, 20), nil)
	p.StepDone(s, &runbook.StepRun{State: runbook.RunSucceeded})

	got := out.String()
	// What the screen keeps: the status line is erased in place each time.
	var screen []string
	for _, line := range strings.Split(got, "\n") {
		if i := strings.LastIndex(line, eraseLine); i >= 0 {
			line = line[i+len(eraseLine):]
		}
		if line != "" {
			screen = append(screen, line)
		}
	}
	want := []string{
		"  ✗ h04 failed (exit 3) after 20ms",
		"  h04 │ restarting on h04",
		"  h04 │ jboss: port 8080 in use",
		"  h04 │ stack line 1",
		"  ✗ batch 1/2: 1 of 10 hosts failed in",
		"  ✓ batch 2/2: 10 hosts in",
		"  19 of 20 hosts done, 1 failed in",
		"  every host's output: runbook logs restart --host HOST",
		"  ✓ restart succeeded",
	}
	if len(screen) != len(want) {
		t.Fatalf("the screen shows %d lines, want %d:\n%s", len(screen), len(want), strings.Join(screen, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(screen[i], w) {
			t.Errorf("line %d is %q, want it to start %q", i+1, screen[i], w)
		}
	}
	if strings.Contains(got, "restarting on h01") {
		t.Errorf("a host that succeeded was streamed:\n%s", got)
	}
	for _, status := range []string{"batch 1/2 · 0/20 done · 1 running · slowest h01", "batch 2/2 · 9/20 done · 0 running · 1 failed", "batch 2/2 · 19/20 done · 0 running · 1 failed"} {
		if !strings.Contains(got, status) {
			t.Errorf("the status line never said %q:\n%q", status, got)
		}
	}
	if !strings.HasSuffix(got, "  ✓ restart succeeded\n") {
		t.Errorf("the status line was left on the screen after the step:\n%q", got)
	}
}

// A failing host that printed more than the board holds shows its last
// part and says where the rest is.
func TestBoardPointsAtTheLogOfALongFailure(t *testing.T) {
	p, out := boardPrinter(t)
	s := &runbook.Step{Name: "build", On: "prod"}
	p.Batch(s, runbook.HostBatch{Index: 1, Count: 1, Hosts: names(1, 9), Total: 9})
	long := strings.Repeat("a line of a long build log\n", heldMax/20) + "the last line\n"
	runHosts(p, s, names(1, 9), map[string]string{"h07": long})
	p.endBoard()
	got := out.String()
	if !strings.Contains(got, "bytes before these are in its log: runbook logs build --host h07") || !strings.Contains(got, "h07 │ the last line") {
		t.Errorf("a long failure does not end with its last line and point at its log:\n%s", got[max(0, len(got)-600):])
	}
	if n := strings.Count(got, "h07 │ a line of a long build log"); n*len("a line of a long build log\n") > heldMax {
		t.Errorf("%d lines of h07 shown, more than the board holds", n)
	}
}

// Without a terminal, or on few hosts, every host's output is streamed
// with its prefix, and a batch is one line.
func TestNoBoardWithoutATerminalOrOnFewHosts(t *testing.T) {
	plainColors(t)
	for _, tc := range []struct {
		name  string
		live  bool
		hosts []string
	}{
		{"no terminal", false, names(1, 20)},
		{"eight hosts", true, names(1, 8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g outputGate
			out := &syncBuffer{}
			p := newPrinter(&g, out, out, noMask{})
			p.live = tc.live
			s := &runbook.Step{Name: "restart", On: "prod"}
			p.Batch(s, runbook.HostBatch{Index: 1, Count: 2, Hosts: tc.hosts, Total: len(tc.hosts)})
			runHosts(p, s, tc.hosts, nil)
			p.StepDone(s, &runbook.StepRun{State: runbook.RunSucceeded})
			got := out.String()
			if strings.Contains(got, eraseLine) {
				t.Errorf("a status line was drawn:\n%q", got)
			}
			for _, h := range tc.hosts {
				if !strings.Contains(got, h+" │ restarting on "+h) || !strings.Contains(got, "✓ "+h+" done") {
					t.Errorf("%s was not streamed:\n%s", h, got)
				}
			}
			if !strings.Contains(got, "batch 1/2: "+strings.Join(tc.hosts, ", ")) {
				t.Errorf("the batch was not named:\n%s", got)
			}
		})
	}
}

// A question erases the status line, and it comes back once answered.
func TestStatusLineMakesWayForAQuestion(t *testing.T) {
	var g outputGate
	var out strings.Builder
	g.setStatus(&out, "  3/20 done")
	done := g.ask()
	g.setStatus(&out, "  4/20 done")
	if got, want := out.String(), eraseLine+"  3/20 done"+eraseLine; got != want {
		t.Fatalf("while asking: %q, want %q", got, want)
	}
	done()
	g.println(&out, "after")
	want := eraseLine + "  3/20 done" + eraseLine + eraseLine + "  4/20 done" + eraseLine + "after\n" + eraseLine + "  4/20 done"
	if got := out.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// An op or exec on many hosts keeps no log files: its board does not
// point at `runbook logs`, for a long failure or at the end.
func TestBoardOfAnOpPointsAtNoLog(t *testing.T) {
	p, out := boardPrinter(t)
	s := &runbook.Step{Name: "restart", On: "prod"}
	p.notLogged(s)
	p.Batch(s, runbook.HostBatch{Index: 1, Count: 1, Hosts: names(1, 9), Total: 9})
	long := strings.Repeat("a line of a long restart\n", heldMax/20) + "the last line\n"
	runHosts(p, s, names(1, 9), map[string]string{"h03": long})
	p.endBoard()
	got := out.String()
	if strings.Contains(got, "runbook logs") {
		t.Errorf("an op's board points at runbook logs:\n%s", got[max(0, len(got)-600):])
	}
	if !strings.Contains(got, "bytes before these are not shown") || !strings.Contains(got, "h03 │ the last line") {
		t.Errorf("a long failure of an op does not end with its last line and say what was cut:\n%s", got[max(0, len(got)-600):])
	}
}
