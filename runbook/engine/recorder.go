package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// recorder is the only code that moves a release, a step run or a host run
// from one state to another. Each move restores the record's machine from
// its current state, fires one event, and lets the machine's leave_state
// callback commit the record and its transition in one transaction before
// the state changes: a failed commit cancels the move and leaves the record
// as it was (and as the database has it). It is safe for concurrent use by
// the host runs of one step.
type recorder struct {
	store    runbook.Store
	mask     runbook.Masker
	operator string
	osUser   string
	machine  string
	clock    func() time.Time
	ui       runbook.UI

	rel *runbook.Release
	// moved, when set, is told of each release transition once committed.
	moved func(ctx context.Context, from, to runbook.ReleaseState, event, reason string)

	// carrier, when the store is the engine's, carries a step's success
	// into the next commit (carry.go).
	carrier *carrier

	mu sync.Mutex
	// deferred holds a step's start that waits to be committed with the
	// first transition of its only host run: one commit (one fsync)
	// instead of two.
	deferred map[*runbook.StepRun]string
}

func newRecorder(cfg *Config, rel *runbook.Release) *recorder {
	c, _ := cfg.Store.(*carrier)
	return &recorder{carrier: c, store: cfg.Store, mask: cfg.Masker, operator: cfg.Operator, osUser: cfg.OSUser, machine: cfg.Machine, clock: cfg.Now, ui: cfg.UI, rel: rel, deferred: map[*runbook.StepRun]string{}}
}

func (r *recorder) now() time.Time {
	if r.clock != nil {
		return r.clock().UTC()
	}
	return time.Now().UTC()
}

func (r *recorder) transition(sr *runbook.StepRun, hr *runbook.HostRun, from, to, ev, reason string) *runbook.Transition {
	t := &runbook.Transition{At: r.now(), ReleaseID: r.rel.ID, Scope: "release", From: from, To: to, Event: ev, Operator: r.operator, OSUser: r.osUser, Machine: r.machine, Reason: r.mask.Mask(reason)}
	if sr != nil {
		t.StepRunID, t.Scope = sr.ID, "step:"+sr.Name
	}
	if hr != nil {
		t.HostRunID, t.Scope = hr.ID, "host:"+sr.Name+"/"+hr.Host
	}
	return t
}

