package steps

import (
	"context"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// runKind is `run: COMMAND`: a shell command on every host of the step's
// environment, with markers, so a crash settles it exactly.
type runKind struct {
	shellVerify
	noBuiltInUndo
}

// Describe implements Kind: its command says it.
func (runKind) Describe(*runbook.Runbook, *runbook.Step, string) string { return "" }

// Changes implements Kind: on a local environment without a deploy_dir a
// command changes only the operator's build directory (svn up, mvn
// package); anywhere else it changes hosts.
func (runKind) Changes(rb *runbook.Runbook, s *runbook.Step) runbook.Change {
	if env := rb.Envs[s.On]; env != nil && env.Local && !deploys(env) {
		return runbook.ChangesBuild
	}
	return runbook.ChangesHosts
}

// Do implements Kind.
func (runKind) Do(ctx context.Context, _ *Executor, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	return runCommand(ctx, conn, c)
}

// runCommand runs a run or op step's command with markers, in the host's
// workdir, with the step's environment.
func runCommand(ctx context.Context, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	code, err := conn.Exec(ctx, stepSpec(c, c.Command, c.Token))
	return runbook.Outcome{ExitCode: code}, inDoubt(err)
}

// stepSpec is how every command of a step runs on c.Host (its action,
// verify, check, undo): in the host's workdir, with the step's
// environment and timeout, its output to c.Out, on a terminal when the
// step has tty (sudo's prompt answered with its sudo_password); under
// token's markers, or none for "".
func stepSpec(c *runbook.Call, script, token string) remote.ExecSpec {
	return remote.ExecSpec{
		Script:       script,
		Dir:          c.Host.Workdir,
		Env:          c.Env,
		Token:        token,
		Stdout:       c.Out,
		Stderr:       c.Out,
		Timeout:      c.Step.Timeout,
		TTY:          c.Step.TTY,
		SudoPassword: c.SudoPassword,
	}
}

// deploys reports whether any host of env has a deploy_dir.
func deploys(env *runbook.Environment) bool {
	for _, h := range env.Hosts {
		if h.DeployDir != "" {
			return true
		}
	}
	return false
}
