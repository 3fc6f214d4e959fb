package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
)

type logsOptions struct {
	host    string
	follow  bool
	version string
	id      int64
}

// logsPoll is how often `logs -f` looks for new output and asks the
// record whether the release is still being walked.
const logsPoll = 200 * time.Millisecond

func newLogs(g *globals) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [STEP] [--host H] [-f]",
		Short: "The output of a step (or of every step) of the latest or the named release, also of a run still going",
		Long: `Show the output of the host runs of a release as its log files under
.runbook/logs keep it (secrets masked): every step in order, or STEP, on
every host or on --host H. -f follows the output while the release runs and
returns when the step (or the release) stops.

A run whose runbook died while the run went on, on an SSH host, is read from
the host's own log of the run, through the same connection a release uses:
what it wrote so far, or, with -f, everything until it ends.`,
		Example: `  runbook logs
  runbook logs restart-production --host prod1
  runbook logs db-migrate -f
  runbook logs --release 2.4.0 build-ear`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			step := ""
			if len(args) == 1 {
				step = args[0]
			}
			return runLogs(cmd.Context(), g, o, step, cmd.Flags().Changed("id"))
		},
	}
	cmd.Flags().StringVar(&o.host, "host", "", "only this host's output")
	// -f is --file everywhere else; here it is --follow, as in tail -f
	// (followShorthand rewrites it before cobra parses).
	cmd.Flags().BoolVar(&o.follow, "follow", false, "follow the output while the release runs (also -f: the runbook file is then --file)")
	cmd.Flags().StringVar(&o.version, "release", "", "the latest release of this version (default: the latest release)")
	cmd.Flags().Int64Var(&o.id, "id", 0, "the release with this id (runbook history lists them)")
	return cmd
}

// followShorthand rewrites -f after the logs command into --follow: the
// global -f is --file, and an operator who follows logs types -f as for
// tail, journalctl or kamal. Everywhere else -f stays --file.
func followShorthand(root *cobra.Command, args []string) []string {
	c, _, err := root.Find(args)
	if err != nil || c.Name() != "logs" {
		return args
	}
	out := append([]string(nil), args...)
	seen := false
	for i, a := range out {
		switch {
		case a == "--":
			return out
		case !seen && a == "logs":
			seen = true
		case seen && a == "-f":
			out[i] = "--follow"
		}
	}
	return out
}

// logRun is one host run whose output `logs` shows, and its log file.
type logRun struct {
	sr   *runbook.StepRun
	hr   *runbook.HostRun
	path string
}

func (l logRun) title() string { return l.sr.Name + " on " + l.hr.Host }

func runLogs(ctx context.Context, g *globals, o *logsOptions, step string, byID bool) error {
	p, err := g.openPicked(ctx, "logs", o.version, o.id, byID)
	if err != nil {
		return err
	}
	defer p.st.Close()
	rb, st, r := p.rb, p.st, p.r
	steps, err := st.Steps(ctx, r.ID)
	if err != nil {
		return err
	}
	dir := filepath.Join(g.workDir(rb), "logs", strconv.FormatInt(r.ID, 10))
	runs, err := selectLogRuns(steps, step, o.host, dir)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		if step == "" {
			fmt.Fprintf(g.stderr, "runbook: %s %s (#%d) has no host runs\n", r.Kind, r.Version, r.ID)
		} else {
			fmt.Fprintf(g.stderr, "runbook: %s runs on no host (a %s step): `runbook report` shows what it recorded\n", step, stepKind(steps, step))
		}
		return nil
	}
	lv := &logView{g: g, rb: rb, runs: runs, multi: len(runs) > 1, files: map[string]*followed{}}
	defer lv.close()
	_, held, err := st.Holder(ctx)
	if err != nil {
		return err
	}
	if !o.follow || !walked(r, held) {
		// Nothing is being written locally: what is recorded, and the
		// runs a dead runbook left going, from their hosts (followed
		// to their end with -f).
		return lv.show(ctx, stillRunning(runs, r, held), o.follow)
	}
	return lv.follow(ctx, st, r, step)
}

// walked reports whether a process is walking release r: it holds the
// release lock and r is in a state a walk is in.
func walked(r *runbook.Release, held bool) bool {
	return held && (r.State == runbook.ReleaseRunning || r.State == runbook.ReleaseRollingBack || r.State == runbook.ReleasePlanned)
}

