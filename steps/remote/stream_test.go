package remote_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// stampedLine is one line of output and when it arrived.
type stampedLine struct {
	text string
	at   time.Time
}

// lineClock notes when each line of the output written to it arrives.
type lineClock struct {
	mu    sync.Mutex
	buf   []byte
	lines []stampedLine
}

func (l *lineClock) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines = append(l.lines, stampedLine{string(l.buf[:i]), now})
		l.buf = l.buf[i+1:]
	}
}

// line returns the first line starting with prefix, once it arrived.
func (l *lineClock) line(prefix string) (stampedLine, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.HasPrefix(s.text, prefix) {
			return s, true
		}
	}
	return stampedLine{}, false
}

// printedAt reads the host's clock from a line "NAME NANOSECONDS".
func printedAt(t *testing.T, s stampedLine) time.Time {
	t.Helper()
	f := strings.Fields(s.text)
	ns, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("no host time in %q", s.text)
	}
	return time.Unix(0, ns)
}

// streamScript prints a short line with the host's time, works for 5 s,
// and prints another: short lines are what a trailer-sized hold-back
// swallowed whole until the next one came.
const streamScript = `printf 'starting %s\n' "$(date +%s%N)"; sleep 5; printf 'started %s\n' "$(date +%s%N)"`

// Remote output is passed on line by line as the host writes it: the
// first line shows while the command still works (field notes: it showed
// only when the next line came). On this machine it arrives within
// milliseconds; the test asserts only that it arrives before the host
// prints the next line, 5 s later, so that load never fails it.
func TestSSHDOutputStreamsLineByLine(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	for _, token := range []string{"", "r1-s01-stream-a1-sshd-00"} {
		var out lineClock
		if _, err := c.Exec(context.Background(), remote.ExecSpec{Script: streamScript, Token: token, Stdout: &out, Stderr: &out}); err != nil {
			t.Fatalf("token %q: %v", token, err)
		}
		first, ok1 := out.line("starting ")
		second, ok2 := out.line("started ")
		if !ok1 || !ok2 {
			t.Fatalf("token %q: output %+v", token, out.lines)
		}
		t.Logf("token %q: the first line arrived %s after the host printed it", token, first.at.Sub(printedAt(t, first)).Round(time.Millisecond))
		if !first.at.Before(printedAt(t, second)) {
			t.Errorf("token %q: the first line arrived at %s, after the host printed the next one at %s",
				token, first.at.Format(time.StampMilli), printedAt(t, second).Format(time.StampMilli))
		}
	}
}

// stderr never overtakes what the command wrote to stdout before it.
func TestSSHDStderrAfterStdout(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	var out syncBuffer
	code, err := c.Exec(context.Background(), remote.ExecSpec{Script: `echo out 1; sleep 0.3; echo err 1 >&2; sleep 0.3; echo out 2`, Stdout: &out, Stderr: &out})
	if err != nil || code != 0 || out.String() != "out 1\nerr 1\nout 2\n" {
		t.Errorf("got %d %v %q", code, err, out.String())
	}
}

// A run without a terminal that lasts is streamed while it runs (its log
// read through SFTP), and its wrapper sends the whole log again at the
// end: every line shows once, in order, the last without a line break
// included, and the first before the run ends.
func TestSSHDLastingRunShowsEachLineOnce(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	script := `for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.25; done; printf 'done %s' "$(date +%s%N)"`
	var out lineClock
	code, err := c.Exec(context.Background(), remote.ExecSpec{Script: script, Token: "r1-s01-lasting-a1-sshd-00", Stdout: &out})
	if err != nil || code != 0 {
		t.Fatalf("Exec: %d %v", code, err)
	}
	var want []string
	for i := 1; i <= 8; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	var got []string
	for _, l := range out.lines {
		got = append(got, l.text)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || !strings.HasPrefix(string(out.buf), "done ") {
		t.Fatalf("output lines %q and %q after them, want %q and the end line", got, out.buf, want)
	}
	// Followed through the connection's SFTP session: the host shell
	// stays the only command session.
	if n := commandSessions(h); n != 1 {
		t.Errorf("%d command sessions, want 1 (the host shell)", n)
	}
	first, _ := out.line("line 1")
	end := printedAt(t, stampedLine{text: string(out.buf)})
	if !first.at.Before(end) {
		t.Errorf("the first line arrived at %s, after the run ended at %s: not streamed",
			first.at.Format(time.StampMilli), end.Format(time.StampMilli))
	}
}
