package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/steps/remote"
)

// hostJob is one command run on some hosts of an environment outside a
// release: an operation, a handbook check or an ad-hoc command.
type hostJob struct {
	env   *runbook.Environment
	hosts []*runbook.Host
	// name is what the operations table records: the operation's name,
	// "check: NAME" or "exec".
	name string
	// title names the job in messages: "operation restart", "exec".
	title string
	// command returns the script for one host (a rendered template, or
	// the ad-hoc command as typed).
	command func(h *runbook.Host) (string, error)
}

// outputTail is how much of each host's output the database keeps; the
// whole output was on the operator's screen.
const outputTail = 4096

// runOnHosts runs a job on its hosts, the environment's `parallel` at a
// time, with output prefixed per host, and records every host's run in
// the state database. It fails when any host did not run the command or
// it exited non-zero.
func (g *globals) runOnHosts(ctx context.Context, r *reach, job hostJob) error {
	st, err := g.openStore(ctx, r.rb)
	if err != nil {
		return fmt.Errorf("open the state database to record %s: %w", job.name, err)
	}
	defer st.Close()

	fmt.Fprintf(g.stdout, "%s on %s: %s\n", bold.Sprint(job.title), job.env.Name, hostNames(job.hosts))
	// The environment's parallel and max_fail, as for a step: a rolling
	// restart stops at the first host that fails.
	lim := engine.LimitsOf(job.env, nil)
	errs := make([]error, len(job.hosts))
	idx := make([]int, len(job.hosts))
	for i := range idx {
		idx[i] = i
	}
	res := engine.FanOut(ctx, idx, lim, func(ctx context.Context, i int) (bool, error) {
		code, err := g.runOnHost(ctx, r, st, job, job.hosts[i])
		errs[i] = err
		return err != nil || code != 0, nil
	})
	if ctx.Err() != nil {
		return runbook.WithHint(fmt.Errorf("%s on %s: %w", job.title, job.env.Name, runbook.ErrInterrupted),
			"the command may have run on some hosts; what each host did is recorded")
	}
	if len(res.Failed) == 0 && len(res.NotRun) == 0 {
		return nil
	}
	var failed, notRun []string
	for _, i := range res.Failed {
		failed = append(failed, job.hosts[i].Name)
	}
	for _, i := range res.NotRun {
		notRun = append(notRun, job.hosts[i].Name)
	}
	why := fmt.Errorf("%s did not run on %s", job.title, strings.Join(notRun, ", "))
	if len(failed) > 0 {
		why = fmt.Errorf("%s failed on %d of %d host(s) of %s: %s", job.title, len(failed), len(job.hosts), job.env.Name, strings.Join(failed, ", "))
		if len(notRun) > 0 {
			why = fmt.Errorf("%w; not started on %s (max_fail %d)", why, strings.Join(notRun, ", "), lim.MaxFail)
		}
	}
	if cause := errors.Join(errs...); cause != nil {
		// Kept in the chain, so an unknown host key still exits 3.
		why = fmt.Errorf("%w: %w", why, cause)
	}
	return runbook.WithHint(why, "the output above shows why; fix the cause and run it again (--host H runs it on one host)")
}

func hostNames(hosts []*runbook.Host) string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return strings.Join(names, ", ")
}

// runOnHost runs the job on one host and records it. code is -1 when the
// command did not run (or its end is unknown); err then says why.
func (g *globals) runOnHost(ctx context.Context, r *reach, st runbook.Store, job hostJob, h *runbook.Host) (int, error) {
	step := &runbook.Step{Name: job.name, On: job.env.Name}
	start := time.Now()
	tail := &tailWriter{max: outputTail}
	screen := r.ui.HostOutput(step, h.Name)
	sink := &lockedWriter{w: io.MultiWriter(screen, tail)}
	// stdout and stderr are written from two goroutines: each stream is
	// cut into lines of its own, so lines never mix mid-way.
	stdout, stderr := newHostStreams(g.masker, sink)

	script, err := job.command(h)
	code := -1
	if err == nil {
		code, err = g.execOn(ctx, r, h, script, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
	}
	closeHostStreams(stdout, stderr)
	_ = screen.Close()

	hr := &runbook.HostRun{Host: h.Name, State: runbook.RunSucceeded, ExitCode: code, DurationMS: time.Since(start).Milliseconds()}
	if err != nil || code != 0 {
		hr.State = runbook.RunFailed
	}
	r.ui.HostDone(step, hr, "")
	op := runbook.Operation{
		Env: job.env.Name, Host: h.Name, Name: job.name, Command: g.masker.Mask(script), ExitCode: code,
		StartedAt: start.UTC(), FinishedAt: time.Now().UTC(), Operator: g.operator(), OSUser: osUser(), OutputTail: tail.String(),
	}
	if rerr := st.AddOperation(context.WithoutCancel(ctx), op); rerr != nil {
		r.ui.Warn(fmt.Sprintf("could not record %s on %s: %v", job.name, h.Name, rerr))
	}
	if err != nil {
		return -1, fmt.Errorf("%s: %w", h.Name, err)
	}
	return code, nil
}

// execOn runs an ad-hoc script on a host: no markers, since an operation
// outside a release is not resumed, its outcome is simply recorded.
func (g *globals) execOn(ctx context.Context, r *reach, h *runbook.Host, script string, stdout, stderr io.Writer) (int, error) {
	conn, err := r.conn(ctx, h)
	if err != nil {
		return -1, err
	}
	return conn.Exec(ctx, remote.ExecSpec{Script: script, Dir: h.Workdir, Stdout: stdout, Stderr: stderr})
}
