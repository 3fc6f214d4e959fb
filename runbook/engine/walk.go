package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// night is what every part of the engine knows of the release one command
// works on: the ports, the runbook it follows (a rollback --to follows one
// of its own), the record, and what was learnt on the way. walk,
// hostRuns and rollback share it; each does one job with it.
type night struct {
	e     *Engine
	cfg   *Config
	ask   *Interaction
	rb    *runbook.Runbook
	rec   *recorder
	steps []*runbook.StepRun
	// previous maps an environment to the version live before this release.
	previous map[string]string
	// artifact is the hex SHA-256 of the artifact staged, set by
	// walk.ensureArtifact before any host run of an upload starts (they
	// only read it).
	artifact string
}

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
				if hostOf(rb, s, hr.Host) == nil {
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
		if err := w.rec.release(ctx, runbook.EvPause, "interrupted by the operator (Ctrl-C)"); err != nil {
			return err
		}
	}
	return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` continues, `runbook status` shows where it stopped")
}

// hostOf finds host name in the environment of step s.
func hostOf(rb *runbook.Runbook, s *runbook.Step, name string) *runbook.Host {
	env := rb.Envs[s.On]
	if env == nil {
		return nil
	}
	for _, h := range env.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
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
