package report

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/runbook-dev/runbook/runbook"
)

// Build arranges the records of one release (in.Release must be set)
// into its report. It adds nothing that is not in the records, so a report
// can hold no secret the database does not (and the database holds only
// masked text).
func Build(in Input) *Doc {
	r := in.Release
	st := BuildStatus(r.RunbookName, r, in.Steps)
	d := &Doc{
		Runbook: st.Runbook,
		Release: st.Release,
		Next:    st.Next,
		Identity: Identity{
			RunbookFile:   r.RunbookFile,
			RunbookSHA256: r.RunbookHash,
			Machine:       r.Machine,
		},
		Steps:         stepReports(in.Steps, st.Steps),
		Transitions:   transitions(in.Transitions),
		Signoffs:      signoffs(in.Signoffs),
		Confirmations: []NoteDoc{},
		Deviations:    []NoteDoc{},
		Diffs:         []DiffDoc{},
		Probes:        probes(in.Steps),
		Rollbacks:     rollbacks(r, in),
		Live:          live(in.Live),
		Staged:        staged(r, in.Staged),
	}
	for _, n := range in.Notes {
		d.addNote(n)
	}
	if n := len(in.Transitions); n > 0 && in.Transitions[n-1].Hash != "" {
		last := in.Transitions[n-1]
		d.Audit = &AuditDoc{Head: last.Hash, Transition: last.ID, At: RFC3339(last.At)}
	}
	if !r.FinishedAt.IsZero() {
		d.elapsedMS = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
	}
	d.Timeline = timeline(r, in.Steps, in.Transitions)
	d.Attention = attention(d)
	return d
}

func stepReports(runs []*runbook.StepRun, docs []StepDoc) []StepReport {
	out := make([]StepReport, 0, len(runs))
	for i, s := range runs {
		sd := docs[i]
		sr := StepReport{stepFields: sd.stepFields, Reason: s.Reason, Hosts: make([]HostReport, 0, len(s.Hosts))}
		for j, h := range s.Hosts {
			hr := HostReport{
				HostDoc:   sd.Hosts[j],
				StartedAt: optTime(h.StartedAt), FinishedAt: optTime(h.FinishedAt), OutputTail: h.OutputTail,
			}
			if s.Kind == runbook.KindUpload || s.Kind == runbook.KindActivate {
				hr.Action = action(runbook.ParseDetail(h.Detail))
			}
			sr.Hosts = append(sr.Hosts, hr)
		}
		out = append(out, sr)
	}
	return out
}

func action(a runbook.ActionDetail) *ActionDoc {
	removed := a.Removed
	if removed == nil {
		removed = []string{}
	}
	return &ActionDoc{SHA256: a.SHA256, Skipped: a.Skipped, Resumed: a.Resumed, Bytes: a.Bytes,
		Version: a.Version, Previous: a.Previous, Removed: removed}
}

func transitions(ts []runbook.Transition) []TransitionDoc {
	out := make([]TransitionDoc, 0, len(ts))
	for _, t := range ts {
		out = append(out, TransitionDoc{At: RFC3339(t.At), Scope: t.Scope, From: t.From, To: t.To,
			Event: t.Event, Operator: t.Operator, OSUser: t.OSUser, Reason: t.Reason})
	}
	return out
}

func signoffs(ss []runbook.Signoff) []SignoffDoc {
	out := make([]SignoffDoc, 0, len(ss))
	for _, s := range ss {
		out = append(out, SignoffDoc{Step: s.Step, Role: s.Role, Name: s.Name, Operator: s.Operator, OSUser: s.OSUser, At: RFC3339(s.At), Via: s.Via})
	}
	return out
}

