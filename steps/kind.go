package steps

import (
	"context"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// Kind is one kind of step: what it does on a host and how that is
// verified and undone, how plan describes it, and what it changes, which
// decides how a rollback undoes it. Each kind is one type in its own file
// (run.go, op.go, upload.go, activate.go, probe.go, confirm.go, diff.go),
// registered in kinds below. Adding a kind is that file, its line in
// kinds, and its key in the runbook file's loader (runbook/load_step.go).
type Kind interface {
	// Describe says in one line what a step of this kind does for release
	// version, for plan and Show details; "" when its command says it.
	Describe(rb *runbook.Runbook, s *runbook.Step, version string) string
	// Changes says what a step of this kind changes (runbook.Change). The
	// engine's undo policy acts on it: pass over, undo, ask the operator.
	Changes(rb *runbook.Runbook, s *runbook.Step) runbook.Change
	// Do performs the action of c.Step on c.Host over conn (the contract of
	// runbook.Executor.Do). Kinds the engine runs itself (confirm, diff)
	// have no host action and return an error.
	Do(ctx context.Context, x *Executor, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error)
	// Verify runs c.Verify once on c.Host and returns its exit status
	// (runbook.Executor.Verify).
	Verify(ctx context.Context, x *Executor, conn remote.Conn, c *runbook.Call) (int, error)
	// Undo reverses Do on c.Host when the step has no undo command of its
	// own: d is what Do recorded. It must be safe to repeat. Kinds without
	// a built-in undo return an error (the engine never asks them: their
	// undo is the step's command, or the operator's).
	Undo(ctx context.Context, x *Executor, conn remote.Conn, c *runbook.Call, d runbook.ActionDetail) (runbook.Outcome, error)
}

// kinds registers every step kind of runbook.Kinds.
var kinds = map[runbook.StepKind]Kind{
	runbook.KindRun:      runKind{},
	runbook.KindOp:       opKind{},
	runbook.KindUpload:   uploadKind{},
	runbook.KindActivate: activateKind{},
	runbook.KindConfirm:  confirmKind{},
	runbook.KindDiff:     diffKind{},
	runbook.KindProbe:    probeKind{},
}

// KindOf returns the kind of step s.
func KindOf(s *runbook.Step) (Kind, error) {
	k, ok := kinds[s.Kind]
	if !ok {
		return nil, fmt.Errorf("step %s: no step kind %q in this build", s.Name, s.Kind)
	}
	return k, nil
}

// Describe says what step s does for release version (see Kind.Describe).
func Describe(rb *runbook.Runbook, s *runbook.Step, version string) string {
	if k, err := KindOf(s); err == nil {
		return k.Describe(rb, s, version)
	}
	return ""
}

// Changes says what step s changes (see Kind.Changes); a step that
// declares `undo: none` changes nothing a rollback must undo, whatever
// its kind.
func Changes(rb *runbook.Runbook, s *runbook.Step) runbook.Change {
	k, err := KindOf(s)
	if err != nil || s.NoUndo {
		return runbook.ChangesNothing
	}
	return k.Changes(rb, s)
}

// shellVerify is the verify of every kind: c.Verify run on the host, in
// its workdir, with the step's environment. Kinds embed it.
type shellVerify struct{}

// Verify implements Kind.
func (shellVerify) Verify(ctx context.Context, x *Executor, conn remote.Conn, c *runbook.Call) (int, error) {
	return x.shellOn(ctx, conn, c, c.Verify)
}

// noHostAction is embedded by the kinds the engine runs itself.
type noHostAction struct{ shellVerify }

// Do implements Kind.
func (noHostAction) Do(_ context.Context, _ *Executor, _ remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	return runbook.Outcome{ExitCode: -1}, fmt.Errorf("step %s: a %s step runs no command on a host", c.Step.Name, c.Step.Kind)
}

// Undo implements Kind.
func (noHostAction) Undo(_ context.Context, _ *Executor, _ remote.Conn, c *runbook.Call, _ runbook.ActionDetail) (runbook.Outcome, error) {
	return runbook.Outcome{ExitCode: -1}, fmt.Errorf("step %s: a %s step changes nothing to undo", c.Step.Name, c.Step.Kind)
}

// noBuiltInUndo is embedded by the kinds whose undo is the step's own
// undo command, or the operator's.
type noBuiltInUndo struct{}

// Undo implements Kind.
func (noBuiltInUndo) Undo(_ context.Context, _ *Executor, _ remote.Conn, c *runbook.Call, _ runbook.ActionDetail) (runbook.Outcome, error) {
	return runbook.Outcome{ExitCode: -1}, fmt.Errorf("step %s has no undo", c.Step.Name)
}
