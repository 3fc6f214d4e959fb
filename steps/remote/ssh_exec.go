package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sshConn is a host's Conn over the pool's SSH connection. It holds no
// connection itself: every call takes the pool's live one, so a dropped
// connection is redialled by the next call.
type sshConn struct {
	pool *Pool
	cfg  HostConfig

	// shellForgets counts the forgets that asked the host's shell: what
	// the tests of ForgetMarkers look at.
	shellForgets atomic.Int32
}

// killGrace is how long a timed-out command has to end after TERM before
// it is killed, as for local commands.
const killGrace = 5 * time.Second

var errTimeout = errors.New("command timed out")

// remoteCommand is the one command line the login shell sees; the script
// comes on stdin. exec, so that the session's process is sh itself and a
// signal sent through the session reaches the wrapper whatever the login
// shell is (dash -c, unlike bash -c, forks for a single command).
const remoteCommand = "exec sh -s"

func (c *sshConn) name() string { return c.cfg.Name }

// Exec implements Conn.
func (c *sshConn) Exec(ctx context.Context, spec ExecSpec) (int, error) {
	if spec.Look {
		return c.look(ctx, spec)
	}
	if spec.Token != "" {
		if err := checkToken(spec.Token); err != nil {
			return -1, err
		}
	}
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, spec.Timeout, errTimeout)
		defer cancel()
	}
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	spec, marker := withSudoPrompt(spec)
	nonce := randomHex(8)
	// logLater only matters to a run with markers (see quietTail).
	wrapper := func(bool) string { return plainScript(spec, nonce) }
	if spec.Token != "" {
		now, sweep := time.Now().Unix(), c.pool.firstRun(c.cfg)
		wrapper = func(logLater bool) string {
			return detachedScript(spec, c.cfg.MarkerDir, nonce, now, sweep, logLater)
		}
	}
	if !spec.TTY {
		// A command with a terminal keeps a session of its own: sshd's
		// pty is per session.
		if code, err, ok := c.execInShell(ctx, spec, wrapper, nonce); ok {
			return c.result(ctx, spec, code, err)
		}
	}
	script := wrapper(false)
	cl, sess, err := c.session(ctx)
	if err != nil {
		return -1, err
	}
	defer sess.Close()
	ro, out := runOutputs(spec, nonce)
	sess.Stdout = out
	// Passed on after what stdout holds back of the lines before it.
	sess.Stderr = out.stderr(orDiscard(spec.Stderr))
	command := remoteCommand
	var term io.Writer // the terminal's input, with spec.TTY
	var sudo *sudoAnswerer
	if spec.TTY {
		if command, term, err = c.terminal(sess, script); err != nil {
			return -1, err
		}
		if marker != "" {
			sudo = newSudoAnswerer(out, marker,
				func() { _, _ = io.WriteString(term, spec.SudoPassword+"\n") },
				func() { stopRun(errSudoAgain) })
			sess.Stdout = sudo
		}
	} else {
		sess.Stdin = wholeOrNothing(script)
	}
	if err := sess.Start(command); err != nil {
		return -1, fmt.Errorf("start sh on %s: %w", c.name(), err)
	}
	if term != nil {
		// Before any prompt can come: sh runs nothing of the script
		// before it has read all of it.
		if _, err := io.WriteString(term, wholeScript(script)); err != nil {
			_ = sess.Close()
			return -1, fmt.Errorf("send the script to %s: %w", c.name(), err)
		}
	}
	if spec.Token != "" {
		Hit(PointExecStart)
	}
	if ro != nil {
		defer c.follow(ctx, cl, spec.Token, ro)()
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		// The caller's cancel (the operator's Ctrl-C) leaves the run in
		// doubt, as on a local host; a timeout, or sudo asking again,
		// ends it with its code.
		waitErr = c.stop(cl, sess, runRef{token: spec.Token, pid: out.groupPID()}, !stoppedAsFailed(ctx), done)
	}
	if sudo != nil {
		sudo.flush() // the session's copiers are done: Wait waited for them
	}
	code, err := c.outcome(waitErr, out.finish(), spec)
	if errors.Is(err, ErrInDoubt) {
		c.pool.discard(c.cfg, cl)
	}
	return c.result(ctx, spec, code, err)
}

