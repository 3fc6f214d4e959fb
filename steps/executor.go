// Package steps implements the step kinds — one type each (kind.go), for
// what a step does on a host, how it is undone, described and classified
// for the undo policy — and runbook.Executor over them and the transports
// of steps/remote. The release layout (releases/, current, keep) lives in
// layout.go. The engine (runbook/engine) drives them through
// runbook.Executor.
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

// warmDialer is a Dialer that can connect ahead of use (remote.Pool).
type warmDialer interface {
	// Warm starts connecting in the background, asking nothing, and with
	// sftp starts the SFTP subsystem too (remote.Pool.Warm).
	Warm(ctx context.Context, cfg remote.HostConfig, sftp bool)
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

	relays relayCopies // the artifact on relay hosts (relay.go)
}

var (
	_ runbook.Executor   = (*Executor)(nil)
	_ runbook.HookRunner = (*Executor)(nil)
	_ runbook.Warmer     = (*Executor)(nil)
)

// Warm implements runbook.Warmer: it connects to hosts ahead of step s,
// with their SFTP subsystem for the kinds that move files, when the
// Dialer can. A host whose configuration fails is left to its host run,
// which reports it.
func (e *Executor) Warm(ctx context.Context, s *runbook.Step, hosts []*runbook.Host) {
	w, ok := e.Dialer.(warmDialer)
	if !ok {
		return
	}
	sftp := s.Kind == runbook.KindUpload || s.Kind == runbook.KindActivate
	if s.Relay != nil {
		if rh := e.RB.HostByName(s.Relay.Host); rh != nil {
			hosts = append([]*runbook.Host{rh}, hosts...)
		}
	}
	for _, h := range hosts {
		if cfg, err := HostConfig(e.RB, h, e.MarkerDir, e.Secret); err == nil {
			w.Warm(ctx, cfg, sftp)
		}
	}
}

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
	k, err := KindOf(c.Step)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	return k.Do(ctx, e, conn, c)
}

// Verify implements runbook.Executor.
func (e *Executor) Verify(ctx context.Context, c *runbook.Call) (int, error) {
	k, err := KindOf(c.Step)
	if err != nil {
		return -1, err
	}
	if c.Verify == "" {
		return 0, nil
	}
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return -1, err
	}
	return k.Verify(ctx, e, conn, c)
}

// Check implements runbook.Executor.
func (e *Executor) Check(ctx context.Context, c *runbook.Call) (bool, error) {
	if c.Check == "" {
		return true, nil
	}
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return false, err
	}
	code, err := e.shellOn(ctx, conn, c, c.Check)
	return err == nil && code == 0, err
}

// shellOn runs script once on c.Host, in its workdir, with the step's
// environment, and returns its exit status.
func (e *Executor) shellOn(ctx context.Context, conn remote.Conn, c *runbook.Call, script string) (int, error) {
	code, err := conn.Exec(ctx, stepSpec(c, script, ""))
	if err != nil {
		return -1, inDoubt(err)
	}
	return code, nil
}

// Undo implements runbook.Executor: the step's undo command when it has
// one, else its kind's built-in undo.
func (e *Executor) Undo(ctx context.Context, c *runbook.Call, detail string) (runbook.Outcome, error) {
	k, err := KindOf(c.Step)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	conn, err := e.conn(ctx, c.Host)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	if c.Undo != "" {
		// With markers, like the action: an undo that finished before a
		// crash is adopted, not run a second time.
		code, err := conn.Exec(ctx, stepSpec(c, c.Undo, c.Token))
		return runbook.Outcome{ExitCode: code}, inDoubt(err)
	}
	return k.Undo(ctx, e, conn, c, runbook.ParseDetail(detail))
}

// Describe implements runbook.Executor.
func (e *Executor) Describe(rb *runbook.Runbook, s *runbook.Step, version string) string {
	return Describe(rb, s, version)
}

// Changes implements runbook.Executor.
func (e *Executor) Changes(rb *runbook.Runbook, s *runbook.Step) runbook.Change {
	return Changes(rb, s)
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

// Hook implements runbook.HookRunner: the hook runs as a local command
// does, without run markers (nothing settles a hook after a crash).
func (e *Executor) Hook(ctx context.Context, c runbook.HookCall) (int, error) {
	local := remote.NewLocal(remote.HostConfig{Name: "hook " + c.Hook.Name, Local: true, MarkerDir: e.MarkerDir})
	return local.Exec(ctx, remote.ExecSpec{Script: c.Command, Dir: e.RB.Dir, Env: c.Env, Stdout: c.Out, Stderr: c.Out, Timeout: c.Hook.Timeout})
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
