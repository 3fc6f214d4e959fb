package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// tailSize is how much of a host run's output the database keeps; the full
// output is in the log file.
const tailSize = 4096

// hostOutput fans one host run's output out to the operator, the log file
// and the tail kept in the database, all behind the masker so no secret
// reaches any of them.
type hostOutput struct {
	mu     sync.Mutex
	masked io.WriteCloser
	ui     io.WriteCloser
	log    *os.File
	tail   tailBuffer
	closed bool
}

// logSpot says where the output of a host run is logged:
// <dir>/<release id>/<NN>-<step>/<host>.log, or nowhere when dir is "".
type logSpot struct {
	dir     string
	release int64
}

// newHostOutput opens the output of one attempt of a host run: to the
// operator through ui, to the log file, and to the tail kept in the
// database, behind the masker.
func newHostOutput(ui runbook.UI, mask runbook.Masker, spot logSpot, s *runbook.Step, hr *runbook.HostRun, now time.Time) *hostOutput {
	return newHostOutputTo(ui, mask, spot.open(s, hr), s, hr, now)
}

// logFile is a host run's log file as logSpot.open left it: f is nil
// when it could not be opened, dir says where it was to be.
type logFile struct {
	f   *os.File
	dir string
}

// open opens (creating) the log file of host run hr of step s, to append
// to it; nothing is written yet. Safe to call before the run's intent is
// committed: an empty log file says nothing that is not so.
func (spot logSpot) open(s *runbook.Step, hr *runbook.HostRun) logFile {
	if spot.dir == "" {
		return logFile{}
	}
	dir := filepath.Join(spot.dir, fmt.Sprint(spot.release), fmt.Sprintf("%02d-%s", s.Index+1, s.Name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return logFile{dir: dir}
	}
	f, err := os.OpenFile(filepath.Join(dir, hr.Host+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return logFile{dir: dir}
	}
	return logFile{f: f, dir: dir}
}

// close closes a log file that will not be used.
func (l logFile) close() {
	if l.f != nil {
		l.f.Close()
	}
}

// newHostOutputTo is newHostOutput with its log file opened already.
func newHostOutputTo(ui runbook.UI, mask runbook.Masker, log logFile, s *runbook.Step, hr *runbook.HostRun, now time.Time) *hostOutput {
	o := &hostOutput{ui: ui.HostOutput(s, hr.Host)}
	sinks := []io.Writer{o.ui, &o.tail}
	if log.f != nil {
		o.log = log.f
		fmt.Fprintf(log.f, "=== %s attempt %d on %s, %s\n", s.Name, hr.Attempts, hr.Host, now.Format("2006-01-02T15:04:05Z"))
		sinks = append(sinks, log.f)
	} else if log.dir != "" {
		ui.Warn(fmt.Sprintf("cannot write the log of %s on %s under %s; output is kept only in the terminal and the database tail", s.Name, hr.Host, log.dir))
	}
	// Terminal-safe first, then masked: a secret a host splits with escape
	// sequences is whole again when the masker looks (runbook/termsafe.go).
	o.masked = runbook.NewTermSafeWriter(mask.Writer(io.MultiWriter(sinks...)))
	return o
}

// Write implements io.Writer; safe for concurrent stdout and stderr.
func (o *hostOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return len(p), nil
	}
	// A full disk under the log must not fail the command on the host: the
	// terminal and the tail still get it.
	_, _ = o.masked.Write(p)
	return len(p), nil
}

// Line writes a line of runbook's own about this host run.
func (o *hostOutput) Line(s string) {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	_, _ = o.Write([]byte(s))
}

// Close flushes the masker and closes the log and the UI writer. Idempotent.
func (o *hostOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	_ = o.masked.Close()
	_ = o.ui.Close()
	if o.log != nil {
		_ = o.log.Close()
	}
	return nil
}

// Tail returns the last bytes of the (masked) output.
func (o *hostOutput) Tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tail.String()
}

type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	b := t.b
	if len(b) > tailSize {
		b = b[len(b)-tailSize:]
		// Start at a line boundary so the tail reads cleanly.
		if i := strings.IndexByte(string(b), '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return string(b)
}
