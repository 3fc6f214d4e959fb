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
			return fmt.Errorf("record release %s %s → %s: %w", r.Version, from, to, err)
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
			return fmt.Errorf("record step %s %s → %s: %w", sr.Name, from, to, err)
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

func (w *Walker) fireHost(ctx context.Context, sr *StepRun, hr *HostRun, event, reason string) error {
	m, err := NewRunMachine(hr.State, func(ctx context.Context, from, to, ev string) error {
		old := hr.State
		hr.State = RunState(to)
		t := &Transition{At: w.now(), ReleaseID: w.rel.ID, StepRunID: sr.ID, HostRunID: hr.ID, Scope: "host:" + sr.Name + "/" + hr.Host, From: from, To: to, Event: ev, Operator: w.Operator, Reason: w.Masker.Mask(reason)}
		if err := w.Store.RecordHost(ctx, hr, t); err != nil {
			hr.State = old
			return fmt.Errorf("record %s on %s %s → %s: %w", sr.Name, hr.Host, from, to, err)
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
