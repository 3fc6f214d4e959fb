package state

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

func TestCreateReleaseFillsIDs(t *testing.T) {
	s := openTemp(t)
	r, steps := create(t, s, "2.4.0")
	if r.ID == 0 {
		t.Fatal("release ID not filled")
	}
	seen := map[int64]bool{}
	for _, st := range steps {
		if st.ID == 0 || st.ReleaseID != r.ID {
			t.Errorf("step %s: ID %d, ReleaseID %d; want a new ID and release %d", st.Name, st.ID, st.ReleaseID, r.ID)
		}
		for _, h := range st.Hosts {
			if h.ID == 0 || seen[h.ID] || h.StepRunID != st.ID {
				t.Errorf("host run %s of %s: ID %d, StepRunID %d", h.Host, st.Name, h.ID, h.StepRunID)
			}
			seen[h.ID] = true
		}
	}

	got, err := s.Steps(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, steps) {
		t.Errorf("Steps after CreateRelease:\n got %s\nwant %s", dumpSteps(got), dumpSteps(steps))
	}
}

func TestCreateReleaseRecordsTransition(t *testing.T) {
	s := openTemp(t)
	r, _ := create(t, s, "2.4.0")
	got, err := s.Transitions(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []runbook.Transition{{ID: got[0].ID, At: t0, ReleaseID: r.ID, Scope: "release",
		To: "planned", Event: "create", Operator: "alice", OSUser: "builder"}}
	want[0].Hash = runbook.ChainHash("", want[0]) // the first link of the audit chain
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Transitions = %+v, want %+v", got, want)
	}
}

func TestCreateReleaseFailureLeavesNothing(t *testing.T) {
	s := openTemp(t)
	r, steps := newRelease("2.4.0")
	steps[1].Index = 0 // two steps at index 0 violate UNIQUE (release_id, idx)
	err := s.CreateRelease(context.Background(), r, steps, runbook.Transition{To: "planned"})
	if err == nil {
		t.Fatal("CreateRelease with duplicate step indexes succeeded")
	}
	if r.ID != 0 || steps[0].ID != 0 || steps[0].Hosts[0].ID != 0 {
		t.Errorf("IDs filled after a failed transaction: release %d, step %d, host %d", r.ID, steps[0].ID, steps[0].Hosts[0].ID)
	}
	list, err := s.Releases(context.Background())
	if err != nil || len(list) != 0 {
		t.Errorf("Releases after a failed create = %v, %v; want none", list, err)
	}
}

func TestReleaseRoundTrip(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, _ := create(t, s, "2.4.0")

	got, err := s.Release(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("Release after create:\n got %+v\nwant %+v", got, r)
	}

	// What changes during a release: state, end, envs, hashes.
	r.State = runbook.ReleaseSucceeded
	r.FinishedAt = t0.Add(time.Hour)
	r.Envs = []string{"prerelease", "production"}
	r.RunbookHash = "cd34"
	r.ArtifactSHA256 = "ef56"
	tr := &runbook.Transition{From: "running", To: "succeeded", Event: "finish", Operator: "alice"}
	if err := s.RecordRelease(ctx, r, tr); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Release(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("Release after RecordRelease:\n got %+v\nwant %+v", got, r)
	}
	if tr.ID == 0 || tr.ReleaseID != r.ID || tr.Scope != "release" || tr.At.IsZero() {
		t.Errorf("transition not filled: %+v", tr)
	}
}

func TestReleaseNotFound(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if _, err := s.Release(ctx, 7); !errors.Is(err, runbook.ErrNotFound) {
		t.Errorf("Release(7) err = %v, want ErrNotFound", err)
	}
	r := &runbook.Release{ID: 7, State: runbook.ReleaseRunning}
	if err := s.RecordRelease(ctx, r, &runbook.Transition{To: "running"}); !errors.Is(err, runbook.ErrNotFound) {
		t.Errorf("RecordRelease of a missing release err = %v, want ErrNotFound", err)
	}
}

func TestReleasesOldestFirst(t *testing.T) {
	s := openTemp(t)
	for _, v := range []string{"2.3.0", "2.4.0", "2.4.1"} {
		r, _ := create(t, s, v)
		r.State = runbook.ReleaseSucceeded
		if err := s.RecordRelease(context.Background(), r, nil); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.Releases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.Version)
	}
	if want := []string{"2.3.0", "2.4.0", "2.4.1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Releases = %v, want %v", got, want)
	}
}

func TestUnfinished(t *testing.T) {
	ctx := context.Background()
	unfinished := []runbook.ReleaseState{runbook.ReleasePlanned, runbook.ReleaseRunning, runbook.ReleasePaused,
		runbook.ReleaseFailed, runbook.ReleaseRollingBack}
	for _, st := range unfinished {
		t.Run(string(st), func(t *testing.T) {
			s := openTemp(t)
			if r, err := s.Unfinished(ctx); r != nil || err != nil {
				t.Fatalf("Unfinished on an empty database = %+v, %v; want nil, nil", r, err)
			}
			done, _ := create(t, s, "2.3.0")
			done.State = runbook.ReleaseSucceeded
			if err := s.RecordRelease(ctx, done, nil); err != nil {
				t.Fatal(err)
			}
			if r, err := s.Unfinished(ctx); r != nil || err != nil {
				t.Fatalf("Unfinished with only a succeeded release = %+v, %v; want nil, nil", r, err)
			}

			r, _ := create(t, s, "2.4.0")
			r.State = st
			if err := s.RecordRelease(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
			got, err := s.Unfinished(ctx)
			if err != nil || got == nil || got.ID != r.ID {
				t.Fatalf("Unfinished = %+v, %v; want release %d", got, err, r.ID)
			}
		})
	}
}

func TestUnfinishedIgnoresFinished(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, st := range finishedStates {
		r, _ := create(t, s, "2.4.0")
		r.State = st
		if err := s.RecordRelease(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.Unfinished(ctx); r != nil || err != nil {
		t.Errorf("Unfinished = %+v, %v; want nil, nil", r, err)
	}
}

// The query's list must agree with the domain's idea of finished.
func TestFinishedStatesMatchDomain(t *testing.T) {
	all := []runbook.ReleaseState{runbook.ReleasePlanned, runbook.ReleaseRunning, runbook.ReleasePaused,
		runbook.ReleaseFailed, runbook.ReleaseSucceeded, runbook.ReleaseRollingBack, runbook.ReleaseRolledBack,
		runbook.ReleaseAborted}
	var want []runbook.ReleaseState
	for _, st := range all {
		if st.Finished() {
			want = append(want, st)
		}
	}
	if !reflect.DeepEqual(finishedStates, want) {
		t.Errorf("finishedStates = %v, domain says %v", finishedStates, want)
	}
}

// A write after Ctrl-C (the release going to paused) must still commit.
func TestWriteIgnoresCancellation(t *testing.T) {
	s := openTemp(t)
	r, _ := create(t, s, "2.4.0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.State = runbook.ReleasePaused
	if err := s.RecordRelease(ctx, r, &runbook.Transition{From: "running", To: "paused", Event: "pause"}); err != nil {
		t.Fatalf("RecordRelease with a cancelled context: %v", err)
	}
	got, err := s.Release(context.Background(), r.ID)
	if err != nil || got.State != runbook.ReleasePaused {
		t.Errorf("after the write: %+v, %v; want paused", got, err)
	}
}
