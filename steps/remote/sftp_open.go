package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pkg/sftp"
)

// errSFTPNoAnswer: the SFTP server did not answer its start in time. Not
// final like a refused subsystem: a loaded host may answer next time.
var errSFTPNoAnswer = errors.New("no answer")

// openSFTP starts the SFTP subsystem in a new session of cl and waits at
// most timeout for the server's answer. sftp.NewClient waits forever: a
// host whose ForceCommand answers every session with a shell (or an SFTP
// server that hangs) would hold the step, and with it the release, for
// good. On timeout the session alone is closed, never the connection that
// other work of the host may be using.
func openSFTP(ctx context.Context, cl *client, name string, timeout time.Duration) (*sftp.Client, error) {
	s, err := cl.ssh.NewSession()
	if err != nil {
		return nil, fmt.Errorf("start sftp on %s: %w", name, err)
	}
	w, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("start sftp on %s: %w", name, err)
	}
	r, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("start sftp on %s: %w", name, err)
	}
	s.Stderr = io.Discard
	if err := s.RequestSubsystem("sftp"); err != nil {
		s.Close()
		return nil, fmt.Errorf("start sftp on %s: %w; check that the sftp subsystem is enabled in its sshd_config", name, err)
	}
	type result struct {
		sc  *sftp.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		sc, err := sftp.NewClientPipe(r, w, sftp.UseConcurrentWrites(true))
		done <- result{sc, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var res result
	select {
	case res = <-done:
	case <-timer.C:
		s.Close()
		<-done
		return nil, fmt.Errorf("start sftp on %s: %w in %s; check that the sftp subsystem is enabled and that no ForceCommand takes its sessions", name, errSFTPNoAnswer, timeout)
	case <-ctx.Done():
		s.Close()
		<-done
		return nil, fmt.Errorf("start sftp on %s: %w", name, ctx.Err())
	}
	if res.err != nil {
		s.Close()
		return nil, fmt.Errorf("start sftp on %s: %w; check that the sftp subsystem is enabled in its sshd_config", name, res.err)
	}
	cl.sftpSess = s
	return res.sc, nil
}

// readySFTP returns the connection's SFTP client when it is open, and
// otherwise starts opening it in the background and returns nil: callers
// that have another way (a shell session) take it this time rather than
// wait for the subsystem, and find it ready the next time.
func (c *sshConn) readySFTP(ctx context.Context) (*sftp.Client, *client) {
	cl, err := c.pool.client(ctx, c.cfg, 0)
	if err != nil || !cl.sftpMu.TryLock() {
		return nil, nil
	}
	defer cl.sftpMu.Unlock()
	if cl.sftp != nil {
		return cl.sftp, cl
	}
	if cl.sftpErr == nil && !cl.sftpOpening {
		cl.sftpOpening = true
		// On cl itself: the pool may be closed by the time this runs,
		// and a redial then would be a connection nobody closes.
		go func() { _, _ = c.sftpOn(context.Background(), cl) }()
	}
	return nil, nil
}
