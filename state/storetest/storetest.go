// Package storetest is the conformance suite of runbook.Store: one set of
// tests that every backend (package state's SQLite, package
// state/postgres's PostgreSQL) runs against itself, so that the engine
// may rely on the contract written in runbook/store.go and on nothing a
// single backend happens to do.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// DB is one empty database of the backend under test.
type DB struct {
	// Open opens one more handle on the database, as another process
	// would; the suite closes it.
	Open func() (runbook.Store, error)
	// Exec runs one SQL statement on the database directly, behind the
	// store's back (an attacker with write access, a broken disk).
	Exec func(t *testing.T, sql string)
	// FutureSchema marks the database as written by a runbook newer than
	// this one.
	FutureSchema func(t *testing.T)
}

// Run runs every contract test against databases made by newDB.
func Run(t *testing.T, newDB func(t *testing.T) DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db DB)
	}{
		{"CreateReleaseFillsIDs", testCreateReleaseFillsIDs},
		{"ReleaseRoundTrip", testReleaseRoundTrip},
		{"ReleasesAndUnfinished", testReleasesAndUnfinished},
		{"NotFound", testNotFound},
		{"RecordRoundTrip", testRecordRoundTrip},
		{"RecordRunsIsOneCommit", testRecordRuns},
		{"TransitionsInCommitOrder", testTransitionsInCommitOrder},
		{"Records", testRecords},
		{"Live", testLive},
		{"Staged", testStaged},
		{"Operations", testOperations},
		{"StoreID", testStoreID},
		{"AuditChain", testAuditChain},
		{"AuditCatchesEveryUpdate", testAuditCatchesEveryUpdate},
		{"AuditCatchesDeleteAndInsert", testAuditCatchesDeleteAndInsert},
		{"ConcurrentWritesKeepTheChain", testConcurrentWrites},
		{"ReleaseLockExcludes", testReleaseLock},
		{"DeployLock", testDeployLock},
		{"WriteIgnoresCancellation", testWriteIgnoresCancellation},
		{"RefusesNewerSchema", testRefusesNewerSchema},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDB(t)) })
	}
}

// t0 is the suite's clock: microseconds, which every backend keeps.
var t0 = time.Date(2026, 11, 26, 21, 0, 0, 123456000, time.UTC)