// look runs a script that only looks (ExecSpec.Look) as the transport's
// own scripts run: in a subshell of the host shell where there is one.
func (c *sshConn) look(ctx context.Context, spec ExecSpec) (int, error) {
	if spec.Dir != "" || len(spec.Env) > 0 || spec.Token != "" || spec.Timeout != 0 || spec.TTY {
		return -1, fmt.Errorf("a script that only looks runs without Dir, Env, Token, Timeout or TTY")
	}
	out, code, err := c.run(ctx, spec.Script)
	if err != nil {
		return -1, err
	}
	if spec.Stdout != nil {
		if _, err := spec.Stdout.Write(out); err != nil {
			return -1, err
		}
	}
	return code, nil
}

// result is Exec's result, told apart by why ctx ended, if it did.
func (c *sshConn) result(ctx context.Context, spec ExecSpec, code int, err error) (int, error) {
	if err != nil || ctx.Err() == nil {
		return code, err
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTimeout):
		return code, fmt.Errorf("timed out after %s on %s", spec.Timeout, c.name())
	case errors.Is(cause, errSudoAgain):
		return code, sudoAgainError(c.name())
	}
	return code, fmt.Errorf("interrupted on %s: %w", c.name(), ErrInDoubt)
}

// ttyModes are the modes of a terminal sshd allocates for a run: no echo
// (the script and a password go in through it), no line editing, no
// signal or flow-control characters, no translation either way, so that
// the script reaches sh byte for byte and the output comes back as the
// host wrote it.
var ttyModes = ssh.TerminalModes{
	ssh.ECHO: 0, ssh.ECHONL: 0, ssh.ICANON: 0, ssh.ISIG: 0, ssh.IEXTEN: 0,
	ssh.IXON: 0, ssh.IXOFF: 0, ssh.ICRNL: 0, ssh.INLCR: 0, ssh.IGNCR: 0, ssh.ISTRIP: 0,
	ssh.OPOST: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400,
}

// terminal asks sshd for a pty on sess and returns the command that runs
// script on it, and the terminal's input. With a pty, stdin is the
// terminal, and a sh reading its script from a terminal would be an
// interactive shell (prompts, job control); so head takes exactly the
// script's bytes from the terminal and hands them to sh through a pipe,
// and the terminal then carries only what is written to it later: the
// password. The outer sh, which sshd's session leads, is the run's
// process group: it passes its pid on as $1 (see plainScript).
func (c *sshConn) terminal(sess *ssh.Session, script string) (string, io.Writer, error) {
	if err := sess.RequestPty("dumb", 24, 200, ttyModes); err != nil {
		return "", nil, fmt.Errorf("ask %s for a terminal (the step has tty: true): %w", c.name(), err)
	}
	in, err := sess.StdinPipe()
	if err != nil {
		return "", nil, fmt.Errorf("the terminal's input on %s: %w", c.name(), err)
	}
	return fmt.Sprintf(`exec sh -c 'head -c %d | sh -s "$$"'`, len(wholeScript(script))), in, nil
}

// withSudoPrompt makes the prompt marker of a run that answers sudo, and
// exports it as SUDO_PROMPT at the head of the script (after the step's
// own variables: it wins over one of them of that name).
func withSudoPrompt(spec ExecSpec) (ExecSpec, string) {
	if !spec.TTY || spec.SudoPassword == "" {
		return spec, ""
	}
	marker := newSudoMarker()
	spec.Script = sudoExport(marker) + spec.Script
	return spec, marker
}

// stoppedAsFailed reports whether ctx ended a run as a failure of its
// own (its timeout, sudo asking again) rather than by the caller, which
// leaves it in doubt.
func stoppedAsFailed(ctx context.Context) bool {
	cause := context.Cause(ctx)
	return errors.Is(cause, errTimeout) || errors.Is(cause, errSudoAgain)
}

