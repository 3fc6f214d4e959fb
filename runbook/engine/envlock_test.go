package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

func abort(ctx context.Context, e *engine.Engine) error { return e.Abort(ctx, "test") }

// failingAt makes the command of step fail (exit 1) on every host.
func failingAt(step string) func(c *runbook.Call, what string) runbooktest.Fault {
	return func(c *runbook.Call, what string) runbooktest.Fault {
		if c.Step.Name == step && what == "do" {
			return runbooktest.Fault{Exit: 1}
		}
		return runbooktest.Fault{}
	}
}

// TestEnvLockHeldFromFirstChangeToTheEnd: the lock of prod is taken before
// the first step that changes prod, stays while the release is unfinished
// (failed, across processes), and goes when it succeeds.
func TestEnvLockHeldFromFirstChangeToTheEnd(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	var lockedAtMigrate bool
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if c.Step.Name == "migrate" && what == "do" {
			lockedAtMigrate = w.Hosts.Host(c.Host.Name).Lock != nil
		}
		if c.Step.Name == "warm" && what == "do" {
			return runbooktest.Fault{Exit: 1}
		}
		return runbooktest.Fault{}
	}
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: script}, start("1.0"), runbook.ErrStepFailed)
	if !lockedAtMigrate {
		t.Error("migrate changed prod before its lock was taken")
	}
	locks := w.Hosts.Locks()
	rel := w.Release()
	for _, h := range []string{"p1", "p2"} {
		l, ok := locks[h]
		if !ok || l.Env != "prod" || l.ReleaseID != rel.ID || l.Version != "1.0" || l.Operator != "tester" || l.State != "memory" || l.StoreID == "" {
			t.Errorf("lock on %s = %+v (held %v) while 1.0 is failed; want prod's, of release #%d", h, l, ok, rel.ID)
		}
	}
	if _, ok := locks["local"]; ok {
		t.Error("the build machine (no deploy_dir) was locked")
	}
	// Resumed by another process on another machine: its own lock, taken again.
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Machine: "laptop-b", Operator: "bob"}, resume, nil)
	if w.Release().State != runbook.ReleaseSucceeded {
		t.Fatalf("release is %s", w.Release().State)
	}
	if locks := w.Hosts.Locks(); len(locks) != 0 {
		t.Errorf("locks left after the release succeeded: %+v", locks)
	}
}

// TestEnvLockRefusesAnotherTeam: a runbook with another record (another
// team's laptop) finds prod locked: it stops before changing prod, exit 4
// (ErrLocked), naming the owner, and its release stays paused.
func TestEnvLockRefusesAnotherTeam(t *testing.T) {
	rb := load(t, night)
	a := runbooktest.NewWorld(t, rb)
	mustRun(t, a, runbooktest.ProcessOptions{Yes: true, Script: failingAt("restart")}, start("1.0"), runbook.ErrStepFailed)

	b := runbooktest.NewWorld(t, rb)
	b.Hosts = a.Hosts // the same hosts, another state database
	p := b.Process(runbooktest.ProcessOptions{Yes: true, Operator: "carol", Machine: "laptop-c"})
	err, _ := p.Run(context.Background(), nil, start("2.0"))
	var le *runbook.EnvLockedError
	if !errors.As(err, &le) || !errors.Is(err, runbook.ErrLocked) {
		t.Fatalf("start on locked hosts = %v, want *EnvLockedError", err)
	}
	if le.Owner.Operator != "tester" || le.Owner.Version != "1.0" || !strings.Contains(err.Error(), "release 1.0 #1") {
		t.Errorf("the refusal names %+v: %v", le.Owner, err)
	}
	if n := a.Hosts.Count("p1", "do:migrate"); n != 1 {
		t.Errorf("the refused release ran migrate on p1 (%d runs in all)", n)
	}
	if got := b.Release(); got.State != runbook.ReleasePaused {
		t.Errorf("the refused release is %s, want paused", got.State)
	}
	// The first team aborts: its locks go, and the second goes on.
	mustRun(t, a, runbooktest.ProcessOptions{Yes: true}, abort, nil)
	if locks := a.Hosts.Locks(); len(locks) != 0 {
		t.Fatalf("locks left after abort: %+v", locks)
	}
	mustRun(t, b, runbooktest.ProcessOptions{Yes: true}, resume, nil)
}

