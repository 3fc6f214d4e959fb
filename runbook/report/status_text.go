package report

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// StatusRecord is what `runbook status` shows of one release, as the
// state database holds it.
type StatusRecord struct {
	Release *runbook.Release
	Steps   []*runbook.StepRun
	// Notes are the release's notes; the text shows its deviations.
	Notes []runbook.Note
	// Live is the live version of every host now.
	Live []runbook.Live
}

// Style is how the status text looks on the operator's terminal: the time
// zone of its times and the colours of its parts. Colours are functions
// because report must not import a colour library (DESIGN.md: one room
// per library); a nil function leaves its text plain, so the zero Style
// writes plain text with times in UTC.
type Style struct {
	Zone  *time.Location
	Bold  func(string) string
	Faint func(string) string
	// Warn marks what went other than the runbook says.
	Warn func(string) string
	// State colours the name of a release, step or host-run state.
	State func(state string) string
}

func (s Style) apply(f func(string) string, text string) string {
	if f == nil {
		return text
	}
	return f(text)
}

func (s Style) bold(text string) string  { return s.apply(s.Bold, text) }
func (s Style) faint(text string) string { return s.apply(s.Faint, text) }
func (s Style) warn(text string) string  { return s.apply(s.Warn, text) }
func (s Style) state(text string) string { return s.apply(s.State, text) }

// StampLayout is how status and history show a moment: in the
// operator's zone, with the zone's offset ("2026-12-05 01:14:20 +08:00",
// "… Z" in UTC), so that a time read off one terminal and compared with
// a report (RFC 3339, UTC) or a colleague's screen is never off by hours.
const StampLayout = "2006-01-02 15:04:05 Z07:00"

// clock formats a time in the style's zone.
func (s Style) clock(t time.Time, layout string) string {
	if s.Zone == nil {
		return t.UTC().Format(layout)
	}
	return t.In(s.Zone).Format(layout)
}

// StatusText writes where a release stands, step by step and host by
// host, what went other than planned, what is live, and the command to
// type next: the text of `runbook status`.
func StatusText(w io.Writer, rec StatusRecord, st Style) error {
	// Every recorded text is shown terminal-safe, on its line: versions,
	// names and reasons written before they were checked, and output
	// tails, may hold anything (see safeDoc).
	var safe StatusRecord
	safeCopy(reflect.ValueOf(&safe).Elem(), reflect.ValueOf(rec), "")
	rec = safe
	out := &stickyWriter{w: w}
	r := rec.Release
	out.printf("%s %s %s (#%d) — %s\n", st.bold(r.RunbookName), r.Kind, st.bold(r.Version), r.ID, st.state(string(r.State)))
	fin := "unfinished"
	if !r.FinishedAt.IsZero() {
		fin = "ended " + st.clock(r.FinishedAt, StampLayout)
	}
	out.printf("  started %s by %s on %s, %s\n", st.clock(r.StartedAt, StampLayout), who(r.Operator, r.OSUser), r.Machine, fin)
	if r.ArtifactSHA256 != "" {
		out.printf("  artifact %s sha256 %s\n", r.ArtifactPath, r.ArtifactSHA256)
	}
	out.printf("\n")
	for i, s := range rec.Steps {
		statusStep(out, i, s, st)
	}
	if devs := deviationNotes(rec.Notes); len(devs) > 0 {
		out.printf("\n  deviations:\n")
		for _, n := range devs {
			where := n.Step
			if n.Host != "" {
				where += "/" + n.Host
			}
			if where == "" {
				where = "release"
			}
			out.printf("    %s %s: %s %s\n", st.faint(st.clock(n.At, "15:04")), where, st.warn(strings.ReplaceAll(n.Text, "\n", " ")), st.faint("("+who(n.Operator, n.OSUser)+")"))
		}
	}
	if len(rec.Live) > 0 {
		out.printf("\n  live:\n")
		byEnv := map[string][]string{}
		var envs []string
		for _, l := range rec.Live {
			if _, ok := byEnv[l.Env]; !ok {
				envs = append(envs, l.Env)
			}
			v := l.Host + "=" + l.Version
			if l.VerifiedAt.IsZero() {
				// Switched, and nothing has shown it running yet.
				v += " (not verified)"
			}
			byEnv[l.Env] = append(byEnv[l.Env], v)
		}
		sort.Strings(envs)
		for _, e := range envs {
			out.printf("    %-12s %s\n", e, strings.Join(byEnv[e], " "))
		}
	}
	out.printf("\nnext: %s\n", NextAction(r, rec.Steps))
	return out.err
}

