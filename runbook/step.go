package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Choices of the prompts (SPEC §4).
const (
	ChRun      = "Run"
	ChConfirm  = "Confirm"
	ChSkip     = "Skip"
	ChDetails  = "Show details"
	ChPause    = "Pause"
	ChAbort    = "Abort"
	ChRetry    = "Retry"
	ChRollback = "Rollback"
	ChRerun    = "Re-run"
	ChMarkDone = "Mark done"
)

// runStep brings step i to succeeded or skipped, or returns why it stopped.
func (w *Walker) runStep(ctx context.Context, i int) error {
	s, sr := w.RB.Steps[i], w.steps[i]
	if sr.State == RunSucceeded || sr.State == RunSkipped {
		return nil
	}
	w.UI.StepHeader(i, len(w.steps), s, sr)

	switch sr.State {
	case RunInterrupted:
		if err := w.settleStep(ctx, s, sr); err != nil {
			return err
		}
		if sr.State == RunSucceeded || sr.State == RunSkipped {
			return nil
		}
	case RunFailed:
		if !w.RetryFailed {
			retry, err := w.afterFailure(ctx, s, sr)
			if err != nil || !retry {
				return err
			}
		}
	case RunPending:
		if go_, err := w.beforeStep(ctx, s, sr); err != nil || !go_ {
			return err
		}
	}
	return w.execute(ctx, s, sr)
}

// execute runs the step (again) until it succeeds, is skipped, or stops.
func (w *Walker) execute(ctx context.Context, s *Step, sr *StepRun) error {
	for {
		if err := w.interrupted(ctx); err != nil {
			return err
		}
		ev := map[RunState]string{RunPending: EvStart, RunFailed: EvRetry, RunInterrupted: EvRerun}[sr.State]
		// A step with one host to run moves with it: its start is committed
		// with the host run's start, its success with the host's — two
		// commits (two fsyncs) per step instead of four.
		single := s.HasHosts() && runnable(sr) == 1
		if sr.State != RunRunning {
			sr.Attempts++
			sr.StartedAt = w.now()
			if single {
				w.mu.Lock()
				w.deferred = &deferredStep{sr: sr, ev: ev}
				w.mu.Unlock()
			} else if err := w.fireStep(ctx, sr, ev, ""); err != nil {
				return err
			}
		}
		var err error
		switch s.Kind {
		case KindConfirm:
			err = w.confirm(ctx, s, sr)
		case KindDiff:
			err = w.diffStep(ctx, s, sr)
		default:
			if single {
				w.single = sr
			}
			err = w.runHosts(ctx, s, sr)
			w.single = nil
		}
		var re *RecordError
		if errors.As(err, &re) {
			// The database refused a write (full disk): the step and its
			// host runs stay as last committed, and recording the step
			// failed would blame it for the database.
			w.mu.Lock()
			w.deferred = nil
			w.mu.Unlock()
			return err
		}
		if ferr := w.flushDeferred(ctx); ferr != nil {
			return ferr
		}
		if err == nil && sr.State == RunSucceeded {
			w.UI.StepDone(s, sr) // committed together with its host
			return nil
		}
		if errors.Is(err, ErrInterrupted) || errors.Is(err, ErrNeedsHuman) || errors.Is(err, ErrPaused) || errors.Is(err, ErrAborted) || errors.Is(err, ErrInDoubt) {
			return w.stopInStep(ctx, sr, err)
		}
		sr.FinishedAt = w.now()
		if err == nil {
			if err := w.fireStep(ctx, sr, EvSucceed, ""); err != nil {
				return err
			}
			w.UI.StepDone(s, sr)
			return nil
		}
		if ferr := w.fireStep(ctx, sr, EvFail, err.Error()); ferr != nil {
			return ferr
		}
		w.UI.StepDone(s, sr)
		w.UI.Warn(w.Masker.Mask(err.Error()))
		retry, perr := w.afterFailure(ctx, s, sr)
		if perr != nil || !retry {
			return perr
		}
	}
}

// stopInStep leaves the step interrupted and the release paused when the
// walk stops part-way through a step (Ctrl-C, a decision nobody can make).
func (w *Walker) stopInStep(ctx context.Context, sr *StepRun, cause error) error {
	var re *RecordError
	if errors.As(cause, &re) {
		return cause // nothing more can be recorded (see RecordError)
	}
	if sr.State == RunRunning {
		if err := w.fireStep(ctx, sr, EvInterrupt, stopReason(cause)); err != nil {
			return err
		}
	}
	if w.rel.State == ReleaseRunning {
		if err := w.fireRelease(ctx, EvPause, stopReason(cause)); err != nil {
			return err
		}
	}
	return cause
}

func stopReason(err error) string {
	switch {
	case errors.Is(err, ErrInterrupted):
		return "interrupted by the operator (Ctrl-C)"
	case errors.Is(err, ErrNeedsHuman):
		return "a decision is needed: " + err.Error()
	}
	return err.Error()
}

// beforeStep asks before a step; false means do not run it now.
func (w *Walker) beforeStep(ctx context.Context, s *Step, sr *StepRun) (bool, error) {
	if s.Kind == KindConfirm {
		if err := w.signoffsAvailable(s); err != nil {
			return false, w.stopInStep(ctx, sr, err)
		}
	}
	if w.Yes || (s.Auto && s.Kind != KindConfirm) {
		return true, nil
	}
	if w.Prompt == nil {
		return false, w.stopInStep(ctx, sr, WithHint(fmt.Errorf("%w: step %s needs the operator", ErrNeedsHuman, s.Name), "run it in a terminal, or pass --yes"))
	}
	run := ChRun
	msg := fmt.Sprintf("Run %s?", s.Name)
	if s.Kind == KindConfirm {
		run, msg = ChConfirm, s.Confirm
	}
	for {
		choice, err := w.Prompt.Select(msg, []string{run, ChSkip, ChDetails, ChPause, ChAbort}, run)
		if err != nil {
			return false, w.promptErr(ctx, sr, err)
		}
		switch choice {
		case ChRun, ChConfirm:
			return true, nil
		case ChDetails:
			w.showDetails(s)
		case ChSkip:
			reason, err := w.reason("Why skip " + s.Name + "? (recorded)")
			if err != nil {
				return false, w.promptErr(ctx, sr, err)
			}
			return false, w.skipStep(ctx, sr, reason)
		case ChPause:
			return false, w.pause(ctx)
		case ChAbort:
			return false, w.abortHere(ctx)
		}
	}
}

