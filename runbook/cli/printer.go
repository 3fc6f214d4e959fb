package cli

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fatih/color"
	"github.com/runbook-dev/runbook/runbook"
)

// printer implements runbook.UI: the walk on stdout, warnings on stderr,
// host output line by line with a coloured host prefix. Safe for the
// concurrent host runs of a parallel step.
type printer struct {
	gate   *outputGate // holds lines while a question is on the terminal
	mu     sync.Mutex
	out    io.Writer
	err    io.Writer
	mask   interface{ Mask(string) string }
	hosts  map[string]*color.Color
	width  int // widest host name seen, for aligned prefixes
	starts map[string]time.Time
}

var hostColors = []color.Attribute{color.FgCyan, color.FgMagenta, color.FgBlue, color.FgYellow, color.FgGreen, color.FgHiCyan, color.FgHiMagenta, color.FgHiBlue}

func newPrinter(gate *outputGate, out, errw io.Writer, mask interface{ Mask(string) string }) *printer {
	return &printer{gate: gate, out: out, err: errw, mask: mask, hosts: map[string]*color.Color{}, starts: map[string]time.Time{}}
}

var (
	bold   = color.New(color.Bold)
	green  = color.New(color.FgGreen)
	red    = color.New(color.FgRed, color.Bold)
	yellow = color.New(color.FgYellow)
	faint  = color.New(color.Faint)
)

func (p *printer) hostColor(h string) *color.Color {
	c, ok := p.hosts[h]
	if !ok {
		c = color.New(hostColors[len(p.hosts)%len(hostColors)])
		p.hosts[h] = c
	}
	if len(h) > p.width {
		p.width = len(h)
	}
	return c
}

// println writes a line to w, or to the walk's output when w is nil (read
// under the lock: progress bars redirect it while they run).
func (p *printer) println(w io.Writer, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w == nil {
		w = p.out
	}
	p.gate.println(w, s)
}

// setOut redirects the walk's lines (progress bars print them above
// themselves while they run).
func (p *printer) setOut(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = w
}

// StepHeader implements runbook.UI.
func (p *printer) StepHeader(i, n int, s *runbook.Step, sr *runbook.StepRun) {
	where := ""
	if s.On != "" {
		where = " on " + s.On
	}
	resumed := ""
	if sr.State != runbook.RunPending {
		resumed = faint.Sprintf(" (%s, attempt %d so far)", sr.State, sr.Attempts)
	}
	line := fmt.Sprintf("\n%s %s %s%s", bold.Sprintf("[%d/%d]", i+1, n), bold.Sprint(s.Name), faint.Sprintf("— %s%s", s.Kind, where), resumed)
	if s.Description != "" {
		line += "\n      " + s.Description
	}
	p.println(nil, line)
}

// HostOutput implements runbook.UI.
func (p *printer) HostOutput(s *runbook.Step, host string) io.WriteCloser {
	p.mu.Lock()
	c := p.hostColor(host)
	p.starts[s.Name+"/"+host] = time.Now()
	p.mu.Unlock()
	return &prefixWriter{p: p, prefix: func() string {
		return c.Sprintf("  %-*s │ ", p.width, host)
	}}
}

// HostDone implements runbook.UI.
func (p *printer) HostDone(s *runbook.Step, hr *runbook.HostRun, summary string) {
	p.mu.Lock()
	c := p.hostColor(hr.Host)
	p.mu.Unlock()
	d := time.Duration(hr.DurationMS) * time.Millisecond
	var mark string
	switch hr.State {
	case runbook.RunSucceeded:
		mark = green.Sprint("✓ ") + c.Sprint(hr.Host) + fmt.Sprintf(" done in %s", d.Round(time.Millisecond))
	case runbook.RunFailed:
		mark = red.Sprint("✗ ") + c.Sprint(hr.Host) + red.Sprintf(" failed (exit %d) after %s", hr.ExitCode, d.Round(time.Millisecond))
		if f := runbook.ParseDetail(hr.Detail).FailedVerify; f != nil {
			// Its action passed (exit 0): say which check failed it.
			mark = red.Sprint("✗ ") + c.Sprint(hr.Host) + red.Sprintf(" failed after %s: ", d.Round(time.Millisecond)) +
				red.Sprint(p.mask.Mask(runbook.TermSafeLine(f.String())))
		}
	default:
		mark = yellow.Sprint("• ") + c.Sprint(hr.Host) + " " + string(hr.State)
	}
	if summary != "" {
		mark += faint.Sprint(" — " + p.mask.Mask(runbook.TermSafeLine(summary)))
	}
	p.println(nil, "  "+mark)
}

// StepDone implements runbook.UI.
func (p *printer) StepDone(s *runbook.Step, sr *runbook.StepRun) {
	switch sr.State {
	case runbook.RunSucceeded:
		p.println(nil, green.Sprintf("  ✓ %s succeeded", s.Name))
	case runbook.RunFailed:
		p.println(nil, red.Sprintf("  ✗ %s failed", s.Name))
	default:
		p.println(nil, yellow.Sprintf("  • %s %s", s.Name, sr.State))
	}
}

// The walk's messages quote what hosts and records hold (a link target, a
// recorded reason, an output tail): each is made terminal-safe (L-8), then
// masked, like host output.

// Info implements runbook.UI.
func (p *printer) Info(msg string) { p.println(nil, bold.Sprint(p.mask.Mask(runbook.TermSafe(msg)))) }

// Warn implements runbook.UI.
func (p *printer) Warn(msg string) {
	p.println(p.err, yellow.Sprint("runbook: warning: ")+p.mask.Mask(runbook.TermSafe(msg)))
}

// Detail implements runbook.UI.
func (p *printer) Detail(msg string) {
	p.println(nil, faint.Sprint("  "+p.mask.Mask(runbook.TermSafe(msg))))
}

// prefixWriter prefixes every line with the host; a partial line is held
// until its end (or Close) so parallel hosts never interleave mid-line.
type prefixWriter struct {
	p      *printer
	prefix func() string
	buf    []byte
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		// Host output arrives terminal-safe already; a line from any
		// other writer is made so here.
		line := oneLine(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
		w.p.println(nil, w.prefix()+line)
	}
	return len(b), nil
}

func (w *prefixWriter) Close() error {
	if len(w.buf) > 0 {
		w.p.println(nil, w.prefix()+oneLine(string(w.buf)))
		w.buf = nil
	}
	return nil
}

// oneLine is a line of host output as the terminal shows it after the
// host prefix: terminal-safe, tabs kept, a carriage return inside (from a
// writer that did not pass runbook.TermSafeWriter) made a space.
func oneLine(s string) string {
	return strings.ReplaceAll(runbook.TermSafe(strings.TrimRight(s, "\r")), "\n", " ")
}
