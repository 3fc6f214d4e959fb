package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// Choices of the rollback prompts.
const (
	ChUndo       = "Undo it"
	ChDoneByHand = "Done by hand"
	ChLeave      = "Leave it"
)

// errRollbackChosen ends a walk whose operator chose Rollback at a prompt;
// the entry point that walked it then rolls the release back.
var errRollbackChosen = errors.New("the operator chose to roll back")

// Rollback undoes the latest release, step by step (docs/SPEC.md,
// "Rollback order"): the steps that took effect, in reverse order of
// completion, each as the undo policy says for what it changes. Undoing a
// switch (an activate step) puts current back, then runs the
// environment's restart steps again against the restored release, with
// their verify: the rollback is done only when the previous release runs,
// verified, on every host it switched back. Killed part-way, it continues
// where it stopped when run again, without undoing anything twice.
func (e *Engine) Rollback(ctx context.Context) error {
	return e.afterWalk(ctx, e.rollback(ctx))
}

func (e *Engine) rollback(ctx context.Context) error {
	r, err := e.rollbackSubject(ctx)
	if err != nil {
		return err
	}
	if err := runbook.CheckRecorded(r); err != nil { // undo would remove releases/<it>
		return err
	}
	w, err := loadWalk(ctx, e, e.rb, r)
	if err != nil {
		return err
	}
	if !w.rel().State.Finished() {
		w.noteHandover(ctx)
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
	switch {
	case w.rel().State == runbook.ReleaseRollbackFailed:
		reason = "rollback retried by " + e.cfg.Operator
	case rollingBack(ctx, e.cfg.Store, w.rel()):
		reason = "rollback continued by " + e.cfg.Operator
	}
	if err := w.rec.release(ctx, runbook.EvRollback, reason); err != nil {
		return err
	}
	e.cfg.UI.Info(fmt.Sprintf("rolling back release %s (#%d)", r.Version, r.ID))
	rb := &rollback{w.night}
	for _, i := range rb.undoOrder() {
		if err := rb.interruptedRollback(ctx); err != nil {
			return err
		}
		if err := rb.undoStep(ctx, i); err != nil {
			return err
		}
	}
	w.rel().FinishedAt = w.rec.now()
	w.unlockEnvs(ctx) // before the end is recorded: envlock.go says why
	if err := w.rec.release(ctx, runbook.EvRolledBack, ""); err != nil {
		return err
	}
	e.cfg.UI.Info(fmt.Sprintf("release %s rolled back%s", w.rel().Version, rb.liveNow(ctx)))
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
	return nil, runbook.WithHint(runbook.NothingToDo("nothing to roll back", "no release is recorded"), "`runbook history` lists what ran")
}

// tookEffect reports whether a host run changed its host (or may have):
// what a rollback undoes.
func tookEffect(hr *runbook.HostRun) bool {
	switch hr.State {
	case runbook.RunSucceeded, runbook.RunInterrupted, runbook.RunUndoFailed, runbook.RunUndoing:
		return true
	}
	return false
}

// undoOrder lists the steps to undo, latest completed first: every step
// that took effect on some host — a step that failed on one host may have
// succeeded on others — or is mid-undo. Skipped and never-run steps are
// not undone; a step interrupted mid-run or mid-undo is (undos must be
// safe to repeat).
func (r *rollback) undoOrder() []int {
	var idx []int
	for i, sr := range r.steps {
		switch sr.State {
		case runbook.RunSucceeded, runbook.RunUndoing, runbook.RunUndoFailed, runbook.RunInterrupted:
			idx = append(idx, i)
		case runbook.RunFailed:
			for _, hr := range sr.Hosts {
				if tookEffect(hr) {
					idx = append(idx, i)
					break
				}
			}
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := r.steps[idx[a]], r.steps[idx[b]]
		if !x.FinishedAt.Equal(y.FinishedAt) {
			return x.FinishedAt.After(y.FinishedAt)
		}
		return x.Index > y.Index
	})
	return idx
}

// undoStep undoes step i as the undo policy says for what it changes:
//
//	reads only, or `undo: none`      passed over
//	only the build directory         passed over, with a note
//	acts on the running application  passed over: its switch runs it again
//	has an undo (or a built-in one)  the undo, asked for like a step
//	changes hosts, no undo           the operator decides; never assumed
func (r *rollback) undoStep(ctx context.Context, i int) error {
	s, sr := r.rb.Steps[i], r.steps[i]
	change := r.cfg.Exec.Changes(r.rb, s)
	switch {
	case change == runbook.ChangesNothing:
		return nil
	case change == runbook.ChangesBuild && s.Undo == "":
		r.cfg.UI.Detail(fmt.Sprintf("%s changed only the build directory: nothing to undo", s.Name))
		return nil
	case change == runbook.ChangesRunning:
		r.cfg.UI.Detail(r.restartNote(s))
		return nil
	}
	r.cfg.UI.StepHeader(i, len(r.steps), s, sr)
	if change == runbook.ChangesHosts && s.Undo == "" {
		return r.manualUndo(ctx, s, sr)
	}
	if sr.State != runbook.RunUndoing {
		if undo, err := r.askUndo(ctx, s, sr); !undo || err != nil {
			return err
		}
	}
	if err := r.lockEnv(ctx, s); err != nil {
		return r.stopRollback(ctx, sr, err)
	}
	for {
		if sr.State != runbook.RunUndoing {
			if err := r.rec.step(ctx, sr, runbook.EvUndo, ""); err != nil {
				return err
			}
		}
		failed, err := r.undoHosts(ctx, s, sr)
		if err != nil {
			return r.stopRollback(ctx, sr, err)
		}
		sr.FinishedAt = r.rec.now()
		if len(failed) == 0 {
			if err := r.rec.step(ctx, sr, runbook.EvUndone, ""); err != nil {
				return err
			}
			r.cfg.UI.StepDone(s, sr)
			return nil
		}
		why := fmt.Sprintf("undo of %s failed on %s", s.Name, strings.Join(failed, ", "))
		if err := r.rec.step(ctx, sr, runbook.EvUndoFail, why); err != nil {
			return err
		}
		r.cfg.UI.StepDone(s, sr)
		if !r.ask.Asks() {
			return r.failRollback(ctx, why)
		}
		choice, err := r.ask.Choose(Question{Msg: fmt.Sprintf("Undo of %s failed. What now?", s.Name), Options: []string{ChRetry, ChLeave, ChPause, ChAbort}, Default: ChRetry})
		if err != nil {
			return r.stopRollback(ctx, sr, rollbackPromptErr(err))
		}
		switch choice {
		case ChLeave:
			return r.leave(ctx, s, sr, "Why go on without undoing "+s.Name+"? (recorded)", "undo failed and was left: ")
		case ChPause:
			return r.stopRollback(ctx, sr, runbook.ErrPaused)
		case ChAbort:
			if aborted, err := r.abort(ctx); aborted || err != nil {
				return err
			}
			return r.failRollback(ctx, why)
		}
	}
}

// askUndo asks before the undo of a step, as before a step; false means
// the step is left as it is (and why is recorded) or the rollback stops.
func (r *rollback) askUndo(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) (bool, error) {
	for {
		choice, err := r.ask.Choose(Question{Msg: fmt.Sprintf("Undo %s?", s.Name), Options: []string{ChUndo, ChLeave, ChDetails, ChPause, ChAbort}, Default: ChUndo, Assume: ChUndo,
			Refuse: fmt.Sprintf("undo of %s needs the operator", s.Name), Hint: "run it in a terminal, or pass --yes"})
		if err != nil {
			return false, r.stopRollback(ctx, sr, rollbackPromptErr(err))
		}
		switch choice {
		case ChUndo:
			return true, nil
		case ChDetails:
			r.undoDetails(s)
		case ChLeave:
			return false, r.leave(ctx, s, sr, "Why leave "+s.Name+" in place? (recorded)", "not undone in the rollback: ")
		case ChPause:
			return false, r.stopRollback(ctx, sr, runbook.ErrPaused)
		case ChAbort:
			if aborted, err := r.abort(ctx); aborted || err != nil {
				return false, err
			}
		}
	}
}

// leave records, as a deviation, the operator's reason for leaving step s
// as it is; the rollback goes on.
func (r *rollback) leave(ctx context.Context, s *runbook.Step, sr *runbook.StepRun, question, what string) error {
	reason, err := r.ask.Text(question, "", "")
	if err != nil {
		return r.stopRollback(ctx, sr, rollbackPromptErr(err))
	}
	r.rec.note(ctx, "deviation", s.Name, "", what+reason)
	return nil
}

// restartNote says how a step that acts on the running application is
// undone: by the switch of its environment, if this release switched it.
func (r *rollback) restartNote(s *runbook.Step) string {
	if sw := r.rb.Switch(s); sw != nil {
		for _, sr := range r.steps {
			if sr.Name == sw.Name {
				for _, hr := range sr.Hosts {
					if tookEffect(hr) || hr.State == runbook.RunUndone {
						return fmt.Sprintf("%s: passed over; the undo of %s runs it again on the release it switches %s back to", s.Name, sw.Name, s.On)
					}
				}
			}
		}
	}
	return fmt.Sprintf("%s: nothing switched %s in this release, so it is left as it is", s.Name, s.On)
}

// manualUndo handles a step that changed hosts and has no undo. Nothing
// is assumed: the default is to pause, "done by hand" must be chosen and
// records the operator's own words, and --yes stops for a human.
func (r *rollback) manualUndo(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) error {
	var hosts []string
	for _, hr := range sr.Hosts {
		if tookEffect(hr) {
			hosts = append(hosts, hr.Host)
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s changed %s and has no undo", s.Name, strings.Join(hosts, ", "))
	r.cfg.UI.Warn(msg)
	for {
		choice, err := r.ask.Choose(Question{
			Msg:     msg + ". Undo it by hand, or leave it?",
			Options: []string{ChPause, ChDoneByHand, ChLeave, ChDetails, ChAbort}, Default: ChPause,
			Refuse: fmt.Sprintf("%s has no undo, and only the operator can say it was undone by hand", s.Name),
			Hint:   fmt.Sprintf("run `runbook rollback` in a terminal to decide; or give %s an `undo:` command (`undo: none` when it leaves nothing to undo)", s.Name),
		})
		if err != nil {
			return r.stopRollback(ctx, sr, rollbackPromptErr(err))
		}
		switch choice {
		case ChDoneByHand:
			what, err := r.ask.Text(fmt.Sprintf("What did you do to undo %s on %s? (recorded)", s.Name, strings.Join(hosts, ", ")), "", "")
			if err != nil {
				return r.stopRollback(ctx, sr, rollbackPromptErr(err))
			}
			reason := fmt.Sprintf("undone by hand by %s: %s", r.cfg.Operator, what)
			if err := r.rec.step(ctx, sr, runbook.EvUndo, reason); err != nil {
				return err
			}
			for _, hr := range sr.Hosts {
				if !tookEffect(hr) {
					continue
				}
				if hr.State != runbook.RunUndoing {
					if err := r.rec.host(ctx, sr, hr, runbook.EvUndo, reason); err != nil {
						return err
					}
				}
				if err := r.rec.host(ctx, sr, hr, runbook.EvUndone, reason); err != nil {
					return err
				}
			}
			sr.FinishedAt = r.rec.now()
			r.rec.note(ctx, "deviation", s.Name, "", reason)
			return r.rec.step(ctx, sr, runbook.EvUndone, reason)
		case ChLeave:
			return r.leave(ctx, s, sr, "Why leave "+s.Name+" in place? (recorded)", "has no undo and was left in place: ")
		case ChDetails:
			r.details(s)
		case ChPause:
			return r.stopRollback(ctx, sr, runbook.ErrPaused)
		case ChAbort:
			if aborted, err := r.abort(ctx); aborted || err != nil {
				return err
			}
		}
	}
}

// undoDetails shows what the undo of a step does on each host.
func (r *rollback) undoDetails(s *runbook.Step) {
	var b strings.Builder
	fmt.Fprintf(&b, "undo of %s (%s on %s):", s.Name, s.Kind, s.On)
	switch s.Kind {
	case runbook.KindUpload:
		fmt.Fprintf(&b, "\n  remove releases/%s on each host, unless it is live or the previous release", r.rel().Version)
	case runbook.KindActivate:
		fmt.Fprintf(&b, "\n  switch current back to the release live before %s", r.rel().Version)
		rs := r.rb.Restarts(s)
		for _, x := range rs {
			fmt.Fprintf(&b, "\n  then run %s again on the restored release", x.Name)
			if x.Verify != "" {
				b.WriteString(" and verify it")
			}
		}
		if len(rs) == 0 {
			if cmd := r.rb.Envs[s.On].Operations["restart"]; cmd != "" {
				b.WriteString("\n  then the restart operation (nothing verifies it)")
			} else {
				b.WriteString("\n  nothing restarts the application afterwards")
			}
		}
	default:
		for _, h := range r.rb.Envs[s.On].Hosts {
			fmt.Fprintf(&b, "\n  %s: %s", h.Name, r.cfg.Masker.Mask(runbook.RenderForDisplay(s.Undo, r.data(s, h))))
		}
	}
	r.cfg.UI.Detail(b.String())
}

// failRollback ends a rollback that could not finish: rollback_failed,
// naming what failed and what to type next.
func (r *rollback) failRollback(ctx context.Context, why string) error {
	if r.rel().State == runbook.ReleaseRollingBack {
		if err := r.rec.release(ctx, runbook.EvRollbackFail, why); err != nil {
			return err
		}
	}
	return runbook.WithHint(fmt.Errorf("%w: rollback failed: %s", runbook.ErrStepFailed, why),
		"fix the cause on those hosts, then `runbook rollback` retries what is left of the rollback; `runbook status` shows the output")
}

// stopRollback leaves the step where it is and pauses the rollback.
func (r *rollback) stopRollback(ctx context.Context, sr *runbook.StepRun, cause error) error {
	var re *runbook.RecordError
	if errors.As(cause, &re) {
		return cause // nothing more can be recorded (see runbook.RecordError)
	}
	if sr.State == runbook.RunUndoing {
		if err := r.rec.step(ctx, sr, runbook.EvInterrupt, stopReason(cause)); err != nil {
			return err
		}
	}
	if r.rel().State == runbook.ReleaseRollingBack {
		if err := r.rec.release(ctx, runbook.EvPause, stopReason(cause)); err != nil {
			return err
		}
	}
	if errors.Is(cause, runbook.ErrPaused) {
		r.cfg.UI.Info("rollback paused; `runbook rollback` continues it")
	}
	return cause
}

func rollbackPromptErr(err error) error {
	if errors.Is(err, runbook.ErrPromptInterrupted) {
		return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
	}
	return err
}

func (r *rollback) interruptedRollback(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if r.rel().State == runbook.ReleaseRollingBack {
		if err := r.rec.release(ctx, runbook.EvPause, runbook.ReasonOperatorStopped+" (Ctrl-C)"); err != nil {
			return err
		}
	}
	return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
}

// liveNow says, after a rollback, what runs on the environments this
// release switched, and where a verify showed it: ": production 1.0.0
// (verified on prod1, prod2)".
func (r *rollback) liveNow(ctx context.Context) string {
	envs := map[string]bool{}
	for _, sr := range r.steps {
		if sr.Kind == runbook.KindActivate {
			envs[sr.Env] = true
		}
	}
	live, err := r.cfg.Store.LiveVersions(ctx)
	if err != nil || len(envs) == 0 {
		return ""
	}
	type seen struct{ verified, unverified []string }
	by := map[string]map[string]*seen{} // env → version → hosts
	for _, l := range live {
		if !envs[l.Env] {
			continue
		}
		if by[l.Env] == nil {
			by[l.Env] = map[string]*seen{}
		}
		x := by[l.Env][l.Version]
		if x == nil {
			x = &seen{}
			by[l.Env][l.Version] = x
		}
		if l.VerifiedAt.IsZero() {
			x.unverified = append(x.unverified, l.Host)
		} else {
			x.verified = append(x.verified, l.Host)
		}
	}
	var parts []string
	for _, en := range r.rb.EnvOrder {
		for v, x := range by[en] {
			p := en + " " + v
			switch {
			case len(x.unverified) == 0:
				p += " (verified on " + strings.Join(x.verified, ", ") + ")"
			case len(x.verified) == 0:
				p += " (not verified on " + strings.Join(x.unverified, ", ") + ")"
			default:
				p += " (verified on " + strings.Join(x.verified, ", ") + "; not verified on " + strings.Join(x.unverified, ", ") + ")"
			}
			parts = append(parts, p)
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return ""
	}
	return "; live now: " + strings.Join(parts, "; ")
}
