package report

import (
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// rollbacks lists the undo of this release (when it was rolled back) and
// the later `rollback --to` releases that switched its hosts back.
func rollbacks(r *runbook.Release, in Input) []RollbackDoc {
	out := []RollbackDoc{}
	if u, ok := undo(r, in.Steps, in.Transitions); ok {
		out = append(out, u)
	}
	for _, rb := range in.Rollbacks {
		rel := rb.Release
		envs := rel.Envs
		if envs == nil {
			envs = []string{}
		}
		d := RollbackDoc{
			Kind: RollbackSwitch, ReleaseID: rel.ID, Version: rel.Version, State: string(rel.State),
			Operator: rel.Operator, OSUser: rel.OSUser, StartedAt: RFC3339(rel.StartedAt), FinishedAt: optTime(rel.FinishedAt),
			Reason: firstReason(rb.Transitions), Envs: envs, Steps: []UndoDoc{},
		}
		for _, s := range rb.Steps {
			d.Steps = append(d.Steps, UndoDoc{Name: s.Name, State: string(s.State)})
		}
		out = append(out, d)
	}
	return out
}

// undo reconstructs the rollback of the release itself from its
// transitions: when it began, by whom and why, where it ended, and which
// steps it undid (in the order it undid them).
func undo(r *runbook.Release, steps []*runbook.StepRun, ts []runbook.Transition) (RollbackDoc, bool) {
	d := RollbackDoc{Kind: RollbackUndo, ReleaseID: r.ID, Version: r.Version, State: string(r.State), Envs: []string{}, Steps: []UndoDoc{}}
	began := false
	byID := map[int64]*runbook.StepRun{}
	for _, s := range steps {
		byID[s.ID] = s
	}
	seen := map[int64]bool{}
	envs := map[string]bool{}
	for _, t := range ts {
		switch {
		case t.Scope == "release" && t.To == string(runbook.ReleaseRollingBack):
			if !began {
				began = true
				d.StartedAt, d.Operator, d.OSUser, d.Reason = RFC3339(t.At), t.Operator, t.OSUser, t.Reason
			}
		case t.Scope == "release" && t.To == string(runbook.ReleaseRolledBack):
			at := RFC3339(t.At)
			d.FinishedAt = &at
		case t.HostRunID == 0 && t.To == string(runbook.RunUndoing):
			s := byID[t.StepRunID]
			if s == nil || seen[s.ID] {
				continue
			}
			seen[s.ID] = true
			d.Steps = append(d.Steps, UndoDoc{Name: s.Name, State: string(s.State)})
			if s.Env != "" && !envs[s.Env] {
				envs[s.Env] = true
				d.Envs = append(d.Envs, s.Env)
			}
		}
	}
	if !began {
		// Records written without transitions still say what was undone.
		for i := len(steps) - 1; i >= 0; i-- {
			s := steps[i]
			if s.State == runbook.RunUndoing || s.State == runbook.RunUndone || s.State == runbook.RunUndoFailed {
				began = true
				d.Steps = append(d.Steps, UndoDoc{Name: s.Name, State: string(s.State)})
			}
		}
		if !began {
			return d, false
		}
		d.StartedAt = RFC3339(r.StartedAt)
	}
	return d, true
}

// firstReason is the reason given when a rollback release was started:
// that of its first release transition after the creation, whose own
// reason only says where it was planned.
func firstReason(ts []runbook.Transition) string {
	created := ""
	for _, t := range ts {
		if t.Scope != "release" || strings.TrimSpace(t.Reason) == "" {
			continue
		}
		if t.Event != "create" {
			return t.Reason
		}
		if created == "" {
			created = t.Reason
		}
	}
	return created
}
