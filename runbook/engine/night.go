package engine

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

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
	// later, while the host runs of an upload copy before the artifact's
	// hash is known, gives them its sum (walk.ensureArtifact).
	later *laterSum
	// locked are the environments whose lock this release holds, taken
	// by this command (envlock.go).
	locked map[string]bool
}

func (n *night) rel() *runbook.Release { return n.rec.rel }

// loadPrevious finds, per environment, the version live before this
// release. A host this release switched to its own version keeps it as
// Previous; one this release's rollback has already switched back runs it
// again — its Previous is then this release's version, which is why a
// rollback resumed after a crash must not read it (it took the release
// being undone for the one to fall back to, and kept it staged).
func (n *night) loadPrevious(ctx context.Context) error {
	live, err := n.cfg.Store.LiveVersions(ctx)
	if err != nil {
		return err
	}
	n.previous = map[string]string{}
	for _, l := range live {
		v := l.Version
		if l.ReleaseID == n.rel().ID && l.Version == n.rel().Version {
			v = l.Previous
		}
		if v != "" && runbook.CheckVersion(v) != nil {
			// Read from a host's current link: a crafted one must not reach
			// .Release.Previous in a command.
			n.cfg.UI.Warn(fmt.Sprintf("the version recorded as live before on %s/%s is not a version (%v): .Release.Previous is empty for it", l.Env, l.Host, runbook.CheckVersion(v)))
			v = ""
		}
		if _, ok := n.previous[l.Env]; !ok || v != "" {
			n.previous[l.Env] = v
		}
	}
	return nil
}

// recoverCrash settles what a dead process left: a release still running is
// paused, step and host runs still running (or undoing) are interrupted.
func (n *night) recoverCrash(ctx context.Context) error {
	const why = "found running after a crash"
	crashed := false
	for _, sr := range n.steps {
		for _, hr := range sr.Hosts {
			if hr.State == runbook.RunRunning || hr.State == runbook.RunUndoing {
				crashed = true
				if err := n.rec.host(ctx, sr, hr, runbook.EvInterrupt, why); err != nil {
					return err
				}
			}
		}
		if sr.State == runbook.RunRunning || sr.State == runbook.RunUndoing {
			crashed = true
			if err := n.rec.step(ctx, sr, runbook.EvInterrupt, why); err != nil {
				return err
			}
		}
	}
	if n.rel().State == runbook.ReleaseRunning || n.rel().State == runbook.ReleaseRollingBack {
		crashed = true
		if err := n.rec.release(ctx, runbook.EvPause, why); err != nil {
			return err
		}
	}
	if crashed {
		n.cfg.UI.Warn(fmt.Sprintf("release %s was found running when its process died; settling what it left", n.rel().Version))
		n.rec.note(ctx, "resume", "", "", "resumed after a crash by "+n.cfg.Operator+" on "+n.cfg.Machine)
	}
	return nil
}

// data builds the template data of step s on host h (nil for none).
func (n *night) data(s *runbook.Step, h *runbook.Host) runbook.TemplateData {
	r := n.rel()
	d := runbook.TemplateData{
		Version:  r.Version,
		Release:  runbook.TemplateRelease{ID: r.ID, StartedAt: r.StartedAt.UTC().Format(time.RFC3339)},
		Artifact: runbook.TemplateArtifact{Name: n.rb.Artifact.Name, SHA256: n.artifact},
	}
	if env := n.rb.Envs[s.On]; env != nil {
		d.Env = runbook.TemplateEnv{Name: env.Name, DeployDir: env.DeployDir}
		d.Release.Previous = n.previous[env.Name]
	}
	if h != nil {
		d.Host = runbook.TemplateHost{Name: h.Name, Address: h.Address, DeployDir: h.DeployDir}
		if h.DeployDir != "" {
			d.Release.Dir = path.Join(h.DeployDir, "releases", r.Version)
		}
	}
	return d
}

func (n *night) pause(ctx context.Context) error {
	if n.rel().State == runbook.ReleaseRunning {
		if err := n.rec.release(ctx, runbook.EvPause, "paused by "+n.cfg.Operator); err != nil {
			return err
		}
	}
	n.cfg.UI.Info("release paused; `runbook resume` continues where it stopped")
	return runbook.ErrPaused
}

