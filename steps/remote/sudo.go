package remote

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// errSudoAgain is why a run is stopped when sudo asks for its password a
// second time: the answer was wrong (or sudo keeps no timestamp between
// two of the script's calls), and the same answer again would only count
// towards locking the account.
var errSudoAgain = errors.New("sudo asked for the password a second time")

// sudoShown replaces the prompt marker in the output, where sudo's own
// prompt would have been.
const sudoShown = "[sudo] password: (answered by runbook)"

// newSudoMarker makes the prompt of one run: unguessable, so that only a
// process given SUDO_PROMPT can ask for the password, and framed by a
// byte that output practically never holds (the answerer holds back an
// output tail that may begin it).
func newSudoMarker() string { return "\x1erunbook-sudo-" + randomHex(8) + "\x1e" }

// sudoExport is the line that exports SUDO_PROMPT=marker in a script.
// The marker is written in two quoted halves: a host whose terminal
// echoed the script back (it was asked not to) would otherwise show the
// marker before sudo does, and be answered.
func sudoExport(marker string) string {
	h := len(marker) / 2
	return "export SUDO_PROMPT=" + ShellQuote(marker[:h]) + ShellQuote(marker[h:]) + "\n"
}

// sudoAnswerer passes a terminal's output on without the prompt marker,
// and answers the first prompt it reads: a second one calls again
// instead. It is written to by one goroutine (the terminal's reader);
// flush passes on what it holds once that has stopped.
type sudoAnswerer struct {
	out    io.Writer
	marker []byte
	answer func() // writes the password to the terminal
	again  func() // sudo asked once more: stop the run
	held   []byte // a tail that may begin the marker
	asked  int
}

func newSudoAnswerer(out io.Writer, marker string, answer, again func()) *sudoAnswerer {
	return &sudoAnswerer{out: out, marker: []byte(marker), answer: answer, again: again}
}

// Write implements io.Writer. It never fails: the answer must not depend
// on whether the output could be shown.
func (a *sudoAnswerer) Write(p []byte) (int, error) {
	buf := append(a.held, p...)
	a.held = nil
	for {
		i := bytes.Index(buf, a.marker)
		if i < 0 {
			break
		}
		_, _ = a.out.Write(buf[:i])
		_, _ = io.WriteString(a.out, sudoShown)
		buf = buf[i+len(a.marker):]
		a.asked++
		switch a.asked {
		case 1:
			a.answer()
		case 2:
			a.again()
		}
	}
	k := markerStart(buf, a.marker)
	_, _ = a.out.Write(buf[:len(buf)-k])
	a.held = append([]byte(nil), buf[len(buf)-k:]...)
	return len(p), nil
}

// flush passes on a held tail: the output has ended, and it was not the
// marker.
func (a *sudoAnswerer) flush() {
	_, _ = a.out.Write(a.held)
	a.held = nil
}

// markerStart is the length of the longest tail of b that begins marker.
func markerStart(b, marker []byte) int {
	for k := min(len(b), len(marker)-1); k > 0; k-- {
		if bytes.HasPrefix(marker, b[len(b)-k:]) {
			return k
		}
	}
	return 0
}

// lockedWriter serialises writes to w from several goroutines (a local
// command's pipes and its terminal).
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
