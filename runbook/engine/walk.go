package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// walk drives a release forward: the order of its steps and the
// decisions around each one. It is built by createWalk or loadWalk and
// lives for one command.
type walk struct {
	*night
	// retryFailed makes a failed step run again without asking (resume).
	retryFailed bool
	hashed      bool // the artifact was hashed in this walk
}

// hostRuns runs, settles and records the host runs of a step: everything
// a host run needs is in night and in its hostTask.
type hostRuns struct{ *night }

// rollback undoes a release step by step (rollback.go, undo.go).
type rollback struct{ *night }

// createWalk records a new planned release of version with every step and
// host run pending.
func createWalk(ctx context.Context, e *Engine, rb *runbook.Runbook, version, kind string, envs []string) (*walk, error) {
	if err := runbook.CheckVersion(version); err != nil {
		return nil, err // nothing recorded, nothing run
	}
	w := &walk{night: &night{e: e, cfg: &e.cfg, ask: e.cfg.Ask, rb: rb}}
	w.rec = newRecorder(w.cfg, nil)
	w.rec.moved = w.releaseMoved
	r := &runbook.Release{
		Version:      version,
		Kind:         kind,
		Envs:         envs,
		State:        runbook.ReleasePlanned,
		Operator:     e.cfg.Operator,
		OSUser:       e.cfg.OSUser,
		Machine:      e.cfg.Machine,
		StartedAt:    w.rec.now(),
		RunbookName:  rb.Name,
		RunbookFile:  rb.File,
		RunbookHash:  rb.Hash,
		ArtifactPath: rb.Artifact.Path,
	}
	var steps []*runbook.StepRun
	for _, s := range rb.Steps {
		sr := &runbook.StepRun{Index: s.Index, Name: s.Name, Kind: s.Kind, Env: s.On, State: runbook.RunPending}
		if s.HasHosts() {
			for _, h := range rb.Envs[s.On].Hosts {
				sr.Hosts = append(sr.Hosts, &runbook.HostRun{Host: h.Name, State: runbook.RunPending, ExitCode: -1})
			}
		}
		steps = append(steps, sr)
	}
	t := runbook.Transition{At: r.StartedAt, Scope: "release", From: "", To: string(runbook.ReleasePlanned), Event: "create",
		Operator: e.cfg.Operator, OSUser: e.cfg.OSUser, Machine: e.cfg.Machine,
		Reason: fmt.Sprintf("%s %s planned on %s", kind, version, e.cfg.Machine)}
	if err := e.cfg.Store.CreateRelease(ctx, r, steps, t); err != nil {
		return nil, runbook.NotRecorded(fmt.Errorf("record the new release: %w", err))
	}
	w.rec.rel, w.steps, e.last = r, steps, r
	return w, w.loadPrevious(ctx)
}

// loadWalk restores a recorded release for rb. The recorded steps are the
// release's truth, and every one must still exist in rb to be walked.
// Callers that will run anything for it check its version first
// (runbook.CheckRecorded); abort, which runs nothing, does not.
func loadWalk(ctx context.Context, e *Engine, rb *runbook.Runbook, r *runbook.Release) (*walk, error) {
	steps, err := e.cfg.Store.Steps(ctx, r.ID)
	if err != nil {
		return nil, fmt.Errorf("read the steps of release %d: %w", r.ID, err)
	}
	for _, sr := range steps {
		s := rb.Step(sr.Name)
		if s == nil {
			return nil, runbook.WithHint(fmt.Errorf("%w: step %s of release %s is no longer in %s", runbook.ErrUsage, sr.Name, r.Version, rb.File),
				"restore the step in the runbook file, or `runbook abort` this release")
		}
		if s.HasHosts() {
			for _, hr := range sr.Hosts {
				if rb.EnvHost(s.On, hr.Host) == nil {
					return nil, runbook.WithHint(fmt.Errorf("%w: host %s of step %s is no longer in environment %s", runbook.ErrUsage, hr.Host, s.Name, s.On),
						"restore the host in the runbook file, or `runbook abort` this release")
				}
			}
		}
	}
	w := &walk{night: &night{e: e, cfg: &e.cfg, ask: e.cfg.Ask, rb: rb, steps: steps, artifact: r.ArtifactSHA256}}
	w.rec = newRecorder(w.cfg, r)
	w.rec.moved = w.releaseMoved
	e.last = r
	return w, w.loadPrevious(ctx)
}

// rollingBack reports whether r is rolling back, failed to, or was paused
// mid-rollback.
func rollingBack(ctx context.Context, st runbook.Store, r *runbook.Release) bool {
	switch r.State {
	case runbook.ReleaseRollingBack, runbook.ReleaseRollbackFailed:
		return true
	case runbook.ReleasePaused:
	default:
		return false
	}
	ts, err := st.Transitions(ctx, r.ID)
	if err != nil {
		return false // no evidence of a rollback
	}
	for i := len(ts) - 1; i >= 0; i-- {
		t := ts[i]
		if t.StepRunID == 0 && t.HostRunID == 0 && t.To == string(r.State) {
			return t.From == string(runbook.ReleaseRollingBack)
		}
	}
	return false
}