// abort ends the release for good, once the operator confirmed it: it
// cannot be resumed or rolled back step by step afterwards, so the
// question names what the release changed and defaults to no. aborted
// false means the operator went back.
func (n *night) abort(ctx context.Context) (aborted bool, err error) {
	msg := fmt.Sprintf("Abort release %s for good? Nothing is undone, and it cannot be resumed or rolled back step by step afterwards.", n.rel().Version)
	if changed := n.changedHosts(); changed != "" {
		msg += "\n  It changed " + changed + "."
	}
	ok, err := n.ask.Confirm(msg, "Yes, abort the release", "No, go back")
	if err != nil {
		return false, interruptedAt(err)
	}
	if !ok {
		return false, nil
	}
	reason, err := n.ask.Text("Why abort? (recorded)", "", "")
	if err != nil {
		return false, interruptedAt(err)
	}
	n.rel().FinishedAt = n.rec.now()
	if err := n.rec.release(ctx, runbook.EvAbort, "aborted by "+n.cfg.Operator+": "+reason); err != nil {
		return false, err
	}
	n.rec.note(ctx, "deviation", "", "", "release aborted by "+n.cfg.Operator+": "+reason)
	n.cfg.UI.Info("release aborted; nothing was undone")
	return true, runbook.ErrAborted
}

// changedHosts names the hosts this release changed, by environment:
// "prerelease (pre1), production (prod1, prod2)".
func (n *night) changedHosts() string {
	var order []string
	hosts := map[string][]string{}
	for i, sr := range n.steps {
		switch n.cfg.Exec.Changes(n.rb, n.rb.Steps[i]) {
		case runbook.ChangesNothing, runbook.ChangesBuild:
			continue
		}
		for _, hr := range sr.Hosts {
			if !tookEffect(hr) || slices.Contains(hosts[sr.Env], hr.Host) {
				continue
			}
			if hosts[sr.Env] == nil {
				order = append(order, sr.Env)
			}
			hosts[sr.Env] = append(hosts[sr.Env], hr.Host)
		}
	}
	parts := make([]string, len(order))
	for i, en := range order {
		parts[i] = fmt.Sprintf("%s (%s)", en, strings.Join(hosts[en], ", "))
	}
	return strings.Join(parts, ", ")
}

// details shows what a step would do on each host, secrets masked.
func (n *night) details(s *runbook.Step) {
	var b strings.Builder
	fmt.Fprintf(&b, "step %s (%s", s.Name, s.Kind)
	if s.On != "" {
		fmt.Fprintf(&b, " on %s", s.On)
	}
	b.WriteString(")")
	if s.Description != "" {
		b.WriteString("\n  " + s.Description)
	}
	if d := n.cfg.Exec.Describe(n.rb, s, n.rel().Version); d != "" {
		b.WriteString("\n  " + d)
		if s.Kind == runbook.KindActivate {
			b.WriteString("; its undo switches back and restarts")
		}
	}
	fields := [][2]string{{"command", s.Command(n.rb.Envs[s.On])}, {"verify", s.Verify}, {"check", s.Check}, {"undo", s.Undo}}
	if s.HasHosts() && slices.ContainsFunc(fields, func(kv [2]string) bool { return kv[1] != "" }) {
		for _, h := range n.rb.Envs[s.On].Hosts {
			d := n.data(s, h)
			fmt.Fprintf(&b, "\n  %s:", h.Name)
			for _, kv := range fields {
				if kv[1] == "" {
					continue
				}
				// Continuation lines of a multi-line command stay indented.
				text := strings.ReplaceAll(n.cfg.Masker.Mask(runbook.RenderForDisplay(kv[1], d)), "\n", "\n      ")
				fmt.Fprintf(&b, "\n    %s: %s", kv[0], text)
			}
		}
	}
	n.cfg.UI.Detail(b.String())
}

