package steps

import (
	"context"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// activate switches deploy_dir/current to this release.
func activate(ctx context.Context, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	env := c.Host.Env
	spec := remote.ActivateSpec{DeployDir: c.Host.DeployDir, Version: c.Release.Version, Keep: env.Keep}
	res, err := conn.Activate(ctx, spec)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("activate %s on %s: %w", spec.Version, c.Host.Name, err)
	}
	d := runbook.ActionDetail{Version: spec.Version, Previous: res.Previous, Removed: res.Removed}
	prev := res.Previous
	if prev == "" {
		prev = "nothing"
	}
	fmt.Fprintf(c.Out, "current -> releases/%s (was %s)\n", spec.Version, prev)
	for _, v := range res.Removed {
		fmt.Fprintf(c.Out, "removed releases/%s (keep %d)\n", v, env.Keep)
	}
	return runbook.Outcome{Detail: d.JSON(), Summary: fmt.Sprintf("live: %s (was %s)", spec.Version, prev)}, nil
}

// deactivate points current back to what it was before this activation.
func deactivate(ctx context.Context, conn remote.Conn, c *runbook.Call, d runbook.ActionDetail) (runbook.Outcome, error) {
	if d.Previous == "" {
		fmt.Fprintf(c.Out, "nothing was live on %s before %s: current is left as it is\n", c.Host.Name, d.Version)
		return runbook.Outcome{Summary: "no previous release to switch back to"}, nil
	}
	res, err := conn.Activate(ctx, remote.ActivateSpec{DeployDir: c.Host.DeployDir, Version: d.Previous})
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("switch %s back to %s: %w", c.Host.Name, d.Previous, err)
	}
	fmt.Fprintf(c.Out, "current -> releases/%s (was %s)\n", d.Previous, res.Previous)
	nd := runbook.ActionDetail{Version: d.Previous, Previous: res.Previous}
	return runbook.Outcome{Detail: nd.JSON(), Summary: "live again: " + d.Previous}, nil
}