// selectLogRuns lists the host runs of the release whose output is asked
// for, in runbook order: every step's, or step's; on every host, or on
// host. A name that matches nothing is a usage error with a did-you-mean.
func selectLogRuns(steps []*runbook.StepRun, step, host, dir string) ([]logRun, error) {
	var names, hosts []string
	found := step == ""
	var runs []logRun
	for _, sr := range steps {
		names = append(names, sr.Name)
		if step != "" && sr.Name != step {
			continue
		}
		found = true
		for _, hr := range sr.Hosts {
			hosts = append(hosts, hr.Host)
			if host != "" && hr.Host != host {
				continue
			}
			runs = append(runs, logRun{sr: sr, hr: hr,
				path: filepath.Join(dir, fmt.Sprintf("%02d-%s", sr.Index+1, sr.Name), hr.Host+".log")})
		}
	}
	if !found {
		err := usagef("logs: the release has no step %q", step)
		if s := suggestName(step, names); s != "" {
			return nil, runbook.WithHint(err, fmt.Sprintf("did you mean %s?", s))
		}
		return nil, runbook.WithHint(err, "`runbook status` lists its steps")
	}
	if host != "" && len(runs) == 0 && len(hosts) > 0 {
		where := "the release"
		if step != "" {
			where = "step " + step
		}
		err := usagef("logs: %s ran on no host %q", where, host)
		if s := suggestName(host, hosts); s != "" {
			return nil, runbook.WithHint(err, fmt.Sprintf("did you mean --host %s?", s))
		}
		return nil, err
	}
	return runs, nil
}

// suggestName is the name closest to a typo (runbook.Suggest), or else
// the one name that starts with what was typed ("restart-prod").
func suggestName(typed string, names []string) string {
	if s := runbook.Suggest(typed, names); s != "" {
		return s
	}
	var match string
	for _, n := range names {
		if strings.HasPrefix(n, typed) && n != match {
			if match != "" {
				return ""
			}
			match = n
		}
	}
	return match
}

func stepKind(steps []*runbook.StepRun, name string) string {
	for _, sr := range steps {
		if sr.Name == name {
			return string(sr.Kind)
		}
	}
	return ""
}

// logView writes the output of host runs to stdout, with a tail-style
// header ("==> step on host <==") before each run's lines when it shows
// more than one run.
type logView struct {
	g     *globals
	rb    *runbook.Runbook // nil when the runbook file cannot be read: no host is reached then
	reach *reach           // the connections to hosts, made on first use
	runs  []logRun
	multi bool
	last  string // the run whose lines were written last
	files map[string]*followed
}

// header writes the header of run when its lines follow another run's.
func (lv *logView) header(run logRun) {
	if !lv.multi || lv.last == run.path {
		return
	}
	if lv.last != "" {
		fmt.Fprintln(lv.g.stdout)
	}
	fmt.Fprintf(lv.g.stdout, "==> %s <==\n", runbook.TermSafeLine(run.title()))
	lv.last = run.path
}

// write writes lines of a log: recorded output is made terminal-safe
// again on its way out, in case the file was edited since.
func (lv *logView) write(run logRun, b []byte) {
	if len(b) == 0 {
		return
	}
	lv.header(run)
	_, _ = io.WriteString(lv.g.stdout, runbook.TermSafe(string(b)))
}

// stillRunning lists the runs the record shows running while no process
// walks the release: their runbook died, and on an SSH host the run may
// go on. held says whether a process holds the release lock.
func stillRunning(runs []logRun, r *runbook.Release, held bool) map[string]bool {
	out := map[string]bool{}
	if held || r.State.Finished() {
		return out
	}
	for _, run := range runs {
		if (run.hr.State == runbook.RunRunning || run.hr.State == runbook.RunUndoing) && run.hr.Token != "" {
			out[run.path] = true
		}
	}
	return out
}

// close ends the connections to hosts, if any were made.
func (lv *logView) close() {
	if lv.reach != nil {
		lv.reach.Close()
	}
}

// show writes what is recorded of every run, once; the runs in orphans
// (left running by a dead runbook) from their hosts, followed to their
// end when follow is set.
func (lv *logView) show(ctx context.Context, orphans map[string]bool, follow bool) error {
	for _, run := range lv.runs {
		if orphans[run.path] && lv.fromHost(ctx, run, follow) {
			continue
		}
		f, err := os.Open(run.path)
		if errors.Is(err, fs.ErrNotExist) {
			lv.noFile(run)
			continue
		}
		if err != nil {
			return fmt.Errorf("read the log of %s: %w", run.title(), err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read the log of %s: %w", run.title(), err)
		}
		lv.write(run, b)
	}
	return nil
}

// noFile says why a run has no log file, and shows the tail the record
// keeps when there is one (the log directory was lost or never written).
func (lv *logView) noFile(run logRun) {
	if run.hr.OutputTail != "" {
		fmt.Fprintf(lv.g.stderr, "runbook: %s: no log file at %s; showing the last %d bytes the state database keeps\n",
			run.title(), run.path, len(run.hr.OutputTail))
		lv.write(run, []byte(run.hr.OutputTail))
		return
	}
	if !lv.multi {
		what := "it has not run"
		if run.hr.State != runbook.RunPending {
			what = "it is " + string(run.hr.State) + " and printed nothing"
		}
		fmt.Fprintf(lv.g.stderr, "runbook: %s: no output recorded: %s\n", run.title(), what)
	}
}

// fromHost shows the output of a run whose runbook died, read from the
// host's own log of it; follow reads on until the run ends. It reports
// whether it did: a host that keeps no log of the run (a local run), or
// cannot be reached, leaves the run to its local log file.
func (lv *logView) fromHost(ctx context.Context, run logRun, follow bool) bool {
	if lv.rb == nil {
		return false
	}
	h := lv.rb.EnvHost(run.sr.Env, run.hr.Host)
	if h == nil {
		return false
	}
	if lv.reach == nil {
		r, err := lv.g.reach(lv.rb)
		if err != nil {
			fmt.Fprintf(lv.g.stderr, "runbook: warning: %s: cannot reach its host to read the run's own log: %v\n", run.title(), lv.g.masker.Mask(err.Error()))
			return false
		}
		lv.reach = r
	}
	fmt.Fprintf(lv.g.stderr, "runbook: %s is recorded as running and no runbook walks the release: its output as the host's log of the run keeps it\n", run.title())
	lv.header(run)
	// The host's log is the run's raw output: masked here, as the
	// engine masks what it writes.
	w := runbook.NewTermSafeWriter(lv.g.masker.Writer(lv.g.stdout))
	code, done, err := lv.reach.exec.RunLog(ctx, h, run.hr.Token, w, follow)
	_ = w.Close()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false
	case err != nil && ctx.Err() != nil:
		return true // Ctrl-C while following
	case err != nil:
		fmt.Fprintf(lv.g.stderr, "runbook: warning: %s: cannot read the run's log on its host: %v\n", run.title(), lv.g.masker.Mask(err.Error()))
		return false
	case follow && done:
		fmt.Fprintf(lv.g.stderr, "runbook: %s ended on the host with exit code %d; `runbook resume` records it\n", run.title(), code)
	case follow:
		fmt.Fprintf(lv.g.stderr, "runbook: %s ended on the host without an exit code; `runbook resume` settles it\n", run.title())
	}
	return true
}

