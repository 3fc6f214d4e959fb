package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashRunbook has six steps whose effects are counted: each appends one
// line to its own counter file, and its check says whether that happened.
const crashRunbook = `name: crash
environments:
  build: {local: true}
steps:
%s`

func crashSteps(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		// The sleeps spread the work so that kills land before, during and
		// after the effect; the append is the one effect counted.
		fmt.Fprintf(&b, `  - name: step%d
    on: build
    run: "sleep 0.0%d; echo done >> count%d; sleep 0.0%d"
    check: "test -s count%d"
    idempotent: true
`, i, i%3+1, i, (i+1)%3+1, i)
	}
	return b.String()
}

// TestCrashResume kills the whole process group with SIGKILL at random
// moments of a six-step release, resumes, and checks that every step's
// effect happened exactly once and the record is intact, on either
// backend.
func TestCrashResume(t *testing.T) {
	eachRecord(t, func(t *testing.T, record func(*testing.T, string)) {
		rounds := 20
		if testing.Short() {
			rounds = 5
		}
		crashResume(t, rounds, record)
	})
}

func crashResume(t *testing.T, rounds int, record func(*testing.T, string)) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	totalKills := 0
	for round := 0; round < rounds; round++ {
		dir := t.TempDir()
		write(t, dir, "runbook.yaml", fmt.Sprintf(crashRunbook, crashSteps(6)))
		record(t, dir)
		args := []string{"start", "--version", "1", "--yes"}
		kills := 0
		for attempt := 0; ; attempt++ {
			if attempt > 40 {
				t.Fatalf("round %d: release did not finish after %d attempts", round, attempt)
			}
			cmd, out := start(t, dir, args...)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			killed := false
			if kills < 3 {
				select {
				case err := <-done:
					checkExit(t, round, err, out.String())
				case <-time.After(time.Duration(rng.IntN(400)) * time.Millisecond):
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-done
					killed = true
					kills++
				}
			} else {
				checkExit(t, round, <-done, out.String())
			}
			// Local commands run in their own process group and outlive a
			// killed runbook, as a remote command would: wait for them.
			waitOrphans(t, dir)
			if !killed {
				break
			}
			// start resumes the unfinished release of the same version, and
			// starts it when the kill came before anything was recorded.
			args = []string{"start", "--version", "1", "--yes"}
		}
		totalKills += kills
		d := status(t, dir)
		if d.Release.State != "succeeded" {
			t.Fatalf("round %d: release %s", round, d.Release.State)
		}
		for i := 1; i <= 6; i++ {
			b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("count%d", i)))
			if err != nil {
				t.Fatalf("round %d: step%d never ran: %v", round, i, err)
			}
			if n := strings.Count(string(b), "done"); n != 1 {
				t.Fatalf("round %d: step%d's effect happened %d times", round, i, n)
			}
		}
		quickCheck(t, dir)
	}
	t.Logf("%d rounds, %d kill -9s, every effect exactly once", rounds, totalKills)
}

func checkExit(t *testing.T, round int, err error, out string) {
	t.Helper()
	if err != nil {
		t.Fatalf("round %d: run ended with %v:\n%s", round, err, out)
	}
}

// waitOrphans waits until no command started for a host run is alive.
func waitOrphans(t *testing.T, dir string) {
	t.Helper()
	waitFor(t, "orphaned step commands", func() bool {
		starts, _ := filepath.Glob(filepath.Join(dir, ".runbook/runs/*.started"))
		for _, s := range starts {
			b, err := os.ReadFile(s)
			if err != nil {
				continue
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				continue
			}
			pid, _ := strconv.Atoi(f[0])
			if pid > 0 && syscall.Kill(-pid, 0) == nil {
				return false
			}
		}
		return true
	})
}

// TestInterruptedNonIdempotentNeedsHuman: a step without check or
// idempotent, killed mid-run, is never re-run by `resume --yes`.
func TestInterruptedNonIdempotentNeedsHuman(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: migrate, on: build, run: "echo ran >> migrate.count; touch started; sleep 30"}
  - {name: after, on: build, run: "touch after"}
`)
	cmd, _ := start(t, dir, "start", "--version", "1", "--yes")
	waitFor(t, "the step to start", func() bool {
		_, err := os.Stat(filepath.Join(dir, "started"))
		return err == nil
	})
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	// End the orphaned command, which we started, by its recorded pid.
	starts, _ := filepath.Glob(filepath.Join(dir, ".runbook/runs/*.started"))
	for _, s := range starts {
		if f := strings.Fields(read(t, s)); len(f) > 0 {
			if pid, _ := strconv.Atoi(f[0]); pid > 0 {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	}
	waitOrphans(t, dir)

	r := run(t, dir, "resume", "--yes")
	if r.code != 3 || !strings.Contains(r.stderr, "migrate") || !strings.Contains(r.stderr, "may or may not") {
		t.Fatalf("want exit 3 naming the step: %s", r)
	}
	if n := strings.Count(read(t, filepath.Join(dir, "migrate.count")), "ran"); n != 1 {
		t.Fatalf("migrate ran %d times", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "after")); err == nil {
		t.Fatal("the next step ran past an undecided one")
	}
	d := status(t, dir)
	if st, _ := d.step("migrate"); st != "interrupted" || d.Release.State != "paused" {
		t.Fatalf("migrate %s, release %s", st, d.Release.State)
	}
	quickCheck(t, dir)
}

// TestLockRace starts two releases at once, 50 times: exactly one runs,
// the other exits 4 naming the holder.
func TestLockRace(t *testing.T) {
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	for round := 0; round < rounds; round++ {
		dir := t.TempDir()
		// The step holds the lock until the test lets it go, so the race
		// does not depend on how fast this machine is.
		write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: hold, on: build, run: "echo ran >> ran.count; while [ ! -f go ]; do sleep 0.01; done"}
`)
		a, outA := start(t, dir, "start", "--version", "1", "--yes")
		b, outB := start(t, dir, "start", "--version", "1", "--yes")
		doneA, doneB := make(chan error, 1), make(chan error, 1)
		go func() { doneA <- a.Wait() }()
		go func() { doneB <- b.Wait() }()
		var loserOut string
		var winner chan error
		select {
		case err := <-doneA:
			loserOut, winner = outA.String(), doneB
			checkLoser(t, round, err, loserOut)
		case err := <-doneB:
			loserOut, winner = outB.String(), doneA
			checkLoser(t, round, err, loserOut)
		}
		write(t, dir, "go", "")
		if err := <-winner; err != nil {
			t.Fatalf("round %d: the winner failed: %v", round, err)
		}
		if n := strings.Count(read(t, filepath.Join(dir, "ran.count")), "ran"); n != 1 {
			t.Fatalf("round %d: the step ran %d times", round, n)
		}
	}
}

func checkLoser(t *testing.T, round int, err error, out string) {
	t.Helper()
	ee, ok := err.(interface{ ExitCode() int })
	if !ok || ee.ExitCode() != 4 {
		t.Fatalf("round %d: the loser ended with %v, want exit 4:\n%s", round, err, out)
	}
	if !strings.Contains(out, "locked by") || !strings.Contains(out, "pid") {
		t.Fatalf("round %d: the message does not name the holder:\n%s", round, out)
	}
}
