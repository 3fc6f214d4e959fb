package engine

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// undoHosts undoes step s on every host where it took effect, latest host
// first, within the step's limits (an activate's are those of the restart
// it runs again: a rolling restart stays rolling). It returns the hosts
// whose undo failed, each with why.
func (r *rollback) undoHosts(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) ([]string, error) {
	var tasks []hostTask
	for j := len(sr.Hosts) - 1; j >= 0; j-- {
		if hr := sr.Hosts[j]; tookEffect(hr) {
			tasks = append(tasks, hostTask{s: s, sr: sr, hr: hr, h: r.rb.EnvHost(s.On, hr.Host)})
		}
	}
	lim := LimitsOf(r.rb.Envs[s.On], s)
	if rs := r.rb.Restarts(s); s.Kind == runbook.KindActivate && len(rs) > 0 {
		lim = LimitsOf(r.rb.Envs[s.On], rs[0])
	}
	res := FanOut(ctx, tasks, lim, func(ctx context.Context, t hostTask) (bool, error) {
		return r.undoHost(ctx, t)
	})
	var failed []string
	for _, j := range res.Failed {
		failed = append(failed, tasks[j].hr.Host+" ("+failReason(tasks[j].hr)+")")
	}
	if res.Err != nil {
		return failed, res.Err
	}
	if len(res.NotRun) > 0 {
		var left []string
		for _, j := range res.NotRun {
			left = append(left, tasks[j].hr.Host)
		}
		failed = append(failed, "not tried on "+strings.Join(left, ", ")+" (max_fail "+fmt.Sprint(lim.MaxFail)+")")
	}
	return failed, nil
}