// continueRelease walks a recorded release on from where it stopped.
// Its caller has checked from (checkFrom) before anything was recorded.
func (w *walk) continueRelease(ctx context.Context, from string) error {
	r := w.rel()
	if rollingBack(ctx, w.cfg.Store, r) {
		return runbook.WithHint(fmt.Errorf("%w: release %s is rolling back", runbook.ErrUnfinished, r.Version), "`runbook rollback` continues the rollback")
	}
	if r.RunbookHash != "" && r.RunbookHash != w.rb.Hash {
		msg := fmt.Sprintf("the runbook file changed since release %s started (sha256 %s… then, %s… now)", r.Version, short(r.RunbookHash), short(w.rb.Hash))
		w.cfg.UI.Warn(msg)
		w.rec.note(ctx, "warning", "", "", msg)
	}
	w.noteHandover(ctx)
	if err := w.recoverCrash(ctx); err != nil {
		return err
	}
	switch r.State {
	case runbook.ReleasePlanned:
		if err := w.rec.release(ctx, runbook.EvStart, ""); err != nil {
			return err
		}
	case runbook.ReleasePaused:
		if err := w.rec.release(ctx, runbook.EvResume, "resumed by "+w.cfg.Operator); err != nil {
			return err
		}
	case runbook.ReleaseFailed:
		if !w.retryFailed && !w.ask.Asks() {
			name := ""
			if sr := w.firstFailed(); sr != nil {
				name = sr.Name
			}
			return runbook.WithHint(fmt.Errorf("%w: release %s stopped at failed step %s", runbook.ErrStepFailed, r.Version, name),
				"fix the cause, then `runbook resume` retries it; `runbook status` shows the output")
		}
		if err := w.rec.release(ctx, runbook.EvRetry, "resumed by "+w.cfg.Operator); err != nil {
			return err
		}
	}
	if from != "" {
		if err := w.skipBefore(ctx, from); err != nil {
			return err
		}
	}
	return w.run(ctx)
}

func (w *walk) firstFailed() *runbook.StepRun { return firstFailed(w.steps) }

// checkFrom refuses a --from that names no step of the release, or one
// before the step a resume continues at: a step there has either
// succeeded (a completed step never runs twice unasked) or was skipped,
// and a skip is final — the steps after it ran without it (a build
// skipped and run now would make an artifact other than the one already
// staged). "" is no --from.
func (w *walk) checkFrom(from string) error {
	if from == "" {
		return nil
	}
	next := -1
	for i, sr := range w.steps {
		if next < 0 && sr.State != runbook.RunSucceeded && sr.State != runbook.RunSkipped && sr.State != runbook.RunUndone {
			next = i
		}
		if sr.Name != from {
			continue
		}
		if next >= 0 {
			return nil // at or after where the resume continues
		}
		cont := "nothing is left to run"
		for _, later := range w.steps[i+1:] {
			if later.State != runbook.RunSucceeded && later.State != runbook.RunSkipped && later.State != runbook.RunUndone {
				cont = "it continues at " + later.Name
				break
			}
		}
		what := "was " + string(sr.State) + ", and a completed step never runs twice"
		switch sr.State {
		case runbook.RunSucceeded:
			what = "already succeeded, and a completed step never runs twice"
		case runbook.RunSkipped:
			what = "was skipped, and a skip is final: the steps after it ran without it"
			if sr.Reason != "" {
				what = "was skipped (" + sr.Reason + "), and a skip is final: the steps after it ran without it"
			}
		}
		return runbook.WithHint(fmt.Errorf("%w: --from %s: %s %s; without --from %s", runbook.ErrUsage, from, from, what, cont),
			fmt.Sprintf("if %s must run in this release, run its command by hand (`runbook plan` shows it); or `runbook abort` the release and start a new one", from))
	}
	return runbook.WithHint(fmt.Errorf("%w: --from %s: no such step in release %s", runbook.ErrUsage, from, w.rel().Version), "`runbook status` lists its steps")
}

// skipBefore skips every pending or failed step before from.
func (w *walk) skipBefore(ctx context.Context, from string) error {
	for _, sr := range w.steps {
		if sr.Name == from {
			return nil
		}
		if sr.State == runbook.RunPending || sr.State == runbook.RunFailed {
			if err := w.rec.skip(ctx, sr, "started --from "+from); err != nil {
				return err
			}
		}
	}
	return nil
}

// run brings every step not yet done to an end, in order, then the release.
func (w *walk) run(ctx context.Context) error {
	for i := range w.steps {
		if err := w.interrupted(ctx); err != nil {
			return err
		}
		if err := w.step(ctx, i); err != nil {
			return err
		}
	}
	w.rel().FinishedAt = w.rec.now()
	w.unlockEnvs(ctx) // before the end is recorded: envlock.go says why
	if err := w.rec.release(ctx, runbook.EvSucceed, ""); err != nil {
		return err
	}
	if w.rel().Kind == runbook.KindRollback {
		w.cfg.UI.Info(fmt.Sprintf("rollback of %s to %s succeeded", strings.Join(w.rel().Envs, ", "), w.rel().Version))
	} else {
		w.cfg.UI.Info(fmt.Sprintf("release %s succeeded", w.rel().Version))
	}
	return nil
}

// interrupted pauses the release when the operator pressed Ctrl-C.
func (w *walk) interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if w.rel().State == runbook.ReleaseRunning {
		if err := w.rec.release(ctx, runbook.EvPause, runbook.ReasonOperatorStopped+" (Ctrl-C)"); err != nil {
			return err
		}
	}
	return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` continues, `runbook status` shows where it stopped")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// token names one attempt of one host run; it is also the name of the
// run's marker files on its host. Those live in the remote user's home,
// shared by every state database that deploys there as that user (another
// checkout, a database recreated after a loss), and release ids start at 1
// in each: without the random part, a run resumed after a crash could find
// the markers another database's run left under the same name and adopt
// its outcome as its own.
func token(releaseID int64, s *runbook.Step, attempt int, host string) string {
	var nonce [4]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails on Linux.
	return fmt.Sprintf("r%d-s%02d-%s-a%d-%s-%x", releaseID, s.Index+1, cleanName(s.Name), attempt, cleanName(host), nonce)
}
