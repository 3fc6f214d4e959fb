package state

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

func TestRecordStepRoundTrip(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, steps := create(t, s, "2.4.0")

	st := steps[1]
	st.State = runbook.RunSkipped
	st.Attempts = 2
	st.StartedAt = t0.Add(time.Minute)
	st.FinishedAt = t0.Add(2 * time.Minute)
	st.Reason = "staged by hand"
	// A step run whose caller forgot the release: the store finds it.
	st.ReleaseID = 0
	tr := &runbook.Transition{From: "pending", To: "skipped", Event: "skip", Operator: "bob", OSUser: "builder", Reason: "staged by hand"}
	if err := s.RecordStep(ctx, st, tr); err != nil {
		t.Fatal(err)
	}
	st.ReleaseID = r.ID

	got, err := s.Steps(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, steps) {
		t.Errorf("Steps after RecordStep:\n got %s\nwant %s", dumpSteps(got), dumpSteps(steps))
	}
	want := runbook.Transition{ID: tr.ID, At: t0.Add(time.Second), ReleaseID: r.ID, StepRunID: st.ID,
		Scope: "step", From: "pending", To: "skipped", Event: "skip", Operator: "bob", OSUser: "builder", Reason: "staged by hand"}
	list, err := s.Transitions(ctx, r.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("Transitions = %+v, %v; want the creation and one more", list, err)
	}
	want.Hash = runbook.ChainHash(list[0].Hash, want) // chained to the creation
	if tr.ID == 0 || *tr != want {
		t.Errorf("transition filled as %+v, want %+v", *tr, want)
	}
	if list[1] != want {
		t.Errorf("stored transitions %+v, want the creation then %+v", list, want)
	}
}

func TestRecordHostRoundTrip(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, steps := create(t, s, "2.4.0")

	h := steps[1].Hosts[1]
	h.State = runbook.RunSucceeded
	h.Attempts = 1
	h.ExitCode = 0
	h.Token = fmt.Sprintf("%d:stage-prerelease:1:pre2", r.ID)
	h.StartedAt = t0.Add(time.Minute)
	h.FinishedAt = t0.Add(time.Minute + 1500*time.Millisecond)
	h.DurationMS = 1500
	h.OutputTail = "uploaded billing.ear\n"
	h.Detail = `{"sha256":"ef56"}`
	tr := &runbook.Transition{From: "running", To: "succeeded", Event: "done", Operator: "alice"}
	if err := s.RecordHost(ctx, h, tr); err != nil {
		t.Fatal(err)
	}

	got, err := s.Steps(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, steps) {
		t.Errorf("Steps after RecordHost:\n got %s\nwant %s", dumpSteps(got), dumpSteps(steps))
	}
	want := runbook.Transition{ID: tr.ID, At: t0.Add(time.Second), ReleaseID: r.ID, StepRunID: steps[1].ID,
		HostRunID: h.ID, Scope: "host", From: "running", To: "succeeded", Event: "done", Operator: "alice"}
	list, err := s.Transitions(ctx, r.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("Transitions = %+v, %v; want the creation and one more", list, err)
	}
	want.Hash = runbook.ChainHash(list[0].Hash, want) // chained to the creation
	if *tr != want {
		t.Errorf("transition filled as %+v, want %+v", *tr, want)
	}
	if list[1] != want {
		t.Errorf("stored transitions %+v, want the creation then %+v", list, want)
	}
}

func TestRecordWithoutTransition(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, steps := create(t, s, "2.4.0")
	steps[0].Hosts[0].OutputTail = "progress"
	if err := s.RecordHost(ctx, steps[0].Hosts[0], nil); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordStep(ctx, steps[0], nil); err != nil {
		t.Fatal(err)
	}
	list, err := s.Transitions(ctx, r.ID)
	if err != nil || len(list) != 1 {
		t.Errorf("Transitions = %+v, %v; want only the creation", list, err)
	}
}

func TestTransitionKeepsCallerValues(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	_, steps := create(t, s, "2.4.0")
	at := t0.Add(-time.Hour)
	tr := &runbook.Transition{At: at, Scope: "rollback", To: "undoing"}
	if err := s.RecordStep(ctx, steps[0], tr); err != nil {
		t.Fatal(err)
	}
	if !tr.At.Equal(at) || tr.Scope != "rollback" {
		t.Errorf("caller's At and Scope replaced: %+v", tr)
	}
}

func TestRecordMissingRun(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	err := s.RecordStep(ctx, &runbook.StepRun{ID: 99, State: runbook.RunRunning}, &runbook.Transition{To: "running"})
	if !errors.Is(err, runbook.ErrNotFound) {
		t.Errorf("RecordStep of a missing step run: err = %v, want ErrNotFound", err)
	}
	err = s.RecordHost(ctx, &runbook.HostRun{ID: 99, State: runbook.RunRunning}, &runbook.Transition{To: "running"})
	if !errors.Is(err, runbook.ErrNotFound) {
		t.Errorf("RecordHost of a missing host run: err = %v, want ErrNotFound", err)
	}
}

func TestTransitionsInCommitOrder(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, steps := create(t, s, "2.4.0")
	other, otherSteps := create(t, s, "2.5.0")

	// Times run backwards, so only the commit order can explain the result.
	at := t0.Add(time.Hour)
	var want []string
	record := func(event string, rec func(*runbook.Transition) error) {
		t.Helper()
		at = at.Add(-time.Minute)
		if err := rec(&runbook.Transition{At: at, To: "x", Event: event}); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "create")
	for i, ev := range []string{"a", "b", "c", "d"} {
		st := steps[i%2]
		record(ev, func(tr *runbook.Transition) error { return s.RecordStep(ctx, st, tr) })
		record("other-"+ev, func(tr *runbook.Transition) error { return s.RecordStep(ctx, otherSteps[0], tr) })
		want = append(want, ev)
		record(ev+"-host", func(tr *runbook.Transition) error { return s.RecordHost(ctx, st.Hosts[0], tr) })
		want = append(want, ev+"-host")
		record(ev+"-release", func(tr *runbook.Transition) error { return s.RecordRelease(ctx, r, tr) })
		want = append(want, ev+"-release")
	}
	list, err := s.Transitions(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range list {
		got = append(got, tr.Event)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("transitions of release %d:\n got %v\nwant %v", r.ID, got, want)
	}
	if list, _ := s.Transitions(ctx, other.ID); len(list) != 5 {
		t.Errorf("release %d has %d transitions, want 5", other.ID, len(list))
	}
}

// Hosts of a parallel step record concurrently; every write must land.
func TestConcurrentRecordHost(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, steps := create(t, s, "2.4.0")
	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan error, 3*rounds) // at most one per write or read
	for _, h := range steps[1].Hosts {
		h := *h // each goroutine owns its copy
		wg.Go(func() {
			for i := range rounds {
				h.Attempts = i + 1
				if err := s.RecordHost(ctx, &h, &runbook.Transition{To: "running", Event: "run"}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		for range rounds {
			if _, err := s.Steps(ctx, r.ID); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := s.Transitions(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 2*rounds; len(list) != want {
		t.Errorf("%d transitions, want %d", len(list), want)
	}
	got, err := s.Steps(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range got[1].Hosts {
		if h.Attempts != rounds {
			t.Errorf("host %s: attempts %d, want %d", h.Host, h.Attempts, rounds)
		}
	}
}

func TestStepsOfUnknownRelease(t *testing.T) {
	s := openTemp(t)
	got, err := s.Steps(context.Background(), 5)
	if err != nil || got != nil {
		t.Errorf("Steps(5) = %v, %v; want nil, nil", got, err)
	}
}