// followed is one log file being followed: how far it was read, and the
// start of a line whose end has not been written yet.
type followed struct {
	off     int64
	partial []byte
}

// follow writes the output of the runs as it is written, until the step
// (or, without one, the release) is no longer walked, or Ctrl-C. A walk
// that dies meanwhile may leave runs going on their hosts: they are then
// read on from there, whole (their start was in the local log too).
func (lv *logView) follow(ctx context.Context, st runbook.Store, r *runbook.Release, step string) error {
	for {
		if err := lv.poll(); err != nil {
			return err
		}
		rel, err := st.Release(ctx, r.ID)
		if err != nil {
			return err
		}
		_, held, err := st.Holder(ctx)
		if err != nil {
			return err
		}
		steps, err := st.Steps(ctx, r.ID)
		if err != nil {
			return err
		}
		lv.refresh(steps)
		if !walked(rel, held) || (step != "" && stepEnded(steps, step)) {
			if err := lv.poll(); err != nil {
				return err
			}
			lv.flush()
			orphans := stillRunning(lv.runs, rel, held)
			for _, run := range lv.runs {
				if orphans[run.path] {
					lv.last = "" // the host's log gets a header of its own
					lv.fromHost(ctx, run, true)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			lv.flush()
			return nil // a viewer stopped with Ctrl-C is done, not interrupted
		case <-time.After(logsPoll):
		}
	}
}

// refresh takes the runs' states from a fresh read of the record.
func (lv *logView) refresh(steps []*runbook.StepRun) {
	byID := map[int64]*runbook.HostRun{}
	for _, sr := range steps {
		for _, hr := range sr.Hosts {
			byID[hr.ID] = hr
		}
	}
	for i, run := range lv.runs {
		if hr := byID[run.hr.ID]; hr != nil {
			lv.runs[i].hr = hr
		}
	}
}

// stepEnded reports whether the step has run and is no longer running.
func stepEnded(steps []*runbook.StepRun, name string) bool {
	for _, sr := range steps {
		if sr.Name == name {
			return sr.State != runbook.RunPending && sr.State != runbook.RunRunning && sr.State != runbook.RunUndoing
		}
	}
	return true
}

// poll writes the complete lines added to every log file since the last
// poll.
func (lv *logView) poll() error {
	for _, run := range lv.runs {
		fl := lv.files[run.path]
		if fl == nil {
			fl = &followed{}
			lv.files[run.path] = fl
		}
		f, err := os.Open(run.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // not started yet
		}
		if err != nil {
			return fmt.Errorf("read the log of %s: %w", run.title(), err)
		}
		_, err = f.Seek(fl.off, io.SeekStart)
		var b []byte
		if err == nil {
			b, err = io.ReadAll(f)
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("read the log of %s: %w", run.title(), err)
		}
		fl.off += int64(len(b))
		b = append(fl.partial, b...)
		i := bytes.LastIndexByte(b, '\n')
		lv.write(run, b[:i+1])
		fl.partial = append([]byte(nil), b[i+1:]...)
	}
	return nil
}

// flush writes what is left of lines that never got their end.
func (lv *logView) flush() {
	for _, run := range lv.runs {
		if fl := lv.files[run.path]; fl != nil && len(fl.partial) > 0 {
			lv.write(run, append(fl.partial, '\n'))
			fl.partial = nil
		}
	}
}
