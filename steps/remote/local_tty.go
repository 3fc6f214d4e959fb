package remote

import (
	"context"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// ttyDrain is how long the output a local command left on its terminal
// is read after the command ended: all of it when nothing else holds the
// terminal (the read ends at once), and no longer than this when a
// process the command started in the background still does.
const ttyDrain = 200 * time.Millisecond

// localTerminal is the terminal of a local command run with ExecSpec.TTY:
// its controlling terminal, a new session's. What the command writes to
// it goes to the command's Stdout; sudo's prompt there is answered.
type localTerminal struct {
	master, tty *os.File
	out         io.Writer // where the terminal's output goes
	sudo        *sudoAnswerer
	read        chan struct{} // closed when the reader stopped
}

// newLocalTerminal opens a terminal for cmd, made the controlling
// terminal of its new session (so the session's process group is the
// shell's pid, as with Setpgid), and serialises cmd's output with the
// terminal's. With a marker, the terminal's first prompt is answered
// with password and a second one calls stop with errSudoAgain.
func newLocalTerminal(cmd *exec.Cmd, marker, password string, stop context.CancelCauseFunc) (*localTerminal, error) {
	master, tty, err := openPTY()
	if err != nil {
		return nil, err
	}
	t := &localTerminal{master: master, tty: tty, read: make(chan struct{})}
	// fd 3 in the shell and what it starts, which keeps the terminal
	// open while any of them lives: a read of the master fails (EIO) once
	// no process has the terminal open, and /dev/tty, the controlling
	// terminal, holds it only while open.
	cmd.ExtraFiles = []*os.File{tty}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}
	mu := &sync.Mutex{}
	stdout := lockedWriter{mu: mu, w: cmd.Stdout}
	if sameWriter(cmd.Stderr, cmd.Stdout) {
		cmd.Stderr = stdout
	} else {
		cmd.Stderr = lockedWriter{mu: mu, w: cmd.Stderr}
	}
	cmd.Stdout = stdout
	t.out = stdout
	if marker != "" {
		t.sudo = newSudoAnswerer(stdout, marker,
			func() { _, _ = io.WriteString(master, password+"\n") },
			func() { stop(errSudoAgain) })
		t.out = t.sudo
	}
	return t, nil
}

// started gives the terminal to the started command alone and starts
// reading it.
func (t *localTerminal) started() {
	_ = t.tty.Close()
	go func() {
		defer close(t.read)
		buf := make([]byte, 4096)
		for {
			n, err := t.master.Read(buf)
			if n > 0 {
				_, _ = t.out.Write(buf[:n])
			}
			if err != nil {
				return // EIO: nothing holds the terminal any more
			}
		}
	}()
}

// finish reads what the ended command left on the terminal and stops.
func (t *localTerminal) finish() {
	_ = t.master.SetReadDeadline(time.Now().Add(ttyDrain))
	<-t.read
	if t.sudo != nil {
		t.sudo.flush()
	}
}

// close releases both ends; a command that did not start leaves them open.
func (t *localTerminal) close() {
	_ = t.tty.Close()
	_ = t.master.Close()
}

// sameWriter reports whether a and b are one writer, as exec.Cmd tells
// (a writer of a type that cannot be compared is not the other).
func sameWriter(a, b io.Writer) (same bool) {
	defer func() { _ = recover() }()
	return a == b
}
