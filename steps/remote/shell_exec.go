package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pkg/sftp"
)

// takeShell returns cl's host shell (shell.go), started when there is
// none or it died, held for one run until release is called. nil when
// another run holds it or the host cannot keep one: the caller opens a
// session of its own.
func (c *sshConn) takeShell(ctx context.Context, cl *client) (sh *hostShell, release func()) {
	if !cl.shellUse.TryLock() {
		return nil, nil
	}
	if !cl.noShell && (cl.shell == nil || !cl.shell.usable()) {
		if cl.shell != nil {
			cl.shell.close()
		}
		// Bounded: a host whose sessions swallow their input (a
		// ForceCommand) must not hang the first command.
		sctx, cancel := context.WithTimeout(ctx, c.pool.opts.ConnectTimeout)
		s, err := startShell(sctx, cl)
		cancel()
		cl.shell = s
		cl.noShell = s == nil && err == nil && ctx.Err() == nil
	}
	if cl.shell == nil {
		cl.shellUse.Unlock()
		return nil, nil
	}
	return cl.shell, cl.shellUse.Unlock
}

// shellEndWait bounds how long a run whose host shell ended waits for
// sshd to say how it ended.
const shellEndWait = 5 * time.Second

// execInShell runs a command without a terminal in the host shell, in a
// process group of its own (`setsid sh -s`, the wrapper as its script).
// ok is false when it did not run there (no host shell to be had, or
// the shell died before the command began): the caller runs it in a
// session of its own. wrapper makes the run's wrapper script; a run with
// markers leaves its log to SFTP once that is seen to reach the markers
// (logLater, fetchLog).
func (c *sshConn) execInShell(ctx context.Context, spec ExecSpec, wrapper func(logLater bool) string, nonce string) (code int, err error, ok bool) {
	cl, err := c.pool.client(ctx, c.cfg, 0)
	if err != nil {
		return -1, err, true
	}
	sh, release := c.takeShell(ctx, cl)
	if sh == nil {
		return 0, nil, false
	}
	defer release()
	var sc *sftp.Client
	if spec.Token != "" && cl.sftpSeesMarkers.Load() {
		sc, _ = c.readySFTP(ctx)
	}
	script := wrapper(sc != nil)
	ro, out := runOutputs(spec, nonce)
	open, rest := heredoc(script)
	done, err := sh.start("setsid sh -s "+open+"\n"+rest, out, out.stderr(orDiscard(spec.Stderr)))
	if err != nil {
		// Cut short, the chunk is a syntax error to the shell: nothing
		// of it ran.
		return 0, nil, false
	}
	if spec.Token != "" {
		Hit(PointExecStart)
	}
	stopFollow := func() {}
	if ro != nil {
		stopFollow = c.follow(ctx, cl, spec.Token, ro)
		defer stopFollow()
	}
	var res shellResult
	select {
	case res = <-done:
	case <-ctx.Done():
		// As in a session: the caller's cancel leaves the run in doubt,
		// a timeout or sudo asking again ends it with its code.
		res = c.stopInShell(cl, sh, runRef{token: spec.Token, pid: out.groupPID()}, !stoppedAsFailed(ctx), done)
	}
	trailer := out.finish()
	if !res.ended {
		sh.close()
		inOrder := sh.endedWithin(shellEndWait)
		if !res.started && inOrder && ctx.Err() == nil {
			return 0, nil, false // it never began: a session of its own runs it
		}
		if !inOrder {
			c.pool.discard(c.cfg, cl)
		}
		return -1, fmt.Errorf("lost the shell on %s while the command ran: %w", c.name(), ErrInDoubt), true
	}
	if err := c.trailerError(trailer, spec); err != nil {
		return -1, err, true
	}
	if trailer == trailerLog && ro != nil {
		stopFollow()
		if err := c.fetchLog(ctx, sc, cl, spec.Token, ro); err != nil {
			return -1, err, true
		}
	}
	return res.code, nil, true
}

// stopInShell ends a command running in the host shell as stop does one
// in a session, but signals its process group only from sessions of
// their own: a signal through the host shell's session would reach the
// shell, not the command. When even KILL leaves it running (a hung
// connection), the host shell is closed.
func (c *sshConn) stopInShell(cl *client, sh *hostShell, run runRef, stopped bool, done <-chan shellResult) shellResult {
	c.signal(cl, nil, run, "TERM", stopped)
	select {
	case r := <-done:
		return r
	case <-time.After(killGrace):
	}
	c.signal(cl, nil, run, "KILL", false)
	select {
	case r := <-done:
		return r
	case <-time.After(killGrace):
	}
	sh.close()
	select {
	case r := <-done:
		return r
	case <-time.After(killGrace):
		return shellResult{started: true}
	}
}

// runInShell runs a small script of ours in a subshell of the host shell
// (its stdin /dev/null: the shell's own is the connection's); ok false
// as for execInShell.
func (c *sshConn) runInShell(ctx context.Context, script string) (out []byte, code int, err error, ok bool) {
	cl, err := c.pool.client(ctx, c.cfg, 0)
	if err != nil {
		return nil, -1, err, true
	}
	sh, release := c.takeShell(ctx, cl)
	if sh == nil {
		return nil, -1, nil, false
	}
	defer release()
	var stdout bytes.Buffer
	res, err := sh.run(ctx, "(\n"+script+"\n) </dev/null", &stdout, io.Discard)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, -1, ctx.Err(), true
	case err != nil:
		return nil, -1, nil, false // not sent whole: nothing ran
	case !res.ended:
		sh.close()
		if !res.started && sh.endedWithin(shellEndWait) {
			return nil, -1, nil, false
		}
		return nil, -1, fmt.Errorf("run on %s: %w", c.name(), errShellLost), true
	}
	return stdout.Bytes(), res.code, nil, true
}

var errShellLost = errors.New("the shell ended before the script did")
