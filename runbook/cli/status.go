package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/report"
	"github.com/spf13/cobra"
)

func newStatus(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Where the current (else the last) release stands, and what to do next",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rb, st, err := g.readStore()
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			r, err := st.Unfinished(ctx)
			if err != nil {
				return err
			}
			if r == nil {
				rels, err := st.Releases(ctx)
				if err != nil {
					return err
				}
				if len(rels) == 0 {
					return runbook.WithHint(fmt.Errorf("%w: no release recorded yet", runbook.ErrNothingToDo), "`runbook start --version V` starts one")
				}
				r = rels[len(rels)-1]
			}
			steps, err := st.Steps(ctx, r.ID)
			if err != nil {
				return err
			}
			name := r.RunbookName
			if rb != nil {
				name = rb.Name
			}
			doc := report.BuildStatus(name, r, steps)
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			live, err := st.LiveVersions(ctx)
			if err != nil {
				return err
			}
			notes, err := st.Notes(ctx, r.ID)
			if err != nil {
				return err
			}
			printStatus(g.stdout, r, steps, live, deviations(notes))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (SPEC §7 shape)")
	return cmd
}

func stateColor(s string) string {
	switch s {
	case "succeeded", "undone", "rolled_back":
		return green.Sprint(s)
	case "failed", "undo_failed", "aborted":
		return red.Sprint(s)
	case "running", "undoing", "rolling_back", "interrupted", "paused":
		return yellow.Sprint(s)
	}
	return faint.Sprint(s)
}

// deviations are the notes where the night went other than the runbook
// says (a difference accepted, a step marked done or skipped, an undo
// left): whoever takes over after an interruption must see them first.
func deviations(notes []runbook.Note) []runbook.Note {
	var out []runbook.Note
	for _, n := range notes {
		if n.Kind == "deviation" {
			out = append(out, n)
		}
	}
	return out
}

// printStatus shows a release. Every recorded text goes through line
// (terminal-safe, on one line): versions, names and reasons written before
// they were checked, and output tails, may hold anything.
func printStatus(w io.Writer, r *runbook.Release, steps []*runbook.StepRun, live []runbook.Live, devs []runbook.Note) {
	line := runbook.TermSafeLine
	fmt.Fprintf(w, "%s %s %s (#%d) — %s\n", bold.Sprint(line(r.RunbookName)), r.Kind, bold.Sprint(line(r.Version)), r.ID, stateColor(string(r.State)))
	fin := "unfinished"
	if !r.FinishedAt.IsZero() {
		fin = "ended " + r.FinishedAt.Local().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(w, "  started %s by %s on %s, %s\n", r.StartedAt.Local().Format("2006-01-02 15:04:05"), line(r.Operator), line(r.Machine), fin)
	if r.ArtifactSHA256 != "" {
		fmt.Fprintf(w, "  artifact %s sha256 %s\n", line(r.ArtifactPath), line(r.ArtifactSHA256))
	}
	fmt.Fprintln(w)
	for i, s := range steps {
		extra := ""
		if s.Attempts > 1 {
			extra = fmt.Sprintf(" (%d attempts)", s.Attempts)
		}
		if !s.StartedAt.IsZero() && !s.FinishedAt.IsZero() {
			extra += faint.Sprintf(" %s", s.FinishedAt.Sub(s.StartedAt).Round(time.Millisecond))
		}
		where := ""
		if s.Env != "" {
			where = " on " + s.Env
		}
		fmt.Fprintf(w, "  %2d. %-24s %-12s %s%s\n", i+1, line(s.Name), stateColor(string(s.State)), faint.Sprint(string(s.Kind)+where), extra)
		if s.Reason != "" && (s.State == runbook.RunSkipped || s.State == runbook.RunFailed || s.State == runbook.RunInterrupted) {
			fmt.Fprintf(w, "      %s\n", faint.Sprint("reason: "+line(s.Reason)))
		}
		if len(s.Hosts) > 1 || (len(s.Hosts) == 1 && s.State != runbook.RunSucceeded && s.State != runbook.RunPending) {
			for _, h := range s.Hosts {
				code := ""
				if h.ExitCode >= 0 {
					code = fmt.Sprintf(" exit %d", h.ExitCode)
				}
				fmt.Fprintf(w, "        %-14s %s%s\n", line(h.Host), stateColor(string(h.State)), code)
				if h.State == runbook.RunFailed && h.OutputTail != "" {
					tail := strings.Split(strings.TrimRight(runbook.TermSafe(h.OutputTail), "\n"), "\n")
					if len(tail) > 5 {
						tail = tail[len(tail)-5:]
					}
					for _, l := range tail {
						fmt.Fprintf(w, "          %s\n", faint.Sprint(l))
					}
				}
			}
		}
	}
	if len(devs) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  deviations:")
		for _, n := range devs {
			where := n.Step
			if n.Host != "" {
				where += "/" + n.Host
			}
			if where == "" {
				where = "release"
			}
			fmt.Fprintf(w, "    %s %s: %s %s\n", faint.Sprint(n.At.Local().Format("15:04")), line(where), yellow.Sprint(line(n.Text)), faint.Sprint("("+line(n.Operator)+")"))
		}
	}
	if len(live) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "  live:")
		byEnv := map[string][]string{}
		var envs []string
		for _, l := range live {
			if _, ok := byEnv[l.Env]; !ok {
				envs = append(envs, l.Env)
			}
			byEnv[l.Env] = append(byEnv[l.Env], fmt.Sprintf("%s=%s", line(l.Host), line(l.Version)))
		}
		sort.Strings(envs)
		for _, e := range envs {
			fmt.Fprintf(w, "    %-12s %s\n", line(e), strings.Join(byEnv[e], " "))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "next: "+line(nextAction(r, steps)))
}

// nextAction says what the operator should type next.
func nextAction(r *runbook.Release, steps []*runbook.StepRun) string {
	n := report.NextStep(steps)
	switch r.State {
	case runbook.ReleaseSucceeded:
		return "nothing: the release succeeded. `runbook report` writes the summary; `runbook rollback` undoes it"
	case runbook.ReleaseRolledBack:
		return "nothing: the release was rolled back. `runbook report` writes the summary"
	case runbook.ReleaseAborted:
		return "nothing: the release was aborted. `runbook report` writes the summary; `runbook start --version V` starts another"
	case runbook.ReleaseFailed:
		return fmt.Sprintf("step %s failed: fix the cause, then `runbook resume` retries it (or `runbook rollback` undoes the release)", n)
	case runbook.ReleaseRollingBack:
		return "a rollback was interrupted: `runbook rollback` continues it"
	case runbook.ReleaseRunning:
		return fmt.Sprintf("it is running (or its process died at %s): `runbook resume` continues it once no process holds the lock", n)
	}
	return fmt.Sprintf("`runbook resume` continues at %s; `runbook abort` ends the release", n)
}
