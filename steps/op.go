package steps

import (
	"context"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// opKind is `op: NAME`: an operation of the environment (restart,
// status, …) on every host of it.
type opKind struct {
	shellVerify
	noBuiltInUndo
}

// Describe implements Kind.
func (opKind) Describe(_ *runbook.Runbook, s *runbook.Step, _ string) string {
	return fmt.Sprintf("operation %s of %s", s.Op, s.On)
}

// Changes implements Kind: after the activate step of its environment an
// operation acts on the running application (a restart), which a rollback
// runs again after switching back; before it, it changes hosts like a
// command.
func (opKind) Changes(rb *runbook.Runbook, s *runbook.Step) runbook.Change {
	if rb.Switch(s) != nil {
		return runbook.ChangesRunning
	}
	return runKind{}.Changes(rb, s)
}

// Do implements Kind.
func (opKind) Do(ctx context.Context, _ *Executor, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	return runCommand(ctx, conn, c)
}
