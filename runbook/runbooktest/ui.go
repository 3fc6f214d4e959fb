package runbooktest

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
)

// UI is a runbook.UI that keeps every line it is told, safe for the
// host runs of a step writing at once.
type UI struct {
	mu    sync.Mutex
	lines []string
}

func (u *UI) add(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lines = append(u.lines, fmt.Sprintf(format, a...))
}

// StepHeader implements runbook.UI.
func (u *UI) StepHeader(i, n int, s *runbook.Step, sr *runbook.StepRun) {
	u.add("[%d/%d] %s", i+1, n, s.Name)
}

// Batch implements runbook.UI.
func (u *UI) Batch(s *runbook.Step, b runbook.HostBatch) {
	u.add("batch %d/%d of %s: %s (of %d)", b.Index, b.Count, s.Name, strings.Join(b.Hosts, " "), b.Total)
}

// HostOutput implements runbook.UI.
func (u *UI) HostOutput(s *runbook.Step, host string) io.WriteCloser {
	return &hostWriter{u: u, prefix: host + " | "}
}

// HostDone implements runbook.UI.
func (u *UI) HostDone(s *runbook.Step, hr *runbook.HostRun, summary string) {
	u.add("%s %s on %s: %s %s", hr.State, s.Name, hr.Host, summary, "")
}

// StepDone implements runbook.UI.
func (u *UI) StepDone(s *runbook.Step, sr *runbook.StepRun) { u.add("%s %s", sr.State, s.Name) }

// Info implements runbook.UI.
func (u *UI) Info(msg string) { u.add("info: %s", msg) }

// Warn implements runbook.UI.
func (u *UI) Warn(msg string) { u.add("warn: %s", msg) }

// Detail implements runbook.UI.
func (u *UI) Detail(msg string) { u.add("detail: %s", msg) }

// String returns everything shown, a line each.
func (u *UI) String() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.lines, "\n")
}

type hostWriter struct {
	u      *UI
	prefix string
	buf    bytes.Buffer
}

func (w *hostWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.u.add("%s%s", w.prefix, strings.TrimSuffix(line, "\n"))
	}
}

func (w *hostWriter) Close() error {
	if w.buf.Len() > 0 {
		w.u.add("%s%s", w.prefix, w.buf.String())
		w.buf.Reset()
	}
	return nil
}

// Masker is a runbook.Masker that hides nothing (tests hold no secrets).
type Masker struct{}

// Mask implements runbook.Masker.
func (Masker) Mask(s string) string { return s }

// Writer implements runbook.Masker.
func (Masker) Writer(w io.Writer) io.WriteCloser { return nopCloser{w} }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

var (
	_ runbook.UI     = (*UI)(nil)
	_ runbook.Masker = Masker{}
)