func open(t *testing.T, db DB) runbook.Store {
	t.Helper()
	s, err := db.Open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newRelease is a release of version with three steps: build on one
// local host, stage on two hosts, a sign-off without hosts.
func newRelease(version string) (*runbook.Release, []*runbook.StepRun) {
	r := &runbook.Release{Version: version, Kind: runbook.KindRelease, State: runbook.ReleasePlanned,
		Operator: "alice", OSUser: "deploy", Machine: "ops-box", StartedAt: t0, RunbookName: "billing-center",
		RunbookFile: "/srv/billing/runbook.yaml", RunbookHash: "ab12", ArtifactPath: "target/billing.ear"}
	steps := []*runbook.StepRun{
		{Index: 0, Name: "build-ear", Kind: runbook.KindRun, Env: "build", State: runbook.RunPending,
			Hosts: []*runbook.HostRun{{Host: "local", State: runbook.RunPending, ExitCode: -1}}},
		{Index: 1, Name: "stage-prerelease", Kind: runbook.KindUpload, Env: "prerelease", State: runbook.RunPending,
			Hosts: []*runbook.HostRun{{Host: "pre1", State: runbook.RunPending, ExitCode: -1}, {Host: "pre2", State: runbook.RunPending, ExitCode: -1}}},
		{Index: 2, Name: "qa-signoff", Kind: runbook.KindConfirm, State: runbook.RunPending},
	}
	return r, steps
}

func create(t *testing.T, s runbook.Store, version string) (*runbook.Release, []*runbook.StepRun) {
	t.Helper()
	r, steps := newRelease(version)
	tr := runbook.Transition{At: t0, To: string(runbook.ReleasePlanned), Event: "create", Operator: "alice", OSUser: "deploy", Machine: "ops-box"}
	if err := s.CreateRelease(context.Background(), r, steps, tr); err != nil {
		t.Fatalf("CreateRelease: %v", err)
	}
	return r, steps
}

func testCreateReleaseFillsIDs(t *testing.T, db DB) {
	s := open(t, db)
	r, steps := create(t, s, "2.4.0")
	if r.ID == 0 {
		t.Fatal("release ID not filled")
	}
	seen := map[int64]bool{}
	for _, st := range steps {
		if st.ID == 0 || st.ReleaseID != r.ID || seen[st.ID] {
			t.Errorf("step %s: ID %d ReleaseID %d", st.Name, st.ID, st.ReleaseID)
		}
		seen[st.ID] = true
		for _, h := range st.Hosts {
			if h.ID == 0 || h.StepRunID != st.ID {
				t.Errorf("host run %s of %s: ID %d StepRunID %d", h.Host, st.Name, h.ID, h.StepRunID)
			}
		}
	}
	got, err := s.Steps(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, steps) {
		t.Errorf("Steps = %s\nwant %s", dump(got), dump(steps))
	}
	ts, err := s.Transitions(context.Background(), r.ID)
	if err != nil || len(ts) != 1 {
		t.Fatalf("Transitions = %+v, %v; want the creation", ts, err)
	}
	want := runbook.Transition{ID: ts[0].ID, At: t0, ReleaseID: r.ID, Scope: "release", To: "planned", Event: "create", Operator: "alice", OSUser: "deploy", Machine: "ops-box"}
	want.Hash = runbook.ChainHash("", want)
	if ts[0] != want {
		t.Errorf("creation transition = %+v, want %+v", ts[0], want)
	}
}

func testReleaseRoundTrip(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	r, _ := create(t, s, "2.4.0")
	r.State = runbook.ReleaseRollingBack
	r.FinishedAt = t0.Add(time.Hour)
	r.Envs = []string{"prerelease", "production"}
	r.RunbookHash, r.ArtifactSHA256, r.ArtifactSize = "cd34", "ef56", 1<<30
	if err := s.RecordRelease(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	// Another handle sees what was committed.
	got, err := open(t, db).Release(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("Release = %+v\nwant %+v", got, r)
	}
}

func testReleasesAndUnfinished(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	if un, err := s.Unfinished(ctx); err != nil || un != nil {
		t.Fatalf("Unfinished of an empty store = %+v, %v", un, err)
	}
	a, _ := create(t, s, "1.0")
	b, _ := create(t, s, "2.0")
	for _, st := range []runbook.ReleaseState{runbook.ReleaseSucceeded, runbook.ReleaseRolledBack, runbook.ReleaseAborted} {
		b.State = st
		if err := s.RecordRelease(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
		un, err := s.Unfinished(ctx)
		if err != nil || un == nil || un.ID != a.ID {
			t.Errorf("with 2.0 %s, Unfinished = %+v, %v; want 1.0", st, un, err)
		}
	}
	b.State = runbook.ReleasePaused
	if err := s.RecordRelease(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	if un, err := s.Unfinished(ctx); err != nil || un == nil || un.ID != b.ID {
		t.Errorf("Unfinished = %+v, %v; want the newest unfinished, 2.0", un, err)
	}
	list, err := s.Releases(ctx)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Errorf("Releases = %+v, %v; want 1.0 then 2.0", list, err)
	}
}

func testNotFound(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	if _, err := s.Release(ctx, 42); !errors.Is(err, runbook.ErrNotFound) {
		t.Errorf("Release(42) = %v, want ErrNotFound", err)
	}
	_, steps := create(t, s, "1.0")
	missing := *steps[0]
	missing.ID = 9999
	if err := s.RecordStep(ctx, &missing, &runbook.Transition{From: "pending", To: "running", Event: "start"}); !errors.Is(err, runbook.ErrNotFound) {
		t.Errorf("RecordStep of a missing run = %v, want ErrNotFound", err)
	}
	if err := s.RecordHost(ctx, &runbook.HostRun{ID: 9999, Host: "x", State: runbook.RunRunning}, nil); !errors.Is(err, runbook.ErrNotFound) {
		t.Errorf("RecordHost of a missing run = %v, want ErrNotFound", err)
	}
	if got, err := s.Steps(ctx, 9999); err != nil || len(got) != 0 {
		t.Errorf("Steps of an unknown release = %+v, %v", got, err)
	}
}

func testRecordRoundTrip(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	r, steps := create(t, s, "2.4.0")
	st := steps[1]
	st.State, st.Attempts, st.StartedAt, st.Reason = runbook.RunRunning, 1, t0.Add(time.Second), "go"
	st.ReleaseID = 0 // the store finds the release of a step
	tr := &runbook.Transition{At: t0.Add(time.Second), From: "pending", To: "running", Event: "start", Operator: "bob", Machine: "b", Reason: "go"}
	if err := s.RecordStep(ctx, st, tr); err != nil {
		t.Fatal(err)
	}
	st.ReleaseID = r.ID
	if tr.ID == 0 || tr.ReleaseID != r.ID || tr.StepRunID != st.ID || tr.HostRunID != 0 || tr.Scope != "step" || tr.Hash == "" {
		t.Errorf("step transition filled as %+v", *tr)
	}
	h := st.Hosts[1]
	h.State, h.Attempts, h.ExitCode, h.Token = runbook.RunSucceeded, 1, 0, "r1-s02-stage-a1-pre2-00ff"
	h.StartedAt, h.FinishedAt, h.DurationMS = t0.Add(2*time.Second), t0.Add(3*time.Second), 1000
	h.OutputTail, h.Detail = "uploaded billing.ear\n", `{"sha256":"ef56"}`
	htr := &runbook.Transition{From: "running", To: "succeeded", Event: "done", Operator: "bob"}
	if err := s.RecordHost(ctx, h, htr); err != nil {
		t.Fatal(err)
	}
	if htr.ID <= tr.ID || htr.ReleaseID != r.ID || htr.StepRunID != st.ID || htr.HostRunID != h.ID || htr.Scope != "host" || htr.At.IsZero() {
		t.Errorf("host transition filled as %+v", *htr)
	}
	got, err := open(t, db).Steps(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, steps) {
		t.Errorf("Steps = %s\nwant %s", dump(got), dump(steps))
	}
	ts, err := s.Transitions(ctx, r.ID)
	if err != nil || len(ts) != 3 || ts[1] != *tr || ts[2] != *htr {
		t.Errorf("Transitions = %+v, %v\nwant the creation, %+v and %+v", ts, err, *tr, *htr)
	}
}

func testRecordRuns(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	r, steps := create(t, s, "2.4.0")
	st, h := steps[0], steps[0].Hosts[0]
	st.State, h.State = runbook.RunRunning, runbook.RunRunning
	stT := &runbook.Transition{From: "pending", To: "running", Event: "start"}
	hT := &runbook.Transition{From: "pending", To: "running", Event: "start"}
	if err := s.RecordRuns(ctx, runbook.RunMove{Step: st, StepT: stT, Host: h, HostT: hT}); err != nil {
		t.Fatal(err)
	}
	if stT.ID == 0 || hT.ID != stT.ID+1 || stT.Scope != "step" || hT.Scope != "host" || hT.HostRunID != h.ID {
		t.Errorf("transitions filled as %+v and %+v", *stT, *hT)
	}
	// A step's success and the next step's start, its host's alone: one
	// commit, the transitions in the order of the moves.
	st.State, h.State = runbook.RunSucceeded, runbook.RunSucceeded
	next, nextHost := steps[1], steps[1].Hosts[0]
	nextHost.State = runbook.RunRunning
	done := []*runbook.Transition{{From: "running", To: "succeeded", Event: "succeed"}, {From: "running", To: "succeeded", Event: "succeed"}}
	started := &runbook.Transition{From: "pending", To: "running", Event: "start", StepRunID: next.ID, ReleaseID: r.ID}
	if err := s.RecordRuns(ctx, runbook.RunMove{Step: st, StepT: done[0], Host: h, HostT: done[1]},
		runbook.RunMove{Host: nextHost, HostT: started}); err != nil {
		t.Fatal(err)
	}
	if done[1].ID != done[0].ID+1 || started.ID != done[1].ID+1 || started.HostRunID != nextHost.ID {
		t.Errorf("transitions filled as %+v, %+v and %+v", *done[0], *done[1], *started)
	}
	// A failure in the last move leaves the first unrecorded too.
	nextHost.State = runbook.RunSucceeded
	missing := &runbook.HostRun{ID: 9999, Host: "gone", State: runbook.RunSucceeded}
	err := s.RecordRuns(ctx, runbook.RunMove{Host: nextHost, HostT: &runbook.Transition{From: "running", To: "succeeded", Event: "succeed"}},
		runbook.RunMove{Step: next, Host: missing})
	if err == nil {
		t.Fatal("RecordRuns with a missing host run succeeded")
	}
	got, err := s.Steps(ctx, r.ID)
	if err != nil || got[0].State != runbook.RunSucceeded || got[1].Hosts[0].State != runbook.RunRunning {
		t.Errorf("after a failed RecordRuns the steps are %+v (%v), want the second's host still running", got, err)
	}
	if ts, _ := s.Transitions(ctx, r.ID); len(ts) != 6 {
		t.Errorf("after a failed RecordRuns there are %d transitions, want 6", len(ts))
	}
}

func testTransitionsInCommitOrder(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	a, _ := create(t, s, "1.0")
	b, _ := create(t, s, "2.0")
	for i, r := range []*runbook.Release{a, b, a, b} {
		r.State = runbook.ReleaseRunning
		if i >= 2 {
			r.State = runbook.ReleasePaused
		}
		if err := s.RecordRelease(ctx, r, &runbook.Transition{At: t0, From: "x", To: string(r.State), Event: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := s.Transitions(ctx, a.ID)
	if err != nil || len(ts) != 3 || ts[1].Event != "0" || ts[2].Event != "2" || ts[1].ID >= ts[2].ID {
		t.Errorf("Transitions of 1.0 = %+v, %v", ts, err)
	}
}

func testRecords(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	r, _ := create(t, s, "1.0")
	sos := []runbook.Signoff{
		{ReleaseID: r.ID, Step: "qa-signoff", Role: "QA", Name: "Li Na", Operator: "alice", OSUser: "deploy", At: t0, Via: "--signoff"},
		{ReleaseID: r.ID, Step: "qa-signoff", Role: "DBA", Name: "Wang Li", OSUser: "alice", At: t0.Add(time.Second), Via: "prompt"},
	}
	for _, so := range sos {
		if err := s.AddSignoff(ctx, so); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Signoffs(ctx, r.ID); err != nil || !reflect.DeepEqual(got, sos) {
		t.Errorf("Signoffs = %+v, %v\nwant %+v", got, err, sos)
	}
	n1 := &runbook.Note{ReleaseID: r.ID, At: t0, Kind: "handover", Text: "bob on b took over from alice on a", Operator: "bob", OSUser: "deploy"}
	n2 := &runbook.Note{ReleaseID: r.ID, Kind: "deviation", Step: "build-ear", Host: "local", Text: "skipped", Operator: "bob"}
	for _, n := range []*runbook.Note{n1, n2} {
		if err := s.AddNote(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if n1.ID == 0 || n2.ID <= n1.ID || n2.At.IsZero() {
		t.Errorf("notes filled as %+v and %+v", *n1, *n2)
	}
	if got, err := s.Notes(ctx, r.ID); err != nil || !reflect.DeepEqual(got, []runbook.Note{*n1, *n2}) {
		t.Errorf("Notes = %+v, %v", got, err)
	}
}

func testLive(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	r, _ := create(t, s, "2.0")
	if err := s.SetLive(ctx, runbook.Live{Env: "prod", Host: "p1", Version: "1.0", ReleaseID: r.ID, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyLive(ctx, "prod", "p1", "1.0", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLive(ctx, runbook.Live{Env: "prod", Host: "p1", Version: "2.0", Previous: "1.0", ReleaseID: r.ID, At: t0.Add(2 * time.Second), VerifiedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// A verify of a version no longer live changes nothing.
	if err := s.VerifyLive(ctx, "prod", "p1", "1.0", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLive(ctx, runbook.Live{Env: "a-env", Host: "z", Version: "2.0", At: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LiveVersions(ctx)
	want := []runbook.Live{
		{Env: "a-env", Host: "z", Version: "2.0", At: t0},
		{Env: "prod", Host: "p1", Version: "2.0", Previous: "1.0", ReleaseID: r.ID, At: t0.Add(2 * time.Second)},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("LiveVersions = %+v, %v\nwant %+v", got, err, want)
	}
	if err := s.VerifyLive(ctx, "prod", "p1", "2.0", t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LiveVersions(ctx)
	if len(got) != 2 || !got[1].VerifiedAt.Equal(t0.Add(4*time.Second)) {
		t.Errorf("after VerifyLive: %+v", got)
	}
}

func testStaged(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	r, _ := create(t, s, "2.0")
	for i, v := range []string{"1.0", "2.0", "3.0"} {
		if err := s.AddStaged(ctx, runbook.Staged{Env: "prod", Host: "p1", Version: v, SHA256: "h" + v, ReleaseID: r.ID, At: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddStaged(ctx, runbook.Staged{Env: "prod", Host: "p1", Version: "1.0", SHA256: "h1.0", ReleaseID: r.ID, At: t0, Removed: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.StagedVersions(ctx)
	if err != nil || len(got) != 3 || got[0].Version != "3.0" || got[2].Version != "1.0" || !got[2].Removed || got[0].Removed {
		t.Errorf("StagedVersions = %+v, %v; want 3.0, 2.0, 1.0 (removed)", got, err)
	}
}

func testOperations(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	ops := []runbook.Operation{
		{Env: "production", Host: "prod1", Name: "restart", Command: "restart.sh", ExitCode: 0, StartedAt: t0, FinishedAt: t0.Add(time.Second), Operator: "alice", OSUser: "deploy", OutputTail: "ok\n"},
		{Env: "production", Host: "prod2", Name: "unlock", Command: "remove the environment lock", ExitCode: 0, StartedAt: t0.Add(time.Minute), Operator: "bob", OutputTail: "the owner's laptop died"},
	}
	for _, op := range ops {
		if err := s.AddOperation(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	got, err := open(t, db).Operations(ctx)
	if err != nil || len(got) != 2 || got[0].ID == 0 || got[1].ID <= got[0].ID {
		t.Fatalf("Operations = %+v, %v", got, err)
	}
	for i := range ops {
		ops[i].ID = got[i].ID
	}
	if !reflect.DeepEqual(got, ops) {
		t.Errorf("Operations = %+v\nwant %+v", got, ops)
	}
}

func testStoreID(t *testing.T, db DB) {
	ctx := context.Background()
	a, err := open(t, db).StoreID(ctx)
	if err != nil || a == "" {
		t.Fatalf("StoreID = %q, %v", a, err)
	}
	if b, err := open(t, db).StoreID(ctx); err != nil || b != a {
		t.Errorf("StoreID of another handle = %q, %v; want %q", b, err, a)
	}
}

// chainOf writes a few releases' worth of transitions and returns the
// store and the chain.
func chainOf(t *testing.T, db DB) (runbook.Store, []runbook.Transition) {
	t.Helper()
	ctx := context.Background()
	s := open(t, db)
	for _, v := range []string{"1.0", "2.0"} {
		r, steps := create(t, s, v)
		r.State = runbook.ReleaseRunning
		if err := s.RecordRelease(ctx, r, &runbook.Transition{From: "planned", To: "running", Event: "start", Operator: "alice", Machine: "a", Reason: "go"}); err != nil {
			t.Fatal(err)
		}
		st, h := steps[0], steps[0].Hosts[0]
		st.State, h.State = runbook.RunRunning, runbook.RunRunning
		if err := s.RecordRuns(ctx, runbook.RunMove{Step: st, StepT: &runbook.Transition{From: "pending", To: "running", Event: "start"},
			Host: h, HostT: &runbook.Transition{From: "pending", To: "running", Event: "start", Operator: "alice"}}); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := s.Chain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, ts
}

func testAuditChain(t *testing.T, db DB) {
	_, ts := chainOf(t, db)
	if len(ts) != 8 {
		t.Fatalf("Chain has %d transitions, want 8", len(ts))
	}
	head, err := runbook.VerifyChain(ts)
	if err != nil {
		t.Fatalf("VerifyChain of an untouched store: %v", err)
	}
	if head.Rows != 8 || head.ID != ts[7].ID || head.Hash != ts[7].Hash || len(head.Hash) != 64 {
		t.Errorf("head = %+v", head)
	}
	for i := 1; i < len(ts); i++ {
		if ts[i].ID <= ts[i-1].ID || ts[i].Hash != runbook.ChainHash(ts[i-1].Hash, ts[i]) {
			t.Errorf("row %d is not chained to row %d", ts[i].ID, ts[i-1].ID)
		}
	}
}

// testAuditCatchesEveryUpdate changes one column of one row at a time,
// behind the store's back, and requires VerifyChain to name that row (for
// a changed id, which moves the row to the end of the chain, the row that
// followed it); then it changes the column back, and the chain verifies
// again.
func testAuditCatchesEveryUpdate(t *testing.T, db DB) {
	s, ts := chainOf(t, db)
	ref := func(id int64) string {
		if id == 0 {
			return "NULL"
		}
		return fmt.Sprint(id)
	}
	for _, col := range []string{"id", "at", "release_id", "step_run_id", "host_run_id", "scope",
		"from_state", "to_state", "event", "operator", "os_user", "machine", "reason", "hash"} {
		for _, row := range []int{0, 3, 7} {
			tr := ts[row]
			other := ts[(row+4)%8|3] // a host transition of the other release
			var set, back string
			id := tr.ID
			switch col {
			case "id":
				set, back, id = "id = 1000", fmt.Sprintf("id = %d", tr.ID), 1000
			case "at":
				set, back = "at = '2026-11-26T22:00:00.000001Z'", "at = '"+tr.At.UTC().Format("2006-01-02T15:04:05.000000000Z")+"'"
			case "release_id":
				set, back = "release_id = "+ref(other.ReleaseID), "release_id = "+ref(tr.ReleaseID)
			case "step_run_id":
				set, back = "step_run_id = "+ref(other.StepRunID), "step_run_id = "+ref(tr.StepRunID)
			case "host_run_id":
				set, back = "host_run_id = "+ref(other.HostRunID), "host_run_id = "+ref(tr.HostRunID)
			default:
				set, back = col+" = "+col+" || 'x'", col+" = substr("+col+", 1, length("+col+") - 1)"
			}
			db.Exec(t, fmt.Sprintf("UPDATE transitions SET %s WHERE id = %d", set, tr.ID))
			_, err := runbook.VerifyChain(chain(t, s))
			var brk *runbook.ChainBreakError
			want := tr.ID
			if col == "id" && row < 7 {
				want = ts[row+1].ID
			} else if col == "id" {
				want = 1000
			}
			switch {
			case !errors.As(err, &brk):
				t.Errorf("UPDATE transitions SET %s of row %d went unnoticed", set, tr.ID)
			case brk.ID != want:
				t.Errorf("UPDATE transitions SET %s of row %d: the break is reported at %d, want %d", set, tr.ID, brk.ID, want)
			}
			db.Exec(t, fmt.Sprintf("UPDATE transitions SET %s WHERE id = %d", back, id))
			if _, err := runbook.VerifyChain(chain(t, s)); err != nil {
				t.Fatalf("after changing %s of row %d back: %v", col, tr.ID, err)
			}
		}
	}
}

func chain(t *testing.T, s runbook.Store) []runbook.Transition {
	t.Helper()
	ts, err := s.Chain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func testAuditCatchesDeleteAndInsert(t *testing.T, db DB) {
	ctx := context.Background()
	s, ts := chainOf(t, db)
	db.Exec(t, fmt.Sprintf("DELETE FROM transitions WHERE id = %d", ts[3].ID))
	after, err := s.Chain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var brk *runbook.ChainBreakError
	if _, err := runbook.VerifyChain(after); !errors.As(err, &brk) || brk.ID != ts[4].ID {
		t.Errorf("after deleting transition %d, VerifyChain = %v; want a break at %d", ts[3].ID, err, ts[4].ID)
	}
}

func testConcurrentWrites(t *testing.T, db DB) {
	ctx := context.Background()
	s := open(t, db)
	_, steps := create(t, s, "1.0")
	hosts := steps[1].Hosts
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			for i := range 10 {
				h.Attempts = i + 1
				if err := s.RecordHost(ctx, h, &runbook.Transition{From: "x", To: "y", Event: fmt.Sprint(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	ts, err := s.Chain(ctx)
	if err != nil || len(ts) != 21 {
		t.Fatalf("Chain = %d transitions, %v; want 21", len(ts), err)
	}
	if _, err := runbook.VerifyChain(ts); err != nil {
		t.Errorf("concurrent writers broke the chain: %v", err)
	}
}

func testReleaseLock(t *testing.T, db DB) {
	ctx := context.Background()
	a, b := open(t, db), open(t, db)
	create(t, a, "3.1")
	since := t0.Add(time.Minute)
	unlock, recovered, err := a.Lock(runbook.Holder{User: "alice", Machine: "laptop-a", PID: 4242, Command: "resume", Since: since})
	if err != nil || recovered != nil {
		t.Fatalf("Lock = %v, recovered %+v", err, recovered)
	}
	_, _, err = b.Lock(runbook.Holder{User: "bob", Machine: "laptop-b", PID: 77, Command: "start", Version: "3.2"})
	var le *runbook.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("a second Lock = %v, want *runbook.LockedError", err)
	}
	want := runbook.Holder{User: "alice", Machine: "laptop-a", PID: 4242, Version: "3.1", Command: "resume", Since: since}
	if le.Holder != want {
		t.Errorf("the refusal names %+v, want %+v (the unfinished release's version filled in)", le.Holder, want)
	}
	if msg := err.Error(); !strings.Contains(msg, "locked by alice on laptop-a (pid 4242, resume 3.1) since 2026-11-26T21:01:00Z") {
		t.Errorf("message %q does not name the holder as the exit-4 message does", msg)
	}
	// Writes of others are not blocked by the lock: it is the release
	// lock, not the database's.
	if _, err := b.Releases(ctx); err != nil {
		t.Errorf("reading while locked: %v", err)
	}
	if h, held, err := b.Holder(ctx); err != nil || !held || h.User != "alice" || h.Machine != "laptop-a" || h.PID != 4242 {
		t.Errorf("Holder while alice holds the lock = %+v, held %v, %v", h, held, err)
	}
	unlock()
	unlock() // idempotent
	if h, held, err := b.Holder(ctx); err != nil || held {
		t.Errorf("Holder after unlock = %+v, held %v, %v; want not held", h, held, err)
	}
	unlockB, _, err := b.Lock(runbook.Holder{User: "bob", Machine: "laptop-b", PID: 77, Command: "start"})
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlockB()
}

func testDeployLock(t *testing.T, db DB) {
	ctx := context.Background()
	a, b := open(t, db), open(t, db)
	if l, err := a.DeployLock(ctx); err != nil || l != nil {
		t.Fatalf("DeployLock of a new store = %+v, %v", l, err)
	}
	first := runbook.DeployLock{Message: "freeze until Monday", Operator: "alice", Machine: "laptop-a", At: t0}
	if err := a.LockReleases(ctx, first); err != nil {
		t.Fatal(err)
	}
	err := b.LockReleases(ctx, runbook.DeployLock{Message: "mine", Operator: "bob", Machine: "laptop-b"})
	var de *runbook.DeployLockedError
	if !errors.As(err, &de) || de.Lock != first || !errors.Is(err, runbook.ErrLocked) {
		t.Fatalf("a second LockReleases = %v, want *DeployLockedError naming %+v", err, first)
	}
	if l, err := b.DeployLock(ctx); err != nil || l == nil || *l != first {
		t.Errorf("DeployLock from another handle = %+v, %v", l, err)
	}
	if l, err := b.UnlockReleases(ctx); err != nil || l == nil || *l != first {
		t.Errorf("UnlockReleases = %+v, %v; want the lock it removed", l, err)
	}
	if l, err := a.UnlockReleases(ctx); err != nil || l != nil {
		t.Errorf("UnlockReleases with no lock = %+v, %v", l, err)
	}
	if err := b.LockReleases(ctx, runbook.DeployLock{Message: "now"}); err != nil {
		t.Fatal(err)
	}
	if l, err := a.DeployLock(ctx); err != nil || l == nil || l.At.IsZero() || time.Since(l.At) > time.Hour {
		t.Errorf("a lock with a zero time got %+v, %v; want it set to now", l, err)
	}
}

func testWriteIgnoresCancellation(t *testing.T, db DB) {
	s := open(t, db)
	r, _ := create(t, s, "1.0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.State = runbook.ReleasePaused
	if err := s.RecordRelease(ctx, r, &runbook.Transition{From: "running", To: "paused", Event: "pause", Reason: "Ctrl-C"}); err != nil {
		t.Fatalf("a write under a cancelled context: %v", err)
	}
	if got, err := s.Release(context.Background(), r.ID); err != nil || got.State != runbook.ReleasePaused {
		t.Errorf("after it: %+v, %v", got, err)
	}
}

// testRefusesNewerSchema: a database written by a newer runbook is
// refused, in the words of package state, whatever the backend.
func testRefusesNewerSchema(t *testing.T, db DB) {
	open(t, db) // created, then marked as newer
	db.FutureSchema(t)
	s, err := db.Open()
	if err == nil {
		s.Close()
		t.Fatal("a database of a newer schema was opened")
	}
	if !strings.Contains(err.Error(), "but this runbook knows only up to") || !strings.HasSuffix(err.Error(), ": upgrade runbook") {
		t.Errorf("refusal %q does not say what it is and what to do", err)
	}
}

func dump(steps []*runbook.StepRun) string {
	var b strings.Builder
	for _, st := range steps {
		fmt.Fprintf(&b, "\n  %+v", *st)
		for _, h := range st.Hosts {
			fmt.Fprintf(&b, "\n    %+v", *h)
		}
	}
	return b.String()
}