// TestEnvLockGoesWithARollback: a release rolled back gives its locks back.
func TestEnvLockGoesWithARollback(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, rollbackNight))
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: failingAt("restart")}, start("1.0"), runbook.ErrStepFailed)
	if len(w.Hosts.Locks()) != 2 {
		t.Fatalf("locks = %+v, want prod's two", w.Hosts.Locks())
	}
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, rollback, nil)
	if w.Release().State != runbook.ReleaseRolledBack || len(w.Hosts.Locks()) != 0 {
		t.Errorf("after the rollback: %s, locks %+v", w.Release().State, w.Hosts.Locks())
	}
}

// TestDeployLockRefusesStartAndResume: a deliberate lock stops a release
// from starting or resuming, with its message, and nothing runs.
func TestDeployLockRefusesStartAndResume(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: failingAt("warm")}, start("1.0"), runbook.ErrStepFailed)
	if err := w.Store.LockReleases(context.Background(), runbook.DeployLock{Message: "freeze until Monday", Operator: "alice", Machine: "laptop-a"}); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(context.Context, *engine.Engine) error{"start": start("2.0"), "resume": resume} {
		p := w.Process(runbooktest.ProcessOptions{Yes: true})
		err, _ := p.Run(context.Background(), nil, f)
		var de *runbook.DeployLockedError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "freeze until Monday") || !strings.Contains(err.Error(), "alice") {
			t.Errorf("%s under a deliberate lock = %v", name, err)
		}
		if p.Exec.Calls() != 0 {
			t.Errorf("%s under a deliberate lock made %d calls to hosts", name, p.Exec.Calls())
		}
	}
	if _, err := w.Store.UnlockReleases(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, resume, nil)
}

// TestHandoverIsRecorded: a release resumed by another operator on another
// machine records who took over, from where, and from whom; the same
// operator resuming on the same machine records no handover.
func TestHandoverIsRecorded(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: failingAt("warm"), Operator: "alice", Machine: "laptop-a"}, start("1.0"), runbook.ErrStepFailed)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: failingAt("warm"), Operator: "alice", Machine: "laptop-a"}, resume, runbook.ErrStepFailed)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Operator: "bob", Machine: "laptop-b"}, resume, nil)
	notes, err := w.Store.Notes(context.Background(), w.Release().ID)
	if err != nil {
		t.Fatal(err)
	}
	var handovers []string
	for _, n := range notes {
		if n.Kind == "handover" {
			handovers = append(handovers, n.Text)
			if n.Operator != "bob" || n.At.IsZero() {
				t.Errorf("handover note %+v", n)
			}
		}
	}
	if len(handovers) != 1 || !strings.Contains(handovers[0], "bob on laptop-b took over release 1.0 (#1) from alice on laptop-a") {
		t.Errorf("handover notes = %q", handovers)
	}
	ts, _ := w.Store.Transitions(context.Background(), w.Release().ID)
	if last := ts[len(ts)-1]; last.Machine != "laptop-b" || last.Operator != "bob" {
		t.Errorf("the last transition was recorded by %s on %s", last.Operator, last.Machine)
	}
}

// barrierLocker gives a host's lock back only once every host of the
// environment has been asked to: asked one after another, the first
// waits in vain and fails.
type barrierLocker struct {
	runbook.EnvLocker
	hosts   int
	mu      sync.Mutex
	asked   int
	all     chan struct{}
	timeout time.Duration
}

func (b *barrierLocker) UnlockHost(ctx context.Context, h *runbook.Host, owner runbook.EnvLockOwner) error {
	b.mu.Lock()
	if b.asked++; b.asked == b.hosts {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return b.EnvLocker.UnlockHost(ctx, h, owner)
	case <-time.After(b.timeout):
		return errors.New("asked before the other hosts were")
	}
}

// TestEnvLocksGoBackFromAllHostsAtOnce: the end of a release gives its
// locks back on every host at the same time, as it took them; one host
// after another kept a finished release of a hundred hosts waiting.
func TestEnvLocksGoBackFromAllHostsAtOnce(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	b := &barrierLocker{hosts: 2, all: make(chan struct{}), timeout: 10 * time.Second}
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Locker: func(l runbook.EnvLocker) runbook.EnvLocker {
		b.EnvLocker = l
		return b
	}}, start("1.0"), nil)
	if strings.Contains(p.UI.String(), "stays on") {
		t.Errorf("a lock stayed:\n%s", p.UI)
	}
	if locks := w.Hosts.Locks(); len(locks) != 0 {
		t.Errorf("locks left after the release succeeded: %+v", locks)
	}
}
