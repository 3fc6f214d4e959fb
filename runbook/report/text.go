package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/runbook-dev/runbook/runbook"
)

// Text writes the report as plain text for a terminal or an e-mail: every
// section in a fixed order, "none" where nothing happened, loud labels for
// what needs a look.
func Text(w io.Writer, d *Doc) error {
	d = safeDoc(d)
	out := &stickyWriter{w: w}
	textHeader(out, d)
	textAttention(out, d)
	textSteps(out, d)
	textSignoffs(out, d)
	textNotes(out, "DEVIATIONS", d.Deviations)
	textDiffs(out, d)
	textProbes(out, d)
	textRollbacks(out, d)
	textLive(out, d)
	textTransitions(out, d)
	return out.err
}

func section(out *stickyWriter, title string) {
	out.printf("\n%s\n%s\n", title, strings.Repeat("-", len(title)))
}

// textTable aligns rows in columns and writes them without trailing
// blanks (an empty last cell would otherwise leave its padding behind).
type textTable struct {
	out    *stickyWriter
	indent string
	buf    bytes.Buffer
	tw     *tabwriter.Writer
}

func table(out *stickyWriter, indent string) *textTable {
	t := &textTable{out: out, indent: indent}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *textTable) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *textTable) flush() {
	t.tw.Flush()
	for _, l := range strings.SplitAfter(t.buf.String(), "\n") {
		if l != "" {
			t.out.printf("%s%s\n", t.indent, strings.TrimRight(l, " \n"))
		}
	}
}

// oneLine keeps a cell on one line, without control characters.
func oneLine(s string) string {
	return strings.Join(strings.Fields(readable(s)), " ")
}

func textHeader(out *stickyWriter, d *Doc) {
	r := d.Release
	title := fmt.Sprintf("%s %s %s (#%d): %s", d.Runbook, r.Kind, r.Version, r.ID, releaseLabel(r.State))
	out.printf("%s\n%s\n\n", title, strings.Repeat("=", len(title)))
	t := table(out, "")
	t.row("runbook", d.Identity.RunbookFile)
	t.row("", "sha256 "+orNone(d.Identity.RunbookSHA256))
	t.row("version", r.Version)
	t.row("artifact", r.Artifact.Path)
	t.row("", "sha256 "+orNone(r.Artifact.SHA256))
	t.row("operator", who(r.Operator, r.OSUser)+" on "+d.Identity.Machine)
	t.row("started", r.StartedAt)
	t.row("ended", ended(d))
	t.row("state", releaseLabel(r.State))
	t.flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none recorded)"
	}
	return s
}

// ended says when the release ended and how long it took, or that it has not.
func ended(d *Doc) string {
	r := d.Release
	if r.FinishedAt == nil {
		return "not yet (unfinished)"
	}
	return fmt.Sprintf("%s (%s)", *r.FinishedAt, duration(d.elapsedMS))
}

func textAttention(out *stickyWriter, d *Doc) {
	section(out, "ATTENTION")
	if len(d.Attention) == 0 {
		out.println("nothing: every step succeeded at its first attempt, no deviation")
		return
	}
	t := table(out, "")
	for _, a := range d.Attention {
		t.row("!! "+a.Label, a.What, oneLine(a.Text))
	}
	t.flush()
}

func textSteps(out *stickyWriter, d *Doc) {
	section(out, "STEPS")
	out.println("output: the last lines recorded (masked); full logs under logs/<release>/<NN>-<step>/ beside the state database")
	for i, s := range d.Steps {
		out.printf("\n%2d. %s  [%s]  %s, %s\n", i+1, s.Name, labelOf(s.State), stepWhat(s), stepDuration(s))
		if r := stepReason(s); r != "" {
			out.printf("    %s\n", oneLine(r))
		}
		for _, h := range s.Hosts {
			out.printf("    %-12s [%s]  %s\n", h.Host, labelOf(h.State), hostWhat(h))
			if tail := lastLines(h.OutputTail, tailLines); tail != "" {
				for _, l := range strings.Split(tail, "\n") {
					out.printf("      | %s\n", l)
				}
			}
		}
	}
}

