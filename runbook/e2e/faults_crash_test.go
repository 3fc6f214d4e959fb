package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// The crash-point sweep (issue 8, RELIABILITY.md). A test build of the
// binary (-tags faults) kills itself with SIGKILL at a named crash point,
// at its Nth hit; the release is then resumed with the plain binary until
// it ends, and the invariants are checked:
//
//   - right after the kill, nothing is recorded as succeeded (or undone)
//     without its effect on the host, and no effect happened twice;
//   - at the end every counted effect happened exactly once, the hosts'
//     files and the database equal those of an uninterrupted run, every
//     record's transitions form an unbroken chain of legal moves (no lost
//     transition), and PRAGMA quick_check says ok.
//
// `make test` kills once per crash point, at its middle hit; `make faults`
// (RUNBOOK_FAULTS=full) kills at every hit of every point.

// sweepCase is one kill: the crash point and which of its hits.
type sweepCase struct {
	point string
	n     int
}

func (c sweepCase) String() string { return fmt.Sprintf("%s@%d", c.point, c.n) }

// sweepCases lists the kills of a sweep over points, given how many times
// an uninterrupted run hits each.
func sweepCases(t *testing.T, points []string, hits map[string]int) []sweepCase {
	t.Helper()
	var cases []sweepCase
	for _, p := range points {
		n := hits[p]
		if n == 0 {
			t.Errorf("crash point %s is never hit: the sweep would not test it", p)
			continue
		}
		if !remotetest.FullFaults() {
			cases = append(cases, sweepCase{p, (n + 1) / 2})
			continue
		}
		for i := 1; i <= n; i++ {
			cases = append(cases, sweepCase{p, i})
		}
	}
	return cases
}

func sweepKind() string {
	if remotetest.FullFaults() {
		return "one at every hit of every point"
	}
	return "one at the middle hit of each point"
}

// sweepTally is what a sweep counts for its figure.
type sweepTally struct {
	kills, inDoubt, transitions, takeovers int
	// settled counts the in-doubt runs by step, host and the operator's
	// answer ("migrate/local: Mark done").
	settled map[string]int
}

