package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// RollbackToOptions are the flags of `runbook rollback --to`.
type RollbackToOptions struct {
	Version string   // "" means each environment's previous release
	Envs    []string // "" means every environment with a deploy_dir
}

// RollbackTo switches every host of the environments back to a release
// that is already staged, then restarts them: a release of kind rollback,
// walked, recorded and resumable like any other.
func (e *Engine) RollbackTo(ctx context.Context, opts RollbackToOptions) error {
	return e.afterWalk(ctx, e.rollbackTo(ctx, opts))
}

func (e *Engine) rollbackTo(ctx context.Context, opts RollbackToOptions) error {
	un, err := e.cfg.Store.Unfinished(ctx)
	if err != nil {
		return err
	}
	if un != nil {
		if un.Kind != runbook.KindRollback || (opts.Version != "" && opts.Version != un.Version) {
			return runbook.WithHint(fmt.Errorf("%w: %s %s (#%d) is %s", runbook.ErrUnfinished, un.Kind, un.Version, un.ID, un.State),
				"finish it first: `runbook resume`, `runbook rollback` or `runbook abort`")
		}
		if err := runbook.CheckRecorded(un); err != nil {
			return err
		}
		e.cfg.UI.Info(fmt.Sprintf("continuing the rollback to %s (#%d) of %s", un.Version, un.ID, strings.Join(un.Envs, ", ")))
		w, err := loadWalk(ctx, e, rollbackRunbook(e.rb, un.Envs, un.Version), un)
		if err != nil {
			return err
		}
		return w.continueRelease(ctx, "")
	}
	envs, err := rollbackEnvs(e.rb, opts.Envs)
	if err != nil {
		return err
	}
	version := opts.Version
	if version == "" {
		if version, err = e.previousVersion(ctx, envs); err != nil {
			return err
		}
	}
	if err := e.checkStaged(ctx, envs, version); err != nil {
		return err
	}
	w, err := createWalk(ctx, e, rollbackRunbook(e.rb, envs, version), version, runbook.KindRollback, envs)
	if err != nil {
		return err
	}
	if err := w.rec.release(ctx, runbook.EvStart, "rollback to "+version+" of "+strings.Join(envs, ", ")); err != nil {
		return err
	}
	e.cfg.UI.Info(fmt.Sprintf("rolling %s back to %s", strings.Join(envs, ", "), version))
	return w.run(ctx)
}

func rollbackEnvs(rb *runbook.Runbook, names []string) ([]string, error) {
	if len(names) == 0 {
		for _, n := range rb.EnvOrder {
			if deploys(rb.Envs[n]) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%w: no environment has a deploy_dir to switch", runbook.ErrUsage)
		}
		return names, nil
	}
	for _, n := range names {
		e := rb.Envs[n]
		if e == nil {
			return nil, runbook.WithHint(fmt.Errorf("%w: --env %s: no such environment", runbook.ErrUsage, n), "environments: "+strings.Join(rb.EnvOrder, ", "))
		}
		if !deploys(e) {
			return nil, fmt.Errorf("%w: --env %s: its hosts have no deploy_dir, so there is nothing to switch", runbook.ErrUsage, n)
		}
	}
	return names, nil
}

func deploys(e *runbook.Environment) bool {
	for _, h := range e.Hosts {
		if h.DeployDir == "" {
			return false
		}
	}
	return len(e.Hosts) > 0
}

// previousVersion is the release that was live before the current one on
// every host of the environments; hosts that disagree need --to.
func (e *Engine) previousVersion(ctx context.Context, envs []string) (string, error) {
	live, err := e.cfg.Store.LiveVersions(ctx)
	if err != nil {
		return "", err
	}
	want := map[string]bool{}
	for _, e := range envs {
		want[e] = true
	}
	seen := map[string][]string{}
	for _, l := range live {
		if want[l.Env] {
			seen[l.Previous] = append(seen[l.Previous], l.Env+"/"+l.Host)
		}
	}
	if len(seen) == 1 {
		for v := range seen {
			if v == "" {
				continue
			}
			if err := runbook.CheckVersion(v); err != nil { // never use, nor suggest, one that is not a version
				return "", runbook.WithHint(fmt.Errorf("the previous release recorded for %s: %w", strings.Join(envs, ", "), err), "name the version to go back to: `runbook rollback --to V`")
			}
			return v, nil
		}
	}
	if len(seen) == 0 || (len(seen) == 1 && seen[""] != nil) {
		return "", runbook.WithHint(fmt.Errorf("%w: no previous release is recorded for %s", runbook.ErrUsage, strings.Join(envs, ", ")), "name it: `runbook rollback --to V`")
	}
	var parts []string
	for v, hosts := range seen {
		if v == "" {
			v = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(hosts, " ")))
	}
	sort.Strings(parts)
	return "", runbook.WithHint(fmt.Errorf("%w: the hosts had different previous releases: %s", runbook.ErrUsage, strings.Join(parts, "; ")), "name the one to go back to: `runbook rollback --to V`")
}