func sudoAgainError(host string) error {
	return fmt.Errorf("sudo on %s asked for the password again after runbook gave it (a wrong sudo_password, or sudo keeps no timestamp between two calls): "+
		"the run was stopped rather than give it again", host)
}

// stop ends a running command: TERM through the session (the wrapper
// forwards it to the process group) and, for a detached run, to its group
// from a fresh session too, since the session may be the thing that hangs.
// After killGrace it kills, and stops waiting for the session. A detached
// run stopped by the caller (not by its timeout) is marked so first
// (<token>.stopped): the code its wrapper still records is then that of
// our TERM, not the command's own outcome, and Markers and Wait report the
// run in doubt, as a local run interrupted the same way is.
func (c *sshConn) stop(cl *client, sess *ssh.Session, run runRef, stopped bool, done <-chan error) error {
	c.signal(cl, sess, run, "TERM", stopped)
	select {
	case err := <-done:
		return err
	case <-time.After(killGrace):
	}
	c.signal(cl, sess, run, "KILL", false)
	_ = sess.Close()
	return <-done
}

// runRef names a running command: the token of a detached run, else the
// process group a plain run announced (0: not known yet).
type runRef struct {
	token string
	pid   int
}

// signal sends sig to a run through its session and to its process
// group from a session of its own: sshd refuses to pass a signal to the
// session of a root login (no privilege separation there), and a hung
// session may take none.
func (c *sshConn) signal(cl *client, sess *ssh.Session, run runRef, sig string, stopped bool) {
	switch {
	case run.token != "":
		_, _, _ = c.runOn(cl, killScript(c.cfg.MarkerDir, run.token, sig, stopped))
	case run.pid > 0:
		_, _, _ = c.runOn(cl, fmt.Sprintf("kill -%s -%d 2>/dev/null\nexit 0\n", sig, run.pid))
	}
	if sess != nil {
		_ = sess.Signal(ssh.Signal(sig))
	}
}

// outcome maps the end of a session to Exec's result.
func (c *sshConn) outcome(waitErr error, code byte, spec ExecSpec) (int, error) {
	if err := c.trailerError(code, spec); err != nil {
		return -1, err
	}
	if waitErr == nil {
		return 0, nil
	}
	var ee *ssh.ExitError
	if errors.As(waitErr, &ee) {
		if sig := ee.Signal(); sig != "" {
			return 128 + signalNumber(sig), nil
		}
		return ee.ExitStatus(), nil
	}
	// ExitMissingError (the session ended without a status) or a dropped
	// connection: the command may have run.
	return -1, fmt.Errorf("lost %s while the command ran (%v): %w", c.name(), waitErr, ErrInDoubt)
}