// doubts describes the in-doubt runs for a figure.
func (t *sweepTally) doubts() string {
	if len(t.settled) == 0 {
		return "none"
	}
	var parts []string
	for k, n := range t.settled {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// TestKillPointSweep kills a release of 2.0 (over a live 1.0) at every
// crash point of the walker, the store and the transports on three real
// sshd hosts and the operator machine, and resumes it.
func TestKillPointSweep(t *testing.T) {
	killPointSweep(t, startCrashFleet(t), nil)
}

// TestKillPointSweepPostgres is the sweep with the record on PostgreSQL:
// `make test` kills at the middle hit of the points where the record and
// the hosts part ways (the intent and outcome commits, inside a commit, a
// command's start and output, mid-upload, the switch); `make faults` at
// every hit of every point, as for SQLite.
func TestKillPointSweepPostgres(t *testing.T) {
	f := startCrashFleet(t)
	f.usePostgres(t)
	var subset []string
	if !remotetest.FullFaults() {
		subset = []string{runbook.PointIntentAfter, runbook.PointOutcomeBefore, runbook.PointStateTx,
			remote.PointExecStart, remote.PointExecOutput, remote.PointUploadMid, remote.PointSwitchAfter}
	}
	killPointSweep(t, f, subset)
}

// killPointSweep is the release sweep on fleet f; only, when set, limits
// it to these crash points.
func killPointSweep(t *testing.T, f *crashFleet, only []string) {
	fb := faultsBin(t)
	f.newCase(t, "base")
	f.release(t, "base", "1.0")

	// The uninterrupted run: the state every case must end in, and how
	// many times it hits each point.
	f.cloneCase(t, "base", "ref")
	f.setArtifact(t, "ref", "2.0")
	log := filepath.Join(f.root, "hits")
	began := time.Now()
	if p := runProc(t, fb, f.caseDir("ref"), []string{"RUNBOOK_HITLOG=" + log}, "", startArgs("2.0")...); p.code != 0 {
		t.Fatalf("uninterrupted release: %s", p.result)
	}
	took := time.Since(began)
	hits := hitCounts(t, log)
	f.exactlyOnce(t, "ref", counterFiles("2.0"))
	if runs, claims := f.leftMarkers(t); runs+claims != 0 {
		t.Fatalf("uninterrupted releases left markers on the hosts: %d runs, %d claims", runs, claims)
	}
	want := f.snapshot(t, "ref")

	points := slices.Concat([]string{runbook.PointIntentBefore, runbook.PointIntentAfter, runbook.PointOutcomeBefore, runbook.PointOutcomeAfter, runbook.PointStateTx}, remote.Points)
	if only != nil {
		points = only
	}
	cases := sweepCases(t, points, hits)
	var tally sweepTally
	for _, c := range cases {
		name := c.String()
		dir := f.cloneCase(t, "base", name)
		f.setArtifact(t, name, "2.0")
		p := runProc(t, fb, dir, []string{"RUNBOOK_KILLPOINT=" + name}, "", startArgs("2.0")...)
		killedAt(t, p, c.point, c.n)
		tally.kills++
		f.afterKill(t, name, "2.0", counterFiles("2.0"), f.checkNoPhantom)

		f.resumeToEnd(t, name, "2.0", &tally, counterFiles("2.0"), startArgs("2.0")...)
		f.exactlyOnce(t, name, counterFiles("2.0"))
		sameSnapshot(t, name, f.snapshot(t, name), want)
		tally.transitions += f.finalTransitions(t, name, "2.0")
		quickCheck(t, dir)
		f.removeCase(t, name)
	}
	runs, claims := f.leftMarkers(t)
	record := "SQLite"
	if f.pg != nil {
		record = "PostgreSQL"
	}
	remotetest.Figure(t, "release sweep (record on "+record+"): %d crash points, %d kill -9 runs (%s) on 3 sshd hosts + the operator machine: "+
		"0 lost transitions (%d checked), 0 duplicated effects, %d settled as in doubt (%s), %d dead holders' locks taken over; "+
		"left on the hosts: markers of %d runs, %d never-started claims; uninterrupted release %s",
		len(points), tally.kills, sweepKind(), tally.transitions, tally.inDoubt, tally.doubts(), tally.takeovers, runs, claims, took.Round(time.Millisecond))
}

// TestKillPointRollback kills `runbook rollback` of 2.0 at every crash
// point an undo meets, and continues the rollback until it ends.
func TestKillPointRollback(t *testing.T) {
	fb := faultsBin(t)
	f := startCrashFleet(t)
	f.newCase(t, "base")
	f.release(t, "base", "1.0")
	f.release(t, "base", "2.0")

	f.cloneCase(t, "base", "ref")
	log := filepath.Join(f.root, "hits")
	if p := runProc(t, fb, f.caseDir("ref"), []string{"RUNBOOK_HITLOG=" + log}, "", "rollback", "--yes"); p.code != 0 {
		t.Fatalf("uninterrupted rollback: %s", p.result)
	}
	hits := hitCounts(t, log)
	f.exactlyOnce(t, "ref", undoCounterFiles("2.0"))
	if runs, claims := f.leftMarkers(t); runs+claims != 0 {
		t.Fatalf("an uninterrupted rollback left markers on the hosts: %d runs, %d claims", runs, claims)
	}
	want := f.snapshot(t, "ref")

	points := []string{runbook.PointUndoBefore, runbook.PointUndoAfter, runbook.PointStateTx,
		remote.PointExecStart, remote.PointExecOutput, remote.PointSwitchBefore, remote.PointSwitchAfter}
	var tally sweepTally
	for _, c := range sweepCases(t, points, hits) {
		name := c.String()
		dir := f.cloneCase(t, "base", name)
		p := runProc(t, fb, dir, []string{"RUNBOOK_KILLPOINT=" + name}, "", "rollback", "--yes")
		killedAt(t, p, c.point, c.n)
		tally.kills++
		f.afterKill(t, name, "2.0", undoCounterFiles("2.0"), f.checkNoPhantomUndo)

		f.resumeToEnd(t, name, "2.0", &tally, undoCounterFiles("2.0"), "rollback", "--yes")
		f.exactlyOnce(t, name, undoCounterFiles("2.0"))
		sameSnapshot(t, name, f.snapshot(t, name), want)
		tally.transitions += f.finalTransitions(t, name, "2.0")
		quickCheck(t, dir)
		f.removeCase(t, name)
	}
	runs, claims := f.leftMarkers(t)
	remotetest.Figure(t, "rollback sweep: %d crash points, %d kill -9 runs (%s) during `runbook rollback` on 3 sshd hosts: "+
		"0 lost transitions (%d checked), 0 undos run twice, %d settled as in doubt (%s); left on the hosts: markers of %d runs, %d never-started claims",
		len(points), tally.kills, sweepKind(), tally.transitions, tally.inDoubt, tally.doubts(), runs, claims)
}

// TestKillRandom kills the release of 2.0 with SIGKILL at random moments,
// up to three times per round (the resumes too), then lets it finish.
func TestKillRandom(t *testing.T) {
	rounds := 1
	if remotetest.FullFaults() {
		rounds = 60
	}
	f := startCrashFleet(t)
	f.newCase(t, "base")
	f.release(t, "base", "1.0")
	f.cloneCase(t, "base", "ref")
	f.setArtifact(t, "ref", "2.0")
	began := time.Now()
	if r := run(t, f.caseDir("ref"), startArgs("2.0")...); r.code != 0 {
		t.Fatalf("uninterrupted release: %s", r)
	}
	took := time.Since(began)
	want := f.snapshot(t, "ref")

	rng := remotetest.FaultRand(t)
	var tally sweepTally
	for round := range rounds {
		name := fmt.Sprintf("random-%d", round)
		dir := f.cloneCase(t, "base", name)
		f.setArtifact(t, name, "2.0")
		for kills, ended := 0, false; !ended && kills < 3; {
			cmd, out := start(t, dir, startArgs("2.0")...)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				// It ended before the kill: the release finished, or it
				// needs a decision only an operator can make.
				if err != nil && cmd.ProcessState.ExitCode() != 3 {
					t.Fatalf("%s: %v\n%s", name, err, out)
				}
				ended = true
			case <-time.After(time.Duration(rng.Int64N(int64(took)))):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
				kills++
				tally.kills++
				f.afterKill(t, name, "2.0", counterFiles("2.0"), f.checkNoPhantom)
			}
		}
		f.resumeToEnd(t, name, "2.0", &tally, counterFiles("2.0"), startArgs("2.0")...)
		f.exactlyOnce(t, name, counterFiles("2.0"))
		sameSnapshot(t, name, f.snapshot(t, name), want)
		tally.transitions += f.finalTransitions(t, name, "2.0")
		quickCheck(t, dir)
		f.removeCase(t, name)
	}
	remotetest.Figure(t, "random kills: %d rounds, %d kill -9 at random moments (up to 3 per round, resumes included) on 3 sshd hosts: "+
		"0 lost transitions (%d checked), 0 duplicated effects, %d settled as in doubt (%s)",
		rounds, tally.kills, tally.transitions, tally.inDoubt, tally.doubts())
}

// afterKill checks a case right after a kill: no effect happened twice,
// nothing is recorded done without its effect, and what the database
// holds is a consistent history.
func (f *crashFleet) afterKill(t *testing.T, name, v string, counters map[string][]string, noPhantom func(*testing.T, string, string)) {
	t.Helper()
	if d := f.duplicates(t, name, counters); len(d) > 0 {
		t.Fatalf("%s: effects duplicated by the kill: %s", name, strings.Join(d, "; "))
	}
	noPhantom(t, name, v)
	st := openRecord(t, f.caseDir(name))
	defer st.Close()
	if rel := releaseOf(t, st, v); rel != nil {
		checkTransitions(t, st, rel)
	}
}

// resumeToEnd runs args with the plain binary until it exits 0. An exit 3
// is a host run left in doubt: it is counted, checked (not done twice, not
// recorded done) and settled as an operator would, in a terminal.
func (f *crashFleet) resumeToEnd(t *testing.T, name, v string, tally *sweepTally, counters map[string][]string, args ...string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		if attempt > 5 {
			t.Fatalf("%s: not finished after %d resumes", name, attempt)
		}
		r := run(t, f.caseDir(name), args...)
		if strings.Contains(r.stderr, "took over the lock") {
			tally.takeovers++
		}
		switch r.code {
		case 0:
			return
		case 3:
			tally.inDoubt++
			if d := f.duplicates(t, name, counters); len(d) > 0 {
				t.Fatalf("%s: effects duplicated: %s", name, strings.Join(d, "; "))
			}
			if tally.settled == nil {
				tally.settled = map[string]int{}
			}
			tally.settled[f.settleAsOperator(t, name, v)]++
		default:
			t.Fatalf("%s: %v: %s", name, args, r)
		}
	}
}

