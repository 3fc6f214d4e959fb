package remote

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// aheadShells keeps one `sh -s` started ahead of the local command that will
// use it. Forking and starting a shell is most of what a quick local step
// costs (a millisecond and more on a small machine); started ahead, it
// happens while the engine commits the step's intent, instead of after.
//
// A shell started ahead has run nothing: it waits on its stdin, and gets
// its script only once the run's intent is committed and its markers are
// written, exactly as a shell forked for the run would. One that is never
// used (runbook exits, is killed, or the next command wants another
// directory) sees its stdin close empty and exits having run nothing.
// Its environment is the one every local command gets (ChildEnv), so it
// holds nothing a freshly forked shell would not.
type aheadShells struct {
	mu      sync.Mutex
	ready   *aheadShell // started, waiting on its stdin; nil while none is
	filling bool        // a shell is being started
	closed  bool
}

// aheadShell is a started `sh -s` and the ends of its pipes.
type aheadShell struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *laterWriter
	dir            string
}

// shellCmd is the `sh -s` of a local command, not started: in dir (this
// process's directory when ""), its stdin a pipe, in a process group of
// its own so that a timeout or Ctrl-C ends the whole command tree and not
// just the shell.
func shellCmd(dir string) (*exec.Cmd, io.WriteCloser, error) {
	cmd := exec.Command("/bin/sh", "-s")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("stdin of sh: %w", err)
	}
	// Explicit, never inherited whole: runbook's own variables (the vault
	// passphrase and identity among them) stay in this process. A run's
	// own variables are exported by its script.
	cmd.Env = ChildEnv(os.Environ())
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, stdin, nil
}

// startAhead starts a local command's shell in dir, waiting on its stdin.
func startAhead(dir string) (*aheadShell, error) {
	cmd, stdin, err := shellCmd(dir)
	if err != nil {
		return nil, err
	}
	sh := &aheadShell{cmd: cmd, stdin: stdin, stdout: &laterWriter{w: io.Discard}, stderr: &laterWriter{w: io.Discard}, dir: dir}
	cmd.Stdout, cmd.Stderr = sh.stdout, sh.stderr
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return nil, err
	}
	return sh, nil
}

// discard ends a shell that got no script: its stdin closes empty.
func (sh *aheadShell) discard() {
	_ = sh.stdin.Close()
	go func() { _ = sh.cmd.Wait() }()
}

// take returns the shell started ahead in dir, or nil when there is none
// (the first command, or one in another directory); either way it starts
// the next one in the background.
func (s *aheadShells) take(dir string) *aheadShell {
	s.mu.Lock()
	sh := s.ready
	s.ready = nil
	fill := !s.closed && !s.filling
	if fill {
		s.filling = true
	}
	s.mu.Unlock()
	if fill {
		go s.fill(dir)
	}
	if sh != nil && sh.dir != dir {
		sh.discard()
		return nil
	}
	return sh
}

func (s *aheadShells) fill(dir string) {
	sh, err := startAhead(dir)
	s.mu.Lock()
	s.filling = false
	keep := err == nil && !s.closed && s.ready == nil
	if keep {
		s.ready = sh
	}
	s.mu.Unlock()
	if err == nil && !keep {
		sh.discard()
	}
}

// close ends the shell started ahead, if any; take returns nil after it.
func (s *aheadShells) close() {
	s.mu.Lock()
	s.closed = true
	sh := s.ready
	s.ready = nil
	s.mu.Unlock()
	if sh != nil {
		sh.discard()
	}
}

// laterWriter is a writer named after its process started: where a
// shell started ahead writes once it is given a run.
type laterWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *laterWriter) set(w io.Writer) {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
}

func (l *laterWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	w := l.w
	l.mu.Unlock()
	return w.Write(p)
}
