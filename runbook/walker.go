package runbook

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"
)

// Walker drives one release through the steps of a runbook. The cli builds
// it with every port filled in, holding the release lock for its lifetime.
type Walker struct {
	RB      *Runbook
	Store   Store
	Exec    Executor
	Prompt  Prompter // nil when nobody can be asked
	UI      UI
	Secrets Secrets // nil when no vault is open
	Differ  Differ  // collects consistency facts for diff steps
	Masker  Masker

	Operator string // OS user
	Machine  string // hostname
	Yes      bool   // answer the default "go on" to every prompt that has one
	// Signoffs maps a role to the name given with --signoff ROLE=NAME.
	Signoffs map[string]string
	// AcceptDiff maps a diff step to the reason its differences are accepted.
	AcceptDiff map[string]string
	// RetryFailed makes a failed step run again without asking (resume).
	RetryFailed bool
	LogDir      string // .runbook/logs
	Now         func() time.Time

	rel      *Release
	steps    []*StepRun
	previous map[string]string // env → version live before this release
	mu       sync.Mutex
	deferred *deferredStep // a step start waiting for its host's commit
	single   *StepRun      // the step whose only host run ends it

	artSHA     string
	artChecked bool // the artifact was hashed in this walk
}

// Paused and Aborted are returned when the operator chose to stop; the cli
// exits 0 and 1 for them.
var (
	ErrPaused  = errors.New("paused by the operator")
	ErrAborted = errors.New("aborted by the operator")
)

func (w *Walker) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

// Release returns the release being walked (nil before Start or Resume).
func (w *Walker) Release() *Release { return w.rel }

// StartOptions are the flags of `runbook start`.
type StartOptions struct {
	Version string
	From    string // skip the steps before this one
	Again   bool   // start a new release even if Version already succeeded
}

// Start starts a release of opts.Version, or resumes the unfinished one when
// it is of the same version.
func (w *Walker) Start(ctx context.Context, opts StartOptions) error {
	if opts.From != "" && w.RB.Step(opts.From) == nil {
		return WithHint(fmt.Errorf("%w: --from %s: no such step", ErrUsage, opts.From), "`runbook plan` lists the steps")
	}
	un, err := w.Store.Unfinished(ctx)
	if err != nil {
		return err
	}
	if un != nil {
		if un.Version != opts.Version || un.Kind != KindRelease {
			return WithHint(fmt.Errorf("%w: %s %s (#%d) is %s", ErrUnfinished, un.Kind, un.Version, un.ID, un.State),
				"`runbook resume` continues it, `runbook rollback` undoes it, `runbook abort` ends it")
		}
		w.UI.Info(fmt.Sprintf("resuming release %s (#%d), %s since %s", un.Version, un.ID, un.State, un.StartedAt.Local().Format("15:04:05")))
		return w.continueRelease(ctx, un, opts.From)
	}
	if !opts.Again {
		rels, err := w.Store.Releases(ctx)
		if err != nil {
			return err
		}
		for i := len(rels) - 1; i >= 0; i-- {
			r := rels[i]
			if r.Kind == KindRelease && r.Version == opts.Version && r.State == ReleaseSucceeded {
				w.UI.Info(fmt.Sprintf("version %s was already released successfully (#%d, finished %s); nothing to do",
					r.Version, r.ID, r.FinishedAt.Local().Format("2006-01-02 15:04")))
				w.UI.Detail("`runbook start --version " + r.Version + " --again` releases it once more")
				w.rel = r
				return nil
			}
		}
	}
	if err := w.create(ctx, opts.Version); err != nil {
		return err
	}
	if err := w.fireRelease(ctx, EvStart, ""); err != nil {
		return err
	}
	if opts.From != "" {
		if err := w.skipBefore(ctx, opts.From); err != nil {
			return err
		}
	}
	return w.walk(ctx)
}