// trailerError is the error a wrapper's trailer code reports; nil for none.
func (c *sshConn) trailerError(code byte, spec ExecSpec) error {
	switch code {
	case trailerNoDir:
		return fmt.Errorf("working directory %s does not exist on %s: create it or fix workdir", spec.Dir, c.name())
	case trailerSettled:
		// Only a wrapper whose runbook died before it began gets here:
		// a resume has since settled its run as never started.
		return fmt.Errorf("the run %s on %s was settled as never started before it began, and was not run", spec.Token, c.name())
	case trailerMarkerDir:
		return fmt.Errorf("cannot write run markers on %s (%s): check that the user may write to its home and that its file system has room",
			c.name(), orDefault(c.cfg.MarkerDir, "~/.runbook/runs"))
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// signalNumber maps SSH signal names (RFC 4254 6.10) to Linux numbers.
func signalNumber(name string) int {
	n := map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9,
		"USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15}[name]
	if n == 0 {
		return 127 // unknown: still > 128 like any signal death
	}
	return n
}

// run executes a small script of ours on the pool's connection and returns
// its stdout and exit code.
func (c *sshConn) run(ctx context.Context, script string) ([]byte, int, error) {
	if out, code, err, ok := c.runInShell(ctx, script); ok {
		return out, code, err
	}
	_, sess, err := c.session(ctx)
	if err != nil {
		return nil, -1, err
	}
	type result struct {
		out  []byte
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		out, code, err := c.runIn(sess, script)
		res <- result{out, code, err}
	}()
	select {
	case r := <-res:
		return r.out, r.code, r.err
	case <-ctx.Done():
		sess.Close()
		return nil, -1, ctx.Err()
	}
}

// runOn runs a script of ours in a new session on cl.
func (c *sshConn) runOn(cl *client, script string) ([]byte, int, error) {
	sess, err := cl.ssh.NewSession()
	if err != nil {
		return nil, -1, fmt.Errorf("open a session on %s: %w", c.name(), err)
	}
	return c.runIn(sess, script)
}

func (c *sshConn) runIn(sess *ssh.Session, script string) ([]byte, int, error) {
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdin = wholeOrNothing(script)
	sess.Stdout, sess.Stderr = &stdout, &stderr
	err := sess.Run(remoteCommand)
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return stdout.Bytes(), ee.ExitStatus(), nil
	}
	if err != nil {
		return nil, -1, fmt.Errorf("run on %s: %w", c.name(), err)
	}
	return stdout.Bytes(), 0, nil
}

// session opens a session on the pool's connection. A connection that
// died unnoticed (its reader has not seen the EOF yet) fails to open one:
// it is discarded and the host redialled, once.
func (c *sshConn) session(ctx context.Context) (*client, *ssh.Session, error) {
	for attempt := 0; ; attempt++ {
		cl, err := c.pool.client(ctx, c.cfg, 0)
		if err != nil {
			return nil, nil, err
		}
		sess, err := cl.ssh.NewSession()
		if err == nil {
			return cl, sess, nil
		}
		var refused *ssh.OpenChannelError
		if attempt > 0 || errors.As(err, &refused) {
			return nil, nil, fmt.Errorf("open a session on %s: %w", c.name(), err)
		}
		c.pool.discard(c.cfg, cl)
	}
}

// Markers implements Conn.
func (c *sshConn) Markers(ctx context.Context, token string, since time.Time) (Marker, error) {
	if err := checkToken(token); err != nil {
		return Marker{}, err
	}
	out, _, err := c.run(ctx, markersScript(c.cfg.MarkerDir, token))
	if err != nil {
		return Marker{}, fmt.Errorf("read run markers on %s: %w", c.name(), err)
	}
	var boot time.Time
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "runbook-boot" {
			boot = parseBtime("btime " + f[1])
			continue
		}
		if len(f) < 2 || f[0] != "runbook-markers" {
			continue
		}
		n := 0
		if len(f) > 2 {
			n, _ = strconv.Atoi(f[2])
		}
		switch f[1] {
		case "F":
			if len(f) < 3 {
				return Marker{State: InDoubt}, nil // a torn .rc cannot happen, but is not a result
			}
			return Marker{State: Finished, ExitCode: n}, nil
		case "S":
			// Stopped part-way by a runbook: its code is our TERM's.
			return Marker{State: InDoubt}, nil
		case "R":
			return Marker{State: StillRunning, PID: n}, nil
		case "D":
			return Marker{State: InDoubt, PID: n}, nil
		case "N":
			// The wrapper writes its markers unsynced: after a restart of
			// the host, a missing .started proves nothing; nor after the
			// retention, when a sweep may have taken it.
			if bootedSince(boot, since, remoteBootMargin) || pastRetention(since) {
				return Marker{State: InDoubt}, nil
			}
			return Marker{State: NeverStarted}, nil
		}
	}
	return Marker{}, fmt.Errorf("read run markers on %s: unexpected answer %q", c.name(), out)
}