// undoHost undoes one host run: undone, or undo_failed (failed true), or an
// error when the rollback must stop (interrupted, in doubt, database).
func (r *rollback) undoHost(ctx context.Context, t hostTask) (failed bool, err error) {
	s, sr, hr := t.s, t.sr, t.hr
	call, err := r.call(ctx, s, t.h)
	if err != nil {
		return false, err
	}
	out := r.output(s, hr)
	defer out.Close()
	call.Out = out
	var restarted map[string]string // restart step → its old token
	if s.Kind == runbook.KindActivate && hr.State == runbook.RunInterrupted && strings.HasSuffix(hr.Token, undoSuffix) {
		restarted = r.settleRestarts(ctx, s, hr, call)
	}
	outcome, uerr, err := r.runUndo(ctx, s, sr, hr, call)
	if err != nil {
		return false, err
	}
	if uerr == nil && outcome.ExitCode == 0 {
		// Recorded before anything runs on the restored release: a verify
		// that passes then marks it verified, not the other way round.
		if err := r.recordUndoEffects(ctx, s, hr, outcome); err != nil {
			return false, err
		}
		if s.Kind == runbook.KindActivate {
			outcome, uerr = r.restartAfterSwitch(ctx, s, t.h, hr, outcome, out, restarted)
		}
	}
	runbook.Hit(runbook.PointUndoAfter)
	hr.FinishedAt = r.rec.now()
	hr.DurationMS = hr.FinishedAt.Sub(hr.StartedAt).Milliseconds()
	if uerr != nil && (errors.Is(uerr, runbook.ErrInDoubt) || ctx.Err() != nil) {
		out.Close()
		hr.OutputTail = out.Tail()
		why := "undo interrupted"
		if ctx.Err() != nil {
			why = runbook.ReasonOperatorStopped + " during the undo (Ctrl-C)"
		}
		if err := r.rec.host(ctx, sr, hr, runbook.EvInterrupt, why); err != nil {
			return false, err
		}
		if ctx.Err() != nil {
			return false, runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook rollback` continues the rollback")
		}
		return false, runbook.WithHint(fmt.Errorf("%w: undo of %s on %s: %v", runbook.ErrInDoubt, s.Name, hr.Host, uerr), "`runbook rollback` runs the undo again (undos are safe to repeat)")
	}
	if uerr != nil || outcome.ExitCode != 0 {
		reason := fmt.Sprintf("undo exit status %d", outcome.ExitCode)
		switch {
		case uerr != nil:
			reason = uerr.Error()
		case outcome.Summary != "":
			reason = outcome.Summary
		}
		out.Line("runbook: " + reason)
		out.Close()
		hr.OutputTail = out.Tail()
		if err := r.rec.host(ctx, sr, hr, runbook.EvUndoFail, reason); err != nil {
			return false, err
		}
		r.cfg.UI.HostDone(s, hr, reason)
		return true, nil
	}
	out.Close()
	hr.OutputTail = out.Tail()
	if err := r.rec.host(ctx, sr, hr, runbook.EvUndone, outcome.Summary); err != nil {
		return false, err
	}
	// The markers go only once `undone` is committed: removed before,
	// a crash in between would leave an undo (or a restart after a switch
	// back) that settles as never started, and it would run a second time.
	r.cfg.Exec.Forget(context.WithoutCancel(ctx), call)
	if s.Kind == runbook.KindActivate {
		for _, rs := range r.rb.Restarts(s) {
			c := *call
			c.Token = hr.Token + "-" + cleanName(rs.Name)
			r.cfg.Exec.Forget(context.WithoutCancel(ctx), &c)
			if old, ok := restarted[rs.Name]; ok {
				c.Token = old
				r.cfg.Exec.Forget(context.WithoutCancel(ctx), &c)
			}
		}
	}
	r.cfg.UI.HostDone(s, hr, outcome.Summary)
	return false, nil
}

// restartAfterSwitch runs, on a host whose current was just switched back
// by the undo of activate step sw, the steps that act on the running
// application after that switch (Runbook.Restarts: restart-production),
// against the restored release and with their verify. The switch's undo
// is done only when they pass. A host where nothing was switched (nothing
// was live before this release) is left as it is. restarted names the
// restarts an interrupted attempt of this undo already ran to success
// (with their tokens): they are verified, not run a second time.
func (r *rollback) restartAfterSwitch(ctx context.Context, sw *runbook.Step, h *runbook.Host, hr *runbook.HostRun, switched runbook.Outcome, out *hostOutput, restarted map[string]string) (runbook.Outcome, error) {
	restored := runbook.ParseDetail(switched.Detail).Version
	if restored == "" {
		return switched, nil // nothing to go back to: it runs what it ran
	}
	steps := r.rb.Restarts(sw)
	if len(steps) == 0 {
		cmd := r.rb.Envs[sw.On].Operations["restart"]
		if cmd == "" {
			out.Line(fmt.Sprintf("runbook: nothing restarts %s after the switch back: its application runs what it ran until restarted (add an `op: restart` step with a verify after %s)", sw.On, sw.Name))
			return runbook.Outcome{Detail: switched.Detail, Summary: "live again: " + restored + ", not restarted"}, nil
		}
		// The environment's restart operation, as rollback --to runs it.
		steps = []*runbook.Step{{Name: "restart-" + sw.On, On: sw.On, Kind: runbook.KindOp, Op: "restart", MaxFail: -1, Index: sw.Index}}
	}
	verified := true
	for _, rs := range steps {
		call, err := r.restoredCall(rs, h, restored)
		if err != nil {
			return runbook.Outcome{ExitCode: -1}, err
		}
		call.Out = out
		call.Token = hr.Token + "-" + cleanName(rs.Name)
		if old, ok := restarted[rs.Name]; ok {
			out.Line(fmt.Sprintf("runbook: %s already ran on %s before the interruption: verifying it", rs.Name, restored))
			call.Token = old
		} else {
			o, err := r.cfg.Exec.Do(ctx, call)
			if err != nil {
				return runbook.Outcome{ExitCode: -1}, err
			}
			if code := o.ExitCode; code != 0 {
				return runbook.Outcome{ExitCode: code, Detail: switched.Detail, Summary: fmt.Sprintf("%s failed on %s after the switch back (exit %d)", rs.Name, restored, code)}, nil
			}
		}
		if call.Verify == "" {
			verified = false
			continue
		}
		failed, err := r.verify(ctx, rs, call, out)
		if err != nil {
			return runbook.Outcome{ExitCode: -1}, err
		}
		if failed != nil {
			return runbook.Outcome{ExitCode: 1, Detail: runbook.WithFailedVerify(switched.Detail, failed),
				Summary: fmt.Sprintf("%s on %s after the switch back: %s", rs.Name, restored, failed)}, nil
		}
	}
	if !verified {
		out.Line(fmt.Sprintf("runbook: %s is restarted on %s but nothing verifies it (give the restart step a verify)", hr.Host, restored))
		return runbook.Outcome{Detail: switched.Detail, Summary: "live again: " + restored + ", restarted, not verified"}, nil
	}
	if err := r.cfg.Store.VerifyLive(ctx, sw.On, hr.Host, restored, r.rec.now()); err != nil {
		return runbook.Outcome{ExitCode: -1}, runbook.NotRecorded(err)
	}
	return runbook.Outcome{Detail: switched.Detail, Summary: "live again: " + restored + ", restarted and verified"}, nil
}

// restoredCall renders step rs for host h as it runs on release version.
func (r *rollback) restoredCall(rs *runbook.Step, h *runbook.Host, version string) (*runbook.Call, error) {
	d := r.data(rs, h)
	d.Version, d.Release.Previous = version, r.rel().Version
	if h.DeployDir != "" {
		d.Release.Dir = path.Join(h.DeployDir, "releases", version)
	}
	return r.renderCall(rs, h, d)
}

// settleRestarts reads what the restarts of an interrupted undo of
// activate step s left on its host, under the interrupted undo's token: a
// restart still running is waited for, so a continued rollback never
// restarts beside it; one that ended with exit 0 is returned (restart
// step → token), and the continued undo only verifies it.
func (r *rollback) settleRestarts(ctx context.Context, s *runbook.Step, hr *runbook.HostRun, call *runbook.Call) map[string]string {
	done := map[string]string{}
	for _, rs := range r.rb.Restarts(s) {
		c := *call
		c.Step, c.Token, c.Since = rs, hr.Token+"-"+cleanName(rs.Name), hr.StartedAt
		ev, err := r.cfg.Exec.Settle(ctx, &c)
		if err != nil {
			continue // no evidence: run it again (restarts are safe to repeat)
		}
		code := -1
		switch ev.State {
		case runbook.SettleFinished:
			code = ev.ExitCode
		case runbook.SettleRunning:
			r.cfg.UI.Detail(fmt.Sprintf("%s on %s is still running from the interrupted rollback: waiting for it", rs.Name, hr.Host))
			if o, err := r.cfg.Exec.Wait(ctx, &c); err == nil {
				code = o.ExitCode
			}
		}
		if code == 0 {
			done[rs.Name] = c.Token
		}
	}
	return done
}

// recordUndoEffects keeps the live and staged tables true after an undo.
func (r *rollback) recordUndoEffects(ctx context.Context, s *runbook.Step, hr *runbook.HostRun, o runbook.Outcome) error {
	var err error
	switch s.Kind {
	case runbook.KindActivate:
		d := runbook.ParseDetail(o.Detail)
		if d.Version == "" {
			return nil // nothing was live before: current was left alone
		}
		err = r.cfg.Store.SetLive(ctx, runbook.Live{Env: s.On, Host: hr.Host, Version: d.Version, Previous: d.Previous, ReleaseID: r.rel().ID, At: r.rec.now()})
	case runbook.KindUpload:
		if o.Summary != "kept: live or previous" {
			err = r.cfg.Store.AddStaged(ctx, runbook.Staged{Env: s.On, Host: hr.Host, Version: r.rel().Version, ReleaseID: r.rel().ID, At: r.rec.now(), Removed: true})
		}
	}
	return runbook.NotRecorded(err)
}

const undoSuffix = "-undo"

// newUndoToken names a new run of an undo. A run is never started twice
// under one token: settling one as never started claims its token on the
// host, so that a copy still on its way there cannot start later, and the
// run that replaces it needs a name of its own. What a failed undo left
// under its token is cleared: its outcome is committed.
func (r *rollback) newUndoToken(ctx context.Context, s *runbook.Step, hr *runbook.HostRun, call *runbook.Call) {
	if hr.State == runbook.RunUndoFailed && strings.HasSuffix(hr.Token, undoSuffix) {
		call.Token = hr.Token
		r.cfg.Exec.Forget(context.WithoutCancel(ctx), call)
	}
	hr.Token = token(r.rel().ID, s, hr.Attempts, hr.Host) + undoSuffix
	call.Token = hr.Token
}

// runUndo undoes one host run. An undo interrupted by a crash is settled
// by its markers first: finished → its exit code is adopted; still
// running → waited for; otherwise it runs again (undos are safe to repeat).
func (r *rollback) runUndo(ctx context.Context, s *runbook.Step, sr *runbook.StepRun, hr *runbook.HostRun, call *runbook.Call) (runbook.Outcome, error, error) {
	if hr.State == runbook.RunInterrupted && strings.HasSuffix(hr.Token, undoSuffix) {
		call.Token = hr.Token
		ev, err := r.cfg.Exec.Settle(ctx, call)
		if err != nil {
			return runbook.Outcome{}, nil, fmt.Errorf("settle the undo of %s on %s: %w", s.Name, hr.Host, err)
		}
		switch {
		case ev.State == runbook.SettleFinished && s.Kind != runbook.KindActivate:
			if err := r.rec.host(ctx, sr, hr, runbook.EvUndo, fmt.Sprintf("undo outcome found on the host: exit %d", ev.ExitCode)); err != nil {
				return runbook.Outcome{}, nil, err
			}
			return runbook.Outcome{ExitCode: ev.ExitCode, Summary: "undo finished before the interruption"}, nil, nil
		case ev.State == runbook.SettleRunning:
			if err := r.rec.host(ctx, sr, hr, runbook.EvUndo, "undo still running on the host: reattached"); err != nil {
				return runbook.Outcome{}, nil, err
			}
			o, uerr := r.cfg.Exec.Wait(ctx, call)
			if uerr == nil || !errors.Is(uerr, runbook.ErrInDoubt) {
				return o, uerr, nil
			}
			// It died without an outcome: run it again below, under a
			// new token, committed before it starts.
			r.newUndoToken(ctx, s, hr, call)
			if err := r.cfg.Store.RecordHost(ctx, hr, nil); err != nil {
				return runbook.Outcome{}, nil, fmt.Errorf("record the undo of %s on %s: %w", s.Name, hr.Host, err)
			}
		default:
			// A switch back is always done again, whatever it reached: its
			// restarts must run, and verify, on the restored release.
			r.newUndoToken(ctx, s, hr, call)
			if err := r.rec.host(ctx, sr, hr, runbook.EvUndo, "undo interrupted before it finished: running it again (undos are safe to repeat)"); err != nil {
				return runbook.Outcome{}, nil, err
			}
		}
	} else if hr.State != runbook.RunUndoing {
		r.newUndoToken(ctx, s, hr, call)
		if err := r.rec.host(ctx, sr, hr, runbook.EvUndo, ""); err != nil {
			return runbook.Outcome{}, nil, err
		}
	}
	call.Token = hr.Token
	hr.StartedAt = r.rec.now()
	runbook.Hit(runbook.PointUndoBefore)
	o, uerr := r.cfg.Exec.Undo(ctx, call, hr.Detail)
	return o, uerr, nil
}

// cleanName keeps a step name usable inside a marker file name.
func cleanName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
