package steps

import (
	"context"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// activateKind is `activate: true`: current switched to this release
// atomically, keep applied; undone by switching back (after which the
// engine runs the environment's restart steps again).
type activateKind struct{ shellVerify }

// Describe implements Kind.
func (activateKind) Describe(_ *runbook.Runbook, _ *runbook.Step, version string) string {
	return fmt.Sprintf("switch current to releases/%s", version)
}

// Changes implements Kind.
func (activateKind) Changes(*runbook.Runbook, *runbook.Step) runbook.Change {
	return runbook.ChangesCurrent
}

// Do implements Kind.
func (activateKind) Do(ctx context.Context, _ *Executor, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	return activate(ctx, conn, c)
}

// Undo implements Kind.
func (activateKind) Undo(ctx context.Context, _ *Executor, conn remote.Conn, c *runbook.Call, d runbook.ActionDetail) (runbook.Outcome, error) {
	return deactivate(ctx, conn, c, d)
}

// activate switches deploy_dir/current to this release and applies the
// environment's keep to what the store recorded as staged on the host.
func activate(ctx context.Context, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	env := c.Host.Env
	l := layout{conn: conn, dir: c.Host.DeployDir, host: c.Host.Name}
	v := c.Release.Version
	res, err := l.activate(ctx, activation{Version: v, Keep: env.Keep, Staged: c.Staged})
	warn(c, res.Warnings)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("activate %s on %s: %w", v, c.Host.Name, err)
	}
	d := runbook.ActionDetail{Version: v, Previous: res.Previous, Removed: res.Removed}
	prev := res.Previous
	if prev == "" {
		prev = "nothing"
	}
	fmt.Fprintf(c.Out, "current -> releases/%s (was %s)\n", v, prev)
	for _, r := range res.Removed {
		fmt.Fprintf(c.Out, "removed releases/%s (keep %d)\n", r, env.Keep)
	}
	return runbook.Outcome{Detail: d.JSON(), Summary: fmt.Sprintf("live: %s (was %s)", v, prev)}, nil
}

// deactivate points current back to what it was before this activation.
func deactivate(ctx context.Context, conn remote.Conn, c *runbook.Call, d runbook.ActionDetail) (runbook.Outcome, error) {
	if d.Previous == "" {
		fmt.Fprintf(c.Out, "nothing was live on %s before %s: current is left as it is\n", c.Host.Name, d.Version)
		return runbook.Outcome{Summary: "no previous release to switch back to"}, nil
	}
	l := layout{conn: conn, dir: c.Host.DeployDir, host: c.Host.Name}
	res, err := l.activate(ctx, activation{Version: d.Previous})
	warn(c, res.Warnings)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("switch %s back to %s: %w", c.Host.Name, d.Previous, err)
	}
	fmt.Fprintf(c.Out, "current -> releases/%s (was %s)\n", d.Previous, res.Previous)
	nd := runbook.ActionDetail{Version: d.Previous, Previous: res.Previous}
	return runbook.Outcome{Detail: nd.JSON(), Summary: "live again: " + d.Previous}, nil
}

// warn writes what the operator should know into the host's output.
func warn(c *runbook.Call, warnings []string) {
	for _, w := range warnings {
		if w == "" {
			continue
		}
		fmt.Fprintf(c.Out, "runbook: warning: %s\n", w)
	}
}
