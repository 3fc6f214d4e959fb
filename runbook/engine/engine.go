// Package engine drives a release through the steps of a runbook. It
// decides what runs next, asks the operator, fans each step out over its
// hosts, records every transition before the work it describes, settles
// what a crash left behind, and rolls a release back. It reaches hosts only
// through runbook.Executor, the operator only through an Interaction, and
// the record only through runbook.Store, so all of it runs in-process in
// tests (package runbooktest).
//
// Its parts, each with one job (docs/ARCHITECTURE.md draws them):
//   - Engine (this file): the entry points the cli calls.
//   - walk (walk.go, step.go): one release being walked: the order of the
//     steps and the decisions around each one.
//   - recorder (recorder.go): the only code that fires transitions.
//   - Interaction (interaction.go): the only place that decides whether to
//     ask, to assume (--yes) or to stop for a human.
//   - FanOut (fanout.go): parallel and max_fail, written once.
//   - host runs (hostrun.go) and their settlement after a crash (settle.go).
//   - rollback (rollback.go, undo.go, rollback_to.go).
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// Config is everything an Engine works with. The cli fills it; tests fill
// it with the fakes of package runbooktest.
type Config struct {
	Store   runbook.Store
	Exec    runbook.Executor
	Differ  runbook.Differ        // collects facts for diff steps; nil: a diff step fails
	Staged  runbook.StagedChecker // reads staged releases for rollback --to; nil: refused
	Warm    runbook.Warmer        // opens connections ahead of a step's host runs; nil: none
	UI      runbook.UI
	Masker  runbook.Masker
	Secrets runbook.Secrets // nil when no vault is open
	Ask     *Interaction
	// Hooks runs the runbook's hooks; nil: they are not run (a warning
	// says so when one's moment comes).
	Hooks runbook.HookRunner

	// Operator is who is at the keyboard (--operator, RUNBOOK_OPERATOR,
	// else the OS user); OSUser is the OS account runbook runs as. Both
	// go on every transition, note, sign-off and release.
	Operator string
	OSUser   string
	Machine  string // hostname
	PID      int    // this process, for the owner of an environment lock; 0: os.Getpid()
	// Locker takes the environment locks on the hosts (envlock.go); nil
	// takes none.
	Locker runbook.EnvLocker
	// StateLocation names the store in an environment lock's owner: a
	// file path or a database URL without its password.
	StateLocation string
	LogDir        string // .runbook/logs; "" keeps no log files
	Now           func() time.Time

	// Signoffs maps a role to the name given with --signoff ROLE=NAME.
	Signoffs map[string]string
	// AcceptDiff maps a diff step to the reason its differences are accepted.
	AcceptDiff map[string]string
	// SameArtifact (--same-artifact) lets a new version ship an artifact
	// byte-identical to an earlier release's without asking.
	SameArtifact bool

	// Preflight, when set, is called once before a release walks on,
	// before anything of the walk is recorded: fresh is true when no step
	// of the release has run yet (a new release, or a resumed one whose
	// steps are all pending), when the cli checks everything that would
	// stop the night at a step (`runbook check`); otherwise it checks
	// only what the walk needs at once (the secrets). from is --from. An
	// error stops the command with nothing recorded or run.
	Preflight func(ctx context.Context, fresh bool, from string) error
}

// Engine walks the releases of one runbook for one process, which holds
// the release lock for the Engine's lifetime.
type Engine struct {
	rb   *runbook.Runbook
	cfg  Config
	last *runbook.Release
	// walked: this command committed a transition of a release (it
	// walked one, as opposed to finding nothing to do).
	walked bool
	// hooks are the hooks whose moment came, to run once the command is
	// done walking (hooks.go).
	hooks []hookRun
	// carrier is cfg.Store: it commits a step's success with the next
	// step's start (carry.go); afterWalk commits what it still carries.
	carrier *carrier
	// ahead is the artifact's hash started beside the preflight
	// (prehash.go); nil when none was.
	ahead *artifactHash
}

// New returns an engine for rb. cfg.Ask nil means nobody can be asked.
func New(rb *runbook.Runbook, cfg Config) *Engine {
	if cfg.Ask == nil {
		cfg.Ask = NewInteraction(nil, false)
	}
	if cfg.AcceptDiff == nil {
		cfg.AcceptDiff = map[string]string{}
	}
	c := newCarrier(cfg.Store)
	cfg.Store = c
	return &Engine{rb: rb, cfg: cfg, carrier: c}
}

