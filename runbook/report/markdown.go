package report

import (
	"fmt"
	"io"
	"strings"
)

// Markdown writes the report as GitHub-flavoured Markdown that renders
// cleanly in a git forge (tables, <details> for output) and still reads
// as plain text in a merge request.
func Markdown(w io.Writer, d *Doc) error {
	d = safeDoc(d)
	out := &stickyWriter{w: w}
	mdHeader(out, d)
	mdAttention(out, d)
	mdSteps(out, d)
	mdSignoffs(out, d)
	mdDeviations(out, d)
	mdDiffs(out, d)
	mdProbes(out, d)
	mdRollbacks(out, d)
	mdLive(out, d)
	mdTransitions(out, d)
	return out.err
}

// mdSymbols pair each class with a symbol; the text label always follows.
var mdSymbols = map[string]string{
	classOK: "✅", classFailed: "❌", classSkipped: "⏭️", classDoubt: "⚠️",
	classUndone: "↩️", classPending: "⏸️", classWarn: "⚠️",
}

func mdBadge(state string) string {
	return mdLabel(state, labelOf(state))
}

func mdLabel(state, label string) string {
	if classOf(state) != classOK && classOf(state) != classPending {
		label = "**" + label + "**"
	}
	return mdSymbols[classOf(state)] + " " + label
}