// addNote files a note under the section its kind belongs to. Kinds this
// package does not know yet are shown as deviations: a fact someone took
// the trouble to record must not vanish from the report.
func (d *Doc) addNote(n runbook.Note) {
	nd := NoteDoc{At: RFC3339(n.At), Kind: n.Kind, Step: n.Step, Host: n.Host, Operator: n.Operator, OSUser: n.OSUser, Text: n.Text}
	switch n.Kind {
	case "confirm":
		d.Confirmations = append(d.Confirmations, nd)
	case "diff":
		if dd, ok := parseDiff(n); ok {
			d.Diffs = append(d.Diffs, dd)
			return
		}
		nd.Text = "unreadable diff record: " + n.Text
		d.Deviations = append(d.Deviations, nd)
	case "probe":
		if ps, ok := parseProbes(n.Step, n.Host, n.Text); ok {
			d.Probes = append(d.Probes, ps...)
			return
		}
		d.Deviations = append(d.Deviations, nd)
	default: // deviation, warning, resume, lock
		d.Deviations = append(d.Deviations, nd)
	}
}

func parseDiff(n runbook.Note) (DiffDoc, bool) {
	var rep runbook.DiffReport
	if err := json.Unmarshal([]byte(n.Text), &rep); err != nil {
		return DiffDoc{}, false
	}
	facts := rep.Facts
	if facts == nil {
		facts = []runbook.FactDiff{}
	}
	return DiffDoc{Step: n.Step, At: RFC3339(n.At), EnvA: rep.EnvA, EnvB: rep.EnvB, Differs: rep.Differs, Facts: facts}, true
}

// probeResult mirrors the JSON of steps.ProbeResult, which a probe host
// run records as its detail; report must not import steps.
type probeResult struct {
	Target    string    `json:"target"`
	OK        bool      `json:"ok"`
	ConnectMS float64   `json:"connect_ms"`
	LatencyMS []float64 `json:"latency_ms"`
	Error     string    `json:"error"`
}

func parseProbes(step, host, detail string) ([]ProbeDoc, bool) {
	var rs []probeResult
	if detail == "" || json.Unmarshal([]byte(detail), &rs) != nil {
		return nil, false
	}
	out := make([]ProbeDoc, 0, len(rs))
	for _, p := range rs {
		lat := p.LatencyMS
		if lat == nil {
			lat = []float64{}
		}
		out = append(out, ProbeDoc{Step: step, Host: host, Target: p.Target, OK: p.OK,
			ConnectMS: p.ConnectMS, LatencyMS: lat, Error: p.Error})
	}
	return out, true
}

func probes(steps []*runbook.StepRun) []ProbeDoc {
	out := []ProbeDoc{}
	for _, s := range steps {
		if s.Kind != runbook.KindProbe {
			continue
		}
		for _, h := range s.Hosts {
			if ps, ok := parseProbes(s.Name, h.Host, h.Detail); ok {
				out = append(out, ps...)
			}
		}
	}
	return out
}

func live(ls []runbook.Live) []LiveDoc {
	out := make([]LiveDoc, 0, len(ls))
	for _, l := range ls {
		d := LiveDoc{Env: l.Env, Host: l.Host, Version: l.Version, Previous: l.Previous, ReleaseID: l.ReleaseID, At: RFC3339(l.At)}
		if !l.VerifiedAt.IsZero() {
			v := RFC3339(l.VerifiedAt)
			d.VerifiedAt = &v
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b LiveDoc) int { return cmp.Or(cmp.Compare(a.Env, b.Env), cmp.Compare(a.Host, b.Host)) })
	return out
}

// staged lists what release r staged or removed. A release removes its
// own version only when its rollback undoes the upload; keep removes
// only older versions.
func staged(r *runbook.Release, ss []runbook.Staged) []StagedDoc {
	out := []StagedDoc{}
	for _, s := range ss {
		if s.ReleaseID != r.ID {
			continue
		}
		d := StagedDoc{Env: s.Env, Host: s.Host, Version: s.Version, SHA256: s.SHA256, At: RFC3339(s.At), Removed: s.Removed}
		if s.Removed {
			d.RemovedBy = RemovedByKeep
			if s.Version == r.Version {
				d.RemovedBy = RemovedByRollback
			}
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b StagedDoc) int {
		return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Env, b.Env), cmp.Compare(a.Host, b.Host), cmp.Compare(a.Version, b.Version))
	})
	return out
}