// Release returns the release walked last (nil before any).
func (e *Engine) Release() *runbook.Release { return e.last }

// Walked reports whether this engine moved a release (a start, a step
// run, a rollback), as opposed to finding nothing to do: what a recap of
// the command is for.
func (e *Engine) Walked() bool { return e.walked }

// StartOptions are the flags of `runbook start`.
type StartOptions struct {
	Version string
	From    string // skip the steps before this one
	Again   bool   // start a new release even if Version already succeeded
}

// Start starts a release of opts.Version, or resumes the unfinished one when
// it is of the same version.
func (e *Engine) Start(ctx context.Context, opts StartOptions) error {
	return e.afterWalk(ctx, e.start(ctx, opts))
}

func (e *Engine) start(ctx context.Context, opts StartOptions) error {
	if opts.From != "" && e.rb.Step(opts.From) == nil {
		return runbook.WithHint(fmt.Errorf("%w: --from %s: no such step", runbook.ErrUsage, opts.From), "`runbook plan` lists the steps")
	}
	if err := e.refuseIfLocked(ctx); err != nil {
		return err
	}
	un, err := e.cfg.Store.Unfinished(ctx)
	if err != nil {
		return err
	}
	if un != nil {
		if un.Version != opts.Version || un.Kind != runbook.KindRelease {
			return runbook.WithHint(fmt.Errorf("%w: %s %s (#%d) is %s", runbook.ErrUnfinished, un.Kind, un.Version, un.ID, un.State),
				"`runbook resume` continues it, `runbook rollback` undoes it, `runbook abort` ends it")
		}
		e.cfg.UI.Info(fmt.Sprintf("resuming release %s (#%d), %s since %s", un.Version, un.ID, un.State, un.StartedAt.Local().Format("15:04:05 Z07:00")))
		return e.resume(ctx, un, opts.From, false)
	}
	if !opts.Again {
		done, err := e.alreadyReleased(ctx, opts.Version)
		if err != nil || done {
			return err
		}
	}
	e.ahead = e.hashAhead(stepsFrom(e.rb, opts.From))
	if err := e.preflight(ctx, true, opts.From); err != nil {
		return err
	}
	w, err := createWalk(ctx, e, e.rb, opts.Version, runbook.KindRelease, nil)
	if err != nil {
		return err
	}
	if err := w.rec.release(ctx, runbook.EvStart, ""); err != nil {
		return err
	}
	if opts.From != "" {
		if err := w.skipBefore(ctx, opts.From); err != nil {
			return err
		}
	}
	return e.rollbackIfChosen(ctx, w.run(ctx))
}

// rollbackIfChosen rolls the release back when its walk ended because the
// operator chose Rollback at a prompt; any other end is returned as is.
func (e *Engine) rollbackIfChosen(ctx context.Context, err error) error {
	if !errors.Is(err, errRollbackChosen) {
		return err
	}
	e.cfg.UI.Info("rolling the release back, as the operator chose")
	return e.Rollback(ctx)
}

// alreadyReleased reports (and says) that version succeeded before.
func (e *Engine) alreadyReleased(ctx context.Context, version string) (bool, error) {
	rels, err := e.cfg.Store.Releases(ctx)
	if err != nil {
		return false, err
	}
	for i := len(rels) - 1; i >= 0; i-- {
		r := rels[i]
		if r.Kind == runbook.KindRelease && r.Version == version && r.State == runbook.ReleaseSucceeded {
			e.cfg.UI.Info(fmt.Sprintf("version %s was already released successfully (#%d, finished %s); nothing to do",
				r.Version, r.ID, r.FinishedAt.Local().Format("2006-01-02 15:04 Z07:00")))
			e.cfg.UI.Detail("`runbook start --version " + r.Version + " --again` releases it once more")
			e.last = r
			return true, nil
		}
	}
	return false, nil
}

// Resume continues the unfinished release; a failed step is retried, and a
// release paused mid-rollback continues its rollback.
func (e *Engine) Resume(ctx context.Context, from string) error {
	if err := e.refuseIfLocked(ctx); err != nil {
		return err
	}
	return e.afterWalk(ctx, e.resumeUnfinished(ctx, from))
}

