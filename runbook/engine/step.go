package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
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
	ChAccept   = "Accept the difference"
)

// step brings step i to succeeded or skipped, or returns why it stopped.
func (w *walk) step(ctx context.Context, i int) error {
	s, sr := w.rb.Steps[i], w.steps[i]
	if sr.State == runbook.RunSucceeded || sr.State == runbook.RunSkipped {
		return nil
	}
	w.cfg.UI.StepHeader(i, len(w.steps), s, sr)

	switch sr.State {
	case runbook.RunInterrupted:
		if s.Kind == runbook.KindConfirm {
			// A prompt changes nothing on a host: ask it again.
			if _, err := w.before(ctx, s, sr); err != nil {
				return err
			}
			break
		}
		for _, hr := range sr.Hosts {
			if hr.State == runbook.RunInterrupted {
				w.cfg.UI.Detail(fmt.Sprintf("%s on %s was interrupted (attempt %d); settling it", s.Name, hr.Host, hr.Attempts))
			}
		}
	case runbook.RunFailed:
		if !w.retryFailed {
			retry, err := w.afterFailure(ctx, s, sr)
			if err != nil || !retry {
				return err
			}
		}
	case runbook.RunPending:
		if run, err := w.before(ctx, s, sr); err != nil || !run {
			return err
		}
	}
	return w.execute(ctx, s, sr)
}

// execute runs the step (again) until it succeeds, is skipped, or stops.
func (w *walk) execute(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) error {
	if err := w.lockEnv(ctx, s); err != nil {
		return w.stop(ctx, sr, err)
	}
	for {
		if err := w.interrupted(ctx); err != nil {
			return err
		}
		// A step with one host to run moves with it: its start is committed
		// with the host run's start, its success with the host's — two
		// commits (two fsyncs) per step instead of four.
		single := s.HasHosts() && runnable(sr) == 1
		if sr.State != runbook.RunRunning {
			ev := map[runbook.RunState]string{runbook.RunPending: runbook.EvStart, runbook.RunFailed: runbook.EvRetry, runbook.RunInterrupted: runbook.EvRerun}[sr.State]
			sr.Attempts++
			sr.StartedAt = w.rec.now()
			if single {
				w.rec.deferStart(sr, ev)
			} else if err := w.rec.step(ctx, sr, ev, ""); err != nil {
				return err
			}
		}
		var err error
		switch s.Kind {
		case runbook.KindConfirm:
			err = w.confirm(ctx, s, sr)
		case runbook.KindDiff:
			err = w.diff(ctx, s, sr)
		default:
			err = w.hosts(ctx, s, sr, single)
		}
		var re *runbook.RecordError
		if errors.As(err, &re) {
			// The database refused a write (full disk): the step and its
			// host runs stay as last committed, and recording the step
			// failed would blame it for the database.
			w.rec.drop(sr)
			return err
		}
		if ferr := w.rec.flush(ctx, sr); ferr != nil {
			return ferr
		}
		if err == nil && sr.State == runbook.RunSucceeded {
			w.cfg.UI.StepDone(s, sr) // committed together with its host
			return nil
		}
		if stops(err) {
			return w.stop(ctx, sr, err)
		}
		sr.FinishedAt = w.rec.now()
		if err == nil {
			if err := w.rec.step(ctx, sr, runbook.EvSucceed, ""); err != nil {
				return err
			}
			w.cfg.UI.StepDone(s, sr)
			return nil
		}
		if ferr := w.rec.step(ctx, sr, runbook.EvFail, err.Error()); ferr != nil {
			return ferr
		}
		w.cfg.UI.StepDone(s, sr)
		w.cfg.UI.Warn(w.cfg.Masker.Mask(err.Error()))
		retry, perr := w.afterFailure(ctx, s, sr)
		if perr != nil || !retry {
			return perr
		}
	}
}

