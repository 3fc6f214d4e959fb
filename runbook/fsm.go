package runbook

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/looplab/fsm"
)

// Release machine events (SPEC §4).
const (
	EvStart        = "start"         // planned → running
	EvPause        = "pause"         // running|rolling_back → paused
	EvResume       = "resume"        // paused → running
	EvFail         = "fail"          // running → failed
	EvRetry        = "retry"         // failed → running
	EvSucceed      = "succeed"       // running → succeeded
	EvRollback     = "rollback"      // running|paused|failed|succeeded|rollback_failed → rolling_back
	EvRolledBack   = "rolled_back"   // rolling_back → rolled_back
	EvRollbackFail = "rollback_fail" // rolling_back → rollback_failed
	EvAbort        = "abort"         // any unfinished → aborted
)

// Step and host-run machine events (SPEC §4). EvStart, EvSucceed, EvFail
// and EvRetry are shared with the release machine.
const (
	EvSkip      = "skip"      // pending|interrupted|failed → skipped
	EvInterrupt = "interrupt" // running|undoing → interrupted
	EvRerun     = "rerun"     // interrupted → running (run again, reattach or adopt the outcome)
	EvMarkDone  = "mark_done" // interrupted → succeeded (verified by check, or the operator)
	EvUndo      = "undo"      // succeeded|failed|interrupted|undo_failed → undoing
	EvUndone    = "undone"    // undoing → undone
	EvUndoFail  = "undo_fail" // undoing → undo_failed
)

func releaseEvents() fsm.Events {
	s := func(st ...ReleaseState) []string {
		out := make([]string, len(st))
		for i, x := range st {
			out[i] = string(x)
		}
		return out
	}
	return fsm.Events{
		{Name: EvStart, Src: s(ReleasePlanned), Dst: string(ReleaseRunning)},
		{Name: EvPause, Src: s(ReleaseRunning, ReleaseRollingBack), Dst: string(ReleasePaused)},
		{Name: EvResume, Src: s(ReleasePaused), Dst: string(ReleaseRunning)},
		{Name: EvFail, Src: s(ReleaseRunning), Dst: string(ReleaseFailed)},
		{Name: EvRetry, Src: s(ReleaseFailed), Dst: string(ReleaseRunning)},
		{Name: EvSucceed, Src: s(ReleaseRunning), Dst: string(ReleaseSucceeded)},
		{Name: EvRollback, Src: s(ReleaseRunning, ReleasePaused, ReleaseFailed, ReleaseSucceeded, ReleaseRollbackFailed), Dst: string(ReleaseRollingBack)},
		{Name: EvRolledBack, Src: s(ReleaseRollingBack), Dst: string(ReleaseRolledBack)},
		{Name: EvRollbackFail, Src: s(ReleaseRollingBack), Dst: string(ReleaseRollbackFailed)},
		{Name: EvAbort, Src: s(ReleasePlanned, ReleaseRunning, ReleasePaused, ReleaseFailed, ReleaseRollingBack, ReleaseRollbackFailed), Dst: string(ReleaseAborted)},
	}
}

func runEvents() fsm.Events {
	s := func(st ...RunState) []string {
		out := make([]string, len(st))
		for i, x := range st {
			out[i] = string(x)
		}
		return out
	}
	return fsm.Events{
		{Name: EvStart, Src: s(RunPending), Dst: string(RunRunning)},
		{Name: EvSucceed, Src: s(RunRunning), Dst: string(RunSucceeded)},
		{Name: EvFail, Src: s(RunRunning), Dst: string(RunFailed)},
		// failed → skipped is not in SPEC §4's list, but the failure prompt
		// offers Skip, and a skip must be a transition like any other.
		{Name: EvSkip, Src: s(RunPending, RunInterrupted, RunFailed), Dst: string(RunSkipped)},
		{Name: EvInterrupt, Src: s(RunRunning, RunUndoing), Dst: string(RunInterrupted)},
		{Name: EvRerun, Src: s(RunInterrupted), Dst: string(RunRunning)},
		{Name: EvMarkDone, Src: s(RunInterrupted), Dst: string(RunSucceeded)},
		{Name: EvRetry, Src: s(RunFailed), Dst: string(RunRunning)},
		// undo_failed → undoing is not in SPEC §4's list; without it a
		// failed undo could never be tried again once its cause is fixed.
		// failed → undoing neither: a step that failed on one host may
		// have taken effect on others, and those must be undone.
		{Name: EvUndo, Src: s(RunSucceeded, RunFailed, RunInterrupted, RunUndoFailed), Dst: string(RunUndoing)},
		{Name: EvUndone, Src: s(RunUndoing), Dst: string(RunUndone)},
		{Name: EvUndoFail, Src: s(RunUndoing), Dst: string(RunUndoFailed)},
	}
}

