package report

import (
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// TestTimelineLabelsNeverOverlap draws the night of the field notes
// (report-timeline-overlap.png): on one row, a run the operator stopped
// with Ctrl-C, a retry that failed moments later and the one that
// succeeded, close together, and a run whose end nobody saw. No label may
// cover a bar or another label, and the operator's Ctrl-C is drawn as
// STOPPED, never as IN DOUBT.
func TestTimelineLabelsNeverOverlap(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	rel := &runbook.Release{ID: 1, Version: "1.2.0", State: runbook.ReleaseFailed, StartedAt: t0}
	steps := []*runbook.StepRun{
		{ID: 1, Name: "db-migrate", Hosts: []*runbook.HostRun{{ID: 1, Host: "pre1"}}},
		{ID: 2, Name: "restart-production", Hosts: []*runbook.HostRun{{ID: 2, Host: "prod1"}}},
		{ID: 3, Name: "warm-up", Hosts: []*runbook.HostRun{{ID: 3, Host: "prod1"}}},
	}
	tr := func(s float64, step, host int64, from, to, reason string) runbook.Transition {
		return runbook.Transition{At: at(s), StepRunID: step, HostRunID: host, From: from, To: to, Reason: reason}
	}
	ts := []runbook.Transition{
		tr(10, 1, 1, "pending", "running", ""),
		tr(16, 1, 1, "running", "interrupted", runbook.ReasonOperatorStopped+" (Ctrl-C)"),
		tr(20, 1, 1, "interrupted", "running", ""),
		tr(21, 1, 1, "running", "failed", "exit status 1"),
		tr(23, 1, 1, "failed", "running", ""),
		tr(40, 1, 1, "running", "succeeded", ""),
		tr(60, 2, 2, "pending", "running", ""),
		tr(64, 2, 2, "running", "interrupted", "found running after a crash"),
		tr(65, 2, 2, "interrupted", "running", ""),
		tr(600, 2, 2, "running", "failed", "exit status 1"),
		tr(100, 3, 3, "pending", "running", ""),
		tr(200, 3, 3, "running", "interrupted", runbook.ReasonOperatorStopped+" (Ctrl-C)"),
	}
	c := newChart(timeline(rel, steps, ts))

	labels := map[string]string{}
	for _, row := range c.Rows {
		type span struct {
			from, to float64
			what     string
		}
		var drawn []span
		for _, b := range row.Bars {
			drawn = append(drawn, span{b.X, b.X + b.W, "bar " + b.Title})
		}
		for _, b := range row.Bars {
			if b.Label == "" {
				continue
			}
			labels[b.Title] = b.Label
			l := span{b.LabelX, b.LabelX + labelW(b.Label), "label " + b.Label}
			if l.from < c.PlotX || l.to > float64(c.Width) {
				t.Errorf("%s runs out of the plot: %.1f–%.1f", l.what, l.from, l.to)
			}
			for _, o := range drawn {
				if l.from < o.to && o.from < l.to {
					t.Errorf("%s at %.1f–%.1f overlaps %s at %.1f–%.1f", l.what, l.from, l.to, o.what, o.from, o.to)
				}
			}
			drawn = append(drawn, l)
		}
	}
	// The operator's Ctrl-C is STOPPED wherever it is drawn: the label
	// where there is room for one, the class and the tooltip always.
	if got := labels["warm-up on prod1: STOPPED, 17:01:40 – 17:03:20 (1m40s)"]; got != "STOPPED" {
		t.Errorf("the operator's Ctrl-C is not labelled STOPPED: labels %v", labels)
	}
	first := c.Rows[0].Bars[0]
	if first.Class != classStopped || first.Title != "db-migrate on pre1: STOPPED, 17:00:10 – 17:00:16 (6.0s)" {
		t.Errorf("the operator's Ctrl-C is drawn as %s: %s", first.Class, first.Title)
	}
	for title, l := range labels {
		if l == "IN DOUBT" && title != "restart-production on prod1: IN DOUBT, 17:01:00 – 17:01:04 (4.0s)" {
			t.Errorf("%s is labelled IN DOUBT", title)
		}
	}
	if len(labels) < 3 {
		t.Errorf("only %d labels were drawn: %v", len(labels), labels)
	}
}