func (e *Engine) resumeUnfinished(ctx context.Context, from string) error {
	un, err := e.cfg.Store.Unfinished(ctx)
	if err != nil {
		return err
	}
	if un == nil {
		return runbook.WithHint(fmt.Errorf("%w: no release is unfinished", runbook.ErrNothingToDo), "`runbook start --version V` starts one; `runbook status` shows the last")
	}
	if un.Kind != runbook.KindRelease {
		return runbook.WithHint(fmt.Errorf("%w: the unfinished run is a %s to %s", runbook.ErrUsage, un.Kind, un.Version), "`runbook rollback --to "+un.Version+"` continues it")
	}
	if rollingBack(ctx, e.cfg.Store, un) {
		if err := e.preflight(ctx, false, ""); err != nil {
			return err
		}
		e.cfg.UI.Info(fmt.Sprintf("release %s (#%d) was rolling back: continuing the rollback", un.Version, un.ID))
		return e.Rollback(ctx)
	}
	e.cfg.UI.Info(fmt.Sprintf("resuming release %s (#%d), %s", un.Version, un.ID, un.State))
	return e.resume(ctx, un, from, true)
}

func (e *Engine) resume(ctx context.Context, r *runbook.Release, from string, retryFailed bool) error {
	// A record written before versions were checked, or a copied or
	// edited database, may hold anything: a version becomes a path that
	// undo removes and a word in commands.
	if err := runbook.CheckRecorded(r); err != nil {
		return err
	}
	w, err := loadWalk(ctx, e, e.rb, r)
	if err != nil {
		return err
	}
	// --from is checked before anything is recorded: a refused one
	// leaves the release as it was.
	if err := w.checkFrom(from); err != nil {
		return err
	}
	if err := e.preflight(ctx, untouched(w.steps), from); err != nil {
		return err
	}
	w.retryFailed = retryFailed
	return e.rollbackIfChosen(ctx, w.continueRelease(ctx, from))
}

// preflight calls Config.Preflight, if any.
func (e *Engine) preflight(ctx context.Context, fresh bool, from string) error {
	if e.cfg.Preflight == nil {
		return nil
	}
	return e.cfg.Preflight(ctx, fresh, from)
}

// untouched reports whether no step of a release has run: every step and
// host run is still pending.
func untouched(steps []*runbook.StepRun) bool {
	for _, sr := range steps {
		if sr.State != runbook.RunPending {
			return false
		}
		for _, hr := range sr.Hosts {
			if hr.State != runbook.RunPending {
				return false
			}
		}
	}
	return true
}

// Abort ends the unfinished release without undoing anything.
func (e *Engine) Abort(ctx context.Context, reason string) error {
	un, err := e.cfg.Store.Unfinished(ctx)
	if err != nil {
		return err
	}
	if un == nil {
		return runbook.WithHint(runbook.NothingToDo("nothing to abort", "no release is unfinished"), "`runbook history` lists the releases")
	}
	w, err := loadWalk(ctx, e, e.rb, un)
	if err != nil {
		return err
	}
	if err := w.recoverCrash(ctx); err != nil {
		return err
	}
	if e.cfg.Ask.Asks() {
		msg := fmt.Sprintf("Abort %s %s (#%d) for good? Nothing is undone, and it cannot be resumed or rolled back step by step afterwards.", un.Kind, un.Version, un.ID)
		if changed := w.changedHosts(); changed != "" {
			msg += "\n  It changed " + changed + "."
		}
		ok, err := e.cfg.Ask.Confirm(msg, "Yes, abort it", "No, keep it")
		if err != nil {
			return interruptedAt(err)
		}
		if !ok {
			e.cfg.UI.Info(fmt.Sprintf("%s %s (#%d) is left %s", un.Kind, un.Version, un.ID, un.State))
			return nil
		}
		if reason == "" {
			if reason, err = e.cfg.Ask.Text("Why abort? (recorded)", "", ""); err != nil {
				return interruptedAt(err)
			}
		}
	}
	if reason == "" {
		reason = "aborted by " + e.cfg.Operator
	}
	w.rel().FinishedAt = w.rec.now()
	w.unlockEnvs(ctx) // before the end is recorded: envlock.go says why
	if err := w.rec.release(ctx, runbook.EvAbort, reason); err != nil {
		return err
	}
	w.rec.note(ctx, "deviation", "", "", "release aborted: "+reason)
	e.cfg.UI.Info(fmt.Sprintf("release %s (#%d) aborted; nothing was undone", un.Version, un.ID))
	return nil
}
