package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// hostTask is one host run of a step, with everything it needs.
type hostTask struct {
	s  *runbook.Step
	sr *runbook.StepRun
	hr *runbook.HostRun
	h  *runbook.Host
	// endsStep: this is the step's only host run to run now, so its
	// success is committed together with the step's.
	endsStep bool
	// settled: an interrupted run was settled (adopted, decided) before
	// the step ran its hosts; it is not run again.
	settled bool
}

// hosts runs step s on every host run not yet done, within the step's
// limits, batch after batch, and fails the step when more than max_fail
// hosts failed in a batch or in all. The batches are cut from every host
// of the step, done or not, so a resumed step goes on in the batch it
// stopped in and its hosts keep the batches they had.
func (w *walk) hosts(ctx context.Context, s *runbook.Step, sr *runbook.StepRun, single bool) (err error) {
	tasks := make([]hostTask, len(sr.Hosts))
	for i, hr := range sr.Hosts {
		tasks[i] = hostTask{s: s, sr: sr, hr: hr, h: w.rb.EnvHost(s.On, hr.Host), endsStep: single}
	}
	lim := LimitsOf(w.rb.Envs[s.On], s)
	if w.cfg.Warm != nil && len(tasks) > 0 {
		// The hosts that start first connect while the artifact is hashed
		// and what a crash left is settled: no more than start at once.
		var first []*runbook.Host
		for _, t := range tasks {
			if len(first) == max(lim.Parallel, 1) {
				break
			}
			if !t.done() && t.h != nil {
				first = append(first, t.h)
			}
		}
		w.cfg.Warm.Warm(ctx, s, first)
	}
	hashLater := false
	if s.Kind == runbook.KindUpload {
		// Hashed once, before any host run starts (the host runs only
		// read it), or beside the copies when nothing it shows could stop
		// them.
		if hashLater, err = w.ensureArtifact(ctx, s); err != nil {
			return err
		}
	}
	// What a crash left is settled first, on every host, before any host
	// runs anything: a run that needs the operator's decision stops the
	// step (exit 3 under --yes) with no host touched.
	runs := &hostRuns{w.night}
	if err := runs.settleAll(ctx, tasks, lim); err != nil {
		return err
	}
	if hashLater {
		w.later = w.hashLater(ctx)
		defer func() {
			// The hash's goroutine writes the release: it has ended before
			// anyone else touches it, whatever ended the step.
			sum, lerr := w.later.wait()
			w.later = nil
			switch {
			case lerr == nil:
				w.artifact, w.hashed = sum, true
			case err == nil || errors.Is(lerr, runbook.ErrNeedsHuman):
				// The hosts failed for it: the walk stops for the
				// operator rather than counting a failed step.
				err = lerr
			}
		}()
	}
	lim.OnBatch = func(b Batch) {
		var names []string
		for _, t := range tasks[b.From:b.To] {
			if !t.done() {
				names = append(names, t.hr.Host)
			}
		}
		if len(names) == 0 {
			return
		}
		done := 0
		for _, hr := range sr.Hosts {
			if hr.State == runbook.RunSucceeded || hr.State == runbook.RunSkipped {
				done++
			}
		}
		w.cfg.UI.Batch(s, runbook.HostBatch{Index: b.Index, Count: b.Count, Hosts: names, Total: len(tasks), Done: done})
	}
	res := FanOut(ctx, tasks, lim, func(ctx context.Context, t hostTask) (bool, error) {
		if t.done() {
			// Done before (an earlier attempt, a settled run): a settled
			// failure still counts against its batch.
			return t.hr.State == runbook.RunFailed, nil
		}
		err := runs.runHost(ctx, t)
		return err == nil && t.hr.State == runbook.RunFailed, err
	})
	if res.Err != nil {
		return res.Err
	}
	if err := w.interrupted(ctx); err != nil {
		return err
	}
	var failed []string
	for _, hr := range sr.Hosts {
		if hr.State == runbook.RunFailed {
			failed = append(failed, hr.Host+" ("+failReason(hr)+")")
		}
	}
	if res.Exceeded != "" {
		return fmt.Errorf("step %s failed on %s (%s)", s.Name, strings.Join(failed, ", "), res.Exceeded)
	}
	var notRun int
	for _, i := range res.NotRun {
		if !tasks[i].done() {
			notRun++
		}
	}
	if notRun > 0 {
		return fmt.Errorf("step %s: %d host(s) did not run", s.Name, notRun)
	}
	return nil
}