// Resume continues the unfinished release; a failed step is retried.
func (w *Walker) Resume(ctx context.Context, from string) error {
	un, err := w.Store.Unfinished(ctx)
	if err != nil {
		return err
	}
	if un == nil {
		return WithHint(fmt.Errorf("%w: no release is unfinished", ErrNothingToDo), "`runbook start --version V` starts one; `runbook status` shows the last")
	}
	if un.Kind != KindRelease {
		return WithHint(fmt.Errorf("%w: the unfinished run is a %s to %s", ErrUsage, un.Kind, un.Version), "`runbook rollback --to "+un.Version+"` continues it")
	}
	if un.State == ReleaseRollingBack || un.State == ReleasePaused {
		w.rel = un
		if un.State == ReleaseRollingBack || w.mustBool(w.wasRollingBack(ctx)) {
			w.UI.Info(fmt.Sprintf("release %s (#%d) was rolling back: continuing the rollback", un.Version, un.ID))
			return w.Rollback(ctx)
		}
	}
	w.RetryFailed = true
	w.UI.Info(fmt.Sprintf("resuming release %s (#%d), %s", un.Version, un.ID, un.State))
	return w.continueRelease(ctx, un, from)
}

// Abort ends the unfinished release without undoing anything.
func (w *Walker) Abort(ctx context.Context, reason string) error {
	un, err := w.Store.Unfinished(ctx)
	if err != nil {
		return err
	}
	if un == nil {
		return WithHint(fmt.Errorf("%w: no release is unfinished", ErrNothingToDo), "`runbook history` lists the releases")
	}
	if err := w.load(ctx, un); err != nil {
		return err
	}
	if err := w.recoverCrash(ctx); err != nil {
		return err
	}
	if reason == "" {
		reason = "aborted by " + w.Operator
	}
	w.rel.FinishedAt = w.now()
	if err := w.fireRelease(ctx, EvAbort, reason); err != nil {
		return err
	}
	w.note(ctx, "deviation", "", "", "release aborted: "+reason)
	w.UI.Info(fmt.Sprintf("release %s (#%d) aborted; nothing was undone", un.Version, un.ID))
	return nil
}

func (w *Walker) continueRelease(ctx context.Context, r *Release, from string) error {
	if err := checkRecordedVersion(r); err != nil { // H-1: a record older than the check
		return err
	}
	if err := w.load(ctx, r); err != nil {
		return err
	}
	if r.State == ReleaseRollingBack || (r.State == ReleasePaused && w.mustBool(w.wasRollingBack(ctx))) {
		return WithHint(fmt.Errorf("%w: release %s is rolling back", ErrUnfinished, r.Version), "`runbook rollback` continues the rollback")
	}
	if r.RunbookHash != "" && r.RunbookHash != w.RB.Hash {
		msg := fmt.Sprintf("the runbook file changed since release %s started (sha256 %s… then, %s… now)", r.Version, short(r.RunbookHash), short(w.RB.Hash))
		w.UI.Warn(msg)
		w.note(ctx, "warning", "", "", msg)
	}
	if err := w.recoverCrash(ctx); err != nil {
		return err
	}
	switch w.rel.State {
	case ReleasePlanned:
		if err := w.fireRelease(ctx, EvStart, ""); err != nil {
			return err
		}
	case ReleasePaused:
		if err := w.fireRelease(ctx, EvResume, "resumed by "+w.Operator); err != nil {
			return err
		}
	case ReleaseFailed:
		if !w.RetryFailed && w.Prompt == nil {
			sr := w.firstFailed()
			name := ""
			if sr != nil {
				name = sr.Name
			}
			return WithHint(fmt.Errorf("%w: release %s stopped at failed step %s", ErrStepFailed, w.rel.Version, name),
				"fix the cause, then `runbook resume` retries it; `runbook status` shows the output")
		}
		if err := w.fireRelease(ctx, EvRetry, "resumed by "+w.Operator); err != nil {
			return err
		}
	}
	if from != "" {
		if err := w.skipBefore(ctx, from); err != nil {
			return err
		}
	}
	return w.walk(ctx)
}

func (w *Walker) firstFailed() *StepRun {
	for _, sr := range w.steps {
		if sr.State == RunFailed {
			return sr
		}
	}
	return nil
}

// create records a new planned release with every step and host run pending.
func (w *Walker) create(ctx context.Context, version string) error {
	return w.createKind(ctx, version, KindRelease, nil)
}

