package steps

import (
	"context"
	"fmt"
	"net"
	"os"
	"path"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// uploadKind is `upload: artifact`: the artifact staged as
// deploy_dir/releases/<version>/<name>, streamed, checked by SHA-256 on the
// host, renamed into place; undone by removing the release.
type uploadKind struct{ shellVerify }

// Describe implements Kind.
func (uploadKind) Describe(rb *runbook.Runbook, s *runbook.Step, version string) string {
	if s.Relay != nil {
		return fmt.Sprintf("stage %s as releases/%s/%s through relay %s", rb.Artifact.Path, version, rb.Artifact.Name, s.Relay.Host)
	}
	return fmt.Sprintf("stage %s as releases/%s/%s", rb.Artifact.Path, version, rb.Artifact.Name)
}

// Changes implements Kind.
func (uploadKind) Changes(*runbook.Runbook, *runbook.Step) runbook.Change {
	return runbook.ChangesStaged
}

// Do implements Kind.
func (uploadKind) Do(ctx context.Context, x *Executor, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	return x.upload(ctx, conn, c)
}

// Undo implements Kind.
func (uploadKind) Undo(ctx context.Context, _ *Executor, conn remote.Conn, c *runbook.Call, _ runbook.ActionDetail) (runbook.Outcome, error) {
	return unstage(ctx, conn, c)
}

// upload stages the artifact as deploy_dir/releases/<version>/<name>.
func (e *Executor) upload(ctx context.Context, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	art := e.RB.Artifact
	// A relay names its copy by the sum: only a direct upload starts
	// before the artifact's hash is known (runbook.Call.ArtifactSHA256).
	if c.Data.Artifact.SHA256 == "" && (c.ArtifactSHA256 == nil || c.Step.Relay != nil) {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("artifact %s has not been hashed", art.Path)
	}
	l := layout{conn: conn, dir: c.Host.DeployDir, host: c.Host.Name}
	dir, err := l.stageDir(ctx, c.Release.Version)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("stage %s on %s: %w", art.Name, c.Host.Name, err)
	}
	spec := remote.UploadSpec{
		Local:    art.Abs,
		SHA256:   c.Data.Artifact.SHA256,
		Sum:      c.ArtifactSHA256,
		Dir:      dir,
		Name:     art.Name,
		ReadBack: sharesMachine(e.RB, c.Step, c.Host),
	}
	var bar Progress
	if e.Progress != nil {
		if fi, err := os.Stat(art.Abs); err == nil {
			bar = e.Progress(c.Host.Name, fi.Size())
			spec.Progress = bar.Update
		}
	}
	var res remote.UploadResult
	if c.Step.Relay != nil {
		res, err = e.uploadVia(ctx, conn, c, spec)
	} else {
		res, err = conn.Upload(ctx, spec)
	}
	if bar != nil {
		bar.Done(err)
	}
	if err == nil {
		// Upload waited for it when it was not known; it answers at once now.
		spec.SHA256, err = c.ArtifactSum(ctx)
	}
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("stage %s on %s: %w", art.Name, c.Host.Name, err)
	}
	d := runbook.ActionDetail{SHA256: spec.SHA256, Skipped: res.Skipped, Resumed: res.Resumed, Bytes: res.Written}
	summary := fmt.Sprintf("staged %s (%s) in %s, verified on the host in %s", art.Name, runbook.Bytes(res.Written), short(res.Duration), short(res.Verify))
	if res.HashedAlong {
		summary = fmt.Sprintf("staged %s (%s) in %s, hashed on the host as it arrived and verified %s after the last byte", art.Name, runbook.Bytes(res.Written), short(res.Duration), short(res.Verify))
	}
	if r := c.Step.Relay; r != nil && !res.Skipped {
		summary = fmt.Sprintf("staged %s (%s) from relay %s in %s, verified on the host in %s", art.Name, runbook.Bytes(res.Written), r.Host, short(res.Duration), short(res.Verify))
	}
	switch {
	case res.Skipped:
		summary = "already staged with the same checksum"
	case res.Resumed > 0:
		summary += fmt.Sprintf(", resumed after %s", runbook.Bytes(res.Resumed))
	}
	fmt.Fprintf(c.Out, "%s sha256 %s verified on %s\n", path.Join(spec.Dir, spec.Name), spec.SHA256, c.Host.Name)
	return runbook.Outcome{Detail: d.JSON(), Summary: summary}, nil
}

// sharesMachine reports whether h receives the artifact on a machine
// whose CPU the transfer shares: the operator's own (a loopback address:
// runbook's side of the transfer, its encryption, runs there too), or
// one where another host of the step receives it at the same time (its
// address names the same host, another port). Hashing the copy while it
// arrives costs the host about 2.5 times the CPU of reading it back
// (remote.UploadSpec.ReadBack): the pipe from dd to openssl, and dd
// itself (BENCHMARKS.md, issue 15). Where that CPU is the transfer's own,
// it slows the transfer more than a read-back after it costs. A test
// fleet of sshd on one machine is such a machine; so are several
// application servers of one box.
func sharesMachine(rb *runbook.Runbook, s *runbook.Step, h *runbook.Host) bool {
	env := rb.Envs[s.On]
	if env == nil || h.Local {
		return false
	}
	machine := func(addr string) string {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			return host
		}
		return strings.Trim(addr, "[]")
	}
	if m := machine(h.Address); m == "localhost" || net.ParseIP(m).IsLoopback() {
		return true
	}
	parallel := env.Parallel
	if s.Parallel > 0 {
		parallel = s.Parallel
	}
	if parallel < 2 {
		return false
	}
	for _, o := range env.Hosts {
		if o != h && !o.Local && machine(o.Address) == machine(h.Address) {
			return true
		}
	}
	return false
}

// unstage removes a staged release unless it is live or the previous one:
// rollback must never take away what a host runs or falls back to.
func unstage(ctx context.Context, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	v := c.Release.Version
	if err := checkVersion(v); err != nil {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("unstage on %s: %w", c.Host.Name, err)
	}
	l := layout{conn: conn, dir: c.Host.DeployDir, host: c.Host.Name}
	cur, warning, err := l.current(ctx)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	warn(c, []string{warning})
	if cur == v || (c.Data.Release.Previous != "" && c.Data.Release.Previous == v) {
		fmt.Fprintf(c.Out, "kept releases/%s on %s: it is live or the previous release\n", v, c.Host.Name)
		return runbook.Outcome{Summary: "kept: live or previous"}, nil
	}
	removed, err := l.unstage(ctx, v)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, err
	}
	if !removed {
		return runbook.Outcome{Summary: "releases/" + v + " was not there"}, nil
	}
	return runbook.Outcome{Summary: "removed releases/" + v}, nil
}

// StagedSHA256 implements runbook.StagedChecker.
func (e *Executor) StagedSHA256(ctx context.Context, h *runbook.Host, version string) (string, error) {
	conn, err := e.conn(ctx, h)
	if err != nil {
		return "", err
	}
	l := layout{conn: conn, dir: h.DeployDir, host: h.Name}
	return l.stagedSHA256(ctx, version, e.RB.Artifact.Name)
}

// short rounds a duration for a summary line: to the millisecond, and to
// the microsecond below one (a local checksum of a small file is not "0s").
func short(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