// release moves the release by event.
func (r *recorder) release(ctx context.Context, event, reason string) error {
	rel := r.rel
	m, err := runbook.NewReleaseMachine(rel.State, func(ctx context.Context, from, to, ev string) error {
		old := rel.State
		rel.State = runbook.ReleaseState(to)
		if err := r.store.RecordRelease(ctx, rel, r.transition(nil, nil, from, to, ev, reason)); err != nil {
			rel.State = old
			return runbook.NotRecorded(fmt.Errorf("record release %s %s → %s: %w", rel.Version, from, to, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	from := rel.State
	if err := m.Fire(ctx, event); err != nil {
		return err
	}
	if r.moved != nil {
		r.moved(ctx, from, rel.State, event, reason)
	}
	return nil
}

// step moves a step run (not its hosts) by event.
func (r *recorder) step(ctx context.Context, sr *runbook.StepRun, event, reason string) error {
	m, err := runbook.NewRunMachine(sr.State, func(ctx context.Context, from, to, ev string) error {
		old, oldReason := sr.State, sr.Reason
		sr.State = runbook.RunState(to)
		if reason != "" {
			sr.Reason = r.mask.Mask(reason)
		}
		if err := r.store.RecordStep(ctx, sr, r.transition(sr, nil, from, to, ev, reason)); err != nil {
			sr.State, sr.Reason = old, oldReason
			return runbook.NotRecorded(fmt.Errorf("record step %s %s → %s: %w", sr.Name, from, to, err))
		}
		return nil
	})
	if err == nil {
		err = m.Fire(ctx, event)
	}
	if err != nil {
		return fmt.Errorf("step %s: %w", sr.Name, err)
	}
	return nil
}

// deferStart stages the start of a step (event ev) to be committed with the
// first transition of its only host run.
func (r *recorder) deferStart(sr *runbook.StepRun, ev string) {
	r.mu.Lock()
	r.deferred[sr] = ev
	r.mu.Unlock()
}

// flush commits a step start still waiting for its host (nothing reached
// the host run: a sign-off was missing, the artifact was unreadable).
func (r *recorder) flush(ctx context.Context, sr *runbook.StepRun) error {
	r.mu.Lock()
	ev, ok := r.deferred[sr]
	delete(r.deferred, sr)
	r.mu.Unlock()
	if !ok {
		return nil
	}
	return r.step(ctx, sr, ev, "")
}

// drop forgets a deferred start that can no longer be committed (the
// database refused a write): the step stays as last committed.
func (r *recorder) drop(sr *runbook.StepRun) {
	r.mu.Lock()
	delete(r.deferred, sr)
	r.mu.Unlock()
}

// host moves a host run by event, carrying its step's deferred start along
// in the same commit, so a step is never recorded behind its host.
func (r *recorder) host(ctx context.Context, sr *runbook.StepRun, hr *runbook.HostRun, event, reason string) error {
	r.mu.Lock()
	ev, ok := r.deferred[sr]
	delete(r.deferred, sr)
	r.mu.Unlock()
	if ok {
		if err := r.both(ctx, sr, ev, "", hr, event, reason); err != nil {
			r.deferStart(sr, ev)
			return err
		}
		return nil
	}
	m, err := runbook.NewRunMachine(hr.State, func(ctx context.Context, from, to, ev string) error {
		old := hr.State
		hr.State = runbook.RunState(to)
		if err := r.store.RecordHost(ctx, hr, r.transition(sr, hr, from, to, ev, reason)); err != nil {
			hr.State = old
			return runbook.NotRecorded(fmt.Errorf("record %s on %s %s → %s: %w", sr.Name, hr.Host, from, to, err))
		}
		return nil
	})
	if err == nil {
		err = m.Fire(ctx, event)
	}
	if err != nil {
		return fmt.Errorf("step %s on %s: %w", sr.Name, hr.Host, err)
	}
	return nil
}

// both moves a step and its only host run in one commit: the step's
// transition is staged by its machine and committed with the host's. Both
// records are restored when the commit fails.
func (r *recorder) both(ctx context.Context, sr *runbook.StepRun, stepEv, stepReason string, hr *runbook.HostRun, hostEv, hostReason string) error {
	return r.moveBoth(ctx, sr, stepEv, stepReason, hr, hostEv, hostReason, func(m runbook.RunMove) error { return r.store.RecordRuns(ctx, m) })
}

// succeed moves a step that succeeded on its only host run. Under the
// engine's carrier the outcome is carried into the next commit
// (carry.go), and forget, which drops the run's markers, runs once that
// is committed (carried is true); otherwise the outcome is committed now
// and forget is the caller's to run.
func (r *recorder) succeed(ctx context.Context, sr *runbook.StepRun, hr *runbook.HostRun, forget func()) (carried bool, err error) {
	if r.carrier == nil {
		return false, r.both(ctx, sr, runbook.EvSucceed, "", hr, runbook.EvSucceed, "")
	}
	return true, r.moveBoth(ctx, sr, runbook.EvSucceed, "", hr, runbook.EvSucceed, "", func(m runbook.RunMove) error {
		r.carrier.carry([]runbook.RunMove{m}, forget)
		return nil
	})
}

// moveBoth fires the machines of a step and its only host run, and hands
// both moves to commit.
func (r *recorder) moveBoth(ctx context.Context, sr *runbook.StepRun, stepEv, stepReason string, hr *runbook.HostRun, hostEv, hostReason string, commit func(runbook.RunMove) error) error {
	oldStep, oldReason := sr.State, sr.Reason
	var st *runbook.Transition
	sm, err := runbook.NewRunMachine(sr.State, func(_ context.Context, from, to, ev string) error {
		sr.State = runbook.RunState(to)
		if stepReason != "" {
			sr.Reason = r.mask.Mask(stepReason)
		}
		st = r.transition(sr, nil, from, to, ev, stepReason)
		return nil
	})
	if err == nil {
		err = sm.Fire(ctx, stepEv)
	}
	if err != nil {
		return fmt.Errorf("step %s: %w", sr.Name, err)
	}
	hm, err := runbook.NewRunMachine(hr.State, func(ctx context.Context, from, to, ev string) error {
		old := hr.State
		hr.State = runbook.RunState(to)
		if err := commit(runbook.RunMove{Step: sr, StepT: st, Host: hr, HostT: r.transition(sr, hr, from, to, ev, hostReason)}); err != nil {
			hr.State = old
			return runbook.NotRecorded(fmt.Errorf("record step %s and %s on %s: %w", sr.Name, to, hr.Host, err))
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

// skip marks a step and its unfinished host runs skipped, recorded as a
// deviation with the reason.
func (r *recorder) skip(ctx context.Context, sr *runbook.StepRun, reason string) error {
	for _, hr := range sr.Hosts {
		if hr.State == runbook.RunPending || hr.State == runbook.RunInterrupted || hr.State == runbook.RunFailed {
			if err := r.host(ctx, sr, hr, runbook.EvSkip, reason); err != nil {
				return err
			}
		}
	}
	sr.FinishedAt = r.now()
	if err := r.step(ctx, sr, runbook.EvSkip, reason); err != nil {
		return err
	}
	r.note(ctx, "deviation", sr.Name, "", "skipped: "+reason)
	return nil
}

// note records a fact about the release. A note that cannot be written is
// reported, not fatal: the transitions are the record that matters.
func (r *recorder) note(ctx context.Context, kind, step, host, text string) {
	n := &runbook.Note{ReleaseID: r.rel.ID, At: r.now(), Kind: kind, Step: step, Host: host, Text: r.mask.Mask(text), Operator: r.operator, OSUser: r.osUser}
	if err := r.store.AddNote(ctx, n); err != nil {
		r.ui.Warn("could not record a note: " + err.Error())
	}
}