// mdEscape makes text safe inside a table cell or a paragraph: no
// formatting, no HTML, no cell break, one line.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range oneLine(s) {
		if strings.ContainsRune("\\`*_[]<>|~&", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode is a code span for a table cell: GFM splits cells before it
// parses code spans, so a pipe must be escaped even there.
func mdCode(s string) string {
	return strings.ReplaceAll(mdInlineCode(s), "|", `\|`)
}

// mdInlineCode is a code span outside tables that survives backticks in s.
func mdInlineCode(s string) string {
	if s == "" {
		return ""
	}
	s = oneLine(s)
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// mdBlock is a fenced code block that survives fences in s.
func mdBlock(out *stickyWriter, s string) {
	fence := strings.Repeat("`", max(3, longestRun(s, '`')+1))
	out.printf("%s\n%s\n%s\n", fence, s, fence)
}

func longestRun(s string, c rune) int {
	best, n := 0, 0
	for _, r := range s {
		if r == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

func mdRow(out *stickyWriter, cells ...string) {
	out.printf("| %s |\n", strings.Join(cells, " | "))
}

func mdTable(out *stickyWriter, head ...string) {
	mdRow(out, head...)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
	}
	mdRow(out, sep...)
}

func mdHeader(out *stickyWriter, d *Doc) {
	r := d.Release
	out.printf("# %s %s %s (#%d): %s\n\n", mdEscape(d.Runbook), r.Kind, mdEscape(r.Version), r.ID, mdLabel(r.State, releaseLabel(r.State)))
	item := func(k, v string) { out.printf("- **%s**: %s\n", k, v) }
	item("runbook", mdInlineCode(d.Identity.RunbookFile)+", sha256 "+mdInlineCode(orNone(d.Identity.RunbookSHA256)))
	item("version", mdInlineCode(r.Version))
	item("artifact", mdInlineCode(r.Artifact.Path)+", sha256 "+mdInlineCode(orNone(r.Artifact.SHA256)))
	item("operator", mdEscape(who(r.Operator, r.OSUser))+" on "+mdEscape(d.Identity.Machine))
	item("started", mdEscape(r.StartedAt))
	item("ended", mdEscape(ended(d)))
	item("state", mdLabel(r.State, releaseLabel(r.State)))
}

func mdAttention(out *stickyWriter, d *Doc) {
	out.printf("\n## Attention\n\n")
	if len(d.Attention) == 0 {
		out.println("Nothing: every step succeeded at its first attempt, no deviation.")
		return
	}
	for _, a := range d.Attention {
		out.printf("- %s **%s** %s: %s\n", mdSymbols[a.Class], a.Label, mdEscape(a.What), mdEscape(a.Text))
	}
}

func mdSteps(out *stickyWriter, d *Doc) {
	out.printf("\n## Steps\n\n")
	mdTable(out, "#", "step / host", "kind", "env", "state", "exit", "attempts", "duration", "reason / effect")
	for i, s := range d.Steps {
		mdRow(out, fmt.Sprint(i+1), "**"+mdEscape(s.Name)+"**", mdEscape(s.Kind), mdEscape(s.Env), mdBadge(s.State), "",
			fmt.Sprint(s.Attempts), stepDuration(s), mdEscape(stepReason(s)))
		for _, h := range s.Hosts {
			mdRow(out, "", "↳ "+mdEscape(h.Host), "", "", mdBadge(h.State), exitText(h.ExitCode),
				fmt.Sprint(h.Attempts), hostDuration(h), mdEscape(strings.TrimPrefix(actionText(h), "; ")))
		}
	}
	out.printf("\n### Output\n\nThe last lines recorded of each host run (masked); full logs under `logs/<release>/<NN>-<step>/` beside the state database.\n")
	for _, s := range d.Steps {
		for _, h := range s.Hosts {
			tail := lastLines(h.OutputTail, tailLines)
			if tail == "" {
				continue
			}
			open := ""
			if needsLook(h.State) {
				open = " open"
			}
			out.printf("\n<details%s><summary>%s on %s: %s</summary>\n\n", open, htmlText(s.Name), htmlText(h.Host), htmlText(labelOf(h.State)))
			mdBlock(out, tail)
			out.printf("\n</details>\n")
		}
	}
}

// htmlText escapes text for the raw HTML Markdown allows (<summary>).
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(oneLine(s))
}

func mdSignoffs(out *stickyWriter, d *Doc) {
	out.printf("\n## Sign-offs\n\n")
	if len(d.Signoffs) == 0 {
		out.println("No sign-off was recorded.")
	} else {
		mdTable(out, "step", "role", "name", "recorded by", "via", "at")
		for _, s := range d.Signoffs {
			mdRow(out, mdCode(s.Step), mdEscape(s.Role), "**"+mdEscape(s.Name)+"**", mdEscape(who(s.Operator, s.OSUser)), mdCode(s.Via), mdEscape(s.At))
		}
	}
	for _, c := range d.Confirmations {
		out.printf("\n%s: %s (%s)\n", mdInlineCode(c.Step), mdEscape(c.Text), mdEscape(c.At))
	}
}

func mdDeviations(out *stickyWriter, d *Doc) {
	out.printf("\n## Deviations\n\n")
	if len(d.Deviations) == 0 {
		out.println("None.")
		return
	}
	mdTable(out, "at", "kind", "where", "operator", "what and why")
	for _, n := range d.Deviations {
		mdRow(out, mdEscape(n.At), mdEscape(n.Kind), mdEscape(where(n.Step, n.Host)), mdEscape(who(n.Operator, n.OSUser)), mdEscape(n.Text))
	}
}

func mdDiffs(out *stickyWriter, d *Doc) {
	out.printf("\n## Diffs\n\n")
	if len(d.Diffs) == 0 {
		out.println("None.")
		return
	}
	for i, df := range d.Diffs {
		if i > 0 {
			out.println()
		}
		verdict := "✅ agree"
		if df.Differs {
			verdict = fmt.Sprintf("⚠️ **DIFFERS** (%d of %d facts)", differing(df), len(df.Facts))
		}
		out.printf("### %s: %s vs %s\n\n%s, %s\n\n", mdEscape(df.Step), mdEscape(df.EnvA), mdEscape(df.EnvB), verdict, mdEscape(df.At))
		mdTable(out, "fact", "", "hosts and values")
		for _, f := range df.Facts {
			mark := "✅ agree"
			if !f.Agree {
				mark = "⚠️ **DIFFERS**"
			}
			var vals []string
			for _, v := range f.Variants {
				val := v.Value
				if v.Error != "" {
					val = "error: " + v.Error
				}
				vals = append(vals, mdEscape(strings.Join(v.Hosts, ", "))+": "+mdCode(val))
			}
			mdRow(out, mdEscape(f.Kind)+" "+mdCode(f.Fact), mark, strings.Join(vals, "<br>"))
		}
		for _, f := range df.Facts {
			if f.Unified != "" {
				out.printf("\n%s %s:\n\n", mdEscape(f.Kind), mdInlineCode(f.Fact))
				mdBlock(out, strings.TrimRight(f.Unified, "\n"))
			}
		}
	}
}

func mdProbes(out *stickyWriter, d *Doc) {
	out.printf("\n## Probes\n\n")
	if len(d.Probes) == 0 {
		out.println("None.")
		return
	}
	mdTable(out, "step", "host", "target", "result", "times")
	for _, p := range d.Probes {
		res := "✅ ok"
		if !p.OK {
			res = "❌ **UNREACHABLE**: " + mdEscape(p.Error)
		}
		mdRow(out, mdCode(p.Step), mdEscape(p.Host), mdCode(p.Target), res, probeTimes(p))
	}
}

func mdRollbacks(out *stickyWriter, d *Doc) {
	out.printf("\n## Rollbacks\n\n")
	if len(d.Rollbacks) == 0 {
		out.println("None.")
		return
	}
	for _, rb := range d.Rollbacks {
		out.printf("- %s: %s, %s", mdEscape(rollbackTitle(rb)), mdBadge(rb.State), mdEscape(rollbackWhen(rb)))
		if rb.Reason != "" {
			out.printf("; reason: %s", mdEscape(rb.Reason))
		}
		out.println()
		for _, s := range rb.Steps {
			out.printf("  - %s %s\n", mdInlineCode(s.Name), mdBadge(s.State))
		}
	}
}

func mdLive(out *stickyWriter, d *Doc) {
	out.printf("\n## Live now\n\n")
	if len(d.Live) == 0 {
		out.println("No host has been activated yet.")
	} else {
		mdTable(out, "env", "host", "version", "since")
		for _, l := range d.Live {
			mdRow(out, mdEscape(l.Env), mdEscape(l.Host), mdCode(l.Version), mdEscape(liveSince(l)))
		}
	}
	if len(d.Staged) == 0 {
		return
	}
	out.printf("\nStaged by this release:\n\n")
	mdTable(out, "env", "host", "version", "what", "at")
	for _, s := range d.Staged {
		what := "staged, sha256 " + mdCode(s.SHA256)
		if s.Removed {
			what = removedText(s)
		}
		mdRow(out, mdEscape(s.Env), mdEscape(s.Host), mdCode(s.Version), what, mdEscape(s.At))
	}
}

func mdTransitions(out *stickyWriter, d *Doc) {
	out.printf("\n## Transitions\n\n")
	if len(d.Transitions) == 0 {
		out.println("None.")
		return
	}
	mdTable(out, "at", "scope", "from → to", "event", "operator", "reason")
	for _, t := range d.Transitions {
		mdRow(out, mdEscape(t.At), mdEscape(t.Scope), mdEscape(dashIfEmpty(t.From))+" → "+mdEscape(t.To), mdEscape(t.Event), mdEscape(who(t.Operator, t.OSUser)), mdEscape(t.Reason))
	}
	if a := d.Audit; a != nil {
		out.printf("\nAudit chain head: %s (transition %d, %s); `runbook audit verify` checks the chain.\n", mdCode(a.Head), a.Transition, mdEscape(a.At))
	}
}