func (w *Walker) createKind(ctx context.Context, version, kind string, envs []string) error {
	if err := CheckVersion(version); err != nil { // H-1: nothing recorded, nothing run
		return err
	}
	r := &Release{
		Version:      version,
		Kind:         kind,
		Envs:         envs,
		State:        ReleasePlanned,
		Operator:     w.Operator,
		Machine:      w.Machine,
		StartedAt:    w.now(),
		RunbookName:  w.RB.Name,
		RunbookFile:  w.RB.File,
		RunbookHash:  w.RB.Hash,
		ArtifactPath: w.RB.Artifact.Path,
	}
	var steps []*StepRun
	for _, s := range w.RB.Steps {
		sr := &StepRun{Index: s.Index, Name: s.Name, Kind: s.Kind, Env: s.On, State: RunPending}
		if s.HasHosts() {
			for _, h := range w.RB.Envs[s.On].Hosts {
				sr.Hosts = append(sr.Hosts, &HostRun{Host: h.Name, State: RunPending, ExitCode: -1})
			}
		}
		steps = append(steps, sr)
	}
	t := Transition{At: r.StartedAt, Scope: "release", From: "", To: string(ReleasePlanned), Event: "create", Operator: w.Operator,
		Reason: fmt.Sprintf("%s %s planned on %s", kind, version, w.Machine)}
	if err := w.Store.CreateRelease(ctx, r, steps, t); err != nil {
		return notRecorded(fmt.Errorf("record the new release: %w", err))
	}
	w.rel, w.steps = r, steps
	return w.loadPrevious(ctx)
}

func (w *Walker) load(ctx context.Context, r *Release) error {
	steps, err := w.Store.Steps(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("read the steps of release %d: %w", r.ID, err)
	}
	// The runbook may have changed since: the recorded steps are the
	// release's truth, and every one must still exist to be walked.
	for _, sr := range steps {
		s := w.RB.Step(sr.Name)
		if s == nil {
			return WithHint(fmt.Errorf("%w: step %s of release %s is no longer in %s", ErrUsage, sr.Name, r.Version, w.RB.File),
				"restore the step in the runbook file, or `runbook abort` this release")
		}
		if s.HasHosts() {
			have := map[string]bool{}
			for _, hr := range sr.Hosts {
				have[hr.Host] = true
			}
			for _, hr := range sr.Hosts {
				if w.hostOf(s, hr.Host) == nil {
					return WithHint(fmt.Errorf("%w: host %s of step %s is no longer in environment %s", ErrUsage, hr.Host, s.Name, s.On),
						"restore the host in the runbook file, or `runbook abort` this release")
				}
			}
		}
	}
	w.rel, w.steps = r, steps
	w.artSHA = r.ArtifactSHA256
	return w.loadPrevious(ctx)
}

// loadPrevious finds, per environment, the version live before this
// release. A host this release switched to its own version keeps it as
// Previous; one this release's rollback has already switched back runs it
// again — its Previous is then this release's version, which is why a
// rollback resumed after a crash must not read it (it took the release
// being undone for the one to fall back to, and kept it staged).
func (w *Walker) loadPrevious(ctx context.Context) error {
	live, err := w.Store.LiveVersions(ctx)
	if err != nil {
		return err
	}
	w.previous = map[string]string{}
	for _, l := range live {
		v := l.Version
		if l.ReleaseID == w.rel.ID && l.Version == w.rel.Version {
			v = l.Previous
		}
		v = w.recordedPrevious(l, v) // H-1, M-3: an unknown previous, never a bad one
		if _, ok := w.previous[l.Env]; !ok || v != "" {
			w.previous[l.Env] = v
		}
	}
	return nil
}

