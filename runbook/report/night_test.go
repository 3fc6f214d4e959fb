package report_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/report"
	"github.com/runbook-dev/runbook/state"
)

// night records a release into a real state database the way the walker
// does (every state change one transition), on a clock the test moves by
// hand, so the records are realistic and the report is reproducible.
type night struct {
	t     *testing.T
	ctx   context.Context
	st    *state.Store
	now   time.Time
	rel   *runbook.Release
	steps map[string]*runbook.StepRun
	// operator and osUser are recorded on what happens next: who is at
	// the keyboard (--operator) and the OS account runbook runs as.
	operator, osUser string
}

var nightStart = time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)

func newNight(t *testing.T) *night {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), ".runbook", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := &night{t: t, ctx: context.Background(), st: st, now: nightStart, steps: map[string]*runbook.StepRun{},
		operator: "alice", osUser: "alice"}
	// Times left zero in the records (transitions, notes, sign-offs) come
	// from this injected clock.
	st.Now = func() time.Time { return n.now }
	return n
}

func (n *night) wait(d time.Duration) { n.now = n.now.Add(d) }

func (n *night) check(err error) {
	n.t.Helper()
	if err != nil {
		n.t.Fatal(err)
	}
}

// plan creates the release with its steps, each on the given hosts.
func (n *night) plan(version string, steps []*runbook.StepRun) {
	n.t.Helper()
	n.rel = &runbook.Release{Version: version, Kind: runbook.KindRelease, State: runbook.ReleasePlanned,
		Operator: n.operator, OSUser: n.osUser, Machine: "ops-box", RunbookName: "billing-center",
		RunbookFile: "/srv/billing/runbook.yaml", RunbookHash: "9f2c4e1ab7d05c3e8f61a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3",
		ArtifactPath: "target/billing.ear"}
	for i, s := range steps {
		s.Index, s.State = i, runbook.RunPending
		for _, h := range s.Hosts {
			h.State, h.ExitCode = runbook.RunPending, -1
		}
		n.steps[s.Name] = s
	}
	n.check(n.st.CreateRelease(n.ctx, n.rel, steps, runbook.Transition{Scope: "release", To: "planned", Event: "create",
		Operator: n.operator, OSUser: n.osUser, Reason: "release " + version + " planned on ops-box"}))
}

func (n *night) release(event string, to runbook.ReleaseState, reason string) {
	n.t.Helper()
	from := n.rel.State
	n.rel.State = to
	if to.Finished() {
		n.rel.FinishedAt = n.now
	}
	n.check(n.st.RecordRelease(n.ctx, n.rel, &runbook.Transition{Scope: "release", From: string(from), To: string(to),
		Event: event, Operator: n.operator, OSUser: n.osUser, Reason: reason}))
}

func (n *night) step(name, event string, to runbook.RunState, reason string) {
	n.t.Helper()
	s := n.steps[name]
	from := s.State
	s.State = to
	switch to {
	case runbook.RunRunning:
		s.Attempts++
		s.StartedAt = n.now
	case runbook.RunSucceeded, runbook.RunFailed, runbook.RunSkipped:
		s.FinishedAt = n.now
	}
	if reason != "" {
		s.Reason = reason
	}
	n.check(n.st.RecordStep(n.ctx, s, &runbook.Transition{Scope: "step:" + name, From: string(from), To: string(to),
		Event: event, Operator: n.operator, OSUser: n.osUser, Reason: reason}))
}

func (n *night) hostRun(step, host string) *runbook.HostRun {
	for _, h := range n.steps[step].Hosts {
		if h.Host == host {
			return h
		}
	}
	n.t.Fatalf("no host %s in step %s", host, step)
	return nil
}

func (n *night) host(step, host, event string, to runbook.RunState, reason string) {
	n.t.Helper()
	h := n.hostRun(step, host)
	from := h.State
	h.State = to
	n.check(n.st.RecordHost(n.ctx, h, &runbook.Transition{Scope: "host:" + step + "/" + host, From: string(from), To: string(to),
		Event: event, Operator: n.operator, OSUser: n.osUser, Reason: reason}))
}

// begin starts an attempt of a step on a host (start, retry or rerun).
func (n *night) begin(step, host, event string) {
	n.t.Helper()
	h := n.hostRun(step, host)
	h.Attempts++
	h.StartedAt, h.FinishedAt, h.ExitCode = n.now, time.Time{}, -1
	h.Token = step + ":" + host
	n.host(step, host, event, runbook.RunRunning, "")
}

// end finishes the attempt on a host with an exit code and output.
func (n *night) end(step, host string, code int, output, detail string) {
	n.t.Helper()
	h := n.hostRun(step, host)
	h.FinishedAt, h.ExitCode = n.now, code
	h.DurationMS = h.FinishedAt.Sub(h.StartedAt).Milliseconds()
	h.OutputTail, h.Detail = output, detail
	if code == 0 {
		n.host(step, host, runbook.EvSucceed, runbook.RunSucceeded, "")
		return
	}
	n.host(step, host, runbook.EvFail, runbook.RunFailed, fmt.Sprintf("exit %d", code))
}

// ok runs a whole step that succeeds on every host at its first attempt.
func (n *night) ok(step string, d time.Duration, output func(host string) string, detail func(host string) string) {
	n.t.Helper()
	n.wait(time.Second)
	n.step(step, runbook.EvStart, runbook.RunRunning, "")
	for _, h := range n.steps[step].Hosts {
		n.begin(step, h.Host, runbook.EvStart)
	}
	n.wait(d)
	for _, h := range n.steps[step].Hosts {
		n.end(step, h.Host, 0, output(h.Host), detail(h.Host))
	}
	n.step(step, runbook.EvSucceed, runbook.RunSucceeded, "")
}

func (n *night) note(kind, step, host, text string) {
	n.t.Helper()
	n.check(n.st.AddNote(n.ctx, &runbook.Note{ReleaseID: n.rel.ID, Kind: kind, Step: step, Host: host, Text: text, Operator: n.operator, OSUser: n.osUser}))
}

// undo undoes a step on every host, as `runbook rollback` does.
func (n *night) undo(step string, d time.Duration) {
	n.t.Helper()
	n.wait(time.Second)
	n.step(step, runbook.EvUndo, runbook.RunUndoing, "")
	for _, h := range n.steps[step].Hosts {
		n.host(step, h.Host, runbook.EvUndo, runbook.RunUndoing, "")
	}
	n.wait(d)
	for _, h := range n.steps[step].Hosts {
		n.host(step, h.Host, runbook.EvUndone, runbook.RunUndone, "")
	}
	n.step(step, runbook.EvUndone, runbook.RunUndone, "")
}

// input reads the release back through the store, as `runbook report` does.
func (n *night) input() report.Input {
	n.t.Helper()
	ctx, st, id := n.ctx, n.st, n.rel.ID
	r, err := st.Release(ctx, id)
	n.check(err)
	in := report.Input{Release: r}
	in.Steps, err = st.Steps(ctx, id)
	n.check(err)
	in.Transitions, err = st.Transitions(ctx, id)
	n.check(err)
	in.Signoffs, err = st.Signoffs(ctx, id)
	n.check(err)
	in.Notes, err = st.Notes(ctx, id)
	n.check(err)
	in.Live, err = st.LiveVersions(ctx)
	n.check(err)
	in.Staged, err = st.StagedVersions(ctx)
	n.check(err)
	return in
}
