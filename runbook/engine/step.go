package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
		return "interrupted by the operator (Ctrl-C)"
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

// promptErr turns what a prompt returned into how the walk stops (sr nil:
// outside a step).
func (w *walk) promptErr(ctx context.Context, sr *runbook.StepRun, err error) error {
	if errors.Is(err, runbook.ErrPromptInterrupted) {
		err = runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` continues")
	}
	if sr != nil && (errors.Is(err, runbook.ErrInterrupted) || errors.Is(err, runbook.ErrNeedsHuman)) {
		return w.stop(ctx, sr, err)
	}
	return err
}

func (w *walk) pause(ctx context.Context) error {
	if w.rel().State == runbook.ReleaseRunning {
		if err := w.rec.release(ctx, runbook.EvPause, "paused by "+w.cfg.Operator); err != nil {
			return err
		}
	}
	w.cfg.UI.Info("release paused; `runbook resume` continues where it stopped")
	return runbook.ErrPaused
}

// abort ends the release for good, once the operator confirmed it: it
// cannot be resumed or rolled back step by step afterwards, so the
// question names what the release changed and defaults to no. aborted
// false means the operator went back.
func (w *walk) abort(ctx context.Context) (aborted bool, err error) {
	msg := fmt.Sprintf("Abort release %s for good? Nothing is undone, and it cannot be resumed or rolled back step by step afterwards.", w.rel().Version)
	if changed := w.changedHosts(); changed != "" {
		msg += "\n  It changed " + changed + "."
	}
	ok, err := w.ask.Confirm(msg, "Yes, abort the release", "No, go back")
	if err != nil {
		return false, w.promptErr(ctx, nil, err)
	}
	if !ok {
		return false, nil
	}
	reason, err := w.ask.Text("Why abort? (recorded)", "", "")
	if err != nil {
		return false, w.promptErr(ctx, nil, err)
	}
	w.rel().FinishedAt = w.rec.now()
	if err := w.rec.release(ctx, runbook.EvAbort, "aborted by "+w.cfg.Operator+": "+reason); err != nil {
		return false, err
	}
	w.rec.note(ctx, "deviation", "", "", "release aborted by "+w.cfg.Operator+": "+reason)
	w.cfg.UI.Info("release aborted; nothing was undone")
	return true, runbook.ErrAborted
}

// changedHosts names the hosts this release changed, by environment:
// "prerelease (pre1), production (prod1, prod2)".
func (w *walk) changedHosts() string {
	var order []string
	hosts := map[string][]string{}
	for i, sr := range w.steps {
		switch w.rb.Changes(w.rb.Steps[i]) {
		case runbook.ChangesNothing, runbook.ChangesBuild:
			continue
		}
		for _, hr := range sr.Hosts {
			if !tookEffect(hr) || slices.Contains(hosts[sr.Env], hr.Host) {
				continue
			}
			if hosts[sr.Env] == nil {
				order = append(order, sr.Env)
			}
			hosts[sr.Env] = append(hosts[sr.Env], hr.Host)
		}
	}
	parts := make([]string, len(order))
	for i, en := range order {
		parts[i] = fmt.Sprintf("%s (%s)", en, strings.Join(hosts[en], ", "))
	}
	return strings.Join(parts, ", ")
}

// details shows what a step would do on each host, secrets masked.
func (w *walk) details(s *runbook.Step) {
	var b strings.Builder
	fmt.Fprintf(&b, "step %s (%s", s.Name, s.Kind)
	if s.On != "" {
		fmt.Fprintf(&b, " on %s", s.On)
	}
	b.WriteString(")")
	if s.Description != "" {
		b.WriteString("\n  " + s.Description)
	}
	switch s.Kind {
	case runbook.KindUpload:
		fmt.Fprintf(&b, "\n  stage %s as releases/%s/%s in each host's deploy_dir: streamed, checked by SHA-256 on the host, renamed into place",
			w.rb.Artifact.Path, w.rel().Version, w.rb.Artifact.Name)
	case runbook.KindActivate:
		fmt.Fprintf(&b, "\n  point each host's current to releases/%s (atomically); undo switches back and restarts", w.rel().Version)
	}
	fields := [][2]string{{"command", s.Command(w.rb.Envs[s.On])}, {"verify", s.Verify}, {"check", s.Check}, {"undo", s.Undo}}
	if s.HasHosts() && slices.ContainsFunc(fields, func(kv [2]string) bool { return kv[1] != "" }) {
		for _, h := range w.rb.Envs[s.On].Hosts {
			d := w.data(s, h)
			fmt.Fprintf(&b, "\n  %s:", h.Name)
			for _, kv := range fields {
				if kv[1] == "" {
					continue
				}
				// Continuation lines of a multi-line command stay indented.
				text := strings.ReplaceAll(w.cfg.Masker.Mask(runbook.RenderForDisplay(kv[1], d)), "\n", "\n      ")
				fmt.Fprintf(&b, "\n    %s: %s", kv[0], text)
			}
		}
	}
	w.cfg.UI.Detail(b.String())
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
