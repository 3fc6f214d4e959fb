package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// runHosts runs the step on every host run not yet done, `parallel` at a
// time; once more than max_fail hosts failed no new host is started (a
// rolling deploy stops on the first bad host by default).
func (w *Walker) runHosts(ctx context.Context, s *Step, sr *StepRun) error {
	env := w.RB.Envs[s.On]
	parallel := env.Parallel
	if s.Parallel > 0 {
		parallel = s.Parallel
	}
	maxFail := env.MaxFail
	if s.MaxFail >= 0 {
		maxFail = s.MaxFail
	}
	if parallel < 1 {
		parallel = 1
	}

	var (
		mu       sync.Mutex
		failed   []string
		stopErr  error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, parallel)
		failures = func() int { mu.Lock(); defer mu.Unlock(); return len(failed) }
	)
	for _, hr := range sr.Hosts {
		if hr.State == RunSucceeded || hr.State == RunSkipped {
			continue
		}
		if failures() > maxFail {
			break
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		mu.Lock()
		stop := stopErr != nil
		mu.Unlock()
		if stop {
			<-sem
			break
		}
		wg.Add(1)
		go func(hr *HostRun) {
			defer wg.Done()
			defer func() { <-sem }()
			err := w.runHost(ctx, s, sr, hr)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && hr.State == RunSucceeded:
			case err == nil:
				failed = append(failed, hr.Host+" ("+w.failReason(hr)+")")
			case stopErr == nil:
				stopErr = err
			}
		}(hr)
	}
	wg.Wait()
	if stopErr != nil {
		return stopErr
	}
	if err := w.interrupted(ctx); err != nil {
		return err
	}
	if len(failed) > maxFail {
		return fmt.Errorf("step %s failed on %s (max_fail %d)", s.Name, strings.Join(failed, ", "), maxFail)
	}
	pending := 0
	for _, hr := range sr.Hosts {
		if hr.State != RunSucceeded && hr.State != RunSkipped && hr.State != RunFailed {
			pending++
		}
	}
	if pending > 0 {
		return fmt.Errorf("step %s: %d host(s) did not run", s.Name, pending)
	}
	return nil
}

// runHost runs one host run to succeeded or failed. It returns an error
// only when the walk must stop (interrupted, undecidable, database).
func (w *Walker) runHost(ctx context.Context, s *Step, sr *StepRun, hr *HostRun) error {
	h := w.hostOf(s, hr.Host)
	call, err := w.call(ctx, s, h)
	if err != nil {
		return err
	}
	if hr.State == RunInterrupted {
		settled, err := w.settleHost(ctx, s, sr, hr, call)
		if err != nil || settled {
			return err
		}
	}
	ev := map[RunState]string{RunPending: EvStart, RunFailed: EvRetry, RunInterrupted: EvRerun}[hr.State]
	hr.Attempts++
	hr.Token = token(w.rel.ID, s, hr.Attempts, hr.Host)
	hr.StartedAt, hr.FinishedAt, hr.ExitCode, hr.DurationMS = w.now(), time.Time{}, -1, 0
	call.Token, call.Attempt = hr.Token, hr.Attempts
	// Committed before anything touches the host (DESIGN "Resume exactly" 1).
	Hit(PointIntentBefore)
	if err := w.fireHost(ctx, sr, hr, ev, ""); err != nil {
		return err
	}
	Hit(PointIntentAfter)
	out := w.output(s, hr)
	call.Out = out
	outcome, doErr := w.Exec.Do(ctx, call)
	if errors.Is(doErr, ErrNeedsHuman) {
		// The action never started (e.g. an unknown host key): the run
		// failed, and the walk stops for the operator.
		out.Line(fmt.Sprintf("runbook: %s on %s: %v", s.Name, hr.Host, doErr))
		out.Close()
		hr.OutputTail = out.Tail()
		if err := w.fireHost(ctx, sr, hr, EvFail, doErr.Error()); err != nil {
			return err
		}
		return doErr
	}
	return w.finishHost(ctx, s, sr, hr, call, out, outcome, doErr)
}

