package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// State classes: how a state is shown. Every format pairs the class with
// a text label, so nothing depends on colour alone (printouts, colour
// blindness).
const (
	classOK      = "ok"
	classFailed  = "failed"
	classSkipped = "skipped"
	classDoubt   = "doubt"   // interrupted, or still running: nobody knows how it ended
	classStopped = "stopped" // a timeline attempt the operator stopped (Ctrl-C)
	classUndone  = "undone"
	classPending = "pending"
	classWarn    = "warn" // succeeded, but with something to look at
)

// classOf maps a release, step or host-run state to its class.
func classOf(state string) string {
	switch state {
	case "succeeded":
		return classOK
	case "failed", "undo_failed", "aborted":
		return classFailed
	case "skipped":
		return classSkipped
	case "interrupted", "running", "undoing", "rolling_back", "paused":
		return classDoubt
	case "undone", "rolled_back":
		return classUndone
	}
	return classPending
}

// labelOf is the text label of a state: loud for what needs a look.
func labelOf(state string) string {
	switch state {
	case "succeeded":
		return "ok"
	case "interrupted":
		return "IN DOUBT"
	case "pending", "planned":
		return state
	}
	return strings.ToUpper(strings.ReplaceAll(state, "_", " "))
}

// releaseLabel is labelOf for a whole release, whose success is news.
func releaseLabel(state string) string {
	if state == "succeeded" {
		return "SUCCEEDED"
	}
	return labelOf(state)
}

// needsLook says whether a state belongs in the attention list.
func needsLook(state string) bool {
	switch classOf(state) {
	case classFailed, classSkipped, classDoubt:
		return true
	}
	return false
}

// duration formats milliseconds the way an operator reads them.
func duration(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func exitText(code *int) string {
	if code == nil {
		return "-"
	}
	return fmt.Sprint(*code)
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

// tailLines is how much of a host run's output the human formats show;
// JSON carries the whole recorded tail.
const tailLines = 20

// lastLines returns the last n lines of s without the final newline,
// cleaned for reading.
func lastLines(s string, n int) string {
	s = strings.TrimRight(readable(s), "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lastLine is the last non-empty line of an output, for one-line summaries.
func lastLine(s string) string {
	return strings.TrimSpace(lastLines(s, 1))
}

// who names the operator of a record and, when it is another name, the
// OS user runbook ran as beside it: "bob (OS user builder)", or "alice".
func who(operator, osUser string) string {
	if osUser == "" || osUser == operator {
		return operator
	}
	if operator == "" {
		return "OS user " + osUser
	}
	return operator + " (OS user " + osUser + ")"
}

// signedBy says who ran runbook for a sign-off, and how it was given:
// "operator bob, OS user builder, via prompt" (the OS user alone when
// nobody gave --operator, as in records from before --operator).
func signedBy(s SignoffDoc) string {
	by := "OS user " + s.OSUser
	if s.Operator != "" && s.Operator != s.OSUser {
		by = "operator " + s.Operator + ", " + by
	}
	return by + ", via " + s.Via
}

// where names a step, or a step on a host.
func where(step, host string) string {
	if host == "" {
		return step
	}
	return step + " on " + host
}

// stepReason is the reason of a step prefixed by whether it explains the
// state the step is in or a state it left; "" when none was recorded.
func stepReason(s StepReport) string {
	if s.Reason == "" {
		return ""
	}
	return reasonLabel(s.State) + " " + s.Reason
}

func hostDuration(h HostReport) string {
	if h.Attempts == 0 {
		return "did not run"
	}
	return duration(h.DurationMS)
}

// readable turns recorded output into what a terminal would have shown,
// minus what would act on it: a line rewritten with \r keeps its last
// version, and escape sequences and control characters are gone
// (runbook.TermSafe), which would garble a terminal or a page showing the
// report, or rewrite it.
func readable(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if j := strings.LastIndexByte(l, '\r'); j >= 0 {
			l = l[j+1:]
		}
		lines[i] = runbook.TermSafe(l)
	}
	return strings.Join(lines, "\n")
}