// Wait implements Conn.
func (c *sshConn) Wait(ctx context.Context, token string, out io.Writer) (int, error) {
	if err := checkToken(token); err != nil {
		return -1, err
	}
	_, sess, err := c.session(ctx)
	if err != nil {
		return -1, err
	}
	defer sess.Close()
	nonce := randomHex(8)
	tw := newTrailerWriter(orDiscard(out), nonce)
	sess.Stdin = wholeOrNothing(waitScript(c.cfg.MarkerDir, token, nonce))
	sess.Stdout = tw
	if err := sess.Start(remoteCommand); err != nil {
		return -1, fmt.Errorf("start sh on %s: %w", c.name(), err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		// Only our watcher goes: the run itself carries on.
		_ = sess.Close()
		<-done
		tw.finish()
		return -1, ctx.Err()
	}
	if tw.finish() == trailerInDoubt {
		return -1, fmt.Errorf("the run %s on %s ended without an exit code: %w", token, c.name(), ErrInDoubt)
	}
	return c.outcome(waitErr, 0, ExecSpec{})
}

// ForgetMarkers implements Conn.
func (c *sshConn) ForgetMarkers(ctx context.Context, token string) error {
	if err := checkToken(token); err != nil {
		return err
	}
	// Every step of every host ends here, so it goes through the SFTP
	// channel when the host has one open: three removals cost well under
	// a millisecond, a shell session about eight. It is never waited for:
	// the first forget on a connection starts it in the background.
	if sc, cl := c.readySFTP(ctx); sc != nil {
		switch forgetSFTP(sc, c.cfg.MarkerDir, token) {
		case forgotSome:
			cl.sftpSeesMarkers.Store(true)
			return nil
		case forgotNone:
			// Steps that run no command (an upload, an activate) have
			// no markers: once SFTP has been seen to reach the shell's
			// markers, that is the answer, and no shell is asked.
			if cl.sftpSeesMarkers.Load() {
				return nil
			}
		}
	}
	c.shellForgets.Add(1)
	if _, _, err := c.run(ctx, forgetScript(c.cfg.MarkerDir, token)); err != nil {
		return fmt.Errorf("remove run markers on %s: %w", c.name(), err)
	}
	return nil
}

// forgetSFTP removes a run's markers through SFTP and says what it
// found: forgotSome when it removed any, forgotNone when none was there,
// forgotFailed when a removal failed. For forgotNone the shell may have
// to look too: a chrooted SFTP, say, sees another tree than a session's
// $HOME, unless this connection's SFTP has already been seen to reach
// the shell's markers (client.sftpSeesMarkers).
func forgetSFTP(sc *sftp.Client, markerDir, token string) forgot {
	dir := sftpMarkerDir(markerDir)
	exts := []string{".rc", ".started", ".log", ".stopped"}
	// Sent together: one round trip, not four.
	errs := make([]error, len(exts))
	var wg sync.WaitGroup
	for i, ext := range exts {
		wg.Go(func() { errs[i] = sc.Remove(path.Join(dir, token+ext)) })
	}
	wg.Wait()
	res := forgotNone
	for _, err := range errs {
		switch {
		case err == nil:
			res = forgotSome
		case !errors.Is(err, fs.ErrNotExist):
			return forgotFailed
		}
	}
	return res
}

// forgot is what forgetSFTP found.
type forgot int

const (
	forgotFailed forgot = iota
	forgotNone
	forgotSome
)

// sftpMarkerDir is markerDir as an SFTP path: SFTP paths that are not
// absolute start at the user's home, as a session's do.
func sftpMarkerDir(markerDir string) string {
	switch {
	case markerDir == "":
		return ".runbook/runs"
	case markerDir == "~":
		return "."
	case strings.HasPrefix(markerDir, "~/"):
		return markerDir[2:]
	}
	return markerDir
}

// Dial implements Conn: a direct-tcpip channel, so the connection starts
// on the host.
func (c *sshConn) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	cl, err := c.pool.client(ctx, c.cfg, 0)
	if err != nil {
		return nil, err
	}
	conn, err := cl.ssh.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s from %s: %w", addr, c.name(), err)
	}
	return conn, nil
}

// Close implements Conn: it closes the host's pooled connection (a later
// call on this Conn dials again).
func (c *sshConn) Close() error { return c.pool.drop(c.cfg) }
