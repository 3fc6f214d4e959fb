package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
)

// settleAll settles every interrupted host run among tasks, within the
// step's parallel limit. A run settled to an end (adopted, verified by its
// check, marked done, skipped) is flagged settled; one that must run again
// is left interrupted for the step to run.
func (h *hostRuns) settleAll(ctx context.Context, tasks []hostTask, lim Limits) error {
	var open []*hostTask
	for i := range tasks {
		if tasks[i].hr.State == runbook.RunInterrupted {
			open = append(open, &tasks[i])
		}
	}
	res := FanOut(ctx, open, Limits{Parallel: lim.Parallel, MaxFail: runbook.Share{N: len(open)}}, func(ctx context.Context, t *hostTask) (bool, error) {
		call, err := h.call(ctx, t.s, t.h)
		if err != nil {
			return false, err
		}
		settled, err := h.settle(ctx, *t, call)
		t.settled = settled
		return false, err
	})
	return res.Err
}

// settle decides what to do with an interrupted host run (SPEC §4, DESIGN
// "Resume exactly" 4). settled reports that the run reached a final state
// here; false means run the action again.
func (h *hostRuns) settle(ctx context.Context, t hostTask, call *runbook.Call) (settled bool, err error) {
	s, hr := t.s, t.hr
	call.Token, call.Attempt, call.Since = hr.Token, hr.Attempts, hr.StartedAt
	ev := runbook.Settlement{State: runbook.SettleNeverStarted}
	if hr.Token != "" {
		if ev, err = h.cfg.Exec.Settle(ctx, call); err != nil {
			return false, fmt.Errorf("settle %s on %s: %w", s.Name, hr.Host, err)
		}
	}
	switch ev.State {
	case runbook.SettleNeverStarted:
		h.cfg.UI.Detail(fmt.Sprintf("%s on %s never started: running it", s.Name, hr.Host))
		return false, nil
	case runbook.SettleRunning:
		// Left running by a process that died: wait for it to end, then
		// settle by what it left behind.
		h.cfg.UI.Detail(fmt.Sprintf("%s on %s is still running on the host: waiting for it", s.Name, hr.Host))
		out := h.output(s, hr)
		call.Out = out
		outcome, werr := h.cfg.Exec.Wait(ctx, call)
		out.Close()
		if ctx.Err() != nil {
			return false, runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` settles it")
		}
		if werr == nil {
			return h.adopt(ctx, t, call, outcome.ExitCode, "reattached: it ended with exit %d")
		}
		if !errors.Is(werr, runbook.ErrInDoubt) {
			return false, fmt.Errorf("wait for %s on %s: %w", s.Name, hr.Host, werr)
		}
	case runbook.SettleFinished:
		return h.adopt(ctx, t, call, ev.ExitCode, "outcome found on the host: exit %d")
	}
	return h.settleInDoubt(ctx, t, call)
}

// settleInDoubt decides a run that may have run, part-way or whole: its
// check, else its idempotence, else the operator.
func (h *hostRuns) settleInDoubt(ctx context.Context, t hostTask, call *runbook.Call) (bool, error) {
	s, sr, hr := t.s, t.sr, t.hr
	if call.Check != "" {
		ok, err := h.cfg.Exec.Check(ctx, call)
		if err == nil && ok {
			if err := h.recordEffects(ctx, s, hr); err != nil {
				return false, err
			}
			if err := h.rec.host(ctx, sr, hr, runbook.EvMarkDone, "verified by check"); err != nil {
				return false, err
			}
			h.cfg.Exec.Forget(context.WithoutCancel(ctx), call)
			h.cfg.UI.HostDone(s, hr, "verified by check")
			return true, nil
		}
		h.cfg.UI.Detail(fmt.Sprintf("%s on %s: check says the effect is not in place", s.Name, hr.Host))
	}
	if s.IsIdempotent() {
		h.cfg.UI.Detail(fmt.Sprintf("%s on %s was in doubt; it is idempotent: running it again", s.Name, hr.Host))
		return false, nil
	}
	for {
		choice, err := h.ask.Choose(Question{
			Msg:     fmt.Sprintf("%s on %s was interrupted and may have run. What now?", s.Name, hr.Host),
			Options: []string{ChRerun, ChMarkDone, ChSkip, ChDetails, ChRollback, ChPause}, Default: ChPause,
			Refuse: fmt.Sprintf("%s on %s was interrupted mid-run and may or may not have taken effect", s.Name, hr.Host),
			Hint:   "run `runbook resume` in a terminal to decide (re-run, mark done, skip), or give the step a `check`; `runbook rollback` undoes the release",
		})
		if err != nil {
			return false, askErr(err)
		}
		switch choice {
		case ChRerun:
			h.rec.note(ctx, "deviation", s.Name, hr.Host, "re-run after an interruption, decided by "+h.cfg.Operator)
			return false, nil
		case ChMarkDone:
			reason, err := h.ask.Text("Why is it done? (recorded)", "", "")
			if err != nil {
				return false, askErr(err)
			}
			if err := h.recordEffects(ctx, s, hr); err != nil {
				return false, err
			}
			if err := h.rec.host(ctx, sr, hr, runbook.EvMarkDone, "marked done: "+reason); err != nil {
				return false, err
			}
			h.rec.note(ctx, "deviation", s.Name, hr.Host, "marked done: "+reason)
			// Decided: what the run left on the host (its raw log among it)
			// has no more use.
			h.cfg.Exec.Forget(context.WithoutCancel(ctx), call)
			return true, nil
		case ChSkip:
			reason, err := h.ask.Text("Why skip it? (recorded)", "", "")
			if err != nil {
				return false, askErr(err)
			}
			if err := h.rec.host(ctx, sr, hr, runbook.EvSkip, reason); err != nil {
				return false, err
			}
			h.rec.note(ctx, "deviation", s.Name, hr.Host, "skipped after an interruption: "+reason)
			h.cfg.Exec.Forget(context.WithoutCancel(ctx), call)
			return true, nil
		case ChDetails:
			h.details(s)
			if hr.OutputTail != "" {
				h.cfg.UI.Detail("last output:\n" + indent(hr.OutputTail))
			}
		case ChRollback:
			return false, errRollbackChosen
		case ChPause:
			// Recorded by the step once every host run has stopped.
			h.cfg.UI.Info("release paused; `runbook resume` continues where it stopped")
			return false, runbook.ErrPaused
		}
	}
}

// askErr is what a host run returns when a question it asked did not get
// an answer: the step, once all its host runs stopped, records why the
// walk stops (a host run never moves the step or the release itself).
func askErr(err error) error {
	if errors.Is(err, runbook.ErrPromptInterrupted) {
		return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` continues")
	}
	return err
}

// adopt records an outcome the host kept for a run whose process died.
func (h *hostRuns) adopt(ctx context.Context, t hostTask, call *runbook.Call, code int, format string) (bool, error) {
	reason := fmt.Sprintf(format, code)
	if err := h.rec.host(ctx, t.sr, t.hr, runbook.EvRerun, reason); err != nil {
		return false, err
	}
	h.cfg.UI.Detail(fmt.Sprintf("%s on %s: %s", t.s.Name, t.hr.Host, reason))
	out := h.output(t.s, t.hr)
	call.Out = out
	return true, h.finishHost(ctx, t, call, out, runbook.Outcome{ExitCode: code}, nil)
}