// settleAsOperator answers the in-doubt question of `runbook resume` in a
// terminal as the operator would: looks on the host whether the effect is
// there, marks the run done if it is and re-runs it if not, then pauses at
// the next step for the non-interactive resume to go on. It returns what
// it settled: "STEP/HOST: ANSWER".
func (f *crashFleet) settleAsOperator(t *testing.T, name, v string) string {
	t.Helper()
	st := openRecord(t, f.caseDir(name))
	rel := releaseOf(t, st, v)
	steps, err := st.Steps(context.Background(), rel.ID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var step, host, next string
	for i, sr := range steps {
		for _, hr := range sr.Hosts {
			if hr.State == runbook.RunInterrupted && step == "" {
				step, host = sr.Name, hr.Host
				if i+1 < len(steps) {
					next = steps[i+1].Name
				}
			}
		}
	}
	if step == "" {
		t.Fatalf("%s: exit 3 without an interrupted host run", name)
	}
	done := f.hasEffect(t, name, v, step, host)
	answer := engine.ChRerun
	if done {
		answer = engine.ChMarkDone
	}
	tm := newTmux(t)
	tm.run(f.caseDir(name), bin+" resume")
	tm.choose("may have run. What now?", answer)
	if done {
		tm.typeLine("Why is it done?", "its counter file on the host shows it ran")
	}
	if next != "" {
		tm.choose("Run "+next+"?", engine.ChPause)
	}
	tm.waitFor("EXIT=0")
	return step + "/" + host + ": " + answer
}

// exactlyOnce fails unless every counted effect happened exactly once.
func (f *crashFleet) exactlyOnce(t *testing.T, name string, counters map[string][]string) {
	t.Helper()
	for file, wheres := range counters {
		for _, w := range wheres {
			if n := f.count(t, name, w, file); n != 1 {
				t.Fatalf("%s: %s on %s happened %d times", name, file, w, n)
			}
		}
	}
}

// finalTransitions checks the transitions of the release of v once a case
// has ended.
func (f *crashFleet) finalTransitions(t *testing.T, name, v string) int {
	t.Helper()
	st := openRecord(t, f.caseDir(name))
	defer st.Close()
	rel := releaseOf(t, st, v)
	if rel == nil {
		t.Fatalf("%s: no release %s recorded", name, v)
	}
	return checkTransitions(t, st, rel)
}

// checkNoPhantomUndo proves that no host run of the rollback of v is
// recorded as undone without its undo having taken effect.
func (f *crashFleet) checkNoPhantomUndo(t *testing.T, name, v string) {
	t.Helper()
	st := openRecord(t, f.caseDir(name))
	defer st.Close()
	rel := releaseOf(t, st, v)
	steps, err := st.Steps(context.Background(), rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, sr := range steps {
		for _, hr := range sr.Hosts {
			if hr.State != runbook.RunUndone {
				continue
			}
			dd := f.deployDir(name, hr.Host)
			var ok bool
			switch sr.Name {
			case "notify":
				ok = f.count(t, name, hr.Host, "count-undo-notify-"+v) == 1
			case "activate-pre", "activate-prod":
				// Switched back, then restarted on 1.0.
				l, _ := os.Readlink(filepath.Join(dd, "current"))
				h, _ := os.ReadFile(filepath.Join(dd, "health"))
				ok = l == "releases/1.0" && strings.TrimSpace(string(h)) == "UP 1.0" && f.count(t, name, hr.Host, restartCounter("1.0", v)) == 1
			case "stage-pre", "stage-prod":
				_, err := os.Stat(filepath.Join(dd, "releases", v))
				ok = os.IsNotExist(err)
			default:
				t.Fatalf("no undo effect known for step %s", sr.Name)
			}
			if !ok {
				t.Fatalf("%s: %s on %s is recorded undone, but its undo did not take effect", name, sr.Name, hr.Host)
			}
		}
	}
}

// removeCase deletes a case's directories: a full sweep makes hundreds.
func (f *crashFleet) removeCase(t *testing.T, name string) {
	t.Helper()
	if t.Failed() {
		return // kept for the post-mortem
	}
	_ = os.RemoveAll(f.caseDir(name))
	for _, h := range crashHosts {
		_ = os.RemoveAll(f.deployDir(name, h))
	}
	if f.pg != nil {
		_ = f.pg.DropDatabase(caseDB(name))
	}
}

// TestKillPointsOnlyInTestBuilds: the crash points are inert in the
// binary users get, whatever its environment says, and the test build
// refuses a point it does not know rather than sweep nothing.
func TestKillPointsOnlyInTestBuilds(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", "name: t\nenvironments:\n  build: {local: true}\nsteps:\n  - {name: one, on: build, run: \"echo x >> count\"}\n")
	p := runProc(t, bin, dir, []string{"RUNBOOK_KILLPOINT=" + runbook.PointIntentAfter}, "", "start", "--version", "1", "--yes")
	if p.killed || p.code != 0 || read(t, filepath.Join(dir, "count")) != "x\n" {
		t.Fatalf("the plain binary obeyed RUNBOOK_KILLPOINT: %s", p.result)
	}
	p = runProc(t, faultsBin(t), dir, []string{"RUNBOOK_KILLPOINT=walk.intent.aftr"}, "", "start", "--version", "2", "--yes")
	if p.code != 2 || !strings.Contains(p.stderr, `unknown crash point "walk.intent.aftr"`) {
		t.Fatalf("the test build accepted an unknown crash point: %s", p.result)
	}
}

// TestRestartAfterTheIntent: runbook dies after committing a local run's
// intent, before the command starts, and the machine restarts (pretended
// by the test build) before the resume. Markers are not synced, so their
// absence proves nothing after a restart: the run is in doubt, and --yes
// stops with exit 3 rather than run it a second time. Without a restart
// the same absence means never started, and the resume runs it.
func TestRestartAfterTheIntent(t *testing.T) {
	fb := faultsBin(t)
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", "name: t\nenvironments:\n  build: {local: true}\nsteps:\n  - {name: once, on: build, run: \"echo x >> count\"}\n")
	if p := runProc(t, fb, dir, []string{"RUNBOOK_KILLPOINT=" + runbook.PointIntentAfter}, "", "start", "--version", "1", "--yes"); !p.killed {
		t.Fatalf("not killed at the intent: %s", p.result)
	}
	p := runProc(t, fb, dir, []string{"RUNBOOK_BOOTED=now"}, "", "resume", "--yes")
	if p.code != 3 || !strings.Contains(p.stderr, "may or may not have taken effect") {
		t.Fatalf("resume after a restart: %s, want exit 3 with the run in doubt", p.result)
	}
	if _, err := os.Stat(filepath.Join(dir, "count")); err == nil {
		t.Fatal("the command ran although it was in doubt")
	}
	if st, _ := status(t, dir).step("once"); st != "interrupted" {
		t.Errorf("step is %s after the refused resume, want interrupted", st)
	}

	dir2 := t.TempDir()
	write(t, dir2, "runbook.yaml", read(t, filepath.Join(dir, "runbook.yaml")))
	if p := runProc(t, fb, dir2, []string{"RUNBOOK_KILLPOINT=" + runbook.PointIntentAfter}, "", "start", "--version", "1", "--yes"); !p.killed {
		t.Fatalf("not killed at the intent: %s", p.result)
	}
	if r := run(t, dir2, "resume", "--yes"); r.code != 0 || read(t, filepath.Join(dir2, "count")) != "x\n" {
		t.Fatalf("resume without a restart: %s, want the command run once", r)
	}
	quickCheck(t, dir)
	quickCheck(t, dir2)
}

// TestKillBetweenForkAndPid: runbook dies after forking a local command's
// shell and before .started holds its pid. A resume cannot wait for a
// process it cannot name; so the shell must not have its script yet, and
// dies without running anything when runbook's end of its stdin closes.
// Otherwise the command would run on, unseen, beside the resume's re-run.
func TestKillBetweenForkAndPid(t *testing.T) {
	fb := faultsBin(t)
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: once, on: build, run: "sleep 0.5; echo done >> count", check: "test -s count", idempotent: true}
`)
	if p := runProc(t, fb, dir, []string{"RUNBOOK_KILLPOINT=" + remote.PointExecForked}, "", "start", "--version", "1", "--yes"); !p.killed {
		t.Fatalf("not killed after the fork: %s", p.result)
	}
	if r := run(t, dir, "resume", "--yes"); r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	time.Sleep(time.Second) // an orphan would append within half a second
	if n := strings.Count(read(t, filepath.Join(dir, "count")), "done"); n != 1 {
		t.Fatalf("the command ran %d times", n)
	}
	quickCheck(t, dir)
}

// TestKillBeforeTheWrapperStarts kills runbook while its command is on
// its way to the host but has not started there — a loaded host, or a
// login shell that takes long to start — and resumes at once. The resume
// finds no markers and runs the command again; the first copy, arriving
// late, must then not run at all.
func TestKillBeforeTheWrapperStarts(t *testing.T) {
	// The host holds the step's command on its way: the first line that
	// names the count file, and all that follows it, is kept back from
	// the session's shell (late/held) until the test says go. sshd has
	// passed on the whole chunk runbook sent by the time the line is read
	// (it comes in one SSH packet), so late/arrived means the command is
	// in the host's hands. Its output goes nowhere by then, and SIGPIPE is
	// ignored so that writing there cannot stop it before it decides
	// whether to run. late/end is written once it has. SFTP sessions
	// (the environment's lock) go to the SFTP server, which a
	// ForceCommand would otherwise take over too; other commands run.
	dir := t.TempDir()
	late := filepath.Join(dir, "late")
	hold := strings.NewReplacer("L/", late+"/", "SFTP", sshdtest.SFTPServer).Replace(
		`trap '' PIPE; ` +
			`case "$SSH_ORIGINAL_COMMAND" in internal-sftp*) exec SFTP -d "$HOME";; "exec sh -s") ;; *) eval "$SSH_ORIGINAL_COMMAND"; exit;; esac; ` +
			`while IFS= read -r l; do ` +
			`case "$l" in */count*) if mkdir L/ 2>/dev/null; then ` +
			`printf '%s\n' "$l" > L/held; touch L/arrived; cat >> L/held; ` +
			`while [ ! -e L/go ]; do sleep 0.05; done; cat L/held; echo "touch L/end"; exit 0; fi;; esac; ` +
			`printf '%s\n' "$l"; done | sh -s`)
	h := sshdtest.Start(t, sshdtest.Options{OwnHome: true, ExtraConfig: []string{"ForceCommand " + hold}})
	write(t, dir, "known_hosts", h.KnownHostsLine()+"\n")
	write(t, dir, "runbook.yaml", fmt.Sprintf(`name: late