// ReleaseStates and RunStates list every state, for restore checks and docs.
var (
	ReleaseStates = []ReleaseState{ReleasePlanned, ReleaseRunning, ReleasePaused, ReleaseFailed, ReleaseSucceeded, ReleaseRollingBack, ReleaseRolledBack, ReleaseRollbackFailed, ReleaseAborted}
	RunStates     = []RunState{RunPending, RunRunning, RunSucceeded, RunFailed, RunSkipped, RunInterrupted, RunUndoing, RunUndone, RunUndoFailed}
)

// Persist commits one transition before the machine moves. A non-nil error
// cancels the transition, so the database and the machine never disagree.
type Persist func(ctx context.Context, from, to, event string) error

// Machine is one restored state machine: of a release, a step or a host run.
type Machine struct {
	f *fsm.FSM
}

// ErrBadState is returned when a state read from the database is unknown.
var ErrBadState = errors.New("unknown state in the state database")

func newMachine(current string, known []string, events fsm.Events, persist Persist) (*Machine, error) {
	ok := false
	for _, k := range known {
		if k == current {
			ok = true
		}
	}
	// fsm.SetState/NewFSM accept any name: check restored names here.
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrBadState, current)
	}
	m := &Machine{}
	m.f = fsm.NewFSM(current, events, fsm.Callbacks{
		// leave_state runs before the state changes; cancelling it keeps the
		// machine where the database is.
		"leave_state": func(ctx context.Context, e *fsm.Event) {
			if persist == nil {
				return
			}
			if err := persist(ctx, e.Src, e.Dst, e.Event); err != nil {
				e.Cancel(err)
			}
		},
	})
	return m, nil
}

// NewReleaseMachine restores a release machine in state current.
func NewReleaseMachine(current ReleaseState, persist Persist) (*Machine, error) {
	known := make([]string, len(ReleaseStates))
	for i, s := range ReleaseStates {
		known[i] = string(s)
	}
	return newMachine(string(current), known, releaseEvents(), persist)
}

// NewRunMachine restores a step or host-run machine in state current.
func NewRunMachine(current RunState, persist Persist) (*Machine, error) {
	known := make([]string, len(RunStates))
	for i, s := range RunStates {
		known[i] = string(s)
	}
	return newMachine(string(current), known, runEvents(), persist)
}

// Fire moves the machine by event. The transition is persisted first; it
// runs on a context that ignores cancellation, because a Ctrl-C must still
// be able to record "paused".
func (m *Machine) Fire(ctx context.Context, event string) error {
	err := m.f.Event(context.WithoutCancel(ctx), event)
	var ce fsm.CanceledError
	if errors.As(err, &ce) && ce.Err != nil {
		return ce.Err
	}
	var ie fsm.InvalidEventError
	if errors.As(err, &ie) {
		return fmt.Errorf("cannot %s from %s", event, m.f.Current())
	}
	return err
}

// Can reports whether event is allowed now.
func (m *Machine) Can(event string) bool { return m.f.Can(event) }

// Current returns the current state.
func (m *Machine) Current() string { return m.f.Current() }

// Available returns the events allowed now, sorted.
func (m *Machine) Available() []string {
	a := m.f.AvailableTransitions()
	sort.Strings(a)
	return a
}

// Mermaid draws the machine as a mermaid state diagram (for the README).
func (m *Machine) Mermaid() (string, error) {
	return fsm.VisualizeWithType(m.f, fsm.MermaidStateDiagram)
}
