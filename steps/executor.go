// Package steps implements what each step kind does on a host: run and op
// run commands, upload stages the artifact, activate switches current,
// probe checks connectivity from the host's side. The walker in package
// runbook drives them through runbook.Executor.
package steps

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// Progress follows one upload. Update is called often and must be cheap;
// Done is called once, with the upload's error (nil on success).
type Progress interface {
	Update(done, total int64)
	Done(err error)
}

// Dialer hands out one open connection per host (remote.Pool does).
type Dialer interface {
	// Conn returns the connection to a host, opening it on first use.
	Conn(ctx context.Context, cfg remote.HostConfig) (remote.Conn, error)
}

// Executor implements runbook.Executor over a Dialer.
type Executor struct {
	RB     *runbook.Runbook
	Dialer Dialer
	// MarkerDir keeps the markers of local host runs (.runbook/runs).
	MarkerDir string
	// Secret resolves secret:NAME references in auth fields; nil when no
	// vault is open.
	Secret func(name string) (string, error)
	// Progress, when set, starts a progress display for an upload to a
	// host; nil when nothing is shown (no terminal).
	Progress func(host string, total int64) Progress
	// Closer ends the dialer's connections.
	Closer io.Closer
}

var _ runbook.Executor = (*Executor)(nil)

func (e *Executor) conn(ctx context.Context, h *runbook.Host) (remote.Conn, error) {
	cfg, err := HostConfig(e.RB, h, e.MarkerDir, e.Secret)
	if err != nil {
		return nil, err
	}
	conn, err := e.Dialer.Conn(ctx, cfg)
	var (
		hk *remote.HostKeyError
		ae *remote.AuthError
	)
	switch {
	case errors.As(err, &hk) && hk.Unknown:
		// Trusting a new host key is the operator's call, never a retry's.
		return nil, fmt.Errorf("%w: %w", runbook.ErrNeedsHuman, err)
	case errors.As(err, &ae):
		return nil, runbook.WithHint(err, ae.Hint())
	}
	return conn, err
}

// Do implements runbook.Executor.
func (e *Executor) Do(ctx context.Context, c *runbook.Call) (runbook.Outcome, error) {
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	switch c.Step.Kind {
	case runbook.KindRun, runbook.KindOp:
		return runCommand(ctx, conn, c)
	case runbook.KindUpload:
		return e.upload(ctx, conn, c)
	case runbook.KindActivate:
		return activate(ctx, conn, c)
	case runbook.KindProbe:
		return probe(ctx, conn, c)
	}
	return runbook.Outcome{ExitCode: -1}, fmt.Errorf("step %s: kind %s has no host action", c.Step.Name, c.Step.Kind)
}

// Verify implements runbook.Executor.
func (e *Executor) Verify(ctx context.Context, c *runbook.Call) (bool, error) {
	return e.shell(ctx, c, c.Verify)
}

// Check implements runbook.Executor.
func (e *Executor) Check(ctx context.Context, c *runbook.Call) (bool, error) {
	return e.shell(ctx, c, c.Check)
}

func (e *Executor) shell(ctx context.Context, c *runbook.Call, script string) (bool, error) {
	if script == "" {
		return true, nil
	}
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return false, err
	}
	code, err := conn.Exec(ctx, remote.ExecSpec{Script: script, Dir: c.Host.Workdir, Env: c.Env, Stdout: c.Out, Stderr: c.Out, Timeout: c.Step.Timeout})
	if err != nil {
		return false, inDoubt(err)
	}
	return code == 0, nil
}

// Undo implements runbook.Executor.
func (e *Executor) Undo(ctx context.Context, c *runbook.Call, detail string) (runbook.Outcome, error) {
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	switch {
	case c.Undo != "":
		// With markers, like the action: an undo that finished before a
		// crash is adopted, not run a second time.
		code, err := conn.Exec(ctx, remote.ExecSpec{Script: c.Undo, Dir: c.Host.Workdir, Env: c.Env, Token: c.Token, Stdout: c.Out, Stderr: c.Out, Timeout: c.Step.Timeout})
		return runbook.Outcome{ExitCode: code}, inDoubt(err)
	case c.Step.Kind == runbook.KindUpload:
		return unstage(ctx, conn, c)
	case c.Step.Kind == runbook.KindActivate:
		return deactivate(ctx, conn, c, runbook.ParseDetail(detail))
	}
	return runbook.Outcome{ExitCode: -1}, fmt.Errorf("step %s has no undo", c.Step.Name)
}

// Settle implements runbook.Executor.
func (e *Executor) Settle(ctx context.Context, c *runbook.Call) (runbook.Settlement, error) {
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return runbook.Settlement{}, err
	}
	m, err := conn.Markers(ctx, c.Token, c.Since)
	if err != nil {
		return runbook.Settlement{}, err
	}
	st := map[remote.MarkerState]runbook.SettleState{
		remote.NeverStarted: runbook.SettleNeverStarted,
		remote.StillRunning: runbook.SettleRunning,
		remote.Finished:     runbook.SettleFinished,
		remote.InDoubt:      runbook.SettleInDoubt,
	}[m.State]
	return runbook.Settlement{State: st, ExitCode: m.ExitCode}, nil
}

// Wait implements runbook.Executor.
func (e *Executor) Wait(ctx context.Context, c *runbook.Call) (runbook.Outcome, error) {
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	code, err := conn.Wait(ctx, c.Token, c.Out)
	return runbook.Outcome{ExitCode: code}, inDoubt(err)
}

// Forget implements runbook.Executor. Markers left behind cost a few bytes;
// failing to remove them is not worth failing a release for.
func (e *Executor) Forget(ctx context.Context, c *runbook.Call) {
	if c.Token == "" {
		return
	}
	if conn, err := e.conn(ctx, c.Host); err == nil {
		_ = conn.ForgetMarkers(ctx, c.Token)
	}
}

// Close implements runbook.Executor.
func (e *Executor) Close() error {
	if e.Closer != nil {
		return e.Closer.Close()
	}
	return nil
}

// inDoubt translates the transport's doubt into the walker's.
func inDoubt(err error) error {
	if err != nil && errors.Is(err, remote.ErrInDoubt) && !errors.Is(err, runbook.ErrInDoubt) {
		return fmt.Errorf("%w: %w", runbook.ErrInDoubt, err)
	}
	return err
}