// recoverCrash settles what a dead process left: a release still running is
// paused, step and host runs still running (or undoing) are interrupted.
func (w *Walker) recoverCrash(ctx context.Context) error {
	const why = "found running after a crash"
	crashed := false
	for _, sr := range w.steps {
		for _, hr := range sr.Hosts {
			if hr.State == RunRunning || hr.State == RunUndoing {
				crashed = true
				if err := w.fireHost(ctx, sr, hr, EvInterrupt, why); err != nil {
					return err
				}
			}
		}
		if sr.State == RunRunning || sr.State == RunUndoing {
			crashed = true
			if err := w.fireStep(ctx, sr, EvInterrupt, why); err != nil {
				return err
			}
		}
	}
	if w.rel.State == ReleaseRunning || w.rel.State == ReleaseRollingBack {
		crashed = true
		if err := w.fireRelease(ctx, EvPause, why); err != nil {
			return err
		}
	}
	if crashed {
		w.UI.Warn(fmt.Sprintf("release %s was %s when its process died; settling what it left", w.rel.Version, why[:len("found running")]))
		w.note(ctx, "resume", "", "", "resumed after a crash by "+w.Operator+" on "+w.Machine)
	}
	return nil
}

func (w *Walker) skipBefore(ctx context.Context, from string) error {
	for _, sr := range w.steps {
		if sr.Name == from {
			return nil
		}
		if sr.State == RunPending || sr.State == RunFailed {
			if err := w.skipStep(ctx, sr, "started --from "+from); err != nil {
				return err
			}
		}
	}
	return nil
}

// walk runs every step not yet done, in order.
func (w *Walker) walk(ctx context.Context) error {
	for i := range w.steps {
		if err := w.interrupted(ctx); err != nil {
			return err
		}
		if err := w.runStep(ctx, i); err != nil {
			return err
		}
	}
	w.rel.FinishedAt = w.now()
	if err := w.fireRelease(ctx, EvSucceed, ""); err != nil {
		return err
	}
	if w.rel.Kind == KindRollback {
		w.UI.Info(fmt.Sprintf("rollback of %s to %s succeeded", strings.Join(w.rel.Envs, ", "), w.rel.Version))
	} else {
		w.UI.Info(fmt.Sprintf("release %s succeeded", w.rel.Version))
	}
	return nil
}

// interrupted pauses the release when the operator pressed Ctrl-C.
func (w *Walker) interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if w.rel.State == ReleaseRunning {
		if err := w.fireRelease(ctx, EvPause, "interrupted by the operator (Ctrl-C)"); err != nil {
			return err
		}
	}
	return WithHint(ErrInterrupted, "state saved; `runbook resume` continues, `runbook status` shows where it stopped")
}

func (w *Walker) hostOf(s *Step, name string) *Host {
	env := w.RB.Envs[s.On]
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

// Data builds the template data for a step on a host.
func (w *Walker) Data(s *Step, h *Host) TemplateData {
	d := TemplateData{
		Version:  w.rel.Version,
		Release:  TemplateRelease{ID: w.rel.ID, StartedAt: w.rel.StartedAt.UTC().Format(time.RFC3339)},
		Artifact: TemplateArtifact{Name: w.RB.Artifact.Name, SHA256: w.artSHA},
	}
	if env := w.RB.Envs[s.On]; env != nil {
		d.Env = TemplateEnv{Name: env.Name, DeployDir: env.DeployDir}
		d.Release.Previous = w.previous[env.Name]
	}
	if h != nil {
		d.Host = TemplateHost{Name: h.Name, Address: h.Address, DeployDir: h.DeployDir}
		if h.DeployDir != "" {
			d.Release.Dir = path.Join(h.DeployDir, "releases", w.rel.Version)
		}
	}
	return d
}

func (w *Walker) note(ctx context.Context, kind, step, host, text string) {
	n := &Note{ReleaseID: w.rel.ID, At: w.now(), Kind: kind, Step: step, Host: host, Text: w.Masker.Mask(text), Operator: w.Operator}
	if err := w.Store.AddNote(ctx, n); err != nil {
		w.UI.Warn("could not record a note: " + err.Error())
	}
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
func token(releaseID int64, s *Step, attempt int, host string) string {
	clean := func(x string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
				return r
			}
			return '_'
		}, x)
	}
	var nonce [4]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails on Linux.
	return fmt.Sprintf("r%d-s%02d-%s-a%d-%s-%x", releaseID, s.Index+1, clean(s.Name), attempt, clean(host), nonce)
}

// mustBool reads a lookup whose error only means "no evidence".
func (w *Walker) mustBool(b bool, err error) bool { return err == nil && b }
