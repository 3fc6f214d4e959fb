package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// A session per command costs a host more than the command: sshd forks
// the session, starts the user's login shell, which starts sh (about
// 20 ms of a host's CPU, against 5 for the command's own shell; see
// BENCHMARKS.md, "One hundred hosts"). So each connection keeps one
// long-lived `sh -s` (the host shell) and sends it every command without
// a terminal, one at a time:
//
//   - a command runs as `setsid sh -s` with the wrapper of wrapper.go as
//     its script, unchanged: it leads a process group (and a session) of
//     its own, which is what its markers name and what a stop ends, so
//     a stop never reaches the host shell, nor what an earlier step left
//     running (a daemon it started);
//   - the scripts of the transport itself (markers, hashes) run in a
//     subshell of the host shell: they are never stopped, only abandoned;
//   - each run's output on both streams is framed by lines the host shell
//     prints around it: "\036runbook-NONCE:s" before it, and
//     "\036runbook-NONCE:e<code>" after it, with the exit code. What
//     comes outside the frames (a background process that kept the
//     stream) is dropped. \036 (RS) starts them so that output ending in
//     a line break is never held back waiting for more;
//   - every chunk sent is one brace group: sh runs none of it before it
//     has read all of it (see wholeOrNothing);
//   - a host without setsid, or whose sessions do not start sh (a
//     ForceCommand), gets a session per command as before.
//
// When the host shell dies (killed, or the connection with it), the run
// in it ends: if its start line never came through a session that ended
// in order, the run never began, and the command goes through a session
// of its own instead; otherwise it is in doubt, and its markers settle
// it. The next command starts a new host shell.

// hostShell is one host shell; a client holds at most one.
type hostShell struct {
	sess  *ssh.Session
	stdin io.WriteCloser

	closed atomic.Bool // close was called: the shell takes no more runs

	mu     sync.Mutex
	frames [2]*frame // the current run's, on stdout and stderr; nil between runs
	eof    [2]bool   // the stream has ended

	ended   chan struct{} // closed once the session has ended
	waitErr error         // why, once ended
}

// startShell opens the host shell's session on cl and checks that it
// can run commands (setsid is there). It returns nil and no error when
// the host cannot keep one: the caller uses a session per command.
func startShell(ctx context.Context, cl *client) (*hostShell, error) {
	sess, err := cl.ssh.NewSession()
	if err != nil {
		return nil, err
	}
	s := &hostShell{sess: sess, ended: make(chan struct{})}
	var out, errOut io.Reader
	if s.stdin, err = sess.StdinPipe(); err == nil {
		if out, err = sess.StdoutPipe(); err == nil {
			errOut, err = sess.StderrPipe()
		}
	}
	if err == nil {
		err = sess.Start(remoteCommand)
	}
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	go s.pump(out, 0)
	go s.pump(errOut, 1)
	go func() {
		err := sess.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(s.ended)
	}()
	res, err := s.run(ctx, "command -v setsid >/dev/null 2>&1\n", io.Discard, io.Discard)
	if err != nil || !res.ended || res.code != 0 {
		s.close()
		return nil, nil
	}
	return s, nil
}

// shellResult is how a run in the host shell ended.
type shellResult struct {
	ended   bool // both end lines came: code is the run's
	code    int
	started bool // its start line came on stdout: it may have run
}

// run sends body to the host shell and passes on its output, and returns
// once both its end lines came or the shell ended; an error when the
// body could not be sent, or ctx ended first. A cancelled ctx ends the
// host shell (there is no other way to stop waiting for it).
func (s *hostShell) run(ctx context.Context, body string, stdout, stderr io.Writer) (shellResult, error) {
	done, err := s.start(body, stdout, stderr)
	if err != nil {
		return shellResult{}, err
	}
	select {
	case r := <-done:
		return r, nil
	case <-ctx.Done():
		s.close()
		return shellResult{}, ctx.Err()
	}
}