// verify runs the verify command until it passes, retries times more.
// It returns nil when it passed, else which verify failed and how; an
// error only when the walk must stop (the operator interrupted it).
func (n *night) verify(ctx context.Context, s *runbook.Step, call *runbook.Call, out *hostOutput) (*runbook.FailedVerify, error) {
	for attempt := 0; ; attempt++ {
		code, err := n.cfg.Exec.Verify(ctx, call)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil && code == 0 {
			return nil, nil
		}
		if err != nil {
			out.Line("runbook: verify: " + err.Error())
			code = -1
		}
		if attempt >= s.Retries {
			// Masked: the rendered command may hold a secret, and it is
			// recorded.
			return &runbook.FailedVerify{Command: n.cfg.Masker.Mask(call.Verify), ExitCode: code, Attempts: attempt + 1}, nil
		}
		delay := s.RetryDelay
		if delay == 0 {
			delay = time.Second
		}
		out.Line(fmt.Sprintf("runbook: verify failed, retry %d/%d in %s", attempt+1, s.Retries, delay))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// call builds the rendered call of step s on host h. An activate gets the
// versions recorded as staged on h: the only ones its keep cleanup may
// remove.
func (n *night) call(ctx context.Context, s *runbook.Step, h *runbook.Host) (*runbook.Call, error) {
	c, err := n.renderCall(s, h, n.data(s, h))
	if err == nil && s.Kind == runbook.KindUpload && n.later != nil {
		c.ArtifactSHA256 = n.later.get
	}
	if err != nil || s.Kind != runbook.KindActivate {
		return c, err
	}
	if c.Staged, err = n.stagedOn(ctx, s.On, h.Name); err != nil {
		return nil, err
	}
	return c, nil
}

// stagedOn lists the versions recorded as staged on host of env and not
// removed since, oldest release first: the release record, not a host's
// clock, decides which are oldest.
func (n *night) stagedOn(ctx context.Context, env, host string) ([]string, error) {
	all, err := n.cfg.Store.StagedVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read what is staged on %s: %w", host, err)
	}
	var mine []runbook.Staged
	for _, st := range all {
		if st.Env == env && st.Host == host && !st.Removed {
			mine = append(mine, st)
		}
	}
	slices.SortStableFunc(mine, func(a, b runbook.Staged) int { return cmp.Compare(a.ReleaseID, b.ReleaseID) })
	out := make([]string, len(mine))
	for i, st := range mine {
		out[i] = st.Version
	}
	return out, nil
}

// output opens the output of the current attempt of a host run.
func (n *night) output(s *runbook.Step, hr *runbook.HostRun) *hostOutput {
	return newHostOutput(n.cfg.UI, n.cfg.Masker, n.logSpot(), s, hr, n.rec.now())
}

func (n *night) logSpot() logSpot { return logSpot{dir: n.cfg.LogDir, release: n.rel().ID} }

// recordEffects writes what a succeeded built-in changed on the host to the
// handbook tables (staged versions, live versions) before the host run is
// marked succeeded: a crash in between re-runs an idempotent action.
func (n *night) recordEffects(ctx context.Context, s *runbook.Step, hr *runbook.HostRun) error {
	st, rel, now := n.cfg.Store, n.rel(), n.rec.now()
	d := runbook.ParseDetail(hr.Detail)
	var err error
	switch s.Kind {
	case runbook.KindUpload:
		err = st.AddStaged(ctx, runbook.Staged{Env: s.On, Host: hr.Host, Version: rel.Version, SHA256: d.SHA256, ReleaseID: rel.ID, At: now})
	case runbook.KindActivate:
		for _, v := range d.Removed {
			if err = st.AddStaged(ctx, runbook.Staged{Env: s.On, Host: hr.Host, Version: v, ReleaseID: rel.ID, At: now, Removed: true}); err != nil {
				break
			}
		}
		if err == nil {
			err = st.SetLive(ctx, runbook.Live{Env: s.On, Host: hr.Host, Version: rel.Version, Previous: d.Previous, ReleaseID: rel.ID, At: now})
		}
	case runbook.KindOp:
		// A restart after the switch whose verify passed shows the
		// release running: what status and the report call live.
		if s.Verify != "" && n.cfg.Exec.Changes(n.rb, s) == runbook.ChangesRunning {
			err = st.VerifyLive(ctx, s.On, hr.Host, rel.Version, now)
		}
	}
	return runbook.NotRecorded(err)
}
