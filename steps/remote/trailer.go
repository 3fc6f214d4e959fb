package remote

import (
	"bytes"
	"io"
	"strconv"
	"sync"
	"time"
)

// trailerFlushDelay is how long a held tail that might begin a trailer
// waits for more output before it is passed on: a line break at the end
// of a write, in practice. A command that prints a line and then works
// for minutes shows it this much later, not when its next line comes.
const trailerFlushDelay = 20 * time.Millisecond

// trailerWriter forwards a session's stdout as it arrives and strips the
// trailer line a wrapper script may end it with ("\nrunbook-NONCE:C\n",
// see wrapper.go). It holds back only a tail that could be the start of
// that trailer: a line break and what follows it while it matches. A tail
// shorter than the trailer's marker ("\nrunbook-NONCE:") is passed on
// when flushDelay passes without more output, or when the command writes
// to stderr (see stderr), so that stderr does not overtake it. A tail
// holding the whole marker is the trailer (the nonce is random) and waits
// for the end. Safe for the session's stdout copier, the flush timer and
// the stderr writer at once.
type trailerWriter struct {
	mu         sync.Mutex
	w          io.Writer
	prefix     []byte // "\nrunbook-NONCE:"
	held       []byte
	failed     bool // the destination failed: output is dropped
	done       bool // finish was called: nothing more is written
	timer      *time.Timer
	flushDelay time.Duration
	// first, when set, is called once, when the first output arrives
	// (a crash point: the command is running on the host).
	first func()
	// header: the output starts with a header line ("runbook-NONCE:P"
	// and the process group of a plain run, see plainScript), held in
	// head until it is whole and stripped; pid is what it named.
	header bool
	head   []byte
	pid    int
}

func newTrailerWriter(w io.Writer, nonce string) *trailerWriter {
	return &trailerWriter{w: w, prefix: []byte("\nrunbook-" + nonce + ":"), flushDelay: trailerFlushDelay}
}

// size is the length of a whole trailer: the marker, its code, a line break.
func (t *trailerWriter) size() int { return len(t.prefix) + 2 }

// Write implements io.Writer.
func (t *trailerWriter) Write(p []byte) (int, error) {
	n := len(p)
	if t.first != nil && len(p) > 0 {
		f := t.first
		t.first = nil
		f()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return len(p), nil
	}
	if t.header {
		if p = t.readHeader(p); len(p) == 0 {
			return n, nil
		}
	}
	buf := p
	if len(t.held) > 0 {
		buf = append(t.held, p...)
	}
	i := t.tailStart(buf)
	t.forward(buf[:i])
	t.held = append(t.held[:0], buf[i:]...)
	t.armFlush()
	return n, nil
}

// maxHeader bounds a header line: a first line longer than this is output.
const maxHeader = 64

// readHeader (under mu) takes the header line from the start of the
// output and returns what follows it. A first line that is not the
// header is output like any other (a script of ours always prints one).
func (t *trailerWriter) readHeader(p []byte) []byte {
	i := bytes.IndexByte(p, '\n')
	if i < 0 && len(t.head)+len(p) <= maxHeader {
		t.head = append(t.head, p...)
		return nil
	}
	t.header = false
	var line, rest []byte
	if i < 0 {
		line, rest = append(t.head, p...), nil
	} else {
		line, rest = append(t.head, p[:i+1]...), p[i+1:]
	}
	t.head = nil
	mark := append(t.prefix[1:len(t.prefix):len(t.prefix)], trailerPID)
	digits, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\n")), mark)
	if pid, err := strconv.Atoi(string(digits)); ok && err == nil && pid > 0 && i >= 0 {
		t.pid = pid
		return rest
	}
	return append(line, rest...)
}

// groupPID returns the process group a header named; 0 before one came.
func (t *trailerWriter) groupPID() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pid
}

// tailStart returns where the part of buf that could begin the trailer
// starts: at a line break among its last size() bytes from which buf
// matches a trailer so far; len(buf) when none does.
func (t *trailerWriter) tailStart(buf []byte) int {
	for i := max(0, len(buf)-t.size()); i < len(buf); i++ {
		if buf[i] == '\n' && t.beginsTrailer(buf[i:]) {
			return i
		}
	}
	return len(buf)
}

// beginsTrailer reports whether b is a trailer, or the start of one.
func (t *trailerWriter) beginsTrailer(b []byte) bool {
	n := len(t.prefix)
	switch {
	case len(b) <= n:
		return bytes.Equal(b, t.prefix[:len(b)])
	case len(b) > n+2 || !bytes.HasPrefix(b, t.prefix) || b[n] == '\n':
		return false
	}
	return len(b) == n+1 || b[n+1] == '\n'
}

// partial reports a held tail that may be output after all: shorter than
// the marker.
func (t *trailerWriter) partial() bool { return len(t.held) > 0 && len(t.held) < len(t.prefix) }

// armFlush (under mu) starts or stops the timer that passes on a partial
// tail when no more output comes.
func (t *trailerWriter) armFlush() {
	switch {
	case t.partial() && t.timer == nil:
		t.timer = time.AfterFunc(t.flushDelay, t.flushPartial)
	case t.partial():
		t.timer.Reset(t.flushDelay)
	case t.timer != nil:
		t.timer.Stop()
	}
}

// flushPartial passes on a partial tail.
func (t *trailerWriter) flushPartial() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || !t.partial() {
		return
	}
	t.forward(t.held)
	t.held = t.held[:0]
}

// stderr wraps the session's stderr writer: what stdout holds back that
// may be output is passed on before each write to it, so that a line the
// command wrote to stdout before its stderr line is not shown after it.
func (t *trailerWriter) stderr(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		t.flushPartial()
		return w.Write(p)
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// forward writes to the destination; once that fails, output is dropped
// rather than blocking the session.
func (t *trailerWriter) forward(p []byte) {
	if t.failed || len(p) == 0 {
		return
	}
	if _, err := t.w.Write(p); err != nil {
		t.failed = true
	}
}

// finish flushes what is held and returns the trailer code, 0 for none.
// Nothing is written to the destination after it returns.
func (t *trailerWriter) finish() byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return 0
	}
	t.done = true
	if t.timer != nil {
		t.timer.Stop()
	}
	if len(t.head) > 0 {
		t.forward(t.head) // the output ended inside its first line
		t.head = nil
	}
	h := t.held
	t.held = nil
	if len(h) == t.size() && t.beginsTrailer(h) {
		return h[len(h)-2]
	}
	t.forward(h)
	return 0
}
