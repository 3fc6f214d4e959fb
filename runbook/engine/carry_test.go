package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// commitLog is a Store that records each RecordRuns and RecordRelease
// as one commit, and can refuse them. The carrier needs nothing else of
// a Store in these tests.
type commitLog struct {
	runbook.Store
	mu      sync.Mutex
	commits [][]string
	fail    error
}

func (s *commitLog) RecordRuns(_ context.Context, moves ...runbook.RunMove) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	var c []string
	for _, m := range moves {
		c = append(c, m.Step.Name)
	}
	s.commits = append(s.commits, c)
	return nil
}

func (s *commitLog) RecordRelease(context.Context, *runbook.Release, *runbook.Transition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.commits = append(s.commits, []string{"release"})
	return nil
}

func (s *commitLog) log() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.commits...)
}

func move(name string) runbook.RunMove { return runbook.RunMove{Step: &runbook.StepRun{Name: name}} }

func TestCarriedOutcomeGoesFirstInTheNextCommit(t *testing.T) {
	s := &commitLog{}
	c := newCarrier(s)
	c.delay = time.Hour
	forgot := make(chan struct{})
	c.carry([]runbook.RunMove{move("a")}, func() { close(forgot) })
	if got := s.log(); len(got) != 0 {
		t.Fatalf("carrying committed %v", got)
	}
	if err := c.RecordRuns(context.Background(), move("b")); err != nil {
		t.Fatal(err)
	}
	if got := s.log(); len(got) != 1 || len(got[0]) != 2 || got[0][0] != "a" || got[0][1] != "b" {
		t.Fatalf("commits %v, want one: [a b]", got)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-forgot:
	default:
		t.Fatal("Flush returned before the carried run's markers were forgotten")
	}
}

func TestCarriedOutcomeIsCommittedBeforeAnyOtherCall(t *testing.T) {
	s := &commitLog{}
	c := newCarrier(s)
	c.delay = time.Hour
	c.carry([]runbook.RunMove{move("a")}, func() {})
	r := &runbook.Release{}
	if err := c.RecordRelease(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.log(); len(got) != 2 || got[0][0] != "a" || got[1][0] != "release" {
		t.Fatalf("commits %v, want [a] then [release]", got)
	}
}

func TestCarriedOutcomeWaitsNoLongerThanTheDelay(t *testing.T) {
	s := &commitLog{}
	c := newCarrier(s)
	c.delay = time.Millisecond
	forgot := make(chan struct{})
	c.carry([]runbook.RunMove{move("a")}, func() { close(forgot) })
	select {
	case <-forgot: // forgotten only once committed
	case <-time.After(time.Minute):
		t.Fatal("a carried outcome with no write after it was never committed")
	}
	if got := s.log(); len(got) != 1 || got[0][0] != "a" {
		t.Fatalf("commits %v, want [a] alone", got)
	}
}

func TestCarriedOutcomeThatCannotBeCommittedStopsTheNextCall(t *testing.T) {
	full := errors.New("database or disk is full")
	s := &commitLog{fail: full}
	c := newCarrier(s)
	c.delay = time.Millisecond
	c.carry([]runbook.RunMove{move("a")}, func() { t.Error("markers forgotten of an outcome that was not committed") })
	deadline := time.Now().Add(time.Minute)
	for {
		c.mu.Lock()
		failed := c.failed
		c.mu.Unlock()
		if failed != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the late commit never ran")
		}
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	if err := c.RecordRuns(context.Background(), move("b")); !errors.Is(err, full) {
		t.Fatalf("the call after a failed late commit returned %v, want %v", err, full)
	}
	// Said once: the walk has stopped on it, and what it lost is on the
	// host's markers for resume.
	if err := c.RecordRuns(context.Background(), move("b")); err != nil {
		t.Fatal(err)
	}
	if got := s.log(); len(got) != 1 || len(got[0]) != 1 || got[0][0] != "b" {
		t.Fatalf("commits %v, want [b] alone", got)
	}
}