// start sends body and returns what its result will come on.
func (s *hostShell) start(body string, stdout, stderr io.Writer) (<-chan shellResult, error) {
	nonce := randomHex(8)
	mark := "\036runbook-" + nonce + ":"
	fo, fe := newFrame(mark, stdout), newFrame(mark, stderr)
	s.mu.Lock()
	s.frames = [2]*frame{fo, fe}
	for i, f := range s.frames {
		if s.eof[i] {
			f.close()
		}
	}
	s.mu.Unlock()
	// The script is a brace group: sh runs none of it before it has read
	// all of it, so a shell or connection lost while it is sent runs
	// nothing (see wholeOrNothing).
	chunk := fmt.Sprintf("{ printf '\\036runbook-%[1]s:s\\n'; printf '\\036runbook-%[1]s:s\\n' >&2\n%[2]s\nr=$?; printf '\\036runbook-%[1]s:e%%d\\n' \"$r\"; printf '\\036runbook-%[1]s:e%%d\\n' \"$r\" >&2\n}\n", nonce, body)
	done := make(chan shellResult, 1)
	go func() {
		<-fo.done
		<-fe.done
		s.mu.Lock()
		s.frames = [2]*frame{}
		s.mu.Unlock()
		done <- shellResult{ended: fo.ended && fe.ended, code: fo.code, started: fo.started}
	}()
	if _, err := io.WriteString(s.stdin, chunk); err != nil {
		s.close()
		return done, err
	}
	return done, nil
}

// pump passes one of the shell's streams (0 stdout, 1 stderr) on to the
// current run's frame.
func (s *hostShell) pump(r io.Reader, i int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		s.mu.Lock()
		f := s.frames[i]
		if err != nil {
			s.eof[i] = true
		}
		s.mu.Unlock()
		if f != nil && n > 0 {
			f.feed(buf[:n])
		}
		if err != nil {
			if f != nil {
				f.close()
			}
			return
		}
	}
}

// usable reports whether the shell takes runs: its session has not
// ended and nobody closed it.
func (s *hostShell) usable() bool {
	if s.closed.Load() {
		return false
	}
	select {
	case <-s.ended:
		return false
	default:
		return true
	}
}

// endedWithin reports whether the session ended within d and sshd said
// how (an exit status or signal): then all it sent has come, and a run
// whose start line did not come never began. False for a lost
// connection.
func (s *hostShell) endedWithin(d time.Duration) bool {
	select {
	case <-s.ended:
	case <-time.After(d):
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ee *ssh.ExitError
	return s.waitErr == nil || errors.As(s.waitErr, &ee)
}

// close ends the shell's session: the shell sees the end of its input
// (what it runs goes on), and the streams end.
func (s *hostShell) close() {
	s.closed.Store(true)
	_ = s.sess.Close()
}

// frame passes on one run's part of a stream: what comes after its start
// line and before its end line.
type frame struct {
	mu      sync.Mutex
	w       io.Writer
	start   []byte // mark + "s\n"
	end     []byte // mark + "e"
	held    []byte
	started bool
	ended   bool // the end line came; code is its
	code    int
	closed  bool
	done    chan struct{}
}

func newFrame(mark string, w io.Writer) *frame {
	return &frame{w: w, start: []byte(mark + "s\n"), end: []byte(mark + "e"), done: make(chan struct{})}
}

// feed takes the next bytes of the stream.
func (f *frame) feed(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	b := append(f.held[:len(f.held):len(f.held)], p...)
	f.held = nil
	if !f.started {
		i := bytes.Index(b, f.start)
		if i < 0 {
			// Outside the frame: dropped, but for what may begin it.
			f.held = bytes.Clone(b[max(0, len(b)-len(f.start)+1):])
			return
		}
		f.started = true
		b = b[i+len(f.start):]
	}
	if i := bytes.Index(b, f.end); i >= 0 {
		f.write(b[:i])
		rest := b[i+len(f.end):]
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			f.held = bytes.Clone(b[i:])
			return
		}
		code, err := strconv.Atoi(string(rest[:j]))
		if err != nil {
			code = -1
		}
		f.code, f.ended = code, true
		f.closeLocked()
		return
	}
	// Hold back only a tail that may begin the end line.
	if k := bytes.LastIndexByte(b, '\036'); k >= 0 && bytes.HasPrefix(f.end, b[k:]) {
		f.write(b[:k])
		f.held = bytes.Clone(b[k:])
		return
	}
	f.write(b)
}

func (f *frame) write(p []byte) {
	if len(p) > 0 {
		_, _ = f.w.Write(p)
	}
}

// close ends the frame: the stream ended.
func (f *frame) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && f.started {
		f.write(f.held) // what looked like the start of an end line was output
	}
	f.closeLocked()
}

func (f *frame) closeLocked() {
	if !f.closed {
		f.closed = true
		f.held = nil
		close(f.done)
	}
}
