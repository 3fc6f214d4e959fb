package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state"
)

// slowRunbook's only step runs until the file "go" appears, so a test
// can act while a release holds the lock.
const slowRunbook = `name: slow
environments:
  build: {local: true}
steps:
  - name: hold
    on: build
    run: echo ran >> ran.count; while [ ! -f go ]; do sleep 0.01; done
`

// startSlow starts a release of v on slowRunbook in dir and returns once
// its step runs.
func startSlow(t *testing.T, dir, v string) *running {
	t.Helper()
	write(t, dir, "runbook.yaml", slowRunbook)
	r := startHolding(t, bin, dir, nil, "start", "--version", v, "--yes")
	waitFor(t, "the step to run", func() bool {
		_, err := os.Stat(filepath.Join(dir, "ran.count"))
		return err == nil
	})
	return r
}

// startHolding starts exe in dir (with the clean environment plus extra)
// on a runbook whose step waits for the file "go". However the test ends,
// the step is let go and the process waited for (killed if it does not
// end), and so is the step's command when it outlived a killed runbook,
// before the directory is removed: a command left polling for "go" in a
// removed directory would never end.
func startHolding(t *testing.T, exe, dir string, extra []string, args ...string) *running {
	t.Helper()
	r := startProc(t, exe, dir, extra, args...)
	done, ended := make(chan proc, 1), make(chan struct{})
	go func() {
		done <- <-r.done
		close(ended)
	}()
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
		select {
		case <-ended:
		case <-time.After(30 * time.Second):
			// Not reaped yet, so the pid is still its own.
			_ = syscall.Kill(-r.pid, syscall.SIGKILL)
			<-ended
		}
		waitOrphans(t, dir)
	})
	return &running{pid: r.pid, done: done}
}

