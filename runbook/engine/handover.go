package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// refuseIfLocked stops a release from starting or resuming while a
// deliberate lock stands (runbook lock --message M).
func (e *Engine) refuseIfLocked(ctx context.Context) error {
	l, err := e.cfg.Store.DeployLock(ctx)
	if err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	return runbook.WithHint(&runbook.DeployLockedError{Lock: *l},
		"`runbook unlock` lifts the lock (ask "+l.Operator+" first); `runbook status` shows it")
}

// noteHandover records that this walk continues a release last walked by
// another operator or from another machine (a colleague's resume after a
// shift, a crashed laptop): who takes over, from where, when, and whom
// from. The transitions name who recorded each; a release recorded before
// they named the machine is taken as walked from the machine it began on.
func (w *walk) noteHandover(ctx context.Context) {
	ts, err := w.cfg.Store.Transitions(ctx, w.rel().ID)
	if err != nil || len(ts) == 0 {
		return
	}
	last := ts[len(ts)-1]
	prevOp, prevMachine := last.Operator, last.Machine
	if prevMachine == "" {
		prevMachine = w.rel().Machine
	}
	if prevOp == w.cfg.Operator && prevMachine == w.cfg.Machine {
		return
	}
	r := w.rel()
	text := fmt.Sprintf("handover: %s on %s took over %s %s (#%d) from %s on %s, whose last record was at %s",
		w.cfg.Operator, w.cfg.Machine, r.Kind, r.Version, r.ID, prevOp, prevMachine, last.At.UTC().Format(time.RFC3339))
	w.cfg.UI.Info(text)
	w.rec.note(ctx, "handover", "", "", text)
}
