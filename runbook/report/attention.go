package report

import (
	"fmt"
	"strings"
)

// attention lists what a reader must not miss, worst first within the
// order of the release: the release's own end, then each step.
func attention(d *Doc) []Attention {
	var out []Attention
	if r := d.Release; r != nil && r.State != "succeeded" {
		out = append(out, Attention{Label: labelOf(r.State), Class: classOf(r.State), What: "release", Text: releaseEnd(d)})
	}
	for _, s := range d.Steps {
		out = append(out, stepAttention(s)...)
	}
	for _, df := range d.Diffs {
		if df.Differs {
			out = append(out, Attention{Label: "DIFFERS", Class: classWarn, What: df.Step,
				Text: fmt.Sprintf("%d fact(s) differ between %s and %s", differing(df), df.EnvA, df.EnvB)})
		}
	}
	for _, p := range d.Probes {
		if !p.OK {
			out = append(out, Attention{Label: "UNREACHABLE", Class: classFailed, What: where(p.Step, p.Host),
				Text: strings.TrimSpace(p.Target + ": " + p.Error)})
		}
	}
	if n := len(d.Deviations); n > 0 {
		out = append(out, Attention{Label: "DEVIATIONS", Class: classWarn, What: "release",
			Text: fmt.Sprintf("%d decision(s) outside the normal flow were recorded: see Deviations", n)})
	}
	return out
}

func releaseEnd(d *Doc) string {
	switch d.Release.State {
	case "failed":
		return "the release stopped at a failed step" + nextText(d)
	case "aborted":
		return "the release was aborted; nothing was undone"
	case "rolled_back":
		return "the release was rolled back"
	case "rolling_back":
		return "a rollback of the release is unfinished: `runbook rollback` continues it"
	}
	return "the release is unfinished (" + d.Release.State + ")" + nextText(d)
}

func nextText(d *Doc) string {
	if d.Next == nil {
		return ""
	}
	return "; next: " + *d.Next
}

func stepAttention(s StepReport) []Attention {
	var out []Attention
	if needsLook(s.State) {
		text := s.Reason
		if text == "" {
			text = "step " + s.State
		}
		out = append(out, Attention{Label: labelOf(s.State), Class: classOf(s.State), What: s.Name, Text: text})
	} else if s.Attempts > 1 {
		text := fmt.Sprintf("%s after %d attempts", s.State, s.Attempts)
		if s.Reason != "" {
			text += "; earlier: " + s.Reason
		}
		out = append(out, Attention{Label: "RETRIED", Class: classWarn, What: s.Name, Text: text})
	}
	if s.State == "skipped" {
		return out // its hosts were skipped with it, for the same reason
	}
	for _, h := range s.Hosts {
		if !needsLook(h.State) {
			continue
		}
		text := fmt.Sprintf("exit %s after %d attempt(s)", exitText(h.ExitCode), h.Attempts)
		if h.FailedVerify != nil {
			text = failedVerifyText(h.FailedVerify)
		}
		if l := lastLine(h.OutputTail); l != "" {
			text += ": " + l
		}
		out = append(out, Attention{Label: labelOf(h.State), Class: classOf(h.State), What: where(s.Name, h.Host), Text: text})
	}
	return out
}

func differing(df DiffDoc) int {
	n := 0
	for _, f := range df.Facts {
		if !f.Agree {
			n++
		}
	}
	return n
}
