package runbooktest

import (
	"context"
	"fmt"
	"maps"

	"github.com/runbook-dev/runbook/runbook"
)

// HookRun is one hook the fake executor ran.
type HookRun struct {
	Name    string
	Command string // as rendered
	Env     map[string]string
}

// Hook implements runbook.HookRunner: it records the run, writes a line
// to the hook's output, and ends as HookScript says (a Hang lasts until
// the hook's timeout or the context ends, as a hook that never returns).
func (e *Executor) Hook(ctx context.Context, c runbook.HookCall) (int, error) {
	e.alive()
	e.hooksMu.Lock()
	e.hookRuns = append(e.hookRuns, HookRun{Name: c.Hook.Name, Command: c.Command, Env: maps.Clone(c.Env)})
	e.hooksMu.Unlock()
	fmt.Fprintf(c.Out, "hook %s ran\n", c.Hook.Name)
	f := Fault{}
	if e.HookScript != nil {
		f = e.HookScript(c)
	}
	if f.Hang {
		ctx, cancel := context.WithTimeout(ctx, c.Hook.Timeout)
		defer cancel()
		<-ctx.Done()
		return -1, fmt.Errorf("timed out after %s", c.Hook.Timeout)
	}
	if f.Err != nil {
		return -1, f.Err
	}
	return f.Exit, nil
}

// HookRuns lists the hooks run so far, in order.
func (e *Executor) HookRuns() []HookRun {
	e.hooksMu.Lock()
	defer e.hooksMu.Unlock()
	return append([]HookRun(nil), e.hookRuns...)
}

var _ runbook.HookRunner = (*Executor)(nil)
