package report

import (
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// rowKey names a timeline row: a host run, or a step without hosts (host 0).
type rowKey struct{ step, host int64 }

// timeline rebuilds every attempt of every host run from the transitions:
// a run starts when its machine enters running (or undoing) and ends at
// its next transition, in the state that transition reached. A failed
// attempt and its retry thus show as two segments on the same row.
// Steps without hosts (confirm, diff) get a row of their own.
func timeline(r *runbook.Release, steps []*runbook.StepRun, ts []runbook.Transition) Timeline {
	rows := map[rowKey]*TimelineRow{}
	tl := Timeline{Start: r.StartedAt, End: r.FinishedAt}
	var order []rowKey
	for _, s := range steps {
		if len(s.Hosts) == 0 {
			k := rowKey{s.ID, 0}
			rows[k] = &TimelineRow{Step: s.Name}
			order = append(order, k)
		}
		for _, h := range s.Hosts {
			k := rowKey{s.ID, h.ID}
			rows[k] = &TimelineRow{Step: s.Name, Host: h.Host}
			order = append(order, k)
		}
	}
	open := map[rowKey]*Segment{}
	var last time.Time
	for _, t := range ts {
		if t.At.After(last) {
			last = t.At
		}
		k := rowKey{t.StepRunID, t.HostRunID}
		row := rows[k]
		if row == nil {
			continue
		}
		if seg := open[k]; seg != nil {
			seg.End, seg.State = t.At, t.To
			seg.Stopped = t.To == string(runbook.RunInterrupted) && strings.HasPrefix(t.Reason, runbook.ReasonOperatorStopped)
			row.Segments = append(row.Segments, *seg)
			delete(open, k)
		} else if t.To == string(runbook.RunSkipped) {
			row.Segments = append(row.Segments, Segment{Start: t.At, End: t.At, State: t.To})
		}
		if t.To == string(runbook.RunRunning) || t.To == string(runbook.RunUndoing) {
			open[k] = &Segment{Start: t.At, State: t.To, Undo: t.To == string(runbook.RunUndoing)}
		}
	}
	// Runs still open never ended in the record: draw them up to the end
	// of the release, or the last thing recorded, in their open state.
	end := r.FinishedAt
	if end.IsZero() {
		end = last
	}
	for _, k := range order {
		if seg := open[k]; seg != nil {
			seg.End = end
			rows[k].Segments = append(rows[k].Segments, *seg)
		}
	}
	fillFromRecords(steps, rows)
	for _, k := range order {
		row := rows[k]
		for _, seg := range row.Segments {
			if tl.Start.IsZero() || seg.Start.Before(tl.Start) {
				tl.Start = seg.Start
			}
			if seg.End.After(tl.End) {
				tl.End = seg.End
			}
		}
		tl.Rows = append(tl.Rows, *row)
	}
	return tl
}

// fillFromRecords gives a host run that has times but no transitions (an
// older or hand-repaired record) one segment from its own times.
func fillFromRecords(steps []*runbook.StepRun, rows map[rowKey]*TimelineRow) {
	for _, s := range steps {
		for _, h := range s.Hosts {
			row := rows[rowKey{s.ID, h.ID}]
			if len(row.Segments) > 0 || h.StartedAt.IsZero() || h.FinishedAt.IsZero() {
				continue
			}
			row.Segments = append(row.Segments, Segment{Start: h.StartedAt, End: h.FinishedAt, State: string(h.State)})
		}
	}
}
