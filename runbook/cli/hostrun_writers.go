package cli

import (
	"bytes"
	"io"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
)

// hostStream is one output stream of a host run: made safe for a
// terminal (runbook.TermSafeWriter: no escape sequence or control
// character of the host's reaches the operator's screen or the record),
// then masked — in that order, so a secret the host splits with escape
// sequences is whole again when the masker looks — then cut into whole
// lines for the shared sink.
type hostStream struct {
	safe  io.WriteCloser // closes the masker behind it
	lines *lineWriter
}

// newHostStreams returns the stdout and stderr of a host run. They are
// masked together (secrets.Masker.Writers), so a secret a command splits
// between them is masked in both; each is made terminal-safe before and
// cut into lines of its own after.
func newHostStreams(m *secrets.Masker, sink io.Writer) (stdout, stderr *hostStream) {
	out, errs := &lineWriter{sink: sink}, &lineWriter{sink: sink}
	ws := m.Writers(out, errs)
	return &hostStream{safe: runbook.NewTermSafeWriter(ws[0]), lines: out}, &hostStream{safe: runbook.NewTermSafeWriter(ws[1]), lines: errs}
}

func (s *hostStream) Write(p []byte) (int, error) { return s.safe.Write(p) }

// closeHostStreams flushes what the terminal filters and the masker held
// back (the masker passes it on only once both streams are closed), then
// each last partial line.
func closeHostStreams(stdout, stderr *hostStream) {
	_ = stdout.safe.Close()
	_ = stderr.safe.Close()
	stdout.lines.flush()
	stderr.lines.flush()
}

// lineWriter passes only whole lines on, so two streams sharing a sink
// interleave by line, never inside one.
type lineWriter struct {
	sink io.Writer
	buf  []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		if _, err := l.sink.Write(l.buf[:i+1]); err != nil {
			return 0, err
		}
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		_, _ = l.sink.Write(append(l.buf, '\n'))
		l.buf = nil
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailWriter keeps the last max bytes written.
type tailWriter struct {
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string { return string(t.buf) }