// stepWhat is the kind, place and attempts of a step.
func stepWhat(s StepReport) string {
	w := s.Kind
	if s.Env != "" {
		w += " on " + s.Env
	}
	return fmt.Sprintf("%s, %d attempt(s)", w, s.Attempts)
}

func hostWhat(h HostReport) string {
	if h.Attempts == 0 {
		return "did not run"
	}
	return fmt.Sprintf("exit %s, %d attempt(s), %s, %s – %s%s", exitText(h.ExitCode), h.Attempts,
		duration(h.DurationMS), orDash(h.StartedAt), orDash(h.FinishedAt), actionText(h))
}

// reasonLabel tells the reason of the state a step is in from the reason
// of a state it left (a failure that a retry then fixed).
func reasonLabel(state string) string {
	if needsLook(state) {
		return "reason:"
	}
	return "earlier:"
}

func stepDuration(s StepReport) string {
	switch {
	case s.StartedAt == nil:
		return "did not run"
	case s.FinishedAt == nil:
		return "not finished"
	}
	return duration(s.DurationMS)
}

// actionText sums up what an upload or activate changed on the host.
func actionText(h HostReport) string {
	var parts []string
	if f := h.FailedVerify; f != nil {
		parts = append(parts, failedVerifyText(f))
	}
	a := h.Action
	if a == nil {
		a = &ActionDoc{}
	}
	switch {
	case a.Skipped:
		parts = append(parts, "already staged")
	case a.Bytes > 0:
		parts = append(parts, fmt.Sprintf("%d bytes sent", a.Bytes))
	}
	if a.Resumed > 0 {
		parts = append(parts, fmt.Sprintf("resumed after %d bytes", a.Resumed))
	}
	if a.SHA256 != "" {
		parts = append(parts, "sha256 "+a.SHA256)
	}
	if a.Version != "" {
		prev := a.Previous
		if prev == "" {
			prev = "none"
		}
		parts = append(parts, fmt.Sprintf("live %s (was %s)", a.Version, prev))
	}
	if len(a.Removed) > 0 {
		parts = append(parts, "removed "+strings.Join(a.Removed, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// failedVerifyText says which verify failed a host run (its action passed).
func failedVerifyText(f *FailedVerifyDoc) string {
	v := runbook.FailedVerify{Command: f.Command, ExitCode: f.ExitCode, Attempts: f.Attempts}
	return v.String()
}

func textSignoffs(out *stickyWriter, d *Doc) {
	section(out, "SIGN-OFFS")
	if len(d.Signoffs) == 0 {
		out.println("no sign-off was recorded")
	}
	t := table(out, "")
	for _, s := range d.Signoffs {
		t.row(s.Step, s.Role, s.Name, signedBy(s), s.At)
	}
	t.flush()
	for _, c := range d.Confirmations {
		out.printf("%s: %s (%s)\n", c.Step, oneLine(c.Text), c.At)
	}
}

func textNotes(out *stickyWriter, title string, notes []NoteDoc) {
	section(out, title)
	if len(notes) == 0 {
		out.println("none")
		return
	}
	t := table(out, "")
	for _, n := range notes {
		t.row(n.At, n.Kind, dashIfEmpty(where(n.Step, n.Host)), who(n.Operator, n.OSUser), oneLine(n.Text))
	}
	t.flush()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func textDiffs(out *stickyWriter, d *Doc) {
	section(out, "DIFFS")
	if len(d.Diffs) == 0 {
		out.println("none")
		return
	}
	for _, df := range d.Diffs {
		verdict := "agree"
		if df.Differs {
			verdict = fmt.Sprintf("DIFFERS (%d of %d facts)", differing(df), len(df.Facts))
		}
		out.printf("%s  %s vs %s at %s: %s\n", df.Step, df.EnvA, df.EnvB, df.At, verdict)
		for _, f := range df.Facts {
			mark := "agree"
			if !f.Agree {
				mark = "DIFFERS"
			}
			out.printf("  [%s] %s %s\n", mark, f.Kind, f.Fact)
			if f.Agree {
				continue
			}
			for _, v := range f.Variants {
				val := v.Value
				if v.Error != "" {
					val = "error: " + v.Error
				}
				out.printf("      %s: %s\n", strings.Join(v.Hosts, ", "), oneLine(val))
			}
			for _, l := range strings.Split(strings.TrimRight(f.Unified, "\n"), "\n") {
				if l != "" {
					out.printf("      %s\n", l)
				}
			}
		}
	}
}

func textProbes(out *stickyWriter, d *Doc) {
	section(out, "PROBES")
	if len(d.Probes) == 0 {
		out.println("none")
		return
	}
	t := table(out, "")
	for _, p := range d.Probes {
		t.row(where(p.Step, p.Host), p.Target, probeVerdict(p), probeTimes(p))
	}
	t.flush()
}

func probeVerdict(p ProbeDoc) string {
	if p.OK {
		return "ok"
	}
	return "UNREACHABLE: " + oneLine(p.Error)
}

func probeTimes(p ProbeDoc) string {
	if !p.OK {
		return ""
	}
	s := fmt.Sprintf("connect %.1f ms", p.ConnectMS)
	if len(p.LatencyMS) > 0 {
		parts := make([]string, len(p.LatencyMS))
		for i, l := range p.LatencyMS {
			parts[i] = fmt.Sprintf("%.1f", l)
		}
		s += ", requests " + strings.Join(parts, " ") + " ms"
	}
	return s
}

func textRollbacks(out *stickyWriter, d *Doc) {
	section(out, "ROLLBACKS")
	if len(d.Rollbacks) == 0 {
		out.println("none")
		return
	}
	for _, rb := range d.Rollbacks {
		out.printf("%s [%s]: %s\n", rollbackTitle(rb), labelOf(rb.State), rollbackWhen(rb))
		if rb.Reason != "" {
			out.printf("  reason: %s\n", oneLine(rb.Reason))
		}
		for _, s := range rb.Steps {
			out.printf("  %-24s [%s]\n", s.Name, labelOf(s.State))
		}
	}
}

func rollbackTitle(rb RollbackDoc) string {
	if rb.Kind == RollbackUndo {
		return fmt.Sprintf("undo of this release (#%d)", rb.ReleaseID)
	}
	envs := "every environment"
	if len(rb.Envs) > 0 {
		envs = strings.Join(rb.Envs, ", ")
	}
	return fmt.Sprintf("rollback #%d to %s on %s", rb.ReleaseID, rb.Version, envs)
}

func rollbackWhen(rb RollbackDoc) string {
	s := "started " + rb.StartedAt
	if rb.Operator != "" {
		s += " by " + who(rb.Operator, rb.OSUser)
	}
	if rb.FinishedAt != nil {
		s += ", ended " + *rb.FinishedAt
	}
	return s
}

func textLive(out *stickyWriter, d *Doc) {
	section(out, "LIVE NOW")
	if len(d.Live) == 0 {
		out.println("no host has been activated yet")
	} else {
		t := table(out, "")
		for _, l := range d.Live {
			t.row(l.Env, l.Host, l.Version, liveSince(l))
		}
		t.flush()
	}
	if len(d.Staged) == 0 {
		return
	}
	out.println("\nstaged by this release:")
	t := table(out, "  ")
	for _, s := range d.Staged {
		what := "staged, sha256 " + s.SHA256
		if s.Removed {
			what = removedText(s)
		}
		t.row(s.Env, s.Host, s.Version, what, s.At)
	}
	t.flush()
}

func liveSince(l LiveDoc) string {
	prev := l.Previous
	if prev == "" {
		prev = "none"
	}
	verified := "not verified: no verify passed since the switch"
	if l.VerifiedAt != nil {
		verified = "verified " + *l.VerifiedAt
	}
	return fmt.Sprintf("since %s by release #%d (before: %s); %s", l.At, l.ReleaseID, prev, verified)
}

func textTransitions(out *stickyWriter, d *Doc) {
	section(out, "TRANSITIONS")
	if len(d.Transitions) == 0 {
		out.println("none")
		return
	}
	t := table(out, "")
	for _, tr := range d.Transitions {
		t.row(tr.At, tr.Scope, dashIfEmpty(tr.From)+" -> "+tr.To, tr.Event, who(tr.Operator, tr.OSUser), oneLine(tr.Reason))
	}
	t.flush()
	if a := d.Audit; a != nil {
		out.printf("\naudit chain head: %s (transition %d, %s); `runbook audit verify` checks the chain\n", a.Head, a.Transition, a.At)
	}
}
