package runbook

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// StagedChecker reads what is staged on a host. steps.Executor implements
// it; rollback --to uses it to prove the target is intact before it
// touches anything.
type StagedChecker interface {
	// StagedSHA256 hashes deploy_dir/releases/<version>/<artifact> on h; an
	// error wrapping fs.ErrNotExist means it is not there.
	StagedSHA256(ctx context.Context, h *Host, version string) (string, error)
}

// RollbackToOptions are the flags of `runbook rollback --to`.
type RollbackToOptions struct {
	Version string   // "" means each environment's previous release
	Envs    []string // "" means every environment with a deploy_dir
}

// RollbackTo switches every host of the environments back to a release
// that is already staged, then restarts them: a release of kind rollback,
// walked, recorded and resumable like any other.
func (w *Walker) RollbackTo(ctx context.Context, opts RollbackToOptions) error {
	un, err := w.Store.Unfinished(ctx)
	if err != nil {
		return err
	}
	if un != nil {
		if un.Kind != KindRollback || (opts.Version != "" && opts.Version != un.Version) {
			return WithHint(fmt.Errorf("%w: %s %s (#%d) is %s", ErrUnfinished, un.Kind, un.Version, un.ID, un.State),
				"finish it first: `runbook resume`, `runbook rollback` or `runbook abort`")
		}
		w.RB = rollbackRunbook(w.RB, un.Envs, un.Version)
		w.UI.Info(fmt.Sprintf("continuing the rollback to %s (#%d) of %s", un.Version, un.ID, strings.Join(un.Envs, ", ")))
		return w.continueRelease(ctx, un, "")
	}
	envs, err := w.rollbackEnvs(opts.Envs)
	if err != nil {
		return err
	}
	version := opts.Version
	if version == "" {
		if version, err = w.previousVersion(ctx, envs); err != nil {
			return err
		}
	}
	if err := w.checkStaged(ctx, envs, version); err != nil {
		return err
	}
	w.RB = rollbackRunbook(w.RB, envs, version)
	if err := w.createKind(ctx, version, KindRollback, envs); err != nil {
		return err
	}
	if err := w.fireRelease(ctx, EvStart, "rollback to "+version+" of "+strings.Join(envs, ", ")); err != nil {
		return err
	}
	w.UI.Info(fmt.Sprintf("rolling %s back to %s", strings.Join(envs, ", "), version))
	return w.walk(ctx)
}

func (w *Walker) rollbackEnvs(names []string) ([]string, error) {
	if len(names) == 0 {
		for _, n := range w.RB.EnvOrder {
			if deploys(w.RB.Envs[n]) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%w: no environment has a deploy_dir to switch", ErrUsage)
		}
		return names, nil
	}
	for _, n := range names {
		e := w.RB.Envs[n]
		if e == nil {
			return nil, WithHint(fmt.Errorf("%w: --env %s: no such environment", ErrUsage, n), "environments: "+strings.Join(w.RB.EnvOrder, ", "))
		}
		if !deploys(e) {
			return nil, fmt.Errorf("%w: --env %s: its hosts have no deploy_dir, so there is nothing to switch", ErrUsage, n)
		}
	}
	return names, nil
}

func deploys(e *Environment) bool {
	for _, h := range e.Hosts {
		if h.DeployDir == "" {
			return false
		}
	}
	return len(e.Hosts) > 0
}

// previousVersion is the release that was live before the current one on
// every host of the environments; hosts that disagree need --to.
func (w *Walker) previousVersion(ctx context.Context, envs []string) (string, error) {
	live, err := w.Store.LiveVersions(ctx)
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
			if v != "" {
				if err := CheckVersion(v); err != nil { // H-1: never use or suggest a bad one
					return "", WithHint(fmt.Errorf("the previous release recorded for %s: %w", strings.Join(envs, ", "), err), "name the version to go back to: `runbook rollback --to V`")
				}
				return v, nil
			}
		}
	}
	if len(seen) == 0 || (len(seen) == 1 && seen[""] != nil) {
		return "", WithHint(fmt.Errorf("%w: no previous release is recorded for %s", ErrUsage, strings.Join(envs, ", ")), "name it: `runbook rollback --to V`")
	}
	var parts []string
	for v, hosts := range seen {
		if v == "" {
			v = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(hosts, " ")))
	}
	sort.Strings(parts)
	return "", WithHint(fmt.Errorf("%w: the hosts had different previous releases: %s", ErrUsage, strings.Join(parts, "; ")), "name the one to go back to: `runbook rollback --to V`")
}

// checkStaged proves version is staged and intact on every host before any
// host is touched: a rollback that stops half-way leaves mixed releases.
func (w *Walker) checkStaged(ctx context.Context, envs []string, version string) error {
	sc, ok := w.Exec.(StagedChecker)
	if !ok {
		return errors.New("this build cannot read what is staged on hosts")
	}
	staged, err := w.Store.StagedVersions(ctx)
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
	for _, e := range envs {
		for _, h := range w.RB.Envs[e].Hosts {
			k := e + "/" + h.Name
			want := recorded[k]
			if want == "" {
				bad = append(bad, fmt.Sprintf("%s: %s was never staged there by runbook (or was removed)", k, version))
				continue
			}
			got, err := sc.StagedSHA256(ctx, h, version)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				bad = append(bad, fmt.Sprintf("%s: releases/%s/%s is missing", k, version, w.RB.Artifact.Name))
			case err != nil:
				bad = append(bad, fmt.Sprintf("%s: %v", k, err))
			case got != want:
				bad = append(bad, fmt.Sprintf("%s: releases/%s/%s has sha256 %s…, staged as %s…", k, version, w.RB.Artifact.Name, short(got), short(want)))
			}
		}
	}
	if len(bad) > 0 {
		return WithHint(fmt.Errorf("%w: release %s is not staged intact on every host; nothing was changed:\n  %s", ErrStepFailed, version, strings.Join(bad, "\n  ")),
			"stage it again with a release of "+version+" (`runbook start --version "+version+" --again`), or roll back to another version")
	}
	return nil
}

// rollbackRunbook is the runbook a rollback --to walks: per environment,
// switch current back, then the environment's restart operation.
func rollbackRunbook(rb *Runbook, envs []string, version string) *Runbook {
	cp := *rb
	cp.Steps = nil
	for _, e := range envs {
		cp.Steps = append(cp.Steps, &Step{Name: "switch-" + e, On: e, Kind: KindActivate, Activate: true, MaxFail: -1,
			Description: "point current back to releases/" + version})
		if rb.Envs[e].Operations["restart"] != "" {
			cp.Steps = append(cp.Steps, &Step{Name: "restart-" + e, On: e, Kind: KindOp, Op: "restart", MaxFail: -1,
				Description: "restart " + e + " on " + version})
		}
	}
	for i, s := range cp.Steps {
		s.Index = i
	}
	return &cp
}