// statusStep writes one step's line, its reason when it stopped, and its
// hosts when there is more than one or the one did not simply succeed.
func statusStep(out *stickyWriter, i int, s *runbook.StepRun, st Style) {
	extra := ""
	if s.Attempts > 1 {
		extra = fmt.Sprintf(" (%d attempts)", s.Attempts)
	}
	if !s.StartedAt.IsZero() && !s.FinishedAt.IsZero() {
		extra += st.faint(" " + s.FinishedAt.Sub(s.StartedAt).Round(time.Millisecond).String())
	}
	where := ""
	if s.Env != "" {
		where = " on " + s.Env
	}
	out.printf("  %2d. %-24s %s %s%s\n", i+1, s.Name, padState(st, string(s.State), 12), st.faint(string(s.Kind)+where), extra)
	if s.Reason != "" && (s.State == runbook.RunSkipped || s.State == runbook.RunFailed || s.State == runbook.RunInterrupted) {
		out.printf("      %s\n", st.faint("reason: "+s.Reason))
	}
	showHosts := len(s.Hosts) > 1 || (len(s.Hosts) == 1 && s.State != runbook.RunSucceeded && s.State != runbook.RunPending)
	if !showHosts {
		return
	}
	for _, h := range s.Hosts {
		code := ""
		if h.ExitCode >= 0 {
			code = fmt.Sprintf(" exit %d", h.ExitCode)
		}
		if f := runbook.ParseDetail(h.Detail).FailedVerify; f != nil {
			code = ": " + f.String() // its action passed: say which check failed
		}
		out.printf("        %-14s %s%s\n", h.Host, st.state(string(h.State)), code)
		if h.State == runbook.RunFailed && h.OutputTail != "" {
			tail := strings.Split(strings.TrimRight(h.OutputTail, "\n"), "\n")
			if len(tail) > 5 {
				tail = tail[len(tail)-5:]
			}
			for _, l := range tail {
				out.printf("          %s\n", st.faint(l))
			}
		}
	}
}

// padState pads a state name to its column before colouring it: padding
// a coloured name would count the escape codes and break the column.
func padState(st Style, state string, width int) string {
	pad := ""
	if n := width - len(state); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	return st.state(state) + pad
}

// deviationNotes are the notes where the night went other than the
// runbook says (a difference accepted, a step marked done or skipped, an
// undo left): whoever takes over after an interruption must see them first.
func deviationNotes(notes []runbook.Note) []runbook.Note {
	var out []runbook.Note
	for _, n := range notes {
		if n.Kind == "deviation" {
			out = append(out, n)
		}
	}
	return out
}

// NextAction says what the operator should type next.
func NextAction(r *runbook.Release, steps []*runbook.StepRun) string {
	n := NextStep(steps)
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
	case runbook.ReleaseRollbackFailed:
		return "the rollback failed (the output above shows where): fix the cause, then `runbook rollback` retries what is left of it"
	case runbook.ReleaseRunning:
		return fmt.Sprintf("it is running (or its process died at %s): `runbook resume` continues it once no process holds the lock", n)
	}
	return fmt.Sprintf("`runbook resume` continues at %s; `runbook rollback` undoes the release; `runbook abort` ends it", n)
}