known_hosts: known_hosts
environments:
  app:
    user: %s
    auth: {key_file: %s}
    hosts: [{name: app1, address: "%s", deploy_dir: %s}]
steps:
  - {name: once, on: app, run: "echo x >> {{.Host.DeployDir}}/count"}
`, h.User, h.ClientKey, h.Addr, h.DeployDir))

	cmd, out := start(t, dir, "start", "--version", "1", "--yes")
	waitFor(t, "the command to be on its way", func() bool { _, err := os.Stat(filepath.Join(late, "arrived")); return err == nil })
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	r := run(t, dir, "start", "--version", "1", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "never started: running it") {
		t.Fatalf("resume: %s\nfirst run:\n%s", r, out)
	}
	write(t, late, "go", "")
	waitFor(t, "the late copy to end", func() bool { _, err := os.Stat(filepath.Join(late, "end")); return err == nil })
	if n := strings.Count(read(t, filepath.Join(h.DeployDir, "count")), "x"); n != 1 {
		t.Fatalf("the command ran %d times", n)
	}
	quickCheck(t, dir)
}

// choose moves the cursor of the select prompt below the last line
// holding prompt to the option target, then presses Enter. Keys typed
// before the prompt reads its terminal are lost (it draws itself first),
// so each key's effect is seen on the screen before the next is sent, and
// a key without effect is sent again: how fast the machine is does not
// matter, only that the prompt reads keys at some point.
func (tm *tmux) choose(prompt, target string) {
	tm.t.Helper()
	tm.waitFor(prompt)
	moved := false
	for give := time.Now().Add(60 * time.Second); ; {
		if time.Now().After(give) {
			tm.t.Fatalf("the prompt %q does not take keys:\n%s", prompt, tm.screen())
		}
		options, at := tm.selectState(prompt)
		want := slices.Index(options, target)
		if want < 0 {
			tm.t.Fatalf("no option %q under %q:\n%s", target, prompt, tm.screen())
		}
		if want == at && moved {
			tm.keys("Enter")
			return
		}
		// Wrapping from the last option to the first is a move too: it
		// proves the prompt reads keys even when the cursor starts on
		// the target.
		key := "Down"
		if want < at {
			key = "Up"
		}
		tm.keys(key)
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if _, now := tm.selectState(prompt); now != at {
				moved = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// selectState reads the options of the select prompt below prompt and
// the index the cursor (">", survey's focus icon) is on.
func (tm *tmux) selectState(prompt string) (options []string, at int) {
	tm.t.Helper()
	lines := strings.Split(tm.screen(), "\n")
	start := -1
	for i, l := range lines {
		if strings.Contains(l, prompt) {
			start = i
		}
	}
	at = -1
	for _, l := range lines[start+1:] {
		switch {
		case strings.HasPrefix(l, "> "):
			at = len(options)
			options = append(options, strings.TrimSpace(strings.TrimPrefix(l, "> ")))
		case strings.HasPrefix(l, "  ") && strings.TrimSpace(l) != "":
			options = append(options, strings.TrimSpace(l))
		default:
			return options, at
		}
	}
	return options, at
}

// typeLine answers the text prompt on the last line holding prompt: it
// types text until the prompt shows it (text typed before the prompt
// reads its terminal is lost), then presses Enter.
func (tm *tmux) typeLine(prompt, text string) {
	tm.t.Helper()
	tm.waitFor(prompt)
	shown := func() bool {
		lines := strings.Split(tm.screen(), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.Contains(lines[i], prompt) {
				return strings.Contains(lines[i], text[:8])
			}
		}
		return false
	}
	for give := time.Now().Add(60 * time.Second); !shown(); {
		if time.Now().After(give) {
			tm.t.Fatalf("the prompt %q does not take keys:\n%s", prompt, tm.screen())
		}
		tm.keys(text)
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && !shown() {
			time.Sleep(20 * time.Millisecond)
		}
	}
	tm.keys("Enter")
}
