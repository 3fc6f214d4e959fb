package runbook

import (
	"context"
	"fmt"
)

// The fire* methods restore a machine from the record's current state, fire
// one event, and let the machine's leave_state callback commit the record
// and its transition in one transaction before the state changes. A failed
// commit cancels the transition and leaves the record as it was.

func (w *Walker) fireRelease(ctx context.Context, event, reason string) error {
	r := w.rel
	m, err := NewReleaseMachine(r.State, func(ctx context.Context, from, to, ev string) error {
		old := r.State
		r.State = ReleaseState(to)
		t := &Transition{At: w.now(), ReleaseID: r.ID, Scope: "release", From: from, To: to, Event: ev, Operator: w.Operator, Reason: w.Masker.Mask(reason)}
		if err := w.Store.RecordRelease(ctx, r, t); err != nil {
			r.State = old
			return notRecorded(fmt.Errorf("record release %s %s → %s: %w", r.Version, from, to, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return m.Fire(ctx, event)
}

func (w *Walker) fireStep(ctx context.Context, sr *StepRun, event, reason string) error {
	m, err := NewRunMachine(sr.State, func(ctx context.Context, from, to, ev string) error {
		old := sr.State
		sr.State = RunState(to)
		if reason != "" {
			sr.Reason = w.Masker.Mask(reason)
		}
		t := &Transition{At: w.now(), ReleaseID: w.rel.ID, StepRunID: sr.ID, Scope: "step:" + sr.Name, From: from, To: to, Event: ev, Operator: w.Operator, Reason: w.Masker.Mask(reason)}
		if err := w.Store.RecordStep(ctx, sr, t); err != nil {
			sr.State = old
			return notRecorded(fmt.Errorf("record step %s %s → %s: %w", sr.Name, from, to, err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("step %s: %w", sr.Name, err)
	}
	if err := m.Fire(ctx, event); err != nil {
		return fmt.Errorf("step %s: %w", sr.Name, err)
	}
	return nil
}

func (w *Walker) fireHostOnly(ctx context.Context, sr *StepRun, hr *HostRun, event, reason string) error {
	m, err := NewRunMachine(hr.State, func(ctx context.Context, from, to, ev string) error {
		old := hr.State
		hr.State = RunState(to)
		t := &Transition{At: w.now(), ReleaseID: w.rel.ID, StepRunID: sr.ID, HostRunID: hr.ID, Scope: "host:" + sr.Name + "/" + hr.Host, From: from, To: to, Event: ev, Operator: w.Operator, Reason: w.Masker.Mask(reason)}
		if err := w.Store.RecordHost(ctx, hr, t); err != nil {
			hr.State = old
			return notRecorded(fmt.Errorf("record %s on %s %s → %s: %w", sr.Name, hr.Host, from, to, err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("step %s on %s: %w", sr.Name, hr.Host, err)
	}
	if err := m.Fire(ctx, event); err != nil {
		return fmt.Errorf("step %s on %s: %w", sr.Name, hr.Host, err)
	}
	return nil
}

// skipStep marks a step and its unfinished host runs skipped, recorded as a
// deviation with the reason.
func (w *Walker) skipStep(ctx context.Context, sr *StepRun, reason string) error {
	for _, hr := range sr.Hosts {
		if hr.State == RunPending || hr.State == RunInterrupted || hr.State == RunFailed {
			if err := w.fireHost(ctx, sr, hr, EvSkip, reason); err != nil {
				return err
			}
		}
	}
	sr.FinishedAt = w.now()
	if err := w.fireStep(ctx, sr, EvSkip, reason); err != nil {
		return err
	}
	w.note(ctx, "deviation", sr.Name, "", "skipped: "+reason)
	return nil
}

// fireBoth moves a step and its only host run in one commit: the step's
// transition is staged by its machine and committed with the host's. Both
// records are restored when the commit fails.
func (w *Walker) fireBoth(ctx context.Context, sr *StepRun, stepEv, stepReason string, hr *HostRun, hostEv, hostReason string) error {
	oldStep, oldReason := sr.State, sr.Reason
	var st *Transition
	sm, err := NewRunMachine(sr.State, func(_ context.Context, from, to, ev string) error {
		sr.State = RunState(to)
		if stepReason != "" {
			sr.Reason = w.Masker.Mask(stepReason)
		}
		st = &Transition{At: w.now(), ReleaseID: w.rel.ID, StepRunID: sr.ID, Scope: "step:" + sr.Name, From: from, To: to, Event: ev, Operator: w.Operator, Reason: w.Masker.Mask(stepReason)}
		return nil
	})
	if err != nil {
		return fmt.Errorf("step %s: %w", sr.Name, err)
	}
	if err := sm.Fire(ctx, stepEv); err != nil {
		return fmt.Errorf("step %s: %w", sr.Name, err)
	}
	hm, err := NewRunMachine(hr.State, func(ctx context.Context, from, to, ev string) error {
		old := hr.State
		hr.State = RunState(to)
		ht := &Transition{At: w.now(), ReleaseID: w.rel.ID, StepRunID: sr.ID, HostRunID: hr.ID, Scope: "host:" + sr.Name + "/" + hr.Host, From: from, To: to, Event: ev, Operator: w.Operator, Reason: w.Masker.Mask(hostReason)}
		if err := w.Store.RecordStepHost(ctx, sr, st, hr, ht); err != nil {
			hr.State = old
			return notRecorded(fmt.Errorf("record step %s and %s on %s: %w", sr.Name, to, hr.Host, err))
		}
		return nil
	})
	if err == nil {
		err = hm.Fire(ctx, hostEv)
	}
	if err != nil {
		sr.State, sr.Reason = oldStep, oldReason
		return fmt.Errorf("step %s on %s: %w", sr.Name, hr.Host, err)
	}
	return nil
}

// deferredStep is a step transition waiting to be committed with the
// first transition of its only host run.
type deferredStep struct {
	sr *StepRun
	ev string
}

// fireHost fires a host event, carrying the step's deferred start along
// in the same commit when there is one, so the step is never recorded
// behind its host.
func (w *Walker) fireHost(ctx context.Context, sr *StepRun, hr *HostRun, event, reason string) error {
	w.mu.Lock()
	d := w.deferred
	if d != nil && d.sr == sr {
		w.deferred = nil
	} else {
		d = nil
	}
	w.mu.Unlock()
	if d == nil {
		return w.fireHostOnly(ctx, sr, hr, event, reason)
	}
	if err := w.fireBoth(ctx, sr, d.ev, "", hr, event, reason); err != nil {
		w.mu.Lock()
		w.deferred = d
		w.mu.Unlock()
		return err
	}
	return nil
}

// flushDeferred commits a deferred step transition on its own.
func (w *Walker) flushDeferred(ctx context.Context) error {
	w.mu.Lock()
	d := w.deferred
	w.deferred = nil
	w.mu.Unlock()
	if d == nil {
		return nil
	}
	return w.fireStep(ctx, d.sr, d.ev, "")
}
