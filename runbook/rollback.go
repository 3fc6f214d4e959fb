package runbook

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Choice of the rollback prompt for a step without an undo.
const ChDoneByHand = "Done by hand"

// Rollback undoes the latest release: its completed steps in reverse order
// of completion, each through its undo. Killed part-way, it continues
// where it stopped when run again, without undoing anything twice.
func (w *Walker) Rollback(ctx context.Context) error {
	r, err := w.rollbackSubject(ctx)
	if err != nil {
		return err
	}
	if err := checkRecordedVersion(r); err != nil { // H-1: undo would remove releases/<it>
		return err
	}
	if err := w.load(ctx, r); err != nil {
		return err
	}
	if err := w.recoverCrash(ctx); err != nil {
		return err
	}
	switch w.rel.State {
	case ReleaseRolledBack:
		w.UI.Info(fmt.Sprintf("release %s (#%d) is already rolled back; nothing to do", r.Version, r.ID))
		return nil
	case ReleaseAborted:
		return WithHint(fmt.Errorf("%w: release %s (#%d) was aborted, so it cannot be undone step by step", ErrUsage, r.Version, r.ID),
			"`runbook rollback --to V` switches the hosts to a staged release")
	}
	reason := "rollback by " + w.Operator
	if w.rel.State == ReleasePaused {
		if back, err := w.wasRollingBack(ctx); err == nil && back {
			reason = "rollback continued by " + w.Operator
		}
	}
	if err := w.fireRelease(ctx, EvRollback, reason); err != nil {
		return err
	}
	w.UI.Info(fmt.Sprintf("rolling back release %s (#%d)", r.Version, r.ID))
	for _, i := range w.undoOrder(ctx) {
		if err := w.interruptedRollback(ctx); err != nil {
			return err
		}
		if err := w.undoStep(ctx, i); err != nil {
			return err
		}
	}
	w.rel.FinishedAt = w.now()
	if err := w.fireRelease(ctx, EvRolledBack, ""); err != nil {
		return err
	}
	w.UI.Info(fmt.Sprintf("release %s rolled back", w.rel.Version))
	return nil
}

