package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"golang.org/x/crypto/ssh"
)

// runLogAbsent is the exit status of runLogScript when there is no log.
const runLogAbsent = 3

// runLogScript prints the output log of the run under token, or exits
// runLogAbsent when there is none.
func runLogScript(markerDir, token string) string {
	dir, base := markerBase(markerDir, token)
	return fmt.Sprintf("d=%s\nf=%s\n[ -f \"$f.log\" ] || exit %d\nexec cat \"$f.log\"\n", dir, base, runLogAbsent)
}

// RunLog implements Conn.
func (c *sshConn) RunLog(ctx context.Context, token string, out io.Writer) error {
	if err := checkToken(token); err != nil {
		return err
	}
	_, sess, err := c.session(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	sess.Stdin = wholeOrNothing(runLogScript(c.cfg.MarkerDir, token))
	sess.Stdout = orDiscard(out)
	done := make(chan error, 1)
	go func() { done <- sess.Run(remoteCommand) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = sess.Close()
		<-done
		return ctx.Err()
	}
	var ee *ssh.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitStatus() == runLogAbsent:
		return fmt.Errorf("%s keeps no output log of the run %s: %w", c.name(), token, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("read the output log of the run %s on %s: %w", token, c.name(), err)
	}
	return nil
}

// RunLog implements Conn. A local run writes no log of its own: its
// output went to the runbook process that started it (and to the log
// file that process kept).
func (l *Local) RunLog(_ context.Context, token string, _ io.Writer) error {
	return fmt.Errorf("a local run keeps no output log of its own (%s): %w", token, fs.ErrNotExist)
}