// checkStaged proves version is staged and intact on every host before any
// host is touched: a rollback that stops half-way leaves mixed releases.
func (e *Engine) checkStaged(ctx context.Context, envs []string, version string) error {
	sc := e.cfg.Staged
	if sc == nil {
		return errors.New("this build cannot read what is staged on hosts")
	}
	staged, err := e.cfg.Store.StagedVersions(ctx)
	if err != nil {
		return err
	}
	recorded := map[string]string{} // env/host → sha256 at staging
	for _, s := range staged {
		k := s.Env + "/" + s.Host
		if s.Version != version {
			continue
		}
		if _, ok := recorded[k]; ok {
			continue // newest first: the first row is the current truth
		}
		if s.Removed {
			recorded[k] = ""
		} else {
			recorded[k] = s.SHA256
		}
	}
	var bad []string
	for _, en := range envs {
		for _, h := range e.rb.Envs[en].Hosts {
			k := en + "/" + h.Name
			want := recorded[k]
			if want == "" {
				bad = append(bad, fmt.Sprintf("%s: %s was never staged there by runbook (or was removed)", k, version))
				continue
			}
			got, err := sc.StagedSHA256(ctx, h, version)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				bad = append(bad, fmt.Sprintf("%s: releases/%s/%s is missing", k, version, e.rb.Artifact.Name))
			case err != nil:
				bad = append(bad, fmt.Sprintf("%s: %v", k, err))
			case got != want:
				bad = append(bad, fmt.Sprintf("%s: releases/%s/%s has sha256 %s…, staged as %s…", k, version, e.rb.Artifact.Name, short(got), short(want)))
			}
		}
	}
	if len(bad) > 0 {
		return runbook.WithHint(fmt.Errorf("%w: release %s is not staged intact on every host; nothing was changed:\n  %s", runbook.ErrStepFailed, version, strings.Join(bad, "\n  ")),
			"stage it again with a release of "+version+" (`runbook start --version "+version+" --again`), or roll back to another version")
	}
	return nil
}

// rollbackRunbook is the runbook a rollback --to walks: per environment,
// switch current to the release, then run again the steps that act on the
// running application after that environment's switch in rb (its
// restart steps, with their verify, parallel and max_fail); an
// environment whose runbook has none runs its restart operation, which
// nothing verifies.
func rollbackRunbook(rb *runbook.Runbook, envs []string, version string) *runbook.Runbook {
	cp := *rb
	cp.Steps = nil
	for _, e := range envs {
		sw := &runbook.Step{Name: "switch-" + e, On: e, Kind: runbook.KindActivate, Activate: true, MaxFail: -1,
			Description: "point current back to releases/" + version}
		cp.Steps = append(cp.Steps, sw)
		var restarts []*runbook.Step
		for _, s := range rb.Steps {
			if s.Kind == runbook.KindActivate && s.On == e {
				restarts = rb.Restarts(s)
			}
		}
		for _, r := range restarts {
			c := *r
			c.Description = r.Name + " again, on " + version
			cp.Steps = append(cp.Steps, &c)
		}
		if len(restarts) == 0 && rb.Envs[e].Operations["restart"] != "" {
			cp.Steps = append(cp.Steps, &runbook.Step{Name: "restart-" + e, On: e, Kind: runbook.KindOp, Op: "restart", MaxFail: -1,
				Description: "restart " + e + " on " + version})
		}
	}
	for i, s := range cp.Steps {
		s.Index = i
	}
	return &cp
}