// stops reports the errors that end a walk part-way through a step, as
// opposed to a failure of the step.
func stops(err error) bool {
	for _, e := range []error{runbook.ErrInterrupted, runbook.ErrNeedsHuman, runbook.ErrPaused, runbook.ErrAborted, runbook.ErrInDoubt, errRollbackChosen} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// stop leaves the step interrupted and the release paused when the walk
// stops part-way through a step (Ctrl-C, a decision nobody can make).
func (w *walk) stop(ctx context.Context, sr *runbook.StepRun, cause error) error {
	var re *runbook.RecordError
	if errors.As(cause, &re) {
		return cause // nothing more can be recorded (see RecordError)
	}
	if sr.State == runbook.RunRunning {
		if err := w.rec.step(ctx, sr, runbook.EvInterrupt, stopReason(cause)); err != nil {
			return err
		}
	}
	if w.rel().State == runbook.ReleaseRunning {
		reason := stopReason(cause)
		if errors.Is(cause, runbook.ErrPaused) {
			reason = "paused by " + w.cfg.Operator
		}
		if err := w.rec.release(ctx, runbook.EvPause, reason); err != nil {
			return err
		}
	}
	return cause
}

func stopReason(err error) string {
	switch {
	case errors.Is(err, runbook.ErrInterrupted):
		return runbook.ReasonOperatorStopped + " (Ctrl-C)"
	case errors.Is(err, runbook.ErrNeedsHuman):
		return strings.TrimPrefix(err.Error(), runbook.ErrNeedsHuman.Error()+": ")
	}
	return err.Error()
}

// before asks before a step; false means do not run it now.
func (w *walk) before(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) (bool, error) {
	if s.Kind == runbook.KindConfirm {
		if err := w.signoffsAvailable(s); err != nil {
			return false, w.stop(ctx, sr, err)
		}
	}
	if s.Auto && s.Kind != runbook.KindConfirm && !w.ask.Yes() {
		return true, nil
	}
	run, msg := ChRun, fmt.Sprintf("Run %s?", s.Name)
	if s.Kind == runbook.KindConfirm {
		run, msg = ChConfirm, s.Confirm
	}
	for {
		choice, err := w.ask.Choose(Question{Msg: msg, Options: []string{run, ChSkip, ChDetails, ChPause, ChAbort}, Default: run, Assume: run,
			Refuse: fmt.Sprintf("step %s needs the operator", s.Name), Hint: "run it in a terminal, or pass --yes"})
		if err != nil {
			return false, w.promptErr(ctx, sr, err)
		}
		switch choice {
		case ChRun, ChConfirm:
			return true, nil
		case ChDetails:
			w.details(s)
		case ChSkip:
			reason, err := w.ask.Text("Why skip "+s.Name+"? (recorded)", "", "")
			if err != nil {
				return false, w.promptErr(ctx, sr, err)
			}
			return false, w.rec.skip(ctx, sr, reason)
		case ChPause:
			return false, w.pause(ctx)
		case ChAbort:
			if aborted, err := w.abort(ctx); aborted || err != nil {
				return false, err
			}
		}
	}
}

// afterFailure asks what to do after a failed step; true means retry.
func (w *walk) afterFailure(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) (bool, error) {
	if !w.ask.Asks() {
		if w.rel().State == runbook.ReleaseRunning {
			if err := w.rec.release(ctx, runbook.EvFail, "step "+s.Name+" failed"); err != nil {
				return false, err
			}
		}
		return false, runbook.WithHint(fmt.Errorf("%w: %s", runbook.ErrStepFailed, s.Name),
			"fix the cause, then `runbook resume` retries it, or `runbook rollback` undoes the release; `runbook status` shows what happened")
	}
	options := []string{ChRetry, ChSkip, ChDetails, ChRollback, ChPause, ChAbort}
	if s.Kind == runbook.KindDiff {
		options = append([]string{ChRetry, ChAccept}, options[1:]...)
	}
	for {
		choice, err := w.ask.Choose(Question{Msg: fmt.Sprintf("%s failed. What now?", s.Name), Options: options, Default: ChRetry})
		if err != nil {
			return false, w.promptErr(ctx, sr, err)
		}
		switch choice {
		case ChRetry:
			return true, nil
		case ChAccept:
			reason, err := w.ask.Text("Why is the difference acceptable? (recorded)", "", "")
			if err != nil {
				return false, w.promptErr(ctx, sr, err)
			}
			// Compared again with the acceptance in place: what is
			// accepted is what differs now, not what differed before.
			w.cfg.AcceptDiff[s.Name] = reason
			return true, nil
		case ChDetails:
			w.details(s)
			for _, hr := range sr.Hosts {
				if hr.State == runbook.RunFailed && hr.OutputTail != "" {
					w.cfg.UI.Detail(fmt.Sprintf("%s (exit %d):\n%s", hr.Host, hr.ExitCode, indent(hr.OutputTail)))
				}
			}
		case ChSkip:
			reason, err := w.ask.Text("Why skip the failed "+s.Name+"? (recorded)", "", "")
			if err != nil {
				return false, w.promptErr(ctx, sr, err)
			}
			return false, w.rec.skip(ctx, sr, reason)
		case ChRollback:
			if w.rel().State == runbook.ReleaseRunning {
				if err := w.rec.release(ctx, runbook.EvFail, "step "+s.Name+" failed; the operator chose to roll back"); err != nil {
					return false, err
				}
			}
			return false, errRollbackChosen
		case ChPause:
			return false, w.pause(ctx)
		case ChAbort:
			if aborted, err := w.abort(ctx); aborted || err != nil {
				return false, err
			}
		}
	}
}

// promptErr turns what a prompt in step sr returned into how the walk
// stops.
func (w *walk) promptErr(ctx context.Context, sr *runbook.StepRun, err error) error {
	err = interruptedAt(err)
	if errors.Is(err, runbook.ErrInterrupted) || errors.Is(err, runbook.ErrNeedsHuman) {
		return w.stop(ctx, sr, err)
	}
	return err
}

// interruptedAt turns a Ctrl-C at a prompt into the walk's interruption.
func interruptedAt(err error) error {
	if errors.Is(err, runbook.ErrPromptInterrupted) {
		return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` continues")
	}
	return err
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// runnable counts the host runs a step would run now.
func runnable(sr *runbook.StepRun) int {
	n := 0
	for _, hr := range sr.Hosts {
		if hr.State != runbook.RunSucceeded && hr.State != runbook.RunSkipped {
			n++
		}
	}
	return n
}
