package steps

import (
	"context"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// runCommand runs a run or op step's command with markers, in the host's
// workdir, with the step's environment.
func runCommand(ctx context.Context, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	code, err := conn.Exec(ctx, remote.ExecSpec{
		Script:  c.Command,
		Dir:     c.Host.Workdir,
		Env:     c.Env,
		Token:   c.Token,
		Stdout:  c.Out,
		Stderr:  c.Out,
		Timeout: c.Step.Timeout,
	})
	return runbook.Outcome{ExitCode: code}, inDoubt(err)
}
