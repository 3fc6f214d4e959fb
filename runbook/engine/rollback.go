package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// Choice of the rollback prompt for a step without an undo.
const ChDoneByHand = "Done by hand"

// Rollback undoes the latest release: its completed steps in reverse order
// of completion, each through its undo. Killed part-way, it continues
// where it stopped when run again, without undoing anything twice.
func (e *Engine) Rollback(ctx context.Context) error {
	r, err := e.rollbackSubject(ctx)
	if err != nil {
		return err
	}
	w, err := loadWalk(ctx, e, e.rb, r)
	if err != nil {
		return err
	}
	if err := w.recoverCrash(ctx); err != nil {
		return err
	}
	switch w.rel().State {
	case runbook.ReleaseRolledBack:
		e.cfg.UI.Info(fmt.Sprintf("release %s (#%d) is already rolled back; nothing to do", r.Version, r.ID))
		return nil
	case runbook.ReleaseAborted:
		return runbook.WithHint(fmt.Errorf("%w: release %s (#%d) was aborted, so it cannot be undone step by step", runbook.ErrUsage, r.Version, r.ID),
			"`runbook rollback --to V` switches the hosts to a staged release")
	}
	reason := "rollback by " + e.cfg.Operator
	if rollingBack(ctx, e.cfg.Store, w.rel()) {
		reason = "rollback continued by " + e.cfg.Operator
	}
	if err := w.rec.release(ctx, runbook.EvRollback, reason); err != nil {
		return err
	}
	e.cfg.UI.Info(fmt.Sprintf("rolling back release %s (#%d)", r.Version, r.ID))
	for _, i := range w.undoOrder() {
		if err := w.interruptedRollback(ctx); err != nil {
			return err
		}
		if err := w.undoStep(ctx, i); err != nil {
			return err
		}
	}
	w.rel().FinishedAt = w.rec.now()
	if err := w.rec.release(ctx, runbook.EvRolledBack, ""); err != nil {
		return err
	}
	e.cfg.UI.Info(fmt.Sprintf("release %s rolled back", w.rel().Version))
	return nil
}

