package state

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

func TestSignoffs(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, _ := create(t, s, "2.4.0")
	other, _ := create(t, s, "2.5.0")
	stamp := t0.Add(24 * time.Hour)
	s.Now = func() time.Time { return stamp }
	want := []runbook.Signoff{
		{ReleaseID: r.ID, Step: "qa-signoff", Role: "QA", Name: "Zhao Min", Operator: "bob", OSUser: "builder", At: t0.Add(time.Minute), Via: "prompt"},
		{ReleaseID: r.ID, Step: "qa-signoff", Role: "DBA", Name: "Wang Li", Operator: "alice", OSUser: "alice", Via: "--signoff"},
	}
	for _, so := range want {
		if err := s.AddSignoff(ctx, so); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddSignoff(ctx, runbook.Signoff{ReleaseID: other.ID, Step: "qa-signoff", Role: "QA", Name: "x"}); err != nil {
		t.Fatal(err)
	}
	want[1].At = stamp
	got, err := s.Signoffs(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Signoffs:\n got %+v\nwant %+v", got, want)
	}
}

func TestNotes(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, _ := create(t, s, "2.4.0")
	notes := []*runbook.Note{
		{ReleaseID: r.ID, Kind: "lock", Text: "lock recovered from dead holder bob on ops-box (pid 4242)", Operator: "alice"},
		{ReleaseID: r.ID, At: t0.Add(time.Hour), Kind: "deviation", Step: "restart-prerelease", Host: "pre1",
			Text: "marked done: restarted by hand", Operator: "bob", OSUser: "builder"},
	}
	for _, n := range notes {
		if err := s.AddNote(ctx, n); err != nil {
			t.Fatal(err)
		}
		if n.ID == 0 || n.At.IsZero() {
			t.Errorf("note not filled: %+v", n)
		}
	}
	if notes[1].At != t0.Add(time.Hour) {
		t.Errorf("caller's time replaced: %v", notes[1].At)
	}
	got, err := s.Notes(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []runbook.Note{*notes[0], *notes[1]}; !reflect.DeepEqual(got, want) {
		t.Errorf("Notes:\n got %+v\nwant %+v", got, want)
	}
}

func TestSetLiveReplaces(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r1, _ := create(t, s, "2.3.0")
	r2, _ := create(t, s, "2.4.0")
	writes := []runbook.Live{
		{Env: "production", Host: "prod2", Version: "2.3.0", ReleaseID: r1.ID, At: t0},
		{Env: "production", Host: "prod1", Version: "2.3.0", ReleaseID: r1.ID, At: t0},
		{Env: "prerelease", Host: "pre1", Version: "2.4.0", Previous: "2.3.0", ReleaseID: r2.ID, At: t0.Add(time.Hour)},
		{Env: "production", Host: "prod1", Version: "2.4.0", Previous: "2.3.0", ReleaseID: r2.ID, At: t0.Add(2 * time.Hour)},
		{Env: "build", Host: "local", Version: "2.4.0"}, // no release, no time: both filled or left empty
	}
	for _, l := range writes {
		if err := s.SetLive(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LiveVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []runbook.Live{
		{Env: "build", Host: "local", Version: "2.4.0", At: got[0].At},
		writes[2],
		writes[3],
		writes[0],
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LiveVersions:\n got %+v\nwant %+v", got, want)
	}
	if got[0].At.IsZero() {
		t.Error("zero live time not filled")
	}
}

func TestAddStagedNewestFirst(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r, _ := create(t, s, "2.4.0")
	writes := []runbook.Staged{
		{Env: "prerelease", Host: "pre1", Version: "2.3.0", SHA256: "aa", At: t0},
		// Half a second later: fixed-width times still sort as times.
		{Env: "prerelease", Host: "pre1", Version: "2.4.0", SHA256: "bb", ReleaseID: r.ID, At: t0.Add(500 * time.Millisecond)},
		{Env: "prerelease", Host: "pre1", Version: "2.2.0", SHA256: "cc", At: t0.Truncate(time.Second).Add(time.Second)},
		// The keep policy removed 2.3.0.
		{Env: "prerelease", Host: "pre1", Version: "2.3.0", SHA256: "aa", At: t0.Add(time.Hour), Removed: true},
	}
	for _, st := range writes {
		if err := s.AddStaged(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.StagedVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []runbook.Staged{writes[3], writes[2], writes[1]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StagedVersions:\n got %+v\nwant %+v", got, want)
	}
}

func TestOperations(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	ops := []runbook.Operation{
		{Env: "production", Host: "prod1", Name: "restart", Command: "sudo /opt/jboss/bin/restart.sh",
			ExitCode: 0, StartedAt: t0, FinishedAt: t0.Add(3 * time.Second), Operator: "bob", OSUser: "builder", OutputTail: "restarted\n"},
		{Env: "production", Host: "prod2", Name: "exec", Command: "df -h", ExitCode: 127, StartedAt: t0.Add(time.Minute), Operator: "alice"},
	}
	for _, op := range ops {
		if err := s.AddOperation(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Operations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID == 0 || got[1].ID <= got[0].ID {
		t.Fatalf("Operations = %+v, want two in order", got)
	}
	ops[0].ID, ops[1].ID = got[0].ID, got[1].ID
	if !reflect.DeepEqual(got, ops) {
		t.Errorf("Operations:\n got %+v\nwant %+v", got, ops)
	}
}
