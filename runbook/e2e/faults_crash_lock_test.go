package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// lockRaceRunbook holds the release lock while its step waits for the
// file go-VERSION: the race and its outcome do not depend on how fast
// this machine is.
const lockRaceRunbook = `name: lock-race
environments:
  build: {local: true}
steps:
  - name: hold
    on: build
    run: echo {{.Version}} >> ran.count; while [ ! -f go-{{.Version}} ]; do sleep 0.01; done
`

// How a round of the lock race begins.
const (
	raceClean       = iota // no one held the lock
	raceDeadRunning        // its holder was killed mid-release
	raceDeadLocked         // its holder was killed right after taking it
)

// TestKillLockRace starts two releases at the same instant, again and
// again: both processes wait at the crash point just before the lock
// (a FIFO barrier of the test build) and are released by one event.
// Exactly one must hold the lock and run; the other exits 4 naming it.
// Every other round begins with a lock left by a holder killed with
// SIGKILL: it must be taken over automatically by the winner alone, and
// recorded with the release it interrupted.
func TestKillLockRace(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", lockRaceRunbook)
	lockRace(t, dir, nil)
}

// TestKillLockRacePostgres is the race with the record on PostgreSQL and
// the two processes on two machines (host names of their own, machine-a
// and machine-b): the advisory lock excludes across machines, and a
// holder killed on either one loses it with its connection.
func TestKillLockRacePostgres(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", lockRaceRunbook)
	pgRunbook(t, dir)
	lockRace(t, dir, []string{"machine-a", "machine-b"})
}

// lockRace runs the rounds of the race in dir; machines, when set, names
// the machines the two processes (and the killed holders, in turn) run on.
func lockRace(t *testing.T, dir string, machines []string) {
	rounds := 12
	if remotetest.FullFaults() {
		rounds = 1000
	}
	fb := faultsBin(t)
	on := func(i int, args ...string) (string, []string) {
		if machines == nil {
			return fb, args
		}
		return onMachine(machines[i%len(machines)], fb, args...)
	}
	var byKind [3]int
	for round := range rounds {
		v := fmt.Sprint(round + 1)
		kind := [4]int{raceClean, raceDeadRunning, raceClean, raceDeadLocked}[round%4]
		byKind[kind]++
		dead := 0
		switch kind {
		case raceDeadRunning:
			dead = killHolder(t, dir, v, runbook.PointIntentAfter, func(args ...string) (string, []string) { return on(round/2, args...) })
		case raceDeadLocked:
			dead = killHolder(t, dir, v, runbook.PointLockAfter, func(args ...string) (string, []string) { return on(round/2, args...) })
		}

		fifo := filepath.Join(dir, "barrier-"+v)
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		barrier := []string{"RUNBOOK_BARRIER=" + runbook.PointLockBefore + "=" + fifo}
		exeA, argsA := on(0, "start", "--version", v, "--yes")
		exeB, argsB := on(1, "start", "--version", v, "--yes")
		a := startProc(t, exeA, dir, barrier, argsA...)
		b := startProc(t, exeB, dir, barrier, argsB...)
		waitFor(t, "both processes at the barrier", func() bool {
			ready, _ := filepath.Glob(fifo + ".ready-*")
			return len(ready) == 2
		})
		// Opening the FIFO for writing releases every reader at once;
		// kept open, it lets through any reader still on its way.
		release, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		var loser proc
		var winner *running
		select {
		case loser = <-a.done:
			winner = b
		case loser = <-b.done:
			winner = a
		}
		if loser.code != 4 || !strings.Contains(loser.stderr, fmt.Sprintf("(pid %d,", winner.pid)) {
			t.Fatalf("round %d: the loser must exit 4 naming the holder, pid %d (the dead holder was %d):\n%s", round, winner.pid, dead, loser.result)
		}
		write(t, dir, "go-"+v, "")
		won := <-winner.done
		release.Close()
		if won.code != 0 {
			t.Fatalf("round %d: the winner: %s", round, won.result)
		}
		ran := 0
		for _, l := range strings.Fields(read(t, filepath.Join(dir, "ran.count"))) {
			if l == v {
				ran++
			}
		}
		if ran != 1 {
			t.Fatalf("round %d: release %s ran its step %d times", round, v, ran)
		}
		if dead != 0 {
			checkTakeover(t, dir, v, kind, dead, won)
		}
		ready, _ := filepath.Glob(fifo + ".ready-*")
		for _, p := range append(ready, fifo) {
			_ = os.Remove(p)
		}
	}
	where := "one machine, record on SQLite"
	if machines != nil {
		where = "two machines, record on PostgreSQL"
	}
	remotetest.Figure(t, "lock races ("+where+"): %d two-process races released at one instant: exactly one holder every time (the other exited 4 naming it); "+
		"%d of them over the lock of a holder killed mid-release and %d over one killed right after locking: every lock taken over automatically by the winner alone, the takeover recorded with the interrupted release",
		rounds, byKind[raceDeadRunning], byKind[raceDeadLocked])
}

// killHolder starts a release of v killed by SIGKILL at point, holding
// the lock, and returns its pid; cmd makes the command line of the test
// build (on its machine).
func killHolder(t *testing.T, dir, v, point string, cmd func(args ...string) (string, []string)) int {
	t.Helper()
	exe, args := cmd("start", "--version", v, "--yes")
	p := runProc(t, exe, dir, []string{"RUNBOOK_KILLPOINT=" + point}, "", args...)
	killedAt(t, p, point, 1)
	return p.pid
}

// checkTakeover proves that the winner took over the dead holder's lock
// and that the takeover is on record when a release was interrupted.
func checkTakeover(t *testing.T, dir, v string, kind, dead int, won proc) {
	t.Helper()
	if !strings.Contains(won.stderr, "took over the lock of") || !strings.Contains(won.stderr, fmt.Sprintf("(pid %d,", dead)) {
		t.Fatalf("the winner does not say it took over the lock of pid %d:\n%s", dead, won.result)
	}
	if kind != raceDeadRunning {
		return // killed before it created a release: nothing was interrupted
	}
	st := openRecord(t, dir)
	defer st.Close()
	rel := releaseOf(t, st, v)
	notes, err := st.Notes(context.Background(), rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range notes {
		if n.Kind == "lock" && strings.Contains(n.Text, fmt.Sprintf("pid %d ", dead)) {
			return
		}
	}
	t.Fatalf("release %s has no note of kind lock naming pid %d: %+v", v, dead, notes)
}

// running is a binary started and not yet waited for.
type running struct {
	pid  int
	done chan proc
}

// startProc starts exe in dir, in its own process group, and waits for
// it in the background.
func startProc(t *testing.T, exe, dir string, extra []string, args ...string) *running {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = env(extra...)
	out, errb := new(bytes.Buffer), new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{pid: cmd.Process.Pid, done: make(chan proc, 1)}
	go func() {
		p, err := waitProc(cmd, out, errb)
		if err != nil {
			t.Errorf("wait for %v: %v", args, err)
		}
		r.done <- p
	}()
	return r
}
