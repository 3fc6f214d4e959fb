package runbook

import (
	"context"
	"errors"
	"fmt"
)

// settleStep resumes an interrupted step: a confirm is asked again (a prompt
// changes nothing on a host); host runs are settled one by one in runHosts.
func (w *Walker) settleStep(ctx context.Context, s *Step, sr *StepRun) error {
	if s.Kind == KindConfirm {
		if _, err := w.beforeStep(ctx, s, sr); err != nil {
			return err
		}
		return nil
	}
	for _, hr := range sr.Hosts {
		if hr.State == RunInterrupted {
			w.UI.Detail(fmt.Sprintf("%s on %s was interrupted (attempt %d); settling it", s.Name, hr.Host, hr.Attempts))
		}
	}
	return nil
}

// settleHost decides what to do with an interrupted host run (SPEC §4,
// DESIGN "Resume exactly" 4). settled reports that the run reached a final
// state here; false means run the action again.
func (w *Walker) settleHost(ctx context.Context, s *Step, sr *StepRun, hr *HostRun, call *Call) (settled bool, err error) {
	call.Token, call.Attempt, call.Since = hr.Token, hr.Attempts, hr.StartedAt
	ev := Settlement{State: SettleNeverStarted}
	if hr.Token != "" {
		if ev, err = w.Exec.Settle(ctx, call); err != nil {
			return false, fmt.Errorf("settle %s on %s: %w", s.Name, hr.Host, err)
		}
	}
	switch ev.State {
	case SettleNeverStarted:
		w.UI.Detail(fmt.Sprintf("%s on %s never started: running it", s.Name, hr.Host))
		return false, nil
	case SettleRunning:
		// Left running by a process that died: wait for it to end, then
		// settle by what it left behind.
		w.UI.Detail(fmt.Sprintf("%s on %s is still running on the host: waiting for it", s.Name, hr.Host))
		out := w.output(s, hr)
		call.Out = out
		outcome, werr := w.Exec.Wait(ctx, call)
		out.Close()
		if ctx.Err() != nil {
			return false, WithHint(ErrInterrupted, "state saved; `runbook resume` settles it")
		}
		if werr == nil {
			return w.adopt(ctx, s, sr, hr, call, outcome.ExitCode, "reattached: it ended with exit %d")
		}
		if !errors.Is(werr, ErrInDoubt) {
			return false, fmt.Errorf("wait for %s on %s: %w", s.Name, hr.Host, werr)
		}
	case SettleFinished:
		return w.adopt(ctx, s, sr, hr, call, ev.ExitCode, "outcome found on the host: exit %d")
	}

	// In doubt: the command may have run, part-way or whole.
	if call.Check != "" {
		ok, err := w.Exec.Check(ctx, call)
		if err == nil && ok {
			if err := w.recordEffects(ctx, s, hr); err != nil {
				return false, err
			}
			if err := w.fireHost(ctx, sr, hr, EvMarkDone, "verified by check"); err != nil {
				return false, err
			}
			w.Exec.Forget(context.WithoutCancel(ctx), call)
			w.UI.HostDone(s, hr, "verified by check")
			return true, nil
		}
		w.UI.Detail(fmt.Sprintf("%s on %s: check says the effect is not in place", s.Name, hr.Host))
	}
	if s.IsIdempotent() {
		w.UI.Detail(fmt.Sprintf("%s on %s was in doubt; it is idempotent: running it again", s.Name, hr.Host))
		return false, nil
	}
	if w.Prompt == nil || w.Yes {
		return false, WithHint(fmt.Errorf("%w: %s on %s was interrupted mid-run and may or may not have taken effect", ErrNeedsHuman, s.Name, hr.Host),
			"run `runbook resume` in a terminal to decide (re-run, mark done, skip), or give the step a `check`")
	}
	for {
		choice, err := w.Prompt.Select(fmt.Sprintf("%s on %s was interrupted and may have run. What now?", s.Name, hr.Host),
			[]string{ChRerun, ChMarkDone, ChSkip, ChDetails, ChPause}, ChPause)
		if err != nil {
			return false, w.promptErr(ctx, sr, err)
		}
		switch choice {
		case ChRerun:
			w.note(ctx, "deviation", s.Name, hr.Host, "re-run after an interruption, decided by "+w.Operator)
			return false, nil
		case ChMarkDone:
			reason, err := w.reason("Why is it done? (recorded)")
			if err != nil {
				return false, w.promptErr(ctx, sr, err)
			}
			if err := w.recordEffects(ctx, s, hr); err != nil {
				return false, err
			}
			if err := w.fireHost(ctx, sr, hr, EvMarkDone, "marked done: "+reason); err != nil {
				return false, err
			}
			w.note(ctx, "deviation", s.Name, hr.Host, "marked done: "+reason)
			return true, nil
		case ChSkip:
			reason, err := w.reason("Why skip it? (recorded)")
			if err != nil {
				return false, w.promptErr(ctx, sr, err)
			}
			if err := w.fireHost(ctx, sr, hr, EvSkip, reason); err != nil {
				return false, err
			}
			w.note(ctx, "deviation", s.Name, hr.Host, "skipped after an interruption: "+reason)
			return true, nil
		case ChDetails:
			w.showDetails(s)
			if hr.OutputTail != "" {
				w.UI.Detail("last output:\n" + indent(hr.OutputTail))
			}
		case ChPause:
			return false, w.pause(ctx)
		}
	}
}

// adopt records an outcome the host kept for a run whose process died.
func (w *Walker) adopt(ctx context.Context, s *Step, sr *StepRun, hr *HostRun, call *Call, code int, format string) (bool, error) {
	reason := fmt.Sprintf(format, code)
	if err := w.fireHost(ctx, sr, hr, EvRerun, reason); err != nil {
		return false, err
	}
	w.UI.Detail(fmt.Sprintf("%s on %s: %s", s.Name, hr.Host, reason))
	out := w.output(s, hr)
	call.Out = out
	return true, w.finishHost(ctx, s, sr, hr, call, out, Outcome{ExitCode: code}, nil)
}