// done reports that the host run needs nothing more in this attempt of
// its step: it succeeded or was skipped before, or settling it decided
// its end.
func (t hostTask) done() bool {
	switch t.hr.State {
	case runbook.RunSucceeded, runbook.RunSkipped:
		return true
	case runbook.RunFailed:
		return t.settled
	}
	return false
}

// runHost runs one host run to succeeded or failed. It returns an error
// only when the walk must stop (interrupted, undecidable, database).
func (h *hostRuns) runHost(ctx context.Context, t hostTask) error {
	s, sr, hr := t.s, t.sr, t.hr
	call, err := h.call(ctx, s, t.h)
	if err != nil {
		return err
	}
	ev := map[runbook.RunState]string{runbook.RunPending: runbook.EvStart, runbook.RunFailed: runbook.EvRetry, runbook.RunInterrupted: runbook.EvRerun}[hr.State]
	hr.Attempts++
	hr.Token = token(h.rel().ID, s, hr.Attempts, hr.Host)
	hr.StartedAt, hr.FinishedAt, hr.ExitCode, hr.DurationMS = h.rec.now(), time.Time{}, -1, 0
	call.Token, call.Attempt = hr.Token, hr.Attempts
	// The log file is opened while the intent commits: the commit waits
	// on the database, and creating a file on a disk that the database
	// has just synced is slow (the file system's journal).
	logc := make(chan logFile, 1)
	spot := h.logSpot()
	go func() { logc <- spot.open(s, hr) }()
	// Committed before anything touches the host (DESIGN "Resume exactly" 1).
	runbook.Hit(runbook.PointIntentBefore)
	if err := h.rec.host(ctx, sr, hr, ev, ""); err != nil {
		(<-logc).close()
		return err
	}
	runbook.Hit(runbook.PointIntentAfter)
	out := newHostOutputTo(h.cfg.UI, h.cfg.Masker, <-logc, s, hr, h.rec.now())
	call.Out = out
	outcome, doErr := h.cfg.Exec.Do(ctx, call)
	if errors.Is(doErr, runbook.ErrPromptInterrupted) {
		// Ctrl-C at a question the connection asked (a host key): the
		// action never started; resume settles the run as never started.
		out.Close()
		if err := h.rec.host(ctx, sr, hr, runbook.EvInterrupt, runbook.ReasonOperatorStopped+" at a prompt"); err != nil {
			return err
		}
		return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` continues")
	}
	if errors.Is(doErr, runbook.ErrNeedsHuman) {
		// The action never started (e.g. an unknown host key): the run
		// failed, and the walk stops for the operator.
		out.Line(fmt.Sprintf("runbook: %s on %s: %v", s.Name, hr.Host, doErr))
		out.Close()
		hr.OutputTail = out.Tail()
		if err := h.rec.host(ctx, sr, hr, runbook.EvFail, doErr.Error()); err != nil {
			return err
		}
		return doErr
	}
	return h.finishHost(ctx, t, call, out, outcome, doErr)
}

// finishHost records the outcome of an action (run now, reattached or
// adopted from markers), then verifies it.
func (h *hostRuns) finishHost(ctx context.Context, t hostTask, call *runbook.Call, out *hostOutput, outcome runbook.Outcome, doErr error) error {
	s, sr, hr := t.s, t.sr, t.hr
	defer out.Close()
	if doErr != nil && (errors.Is(doErr, runbook.ErrInDoubt) || ctx.Err() != nil) {
		return h.inDoubt(ctx, t, out, doErr)
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
	var failed *runbook.FailedVerify
	if ok && call.Verify != "" {
		var err error
		if failed, err = h.verify(ctx, s, call, out); err != nil {
			out.Close()
			hr.OutputTail = out.Tail()
			why := "interrupted during verify"
			if ctx.Err() != nil {
				why = runbook.ReasonOperatorStopped + " during verify (Ctrl-C)"
			}
			if ferr := h.rec.host(ctx, sr, hr, runbook.EvInterrupt, why); ferr != nil {
				return ferr
			}
			if ctx.Err() != nil {
				return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` continues")
			}
			return err
		} else if failed != nil {
			ok, reason = false, failed.String()
			out.Line("runbook: " + reason)
		}
	}
	// Which verify failed is kept with the host run (status, the report);
	// an attempt that passes forgets an earlier one's.
	hr.Detail = runbook.WithFailedVerify(hr.Detail, failed)
	out.Close()
	hr.OutputTail = out.Tail()
	hr.FinishedAt = h.rec.now()
	hr.DurationMS = hr.FinishedAt.Sub(hr.StartedAt).Milliseconds()
	runbook.Hit(runbook.PointOutcomeBefore)
	ev := runbook.EvFail
	if ok {
		ev = runbook.EvSucceed
		if err := h.recordEffects(ctx, s, hr); err != nil {
			return err
		}
	}
	forget := func() { h.cfg.Exec.Forget(context.WithoutCancel(ctx), call) }
	carried := false
	if ok && t.endsStep && sr.State == runbook.RunRunning {
		sr.FinishedAt = hr.FinishedAt
		var err error
		if carried, err = h.rec.succeed(ctx, sr, hr, forget); err != nil {
			return err
		}
	} else if err := h.rec.host(ctx, sr, hr, ev, reason); err != nil {
		return err
	}
	runbook.Hit(runbook.PointOutcomeAfter)
	if !carried {
		forget()
	}
	h.cfg.UI.HostDone(s, hr, outcome.Summary)
	return nil
}