// A copy of the state directory taken while a release runs must not take
// over the lock of the process still running it (M-6): resumed on the
// copy, the release would be settled as crashed, walked a second time, and
// recorded twice, differently. The copy is refused with exit 4 naming the
// holder and the original, is left as it was, and the original finishes.
func TestCopiedStateWhileRunningIsRefused(t *testing.T) {
	dir := t.TempDir()
	orig := startSlow(t, dir, "2")
	cp := filepath.Join(dir, "copy")
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, ".runbook"), cp).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}

	// Before the fix the copy took the lock over and then waited for the
	// original's step, as if reattaching after a crash: bounded here.
	resume := startHolding(t, bin, dir, nil, "resume", "--yes", "--state", filepath.Join(cp, "state.db"))
	var r proc
	select {
	case r = <-resume.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("resume on a copy while its holder runs did not refuse within 30 s: it took the lock over")
	}
	host, _ := os.Hostname()
	u, _ := user.Current()
	if r.code != 4 {
		t.Fatalf("resume on a copy while its holder runs: want exit 4\n%s", r)
	}
	for _, part := range []string{"runbook: error: state copied or moved while in use", u.Username, host,
		fmt.Sprintf("pid %d", orig.pid), "start 2", "since", filepath.Join(dir, ".runbook", "state.db"),
		fmt.Sprintf("runbook: hint: wait for pid %d", orig.pid)} {
		if !strings.Contains(r.stderr, part) {
			t.Errorf("the refusal does not say %q:\n%s", part, r)
		}
	}

	// The copy is as it was copied: its step still running, nothing
	// settled, no lock taken over.
	st, err := state.OpenReadOnly(filepath.Join(cp, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	rel := releaseOf(t, st, "2")
	steps, err := st.Steps(context.Background(), rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	notes, err := st.Notes(context.Background(), rel.ID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rel.State != runbook.ReleaseRunning || steps[0].State != runbook.RunRunning || len(notes) != 0 {
		t.Errorf("the copy was changed: release %s, step %s, notes %+v", rel.State, steps[0].State, notes)
	}

	write(t, dir, "go", "")
	if p := <-orig.done; p.code != 0 {
		t.Fatalf("the original release: %s", p.result)
	}
	if n := strings.Count(read(t, filepath.Join(dir, "ran.count")), "ran"); n != 1 {
		t.Errorf("the step ran %d times, want once", n)
	}
	if d := status(t, dir); d.Release.State != "succeeded" {
		t.Errorf("the original release is %s, want succeeded", d.Release.State)
	}
}

// The exit-4 message names the release of a holder that did not give its
// version on the command line (resume): SPEC §2 wants user, machine, pid,
// release version and since.
func TestLockedByResumeNamesTheRelease(t *testing.T) {
	dir := t.TempDir()
	// The step fails until "ok" exists, then holds until "go" does.
	write(t, dir, "runbook.yaml", strings.Replace(slowRunbook, "run: ", "run: test -f ok || exit 1; ", 1))
	if r := run(t, dir, "start", "--version", "3", "--yes"); r.code != 1 {
		t.Fatalf("the first run must fail: %s", r)
	}
	write(t, dir, "ok", "")
	holder := startHolding(t, bin, dir, nil, "resume", "--yes")
	waitFor(t, "the resumed step to run", func() bool {
		_, err := os.Stat(filepath.Join(dir, "ran.count"))
		return err == nil
	})
	r := run(t, dir, "start", "--version", "4", "--yes")
	write(t, dir, "go", "")
	if p := <-holder.done; p.code != 0 {
		t.Fatalf("resume: %s", p.result)
	}
	want := fmt.Sprintf("(pid %d, resume 3) since ", holder.pid)
	if r.code != 4 || !strings.Contains(r.stderr, want) {
		t.Fatalf("start while a resume holds the lock: want exit 4 and %q\n%s", want, r)
	}
}

// A lock whose holder ran on another machine cannot be proven gone from
// here: exit 4 naming it and what to check (M-6). Once the operator has
// checked, --take-over-lock takes it over, and the takeover is recorded
// with the release it interrupted.
func TestLockOfAnotherMachine(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", strings.Replace(countRunbook, "run: ", "run: test -f ok || exit 1; ", 1))
	if r := run(t, dir, "start", "--version", "5", "--yes"); r.code != 1 {
		t.Fatalf("the first run must fail: %s", r)
	}
	// As the state directory of a laptop that died mid-release would
	// arrive here: its holder row names that laptop.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, ".runbook", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO lock_holder (id, user, machine, pid, version, command, since, boot_id, started)
		VALUES (1, 'carol', 'carols-laptop', 4242, '5', 'resume', '2026-11-26T22:30:00.000000000Z', 'b0b0b0b0-0000-4000-8000-000000000000', 1234)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "ok", "")

	r := run(t, dir, "resume", "--yes")
	want := "runbook: error: the state is locked by carol on carols-laptop (pid 4242, resume 5) since 2026-11-26T22:30:00Z, and "
	if r.code != 4 || !strings.Contains(r.stderr, want) ||
		!strings.Contains(r.stderr, "runbook: hint: check on carols-laptop whether pid 4242 still runs runbook") ||
		!strings.Contains(r.stderr, "--take-over-lock") {
		t.Fatalf("resume over another machine's lock: want exit 4, %q and a hint\n%s", want, r)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran.count")); err == nil {
		t.Fatal("the step ran although the lock was refused")
	}

	r = run(t, dir, "resume", "--yes", "--take-over-lock")
	if r.code != 0 || !strings.Contains(r.stderr, "took over the lock of carol on carols-laptop (pid 4242, resume 5), as --take-over-lock asked") {
		t.Fatalf("resume --take-over-lock: %s", r)
	}
	st := openState(t, dir)
	defer st.Close()
	notes, err := st.Notes(context.Background(), releaseOf(t, st, "5").ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range notes {
		if n.Kind == "lock" && strings.Contains(n.Text, "--take-over-lock") && strings.Contains(n.Text, "carol@carols-laptop pid 4242") {
			return
		}
	}
	t.Errorf("no note of kind lock records the takeover: %+v", notes)
}
