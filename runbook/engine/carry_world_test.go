package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

// quick is a night of ten steps on one host each: the walk of carry.go,
// where a step's success rides in the commit of the next step's start.
func quick(steps int) string {
	var b strings.Builder
	b.WriteString("name: quick\nenvironments:\n  build: {local: true, workdir: .}\nsteps:\n")
	for i := range steps {
		fmt.Fprintf(&b, "  - {name: s%d, on: build, run: step-%d, auto: true}\n", i, i)
	}
	return b.String()
}

func TestQuickStepsCommitOncePerStep(t *testing.T) {
	const steps = 10
	w := runbooktest.NewWorld(t, load(t, quick(steps)))
	var commits atomic.Int64
	w.Store.OnCommit(func() { commits.Add(1) })
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	if rel := w.Release(); rel.State != runbook.ReleaseSucceeded {
		t.Fatalf("release is %s, want succeeded", rel.State)
	}
	for i := range steps {
		if n := w.Hosts.Count("local", fmt.Sprintf("do:s%d", i)); n != 1 {
			t.Errorf("s%d took effect %d times, want once", i, n)
		}
	}
	// The creation, the start, a commit per step and the end: two commits
	// per step without carrying. Slack for a few late commits of a
	// carried outcome (carryDelay) on a slow machine.
	n := commits.Load()
	t.Logf("%d commits for %d steps", n, steps)
	if n > steps+6 {
		t.Errorf("%d commits for %d steps, want at most %d: a step's success is not carried into the next step's start", n, steps, steps+6)
	}
	if m := w.Hosts.MarkerCount("local"); m != 0 {
		t.Errorf("%d run markers left on the host, want none", m)
	}
}

func TestKilledWithACarriedOutcomeResumesWithoutRunningIt(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, quick(4)))
	// Killed right after s1 succeeded: its success is carried, not
	// committed. The record says s1 is running; its markers say it ended.
	_, died := w.Process(runbooktest.ProcessOptions{Yes: true}).Run(context.Background(), &runbooktest.Crash{Point: runbook.PointOutcomeAfter, N: 2}, start("1.0"))
	if !died {
		t.Fatal("the process was not killed")
	}
	if st := w.Steps(w.Release().ID)[1]; st.State != runbook.RunRunning {
		t.Fatalf("after the kill s1 is recorded %s, want running (its success was carried)", st.State)
	}
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, resume, nil)
	if rel := w.Release(); rel.State != runbook.ReleaseSucceeded {
		t.Fatalf("release is %s, want succeeded", rel.State)
	}
	for i := range 4 {
		if n := w.Hosts.Count("local", fmt.Sprintf("do:s%d", i)); n != 1 {
			t.Errorf("s%d took effect %d times, want once\n%s", i, n, w.Hosts.Effects())
		}
	}
}
