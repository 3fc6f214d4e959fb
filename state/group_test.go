package state

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// The group commit (store.go) through the store's own methods: writes
// that arrive while a commit is held are committed together, none
// returns before its commit, a write that fails (a host run that does
// not exist) gets its own ErrNotFound, and the others of its group keep
// their host runs and transitions.
func TestRecordHostWritesShareACommit(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	_, steps := create(t, s, "2.4.0")
	pre1, pre2, local := steps[1].Hosts[0], steps[1].Hosts[1], steps[0].Hosts[0]

	// The first commit is held at its crash point until three more
	// writes queue behind it.
	inCommit, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	old := runbook.Hit
	runbook.Hit = func(p string) {
		if p == runbook.PointStateTx {
			once.Do(func() {
				close(inCommit)
				<-release
			})
		}
	}
	t.Cleanup(func() { runbook.Hit = old })
	commits := func() int {
		s.commits.mu.Lock()
		defer s.commits.mu.Unlock()
		return s.commits.batches
	}
	before := commits()

	record := func(h *runbook.HostRun, state runbook.RunState) chan error {
		c := make(chan error, 1)
		go func() {
			cp := *h
			cp.State = state
			c <- s.RecordHost(ctx, &cp, &runbook.Transition{From: "pending", To: string(state), Event: "start", Operator: "alice"})
		}()
		return c
	}
	first := record(local, runbook.RunRunning)
	<-inCommit
	a := record(pre1, runbook.RunRunning)
	bad := record(&runbook.HostRun{ID: 9999, Host: "nowhere"}, runbook.RunRunning)
	b := record(pre2, runbook.RunRunning)
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.commits.mu.Lock()
		n := len(s.commits.queue)
		s.commits.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued behind the commit, want 3", n)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-a:
		t.Fatalf("a write returned (%v) before its commit", err)
	default:
	}
	close(release)
	for _, c := range []chan error{first, a, b} {
		if err := <-c; err != nil {
			t.Errorf("a write of the group failed: %v", err)
		}
	}
	if err := <-bad; !errors.Is(err, runbook.ErrNotFound) {
		t.Errorf("the bad write got %v, want ErrNotFound", err)
	}
	if n := commits() - before; n != 2 {
		t.Errorf("%d transactions for 4 writes, want 2 (the first, then the three queued behind it)", n)
	}
	got, err := s.Steps(ctx, steps[0].ReleaseID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*runbook.HostRun{got[0].Hosts[0], got[1].Hosts[0], got[1].Hosts[1]} {
		if h.State != runbook.RunRunning {
			t.Errorf("%s is %s after its write returned, want running", h.Host, h.State)
		}
	}
	ts, err := s.Transitions(ctx, steps[0].ReleaseID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ts); n != 4 { // the creation and three host runs
		t.Errorf("%d transitions recorded, want 4: %+v", n, ts)
	}
}
