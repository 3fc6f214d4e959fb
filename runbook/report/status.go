// Package report renders recorded releases: the status and history shapes
// of SPEC §7, and the post-release summary. It is pure: it reads records
// handed to it and never touches the network or the database itself.
package report

import (
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// Status is the JSON shape of `runbook status --json` (SPEC §7).
type Status struct {
	Runbook string      `json:"runbook"`
	Release *ReleaseDoc `json:"release"`
	Steps   []StepDoc   `json:"steps"`
	Next    *string     `json:"next"`
}

// ReleaseDoc is a release as scripts see it.
type ReleaseDoc struct {
	ID         int64       `json:"id"`
	Version    string      `json:"version"`
	Kind       string      `json:"kind"`
	State      string      `json:"state"`
	Operator   string      `json:"operator"`
	OSUser     string      `json:"os_user"`
	StartedAt  string      `json:"started_at"`
	FinishedAt *string     `json:"finished_at"`
	Artifact   ArtifactDoc `json:"artifact"`
}

// ArtifactDoc names the artifact of a release.
type ArtifactDoc struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// StepDoc is one step of a release.
type StepDoc struct {
	stepFields
	Hosts []HostDoc `json:"hosts"`
}

// stepFields are a step's fields in the status object and in the report,
// in the order SPEC §7 gives them (encoding/json keeps it).
type stepFields struct {
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	Env        string  `json:"env"`
	State      string  `json:"state"`
	Attempts   int     `json:"attempts"`
	StartedAt  *string `json:"started_at"`
	FinishedAt *string `json:"finished_at"`
	DurationMS int64   `json:"duration_ms"`
}

// HostDoc is one host run of a step.
type HostDoc struct {
	Host       string `json:"host"`
	State      string `json:"state"`
	ExitCode   *int   `json:"exit_code"`
	Attempts   int    `json:"attempts"`
	DurationMS int64  `json:"duration_ms"`
	// FailedVerify names the verify that failed a host run whose action
	// passed (exit_code 0); null otherwise.
	FailedVerify *FailedVerifyDoc `json:"failed_verify,omitempty"`
}

// FailedVerifyDoc is which verify failed a host run, and how.
type FailedVerifyDoc struct {
	Command  string `json:"command"`   // as it ran, secrets masked
	ExitCode int    `json:"exit_code"` // of its last attempt; -1 when it did not run to an end
	Attempts int    `json:"attempts"`
}

// RFC3339 formats a time as SPEC §7 wants (RFC 3339, UTC, seconds).
func RFC3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := RFC3339(t)
	return &s
}

// Release converts a release record.
func Release(r *runbook.Release) *ReleaseDoc {
	if r == nil {
		return nil
	}
	return &ReleaseDoc{
		ID: r.ID, Version: r.Version, Kind: r.Kind, State: string(r.State), Operator: r.Operator, OSUser: r.OSUser,
		StartedAt: RFC3339(r.StartedAt), FinishedAt: optTime(r.FinishedAt),
		Artifact: ArtifactDoc{Path: r.ArtifactPath, SHA256: r.ArtifactSHA256},
	}
}

// BuildStatus assembles the status document of a release.
func BuildStatus(runbookName string, r *runbook.Release, steps []*runbook.StepRun) Status {
	st := Status{Runbook: runbookName, Release: Release(r), Steps: []StepDoc{}}
	for _, s := range steps {
		d := StepDoc{stepFields: stepFields{Name: s.Name, Kind: string(s.Kind), Env: s.Env, State: string(s.State), Attempts: s.Attempts,
			StartedAt: optTime(s.StartedAt), FinishedAt: optTime(s.FinishedAt)}, Hosts: []HostDoc{}}
		if !s.StartedAt.IsZero() && !s.FinishedAt.IsZero() {
			d.DurationMS = s.FinishedAt.Sub(s.StartedAt).Milliseconds()
		}
		for _, h := range s.Hosts {
			hd := HostDoc{Host: h.Host, State: string(h.State), Attempts: h.Attempts, DurationMS: h.DurationMS}
			if h.ExitCode >= 0 {
				code := h.ExitCode
				hd.ExitCode = &code
			}
			if f := runbook.ParseDetail(h.Detail).FailedVerify; f != nil {
				hd.FailedVerify = &FailedVerifyDoc{Command: f.Command, ExitCode: f.ExitCode, Attempts: f.Attempts}
			}
			d.Hosts = append(d.Hosts, hd)
		}
		st.Steps = append(st.Steps, d)
	}
	if r != nil && !r.State.Finished() {
		if n := NextStep(steps); n != "" {
			st.Next = &n
		}
	}
	return st
}

// NextStep is the first step that is neither succeeded nor skipped.
func NextStep(steps []*runbook.StepRun) string {
	for _, s := range steps {
		switch s.State {
		case runbook.RunSucceeded, runbook.RunSkipped, runbook.RunUndone:
			continue
		}
		return s.Name
	}
	return ""
}
