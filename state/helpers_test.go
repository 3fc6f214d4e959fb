package state

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// t0 is the fixed clock of the tests; the nanoseconds check that times
// survive the round trip at full precision.
var t0 = time.Date(2026, 11, 26, 21, 0, 0, 123456789, time.UTC)

// openTemp opens a fresh store in a temporary directory with a clock that
// starts at t0 and ticks one second per reading.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), ".runbook", "state.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	s.Now = ticker(t0)
	return s
}

// ticker returns a clock that starts at start and advances by one second
// each time it is read. It is safe for concurrent use.
func ticker(start time.Time) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(time.Second)
		return now
	}
}

// newRelease returns a release of version with two steps: build on the
// local host, and stage on two prerelease hosts.
func newRelease(version string) (*runbook.Release, []*runbook.StepRun) {
	r := &runbook.Release{
		Version:      version,
		Kind:         runbook.KindRelease,
		State:        runbook.ReleasePlanned,
		Operator:     "alice",
		OSUser:       "builder",
		Machine:      "ops-box",
		StartedAt:    t0,
		RunbookName:  "billing-center",
		RunbookFile:  "/srv/billing/runbook.yaml",
		RunbookHash:  "ab12",
		ArtifactPath: "target/billing.ear",
	}
	steps := []*runbook.StepRun{
		{Index: 0, Name: "build-ear", Kind: runbook.KindRun, Env: "build", State: runbook.RunPending,
			Hosts: []*runbook.HostRun{{Host: "local", State: runbook.RunPending, ExitCode: -1}}},
		{Index: 1, Name: "stage-prerelease", Kind: runbook.KindUpload, Env: "prerelease", State: runbook.RunPending,
			Hosts: []*runbook.HostRun{
				{Host: "pre1", State: runbook.RunPending, ExitCode: -1},
				{Host: "pre2", State: runbook.RunPending, ExitCode: -1},
			}},
		{Index: 2, Name: "qa-signoff", Kind: runbook.KindConfirm, State: runbook.RunPending},
	}
	return r, steps
}

// create stores a new release of version and returns it with its steps.
func create(t testing.TB, s *Store, version string) (*runbook.Release, []*runbook.StepRun) {
	t.Helper()
	r, steps := newRelease(version)
	tr := runbook.Transition{To: string(runbook.ReleasePlanned), Event: "create", Operator: "alice", OSUser: "builder"}
	if err := s.CreateRelease(context.Background(), r, steps, tr); err != nil {
		t.Fatalf("CreateRelease: %v", err)
	}
	return r, steps
}

// dumpSteps renders steps with their hosts for failure messages.
func dumpSteps(steps []*runbook.StepRun) string {
	var b strings.Builder
	for _, st := range steps {
		fmt.Fprintf(&b, "\n  %+v", *st)
		for _, h := range st.Hosts {
			fmt.Fprintf(&b, "\n    %+v", *h)
		}
	}
	return b.String()
}