// finishHost records the outcome of an action (run now, reattached or
// adopted from markers), then verifies it.
func (w *Walker) finishHost(ctx context.Context, s *Step, sr *StepRun, hr *HostRun, call *Call, out *hostOutput, outcome Outcome, doErr error) error {
	defer out.Close()
	if doErr != nil && (errors.Is(doErr, ErrInDoubt) || ctx.Err() != nil) {
		if ctx.Err() != nil {
			out.Line("runbook: interrupted: the command was stopped part-way")
		} else {
			out.Line(fmt.Sprintf("runbook: %s on %s: %v", s.Name, hr.Host, doErr))
		}
		out.Close()
		hr.OutputTail = out.Tail()
		reason := "outcome in doubt: " + doErr.Error()
		if ctx.Err() != nil {
			reason = "interrupted by the operator (Ctrl-C)"
		}
		if err := w.fireHost(ctx, sr, hr, EvInterrupt, reason); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return WithHint(ErrInterrupted, "state saved; `runbook resume` settles the interrupted run")
		}
		return WithHint(fmt.Errorf("%w: %s on %s: %v", ErrInDoubt, s.Name, hr.Host, doErr), "`runbook resume` settles it through the host's markers or the step's check")
	}
	hr.ExitCode = outcome.ExitCode
	if outcome.Detail != "" {
		hr.Detail = outcome.Detail
	}
	ok := doErr == nil && outcome.ExitCode == 0
	reason := ""
	switch {
	case doErr != nil:
		out.Line(fmt.Sprintf("runbook: %s on %s: %v", s.Name, hr.Host, doErr))
		reason = doErr.Error()
	case !ok && outcome.Summary != "":
		// Built-in actions (probe) say more than their exit status.
		reason = outcome.Summary
		out.Line("runbook: " + outcome.Summary)
	case !ok:
		reason = fmt.Sprintf("exit status %d", outcome.ExitCode)
	}
	if ok && call.Verify != "" {
		if vok, err := w.verify(ctx, s, call, out); err != nil {
			return w.finishInDoubtVerify(ctx, sr, hr, out, err)
		} else if !vok {
			ok, reason = false, fmt.Sprintf("verify failed after %d attempt(s)", s.Retries+1)
			out.Line("runbook: " + reason)
		}
	}
	out.Close()
	hr.OutputTail = out.Tail()
	hr.FinishedAt = w.now()
	hr.DurationMS = hr.FinishedAt.Sub(hr.StartedAt).Milliseconds()
	Hit(PointOutcomeBefore)
	ev := EvFail
	if ok {
		ev = EvSucceed
		if err := w.recordEffects(ctx, s, hr); err != nil {
			return err
		}
	}
	if ok && w.single == sr && sr.State == RunRunning {
		sr.FinishedAt = hr.FinishedAt
		if err := w.fireBoth(ctx, sr, EvSucceed, "", hr, EvSucceed, ""); err != nil {
			return err
		}
	} else if err := w.fireHost(ctx, sr, hr, ev, reason); err != nil {
		return err
	}
	Hit(PointOutcomeAfter)
	w.Exec.Forget(context.WithoutCancel(ctx), call)
	w.UI.HostDone(s, hr, outcome.Summary)
	return nil
}

func (w *Walker) finishInDoubtVerify(ctx context.Context, sr *StepRun, hr *HostRun, out *hostOutput, err error) error {
	out.Close()
	hr.OutputTail = out.Tail()
	if ferr := w.fireHost(ctx, sr, hr, EvInterrupt, "interrupted during verify"); ferr != nil {
		return ferr
	}
	if ctx.Err() != nil {
		return WithHint(ErrInterrupted, "state saved; `runbook resume` continues")
	}
	return err
}

// verify runs the verify command until it passes, retries times more.
func (w *Walker) verify(ctx context.Context, s *Step, call *Call, out *hostOutput) (bool, error) {
	for attempt := 0; ; attempt++ {
		ok, err := w.Exec.Verify(ctx, call)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err == nil && ok {
			return true, nil
		}
		if err != nil {
			out.Line("runbook: verify: " + err.Error())
		}
		if attempt >= s.Retries {
			return false, nil
		}
		delay := s.RetryDelay
		if delay == 0 {
			delay = time.Second
		}
		out.Line(fmt.Sprintf("runbook: verify failed, retry %d/%d in %s", attempt+1, s.Retries, delay))
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// call builds the rendered call of a step on a host.
func (w *Walker) call(ctx context.Context, s *Step, h *Host) (*Call, error) {
	if s.Kind == KindUpload {
		if err := w.ensureArtifact(ctx); err != nil {
			return nil, err
		}
	}
	d := w.Data(s, h)
	c := &Call{Release: w.rel, Step: s, Host: h, Data: d}
	var secret func(string) (string, error)
	if w.Secrets != nil {
		secret = w.Secrets.Secret
	}
	render := func(what, text string) (string, error) {
		if text == "" {
			return "", nil
		}
		out, err := Render(text, d, secret)
		if err != nil {
			return "", fmt.Errorf("step %s on %s: %s: %w", s.Name, h.Name, what, err)
		}
		return out, nil
	}
	var err error
	if c.Command, err = render("command", s.Command(w.RB.Envs[s.On])); err != nil {
		return nil, err
	}
	if c.Verify, err = render("verify", s.Verify); err != nil {
		return nil, err
	}
	if c.Check, err = render("check", s.Check); err != nil {
		return nil, err
	}
	if c.Undo, err = render("undo", s.Undo); err != nil {
		return nil, err
	}
	if len(s.Env) > 0 {
		c.Env = map[string]string{}
		for k, v := range s.Env {
			if c.Env[k], err = render("env "+k, v); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// failReason is the last line runbook wrote about a failed host run, or
// its exit status: enough to say on stderr why the step failed.
func (w *Walker) failReason(hr *HostRun) string {
	for _, l := range reverseLines(hr.OutputTail) {
		if r, ok := strings.CutPrefix(l, "runbook: "); ok {
			return r
		}
	}
	return fmt.Sprintf("exit status %d", hr.ExitCode)
}

func reverseLines(s string) []string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, j := 0, len(ls)-1; i < j; i, j = i+1, j-1 {
		ls[i], ls[j] = ls[j], ls[i]
	}
	return ls
}