// rollbackSubject is the unfinished release, else the latest release.
func (e *Engine) rollbackSubject(ctx context.Context) (*runbook.Release, error) {
	un, err := e.cfg.Store.Unfinished(ctx)
	if err != nil {
		return nil, err
	}
	if un != nil {
		if un.Kind != runbook.KindRelease {
			return nil, runbook.WithHint(fmt.Errorf("%w: a rollback to %s is unfinished", runbook.ErrUnfinished, un.Version), "`runbook rollback --to "+un.Version+"` continues it")
		}
		return un, nil
	}
	rels, err := e.cfg.Store.Releases(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(rels) - 1; i >= 0; i-- {
		if rels[i].Kind == runbook.KindRelease {
			return rels[i], nil
		}
	}
	return nil, runbook.WithHint(fmt.Errorf("%w: no release to roll back", runbook.ErrNothingToDo), "`runbook history` lists what ran")
}

// undoOrder lists the steps to undo, latest completed first. Failed,
// skipped and never-run steps are not undone; a step interrupted mid-run
// or mid-undo is (undo commands must be safe to repeat).
func (w *walk) undoOrder() []int {
	var idx []int
	for i, sr := range w.steps {
		switch sr.State {
		case runbook.RunSucceeded, runbook.RunUndoing, runbook.RunUndoFailed, runbook.RunInterrupted:
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

func hasUndo(s *runbook.Step) bool {
	return s.Undo != "" || s.Kind == runbook.KindUpload || s.Kind == runbook.KindActivate
}

// changesNothing: confirm, diff and probe leave nothing on a host to undo.
func changesNothing(s *runbook.Step) bool {
	return s.Kind == runbook.KindConfirm || s.Kind == runbook.KindDiff || s.Kind == runbook.KindProbe
}

func (w *walk) undoStep(ctx context.Context, i int) error {
	s, sr := w.rb.Steps[i], w.steps[i]
	if changesNothing(s) && s.Undo == "" {
		return nil
	}
	w.cfg.UI.StepHeader(i, len(w.steps), s, sr)
	if !hasUndo(s) {
		return w.manualUndo(ctx, s, sr)
	}
	if sr.State != runbook.RunUndoing {
		for done := false; !done; {
			choice, err := w.ask.Choose(Question{Msg: fmt.Sprintf("Undo %s?", s.Name), Options: []string{ChRun, ChSkip, ChDetails, ChPause, ChAbort}, Default: ChRun, Assume: ChRun,
				Refuse: fmt.Sprintf("undo of %s needs the operator", s.Name), Hint: "run it in a terminal, or pass --yes"})
			if err != nil {
				return w.stopRollback(ctx, sr, rollbackPromptErr(err))
			}
			switch choice {
			case ChRun:
				done = true
			case ChDetails:
				w.details(s)
			case ChSkip:
				reason, err := w.ask.Text("Why leave "+s.Name+" in place? (recorded)", "", "")
				if err != nil {
					return w.stopRollback(ctx, sr, rollbackPromptErr(err))
				}
				w.rec.note(ctx, "deviation", s.Name, "", "not undone in the rollback: "+reason)
				return nil
			case ChPause:
				return w.stopRollback(ctx, sr, runbook.ErrPaused)
			case ChAbort:
				return w.abortHere(ctx)
			}
		}
	}
	for {
		if sr.State != runbook.RunUndoing {
			if err := w.rec.step(ctx, sr, runbook.EvUndo, ""); err != nil {
				return err
			}
		}
		failed, err := w.undoHosts(ctx, s, sr)
		if err != nil {
			return w.stopRollback(ctx, sr, err)
		}
		sr.FinishedAt = w.rec.now()
		if failed == 0 {
			if err := w.rec.step(ctx, sr, runbook.EvUndone, ""); err != nil {
				return err
			}
			w.cfg.UI.StepDone(s, sr)
			return nil
		}
		if err := w.rec.step(ctx, sr, runbook.EvUndoFail, fmt.Sprintf("undo failed on %d host(s)", failed)); err != nil {
			return err
		}
		w.cfg.UI.StepDone(s, sr)
		if !w.ask.Asks() {
			return w.stopRollback(ctx, sr, runbook.WithHint(fmt.Errorf("%w: undo of %s failed on %d host(s)", runbook.ErrStepFailed, s.Name, failed),
				"fix the cause, then `runbook rollback` retries the undo; `runbook status` shows the output"))
		}
		choice, err := w.ask.Choose(Question{Msg: fmt.Sprintf("Undo of %s failed. What now?", s.Name), Options: []string{ChRetry, ChSkip, ChPause, ChAbort}, Default: ChRetry})
		if err != nil {
			return w.stopRollback(ctx, sr, rollbackPromptErr(err))
		}
		switch choice {
		case ChSkip:
			reason, err := w.ask.Text("Why go on without undoing "+s.Name+"? (recorded)", "", "")
			if err != nil {
				return w.stopRollback(ctx, sr, rollbackPromptErr(err))
			}
			w.rec.note(ctx, "deviation", s.Name, "", "undo failed and was left: "+reason)
			return nil
		case ChPause:
			return w.stopRollback(ctx, sr, runbook.ErrPaused)
		case ChAbort:
			return w.abortHere(ctx)
		}
	}
}

// manualUndo handles a step that changed something but has no undo.
func (w *walk) manualUndo(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) error {
	if sr.State != runbook.RunSucceeded && sr.State != runbook.RunInterrupted && sr.State != runbook.RunUndoFailed {
		return nil
	}
	msg := fmt.Sprintf("%s has no undo: manual action", s.Name)
	w.cfg.UI.Warn(msg)
	if !w.ask.Asks() {
		w.rec.note(ctx, "deviation", s.Name, "", msg+"; skipped by --yes")
		w.cfg.UI.Detail("skipped (--yes): undo it by hand if it changed something")
		return nil
	}
	choice, err := w.ask.Choose(Question{Msg: msg + ". Undo it by hand, then confirm.", Options: []string{ChDoneByHand, ChSkip, ChPause, ChAbort}, Default: ChDoneByHand})
	if err != nil {
		return w.stopRollback(ctx, sr, rollbackPromptErr(err))
	}
	switch choice {
	case ChDoneByHand:
		reason := "undone by hand, confirmed by " + w.cfg.Operator
		if err := w.rec.step(ctx, sr, runbook.EvUndo, reason); err != nil {
			return err
		}
		for _, hr := range sr.Hosts {
			if hr.State == runbook.RunSucceeded || hr.State == runbook.RunInterrupted || hr.State == runbook.RunUndoFailed {
				if err := w.rec.host(ctx, sr, hr, runbook.EvUndo, reason); err != nil {
					return err
				}
				if err := w.rec.host(ctx, sr, hr, runbook.EvUndone, reason); err != nil {
					return err
				}
			}
		}
		sr.FinishedAt = w.rec.now()
		return w.rec.step(ctx, sr, runbook.EvUndone, reason)
	case ChSkip:
		w.rec.note(ctx, "deviation", s.Name, "", msg+"; skipped by "+w.cfg.Operator)
		return nil
	case ChPause:
		return w.stopRollback(ctx, sr, runbook.ErrPaused)
	}
	return w.abortHere(ctx)
}

// undoHosts undoes the step on every host where it took effect, latest
// host first; it returns how many undos failed.
func (w *walk) undoHosts(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) (int, error) {
	failed := 0
	for j := len(sr.Hosts) - 1; j >= 0; j-- {
		hr := sr.Hosts[j]
		switch hr.State {
		case runbook.RunSucceeded, runbook.RunInterrupted, runbook.RunUndoFailed, runbook.RunUndoing:
		default:
			continue
		}
		h := hostOf(w.rb, s, hr.Host)
		call, err := w.call(s, h)
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
		runbook.Hit(runbook.PointUndoAfter)
		hr.OutputTail = out.Tail()
		hr.FinishedAt = w.rec.now()
		hr.DurationMS = hr.FinishedAt.Sub(hr.StartedAt).Milliseconds()
		if uerr != nil && (errors.Is(uerr, runbook.ErrInDoubt) || ctx.Err() != nil) {
			if err := w.rec.host(ctx, sr, hr, runbook.EvInterrupt, "undo interrupted"); err != nil {
				return failed, err
			}
			if ctx.Err() != nil {
				return failed, runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
			}
			return failed, runbook.WithHint(fmt.Errorf("%w: undo of %s on %s: %v", runbook.ErrInDoubt, s.Name, hr.Host, uerr), "`runbook rollback` runs the undo again (undos are safe to repeat)")
		}
		if uerr != nil || outcome.ExitCode != 0 {
			reason := fmt.Sprintf("undo exit status %d", outcome.ExitCode)
			if uerr != nil {
				reason = uerr.Error()
			}
			if err := w.rec.host(ctx, sr, hr, runbook.EvUndoFail, reason); err != nil {
				return failed, err
			}
			failed++
			w.cfg.UI.HostDone(s, hr, reason)
			continue
		}
		if err := w.recordUndoEffects(ctx, s, hr, outcome); err != nil {
			return failed, err
		}
		if err := w.rec.host(ctx, sr, hr, runbook.EvUndone, outcome.Summary); err != nil {
			return failed, err
		}
		// The markers go only once `undone` is committed: removed before,
		// a crash in between would leave an undo that settles as never
		// started, and it would run a second time.
		w.cfg.Exec.Forget(context.WithoutCancel(ctx), call)
		w.cfg.UI.HostDone(s, hr, outcome.Summary)
	}
	return failed, nil
}

// recordUndoEffects keeps the live and staged tables true after an undo.
func (w *walk) recordUndoEffects(ctx context.Context, s *runbook.Step, hr *runbook.HostRun, o runbook.Outcome) error {
	switch s.Kind {
	case runbook.KindActivate:
		d := runbook.ParseDetail(o.Detail)
		if d.Version == "" {
			return nil // nothing was live before: current was left alone
		}
		return w.cfg.Store.SetLive(ctx, runbook.Live{Env: s.On, Host: hr.Host, Version: d.Version, Previous: d.Previous, ReleaseID: w.rel().ID, At: w.rec.now()})
	case runbook.KindUpload:
		if o.Summary != "kept: live or previous" {
			return w.cfg.Store.AddStaged(ctx, runbook.Staged{Env: s.On, Host: hr.Host, Version: w.rel().Version, ReleaseID: w.rel().ID, At: w.rec.now(), Removed: true})
		}
	}
	return nil
}

// stopRollback leaves the step where it is and pauses the rollback.
func (w *walk) stopRollback(ctx context.Context, sr *runbook.StepRun, cause error) error {
	var re *runbook.RecordError
	if errors.As(cause, &re) {
		return cause // nothing more can be recorded (see runbook.RecordError)
	}
	if sr.State == runbook.RunUndoing {
		if err := w.rec.step(ctx, sr, runbook.EvInterrupt, stopReason(cause)); err != nil {
			return err
		}
	}
	if w.rel().State == runbook.ReleaseRollingBack {
		if err := w.rec.release(ctx, runbook.EvPause, stopReason(cause)); err != nil {
			return err
		}
	}
	if errors.Is(cause, runbook.ErrPaused) {
		w.cfg.UI.Info("rollback paused; `runbook rollback` continues it")
	}
	return cause
}

func rollbackPromptErr(err error) error {
	if errors.Is(err, runbook.ErrPromptInterrupted) {
		return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
	}
	return err
}

func (w *walk) interruptedRollback(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if w.rel().State == runbook.ReleaseRollingBack {
		if err := w.rec.release(ctx, runbook.EvPause, "interrupted by the operator (Ctrl-C)"); err != nil {
			return err
		}
	}
	return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
}

const undoSuffix = "-undo"

// newUndoToken names a new run of an undo. A run is never started twice
// under one token: settling one as never started claims its token on the
// host, so that a copy still on its way there cannot start later, and the
// run that replaces it needs a name of its own. What a failed undo left
// under its token is cleared: its outcome is committed.
func (w *walk) newUndoToken(ctx context.Context, s *runbook.Step, hr *runbook.HostRun, call *runbook.Call) {
	if hr.State == runbook.RunUndoFailed && strings.HasSuffix(hr.Token, undoSuffix) {
		call.Token = hr.Token
		w.cfg.Exec.Forget(context.WithoutCancel(ctx), call)
	}
	hr.Token = token(w.rel().ID, s, hr.Attempts, hr.Host) + undoSuffix
	call.Token = hr.Token
}

// runUndo undoes one host run. An undo interrupted by a crash is settled
// by its markers first: finished → its exit code is adopted; still
// running → waited for; otherwise it runs again (undos are safe to repeat).
func (w *walk) runUndo(ctx context.Context, s *runbook.Step, sr *runbook.StepRun, hr *runbook.HostRun, call *runbook.Call) (runbook.Outcome, error, error) {
	if hr.State == runbook.RunInterrupted && strings.HasSuffix(hr.Token, undoSuffix) {
		call.Token = hr.Token
		ev, err := w.cfg.Exec.Settle(ctx, call)
		if err != nil {
			return runbook.Outcome{}, nil, fmt.Errorf("settle the undo of %s on %s: %w", s.Name, hr.Host, err)
		}
		switch ev.State {
		case runbook.SettleFinished:
			if err := w.rec.host(ctx, sr, hr, runbook.EvUndo, fmt.Sprintf("undo outcome found on the host: exit %d", ev.ExitCode)); err != nil {
				return runbook.Outcome{}, nil, err
			}
			return runbook.Outcome{ExitCode: ev.ExitCode, Summary: "undo finished before the interruption"}, nil, nil
		case runbook.SettleRunning:
			if err := w.rec.host(ctx, sr, hr, runbook.EvUndo, "undo still running on the host: reattached"); err != nil {
				return runbook.Outcome{}, nil, err
			}
			o, uerr := w.cfg.Exec.Wait(ctx, call)
			if uerr == nil || !errors.Is(uerr, runbook.ErrInDoubt) {
				return o, uerr, nil
			}
			// It died without an outcome: run it again below, under a
			// new token, committed before it starts.
			w.newUndoToken(ctx, s, hr, call)
			if err := w.cfg.Store.RecordHost(ctx, hr, nil); err != nil {
				return runbook.Outcome{}, nil, fmt.Errorf("record the undo of %s on %s: %w", s.Name, hr.Host, err)
			}
		default:
			w.newUndoToken(ctx, s, hr, call)
			if err := w.rec.host(ctx, sr, hr, runbook.EvUndo, "undo interrupted before it finished: running it again (undos are safe to repeat)"); err != nil {
				return runbook.Outcome{}, nil, err
			}
		}
	} else if hr.State != runbook.RunUndoing {
		w.newUndoToken(ctx, s, hr, call)
		if err := w.rec.host(ctx, sr, hr, runbook.EvUndo, ""); err != nil {
			return runbook.Outcome{}, nil, err
		}
	}
	call.Token = hr.Token
	hr.StartedAt = w.rec.now()
	runbook.Hit(runbook.PointUndoBefore)
	o, uerr := w.cfg.Exec.Undo(ctx, call, hr.Detail)
	return o, uerr, nil
}