// inDoubt records a host run whose action may or may not have happened
// (the operator interrupted it, or the connection dropped mid-command):
// interrupted, to be settled by its markers on resume.
func (h *hostRuns) inDoubt(ctx context.Context, t hostTask, out *hostOutput, doErr error) error {
	s, hr := t.s, t.hr
	reason := "outcome in doubt: " + doErr.Error()
	if ctx.Err() != nil {
		out.Line("runbook: interrupted: the command was stopped part-way")
		reason = runbook.ReasonOperatorStopped + " (Ctrl-C)"
	} else {
		out.Line(fmt.Sprintf("runbook: %s on %s: %v", s.Name, hr.Host, doErr))
	}
	out.Close()
	hr.OutputTail = out.Tail()
	if err := h.rec.host(ctx, t.sr, hr, runbook.EvInterrupt, reason); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` settles the interrupted run")
	}
	return runbook.WithHint(fmt.Errorf("%w: %s on %s: %v", runbook.ErrInDoubt, s.Name, hr.Host, doErr), "`runbook resume` settles it through the host's markers or the step's check")
}

// renderCall renders every template of step s for host h with data d,
// and gives the call the release facts of SPEC §3.4 "The step environment".
func (n *night) renderCall(s *runbook.Step, h *runbook.Host, d runbook.TemplateData) (*runbook.Call, error) {
	rb, rel, secrets := n.rb, n.rel(), n.cfg.Secrets
	c := &runbook.Call{Release: rel, Step: s, Host: h, Data: d}
	var secret func(string) (string, error)
	if secrets != nil {
		secret = secrets.Secret
	}
	render := func(what, text string) (string, error) {
		if text == "" {
			return "", nil
		}
		out, err := runbook.Render(text, d, secret)
		if err != nil {
			return "", fmt.Errorf("step %s on %s: %s: %w", s.Name, h.Name, what, err)
		}
		return out, nil
	}
	var err error
	if c.Command, err = render("command", s.Command(rb.Envs[s.On])); err != nil {
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
	c.Env = map[string]string{}
	for k, v := range s.Env {
		if c.Env[k], err = render("env "+k, v); err != nil {
			return nil, err
		}
	}
	maps.Copy(c.Env, runbook.StepFacts(d, s.Name, n.cfg.Operator))
	if name, ok := runbook.ParseSecretRef(s.SudoPassword); ok {
		if secrets == nil {
			return nil, fmt.Errorf("step %s on %s: sudo_password: secret %q is needed, but %w", s.Name, h.Name, name, runbook.ErrNoVault)
		}
		if c.SudoPassword, err = secrets.Secret(name); err != nil {
			return nil, fmt.Errorf("step %s on %s: sudo_password: %w", s.Name, h.Name, err)
		}
	}
	return c, nil
}

// failReason is the last line runbook wrote about a failed host run, or
// its exit status: enough to say on stderr why the step failed.
func failReason(hr *runbook.HostRun) string {
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