// rollbackSubject is the unfinished release, else the latest release.
func (w *Walker) rollbackSubject(ctx context.Context) (*Release, error) {
	un, err := w.Store.Unfinished(ctx)
	if err != nil {
		return nil, err
	}
	if un != nil {
		if un.Kind != KindRelease {
			return nil, WithHint(fmt.Errorf("%w: a rollback to %s is unfinished", ErrUnfinished, un.Version), "`runbook rollback --to "+un.Version+"` continues it")
		}
		return un, nil
	}
	rels, err := w.Store.Releases(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(rels) - 1; i >= 0; i-- {
		if rels[i].Kind == KindRelease {
			return rels[i], nil
		}
	}
	return nil, WithHint(fmt.Errorf("%w: no release to roll back", ErrNothingToDo), "`runbook history` lists what ran")
}

// wasRollingBack reports whether a paused release was paused mid-rollback.
func (w *Walker) wasRollingBack(ctx context.Context) (bool, error) {
	ts, err := w.Store.Transitions(ctx, w.rel.ID)
	if err != nil {
		return false, err
	}
	for i := len(ts) - 1; i >= 0; i-- {
		t := ts[i]
		if t.StepRunID == 0 && t.HostRunID == 0 && t.To == string(w.rel.State) {
			return t.From == string(ReleaseRollingBack), nil
		}
	}
	return false, nil
}

// undoOrder lists the steps to undo, latest completed first. Failed,
// skipped and never-run steps are not undone; a step interrupted mid-run
// or mid-undo is (undo commands must be safe to repeat).
func (w *Walker) undoOrder(ctx context.Context) []int {
	var idx []int
	for i, sr := range w.steps {
		switch sr.State {
		case RunSucceeded, RunUndoing, RunUndoFailed, RunInterrupted:
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := w.steps[idx[a]], w.steps[idx[b]]
		if !x.FinishedAt.Equal(y.FinishedAt) {
			return x.FinishedAt.After(y.FinishedAt)
		}
		return x.Index > y.Index
	})
	return idx
}

func hasUndo(s *Step) bool {
	return s.Undo != "" || s.Kind == KindUpload || s.Kind == KindActivate
}

// changesNothing: confirm, diff and probe leave nothing on a host to undo.
func changesNothing(s *Step) bool {
	return s.Kind == KindConfirm || s.Kind == KindDiff || s.Kind == KindProbe
}

func (w *Walker) undoStep(ctx context.Context, i int) error {
	s, sr := w.RB.Steps[i], w.steps[i]
	if changesNothing(s) && s.Undo == "" {
		return nil
	}
	w.UI.StepHeader(i, len(w.steps), s, sr)
	if !hasUndo(s) {
		return w.manualUndo(ctx, s, sr)
	}
	if !w.Yes && sr.State != RunUndoing {
		if w.Prompt == nil {
			return w.stopRollback(ctx, sr, WithHint(fmt.Errorf("%w: undo of %s needs the operator", ErrNeedsHuman, s.Name), "run it in a terminal, or pass --yes"))
		}
		for done := false; !done; {
			choice, err := w.Prompt.Select(fmt.Sprintf("Undo %s?", s.Name), []string{ChRun, ChSkip, ChDetails, ChPause, ChAbort}, ChRun)
			if err != nil {
				return w.stopRollback(ctx, sr, w.rollbackPromptErr(err))
			}
			switch choice {
			case ChRun:
				done = true
			case ChDetails:
				w.showDetails(s)
			case ChSkip:
				reason, err := w.reason("Why leave " + s.Name + " in place? (recorded)")
				if err != nil {
					return w.stopRollback(ctx, sr, w.rollbackPromptErr(err))
				}
				w.note(ctx, "deviation", s.Name, "", "not undone in the rollback: "+reason)
				return nil
			case ChPause:
				return w.stopRollback(ctx, sr, ErrPaused)
			case ChAbort:
				return w.abortHere(ctx)
			}
		}
	}
	for {
		if sr.State != RunUndoing {
			if err := w.fireStep(ctx, sr, EvUndo, ""); err != nil {
				return err
			}
		}
		failed, err := w.undoHosts(ctx, s, sr)
		if err != nil {
			return w.stopRollback(ctx, sr, err)
		}
		sr.FinishedAt = w.now()
		if failed == 0 {
			if err := w.fireStep(ctx, sr, EvUndone, ""); err != nil {
				return err
			}
			w.UI.StepDone(s, sr)
			return nil
		}
		if err := w.fireStep(ctx, sr, EvUndoFail, fmt.Sprintf("undo failed on %d host(s)", failed)); err != nil {
			return err
		}
		w.UI.StepDone(s, sr)
		if w.Yes || w.Prompt == nil {
			return w.stopRollback(ctx, sr, WithHint(fmt.Errorf("%w: undo of %s failed on %d host(s)", ErrStepFailed, s.Name, failed),
				"fix the cause, then `runbook rollback` retries the undo; `runbook status` shows the output"))
		}
		choice, err := w.Prompt.Select(fmt.Sprintf("Undo of %s failed. What now?", s.Name), []string{ChRetry, ChSkip, ChPause, ChAbort}, ChRetry)
		if err != nil {
			return w.stopRollback(ctx, sr, w.rollbackPromptErr(err))
		}
		switch choice {
		case ChSkip:
			reason, err := w.reason("Why go on without undoing " + s.Name + "? (recorded)")
			if err != nil {
				return w.stopRollback(ctx, sr, w.rollbackPromptErr(err))
			}
			w.note(ctx, "deviation", s.Name, "", "undo failed and was left: "+reason)
			return nil
		case ChPause:
			return w.stopRollback(ctx, sr, ErrPaused)
		case ChAbort:
			return w.abortHere(ctx)
		}
	}
}

// manualUndo handles a step that changed something but has no undo.
func (w *Walker) manualUndo(ctx context.Context, s *Step, sr *StepRun) error {
	if sr.State != RunSucceeded && sr.State != RunInterrupted && sr.State != RunUndoFailed {
		return nil
	}
	msg := fmt.Sprintf("%s has no undo: manual action", s.Name)
	w.UI.Warn(msg)
	if w.Yes || w.Prompt == nil {
		w.note(ctx, "deviation", s.Name, "", msg+"; skipped by --yes")
		w.UI.Detail("skipped (--yes): undo it by hand if it changed something")
		return nil
	}
	choice, err := w.Prompt.Select(msg+". Undo it by hand, then confirm.", []string{ChDoneByHand, ChSkip, ChPause, ChAbort}, ChDoneByHand)
	if err != nil {
		return w.stopRollback(ctx, sr, w.rollbackPromptErr(err))
	}
	switch choice {
	case ChDoneByHand:
		reason := "undone by hand, confirmed by " + w.Operator
		if err := w.fireStep(ctx, sr, EvUndo, reason); err != nil {
			return err
		}
		for _, hr := range sr.Hosts {
			if hr.State == RunSucceeded || hr.State == RunInterrupted || hr.State == RunUndoFailed {
				if err := w.fireHost(ctx, sr, hr, EvUndo, reason); err != nil {
					return err
				}
				if err := w.fireHost(ctx, sr, hr, EvUndone, reason); err != nil {
					return err
				}
			}
		}
		sr.FinishedAt = w.now()
		return w.fireStep(ctx, sr, EvUndone, reason)
	case ChSkip:
		w.note(ctx, "deviation", s.Name, "", msg+"; skipped by "+w.Operator)
		return nil
	case ChPause:
		return w.stopRollback(ctx, sr, ErrPaused)
	}
	return w.abortHere(ctx)
}

// undoHosts undoes the step on every host where it took effect, latest
// host first; it returns how many undos failed.
func (w *Walker) undoHosts(ctx context.Context, s *Step, sr *StepRun) (int, error) {
	failed := 0
	for j := len(sr.Hosts) - 1; j >= 0; j-- {
		hr := sr.Hosts[j]
		switch hr.State {
		case RunSucceeded, RunInterrupted, RunUndoFailed, RunUndoing:
		default:
			continue
		}
		h := w.hostOf(s, hr.Host)
		call, err := w.call(ctx, s, h)
		if err != nil {
			return failed, err
		}
		out := w.output(s, hr)
		call.Out = out
		outcome, uerr, err := w.runUndo(ctx, s, sr, hr, call)
		out.Close()
		if err != nil {
			return failed, err
		}
		Hit(PointUndoAfter)
		hr.OutputTail = out.Tail()
		hr.FinishedAt = w.now()
		hr.DurationMS = hr.FinishedAt.Sub(hr.StartedAt).Milliseconds()
		if uerr != nil && (errors.Is(uerr, ErrInDoubt) || ctx.Err() != nil) {
			if err := w.fireHost(ctx, sr, hr, EvInterrupt, "undo interrupted"); err != nil {
				return failed, err
			}
			if ctx.Err() != nil {
				return failed, WithHint(ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
			}
			return failed, WithHint(fmt.Errorf("%w: undo of %s on %s: %v", ErrInDoubt, s.Name, hr.Host, uerr), "`runbook rollback` runs the undo again (undos are safe to repeat)")
		}
		if uerr != nil || outcome.ExitCode != 0 {
			reason := fmt.Sprintf("undo exit status %d", outcome.ExitCode)
			if uerr != nil {
				reason = uerr.Error()
			}
			if err := w.fireHost(ctx, sr, hr, EvUndoFail, reason); err != nil {
				return failed, err
			}
			failed++
			w.UI.HostDone(s, hr, reason)
			continue
		}
		if err := w.recordUndoEffects(ctx, s, hr, outcome); err != nil {
			return failed, err
		}
		if err := w.fireHost(ctx, sr, hr, EvUndone, outcome.Summary); err != nil {
			return failed, err
		}
		// The markers go only once `undone` is committed: removed before,
		// a crash in between would leave an undo that settles as never
		// started, and it would run a second time.
		w.Exec.Forget(context.WithoutCancel(ctx), call)
		w.UI.HostDone(s, hr, outcome.Summary)
	}
	return failed, nil
}

// recordUndoEffects keeps the live and staged tables true after an undo.
func (w *Walker) recordUndoEffects(ctx context.Context, s *Step, hr *HostRun, o Outcome) error {
	switch s.Kind {
	case KindActivate:
		d := ParseDetail(o.Detail)
		if d.Version == "" {
			return nil // nothing was live before: current was left alone
		}
		return w.Store.SetLive(ctx, Live{Env: s.On, Host: hr.Host, Version: d.Version, Previous: d.Previous, ReleaseID: w.rel.ID, At: w.now()})
	case KindUpload:
		if o.Summary != "kept: live or previous" {
			return w.Store.AddStaged(ctx, Staged{Env: s.On, Host: hr.Host, Version: w.rel.Version, ReleaseID: w.rel.ID, At: w.now(), Removed: true})
		}
	}
	return nil
}

// stopRollback leaves the step where it is and pauses the rollback.
func (w *Walker) stopRollback(ctx context.Context, sr *StepRun, cause error) error {
	var re *RecordError
	if errors.As(cause, &re) {
		return cause // nothing more can be recorded (see RecordError)
	}
	if sr.State == RunUndoing {
		if err := w.fireStep(ctx, sr, EvInterrupt, stopReason(cause)); err != nil {
			return err
		}
	}
	if w.rel.State == ReleaseRollingBack {
		if err := w.fireRelease(ctx, EvPause, stopReason(cause)); err != nil {
			return err
		}
	}
	if errors.Is(cause, ErrPaused) {
		w.UI.Info("rollback paused; `runbook rollback` continues it")
	}
	return cause
}

func (w *Walker) rollbackPromptErr(err error) error {
	if errors.Is(err, ErrPromptInterrupted) {
		return WithHint(ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
	}
	return err
}

func (w *Walker) interruptedRollback(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if w.rel.State == ReleaseRollingBack {
		if err := w.fireRelease(ctx, EvPause, "interrupted by the operator (Ctrl-C)"); err != nil {
			return err
		}
	}
	return WithHint(ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
}

const undoSuffix = "-undo"

// newUndoToken names a new run of an undo. A run is never started twice
// under one token: settling one as never started claims its token on the
// host, so that a copy still on its way there cannot start later, and the
// run that replaces it needs a name of its own. What a failed undo left
// under its token is cleared: its outcome is committed.
func (w *Walker) newUndoToken(ctx context.Context, s *Step, hr *HostRun, call *Call) {
	if hr.State == RunUndoFailed && strings.HasSuffix(hr.Token, undoSuffix) {
		call.Token = hr.Token
		w.Exec.Forget(context.WithoutCancel(ctx), call)
	}
	hr.Token = token(w.rel.ID, s, hr.Attempts, hr.Host) + undoSuffix
	call.Token = hr.Token
}

// runUndo undoes one host run. An undo interrupted by a crash is settled
// by its markers first: finished → its exit code is adopted; still
// running → waited for; otherwise it runs again (undos are safe to repeat).
func (w *Walker) runUndo(ctx context.Context, s *Step, sr *StepRun, hr *HostRun, call *Call) (Outcome, error, error) {
	if hr.State == RunInterrupted && strings.HasSuffix(hr.Token, undoSuffix) {
		call.Token = hr.Token
		ev, err := w.Exec.Settle(ctx, call)
		if err != nil {
			return Outcome{}, nil, fmt.Errorf("settle the undo of %s on %s: %w", s.Name, hr.Host, err)
		}
		switch ev.State {
		case SettleFinished:
			if err := w.fireHost(ctx, sr, hr, EvUndo, fmt.Sprintf("undo outcome found on the host: exit %d", ev.ExitCode)); err != nil {
				return Outcome{}, nil, err
			}
			return Outcome{ExitCode: ev.ExitCode, Summary: "undo finished before the interruption"}, nil, nil
		case SettleRunning:
			if err := w.fireHost(ctx, sr, hr, EvUndo, "undo still running on the host: reattached"); err != nil {
				return Outcome{}, nil, err
			}
			o, uerr := w.Exec.Wait(ctx, call)
			if uerr == nil || !errors.Is(uerr, ErrInDoubt) {
				return o, uerr, nil
			}
			// It died without an outcome: run it again below, under a
			// new token, committed before it starts.
			w.newUndoToken(ctx, s, hr, call)
			if err := w.Store.RecordHost(ctx, hr, nil); err != nil {
				return Outcome{}, nil, fmt.Errorf("record the undo of %s on %s: %w", s.Name, hr.Host, err)
			}
		default:
			w.newUndoToken(ctx, s, hr, call)
			if err := w.fireHost(ctx, sr, hr, EvUndo, "undo interrupted before it finished: running it again (undos are safe to repeat)"); err != nil {
				return Outcome{}, nil, err
			}
		}
	} else if hr.State != RunUndoing {
		w.newUndoToken(ctx, s, hr, call)
		if err := w.fireHost(ctx, sr, hr, EvUndo, ""); err != nil {
			return Outcome{}, nil, err
		}
	}
	call.Token = hr.Token
	hr.StartedAt = w.now()
	Hit(PointUndoBefore)
	o, uerr := w.Exec.Undo(ctx, call, hr.Detail)
	return o, uerr, nil
}
