package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// undoRunbook: four steps with undo, the fourth fails. Each undo is safe
// to repeat (it appends its line only once), as SPEC §4 asks of undos.
func undoRunbook(slowUndo string) string {
	var b strings.Builder
	b.WriteString("name: t\nenvironments:\n  build: {local: true}\nsteps:\n")
	for i := 1; i <= 4; i++ {
		run := fmt.Sprintf("echo s%d >> log", i)
		if i == 4 {
			run += "; exit 1"
		}
		fmt.Fprintf(&b, "  - name: s%d\n    on: build\n    run: %q\n    undo: %q\n", i, run,
			fmt.Sprintf("%sgrep -qx undo-s%d log || echo undo-s%d >> log; echo undo-s%d >> undo.count", slowUndo, i, i, i))
	}
	return b.String()
}

func TestRollbackUndoesInReverse(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", undoRunbook(""))
	if r := run(t, dir, "start", "--version", "1", "--yes"); r.code != 1 {
		t.Fatalf("start: %s", r)
	}
	r := run(t, dir, "rollback", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "rolled back") {
		t.Fatalf("rollback: %s", r)
	}
	got := strings.Fields(read(t, filepath.Join(dir, "log")))
	want := []string{"s1", "s2", "s3", "s4", "undo-s3", "undo-s2", "undo-s1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("log %v, want %v", got, want)
	}
	d := status(t, dir)
	if d.Release.State != "rolled_back" {
		t.Fatalf("release %s", d.Release.State)
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		if st, _ := d.step(s); st != "undone" {
			t.Errorf("%s is %s", s, st)
		}
	}
	if st, _ := d.step("s4"); st != "failed" {
		t.Errorf("s4 is %s, want failed (not undone)", st)
	}
	// Again: nothing more to undo.
	if r := run(t, dir, "rollback", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "already rolled back") {
		t.Fatalf("second rollback: %s", r)
	}
	quickCheck(t, dir)
}

// TestRollbackKilledResumes kills a rollback with SIGKILL mid-way, several
// times, and checks that every undo took effect exactly once.
func TestRollbackKilledResumes(t *testing.T) {
	rounds := 8
	if testing.Short() {
		rounds = 2
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	for round := 0; round < rounds; round++ {
		dir := t.TempDir()
		write(t, dir, "runbook.yaml", undoRunbook("sleep 0.1; "))
		if r := run(t, dir, "start", "--version", "1", "--yes"); r.code != 1 {
			t.Fatalf("start: %s", r)
		}
		for attempt := 0; ; attempt++ {
			if attempt > 30 {
				t.Fatalf("round %d: rollback did not finish", round)
			}
			cmd, out := start(t, dir, "rollback", "--yes")
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			killed := false
			if attempt < 3 {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("round %d: %v\n%s", round, err, out)
					}
				case <-time.After(time.Duration(50+rng.IntN(300)) * time.Millisecond):
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-done
					killed = true
				}
			} else if err := <-done; err != nil {
				t.Fatalf("round %d: %v\n%s", round, err, out)
			}
			waitOrphans(t, dir)
			if !killed {
				break
			}
		}
		if d := status(t, dir); d.Release.State != "rolled_back" {
			t.Fatalf("round %d: release %s", round, d.Release.State)
		}
		log := read(t, filepath.Join(dir, "log"))
		for i := 1; i <= 3; i++ {
			if n := strings.Count(log, fmt.Sprintf("undo-s%d\n", i)); n != 1 {
				t.Fatalf("round %d: undo of s%d took effect %d times:\n%s", round, i, n, log)
			}
		}
		if strings.Contains(log, "undo-s4") {
			t.Fatalf("round %d: the failed step was undone", round)
		}
		quickCheck(t, dir)
	}
}

// TestRollbackToPreviousLocal switches the example's environments back to
// the previous release and refuses a version that was never staged.
func TestRollbackToPreviousLocal(t *testing.T) {
	dir := initDemo(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if r := run(t, dir, append([]string{"start", "--version", v, "--yes"}, signoffs...)...); r.code != 0 {
			t.Fatalf("start %s: %s", v, r)
		}
	}
	current := func(h string) string {
		l, _ := os.Readlink(filepath.Join(dir, "hosts", h, "opt/billing/current"))
		return filepath.Base(l)
	}
	r := run(t, dir, "rollback", "--to", "0.9", "--env", "production", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "nothing was changed") || !strings.Contains(r.stderr, "prod1") {
		t.Fatalf("rollback to a never-staged version: %s", r)
	}
	if current("prod1") != "1.1.0" {
		t.Fatalf("a refused rollback changed prod1 to %s", current("prod1"))
	}
	r = run(t, dir, "rollback", "--env", "production", "--yes")
	if r.code != 0 {
		t.Fatalf("rollback --env production: %s", r)
	}
	if current("prod1") != "1.0.0" || current("prod2") != "1.0.0" || current("pre1") != "1.1.0" {
		t.Fatalf("after rollback: prod1=%s prod2=%s pre1=%s", current("prod1"), current("prod2"), current("pre1"))
	}
	if got := strings.TrimSpace(read(t, filepath.Join(dir, "hosts/prod1/opt/billing/run/health"))); got != "UP 1.0.0" {
		t.Fatalf("prod1 was not restarted on 1.0.0: %q", got)
	}
	h := run(t, dir, "history")
	if !strings.Contains(h.stdout, "rollback") {
		t.Fatalf("history lacks the rollback:\n%s", h.stdout)
	}
	st := run(t, dir, "status")
	if !strings.Contains(st.stdout, "prod1=1.0.0") || !strings.Contains(st.stdout, "pre1=1.1.0") {
		t.Fatalf("status does not show live versions:\n%s", st.stdout)
	}
	// One staged copy deleted by hand: refused before any host is touched.
	os.RemoveAll(filepath.Join(dir, "hosts/prod2/opt/billing/releases/1.1.0"))
	r = run(t, dir, "rollback", "--to", "1.1.0", "--env", "production", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "production/prod2") || !strings.Contains(r.stderr, "missing") {
		t.Fatalf("rollback to a partly deleted release: %s", r)
	}
	if current("prod1") != "1.0.0" {
		t.Fatalf("refused rollback touched prod1: %s", current("prod1"))
	}
}