// afterFailure asks what to do after a failed step; true means retry.
func (w *Walker) afterFailure(ctx context.Context, s *Step, sr *StepRun) (bool, error) {
	if w.Prompt == nil || w.Yes {
		if w.rel.State == ReleaseRunning {
			if err := w.fireRelease(ctx, EvFail, "step "+s.Name+" failed"); err != nil {
				return false, err
			}
		}
		return false, WithHint(fmt.Errorf("%w: %s", ErrStepFailed, s.Name),
			"fix the cause, then `runbook resume` retries it; `runbook status` shows what happened")
	}
	options := []string{ChRetry, ChSkip, ChDetails, ChPause, ChAbort}
	if s.Kind == KindDiff {
		options = append([]string{ChRetry, ChAccept}, options[1:]...)
	}
	for {
		choice, err := w.Prompt.Select(fmt.Sprintf("%s failed. What now?", s.Name), options, ChRetry)
		if err != nil {
			return false, w.promptErr(ctx, sr, err)
		}
		switch choice {
		case ChRetry:
			return true, nil
		case ChAccept:
			reason, err := w.reason("Why is the difference acceptable? (recorded)")
			if err != nil {
				return false, w.promptErr(ctx, sr, err)
			}
			if w.AcceptDiff == nil {
				w.AcceptDiff = map[string]string{}
			}
			// Compared again with the acceptance in place: what is
			// accepted is what differs now, not what differed before.
			w.AcceptDiff[s.Name] = reason
			return true, nil
		case ChDetails:
			w.showDetails(s)
			for _, hr := range sr.Hosts {
				if hr.State == RunFailed && hr.OutputTail != "" {
					w.UI.Detail(fmt.Sprintf("%s (exit %d):\n%s", hr.Host, hr.ExitCode, indent(hr.OutputTail)))
				}
			}
		case ChSkip:
			reason, err := w.reason("Why skip the failed " + s.Name + "? (recorded)")
			if err != nil {
				return false, w.promptErr(ctx, sr, err)
			}
			return false, w.skipStep(ctx, sr, reason)
		case ChPause:
			return false, w.pause(ctx)
		case ChAbort:
			return false, w.abortHere(ctx)
		}
	}
}

func (w *Walker) reason(msg string) (string, error) {
	for {
		r, err := w.Prompt.Input(msg, "")
		if err != nil {
			return "", err
		}
		if r = strings.TrimSpace(r); r != "" {
			return r, nil
		}
		w.UI.Warn("a reason is needed: it goes into the report")
	}
}

func (w *Walker) promptErr(ctx context.Context, sr *StepRun, err error) error {
	if errors.Is(err, ErrPromptInterrupted) {
		return w.stopInStep(ctx, sr, WithHint(ErrInterrupted, "state saved; `runbook resume` continues"))
	}
	if errors.Is(err, ErrNoTerminal) {
		return w.stopInStep(ctx, sr, WithHint(fmt.Errorf("%w: %s needs the operator", ErrNeedsHuman, sr.Name), "run it in a terminal, or pass --yes"))
	}
	return err
}

func (w *Walker) pause(ctx context.Context) error {
	if w.rel.State == ReleaseRunning {
		if err := w.fireRelease(ctx, EvPause, "paused by "+w.Operator); err != nil {
			return err
		}
	}
	w.UI.Info("release paused; `runbook resume` continues where it stopped")
	return ErrPaused
}

func (w *Walker) abortHere(ctx context.Context) error {
	w.rel.FinishedAt = w.now()
	if err := w.fireRelease(ctx, EvAbort, "aborted by "+w.Operator); err != nil {
		return err
	}
	w.note(ctx, "deviation", "", "", "release aborted by "+w.Operator)
	w.UI.Info("release aborted; nothing was undone")
	return ErrAborted
}

func (w *Walker) showDetails(s *Step) {
	var b strings.Builder
	fmt.Fprintf(&b, "step %s (%s", s.Name, s.Kind)
	if s.On != "" {
		fmt.Fprintf(&b, " on %s", s.On)
	}
	b.WriteString(")")
	if s.Description != "" {
		b.WriteString("\n  " + s.Description)
	}
	if s.HasHosts() {
		for _, h := range w.RB.Envs[s.On].Hosts {
			d := w.Data(s, h)
			fmt.Fprintf(&b, "\n  %s:", h.Name)
			for _, kv := range [][2]string{{"command", s.Command(w.RB.Envs[s.On])}, {"verify", s.Verify}, {"check", s.Check}, {"undo", s.Undo}} {
				if kv[1] == "" {
					continue
				}
				fmt.Fprintf(&b, "\n    %s: %s", kv[0], w.Masker.Mask(RenderForDisplay(kv[1], d)))
			}
		}
	}
	w.UI.Detail(b.String())
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// runnable counts the host runs a step would run now.
func runnable(sr *StepRun) int {
	n := 0
	for _, hr := range sr.Hosts {
		if hr.State != RunSucceeded && hr.State != RunSkipped {
			n++
		}
	}
	return n
}
