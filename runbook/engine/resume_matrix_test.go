package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

// The resume matrix (SPEC §4, DESIGN "Resume exactly"): the night is
// killed at every hit of every crash point of the engine and the store,
// and inside every host command in every way a command can outlive or die
// with its process; each time it is resumed under every answer the
// operator can give. Whatever happened, the resumed release ends
// succeeded, every host run ends succeeded (or skipped where the operator
// said so), and every effect happened exactly as often as the rules allow:
// once, unless the run was in doubt and the step is idempotent or the
// operator chose to run it again.

// resumeMode is how the process after the crash is run.
type resumeMode struct {
	name string
	yes  bool
	// answers answer the one question the engine may ask (about a run in
	// doubt that has no check and is not idempotent); nil with yes.
	answers []runbooktest.Answer
}

var resumeModes = []resumeMode{
	{name: "yes", yes: true},
	{name: "rerun", answers: []runbooktest.Answer{{Match: "was interrupted and may have run", Choose: engine.ChRerun}}},
	{name: "markdone", answers: []runbooktest.Answer{{Match: "was interrupted and may have run", Choose: engine.ChMarkDone}, {Match: "Why is it done", Choose: "checked the schema by hand"}}},
	{name: "skip", answers: []runbooktest.Answer{{Match: "was interrupted and may have run", Choose: engine.ChSkip}, {Match: "Why skip it", Choose: "not needed tonight"}}},
}

// openRun is a host run the killed process left recorded as running.
type openRun struct {
	step, host, marker string
}

func TestResumeMatrix(t *testing.T) {
	rb := load(t, night)
	cases := 0
	for _, point := range []string{runbook.PointIntentBefore, runbook.PointIntentAfter, runbook.PointOutcomeBefore, runbook.PointOutcomeAfter, runbook.PointStateTx} {
		for n := 1; ; n++ {
			died := false
			for _, mode := range resumeModes {
				t.Run(fmt.Sprintf("%s#%d/%s", point, n, mode.name), func(t *testing.T) {
					w := runbooktest.NewWorld(t, rb)
					_, died = w.Process(runbooktest.ProcessOptions{Yes: true}).Run(context.Background(), &runbooktest.Crash{Point: point, N: n}, start("1.0"))
					if died {
						checkResume(t, w, mode)
					}
				})
				cases++
				if !died {
					break
				}
			}
			if !died {
				if n == 1 {
					t.Fatalf("crash point %s was never hit", point)
				}
				break
			}
		}
	}
	for _, r := range nightRuns {
		if r[0] == "stage" || r[0] == "activate" {
			continue // built-ins run no command that could die part-way
		}
		for _, death := range []runbooktest.Death{runbooktest.DieBeforeEffect, runbooktest.DieAfterEffect, runbooktest.DieHostGoesOn, runbooktest.DieStillRunning} {
			for _, mode := range resumeModes {
				t.Run(fmt.Sprintf("%s-on-%s-death%d/%s", r[0], r[1], death, mode.name), func(t *testing.T) {
					w := runbooktest.NewWorld(t, rb)
					script := func(c *runbook.Call, what string) runbooktest.Fault {
						if what == "do" && c.Step.Name == r[0] && c.Host.Name == r[1] && c.Attempt == 1 {
							return runbooktest.Fault{Die: death}
						}
						return runbooktest.Fault{}
					}
					_, died := w.Process(runbooktest.ProcessOptions{Yes: true, Script: script}).Run(context.Background(), nil, start("1.0"))
					if !died {
						t.Fatalf("the process did not die in %s on %s", r[0], r[1])
					}
					checkResume(t, w, mode)
				})
				cases++
			}
		}
	}
	t.Logf("%d crash × answer cases", cases)
}

// checkResume resumes a world whose process was killed and checks the
// matrix's promises.
func checkResume(t *testing.T, w *runbooktest.World, mode resumeMode) {
	t.Helper()
	before := map[[2]string]int{}
	for _, r := range nightRuns {
		before[r] = w.Hosts.Count(r[1], "do:"+r[0])
	}
	rel := w.Release()
	if rel == nil {
		// Killed before the release was recorded: nothing ran, nothing to resume.
		for r, n := range before {
			if n != 0 {
				t.Fatalf("%s on %s took effect with no release recorded", r[0], r[1])
			}
		}
		mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, resume, runbook.ErrNothingToDo)
		mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
		checkOnce(t, w, before, nil, "")
		return
	}
	var open []openRun
	state := map[[2]string]runbook.RunState{}
	for _, sr := range w.Steps(rel.ID) {
		for _, hr := range sr.Hosts {
			state[[2]string{sr.Name, hr.Host}] = hr.State
			if hr.State == runbook.RunRunning {
				open = append(open, openRun{step: sr.Name, host: hr.Host, marker: w.Hosts.MarkerState(hr.Host, hr.Token)})
			}
		}
	}
	// The one question the engine may ask: a run in doubt that its check
	// does not settle (warm's check fails when its effect did not happen)
	// and whose step is not idempotent (migrate, restart).
	var asked *openRun
	for i, o := range open {
		if asksOperator(o, before[[2]string{o.step, o.host}]) {
			asked = &open[i]
		}
	}
	o := runbooktest.ProcessOptions{Yes: mode.yes}
	if !mode.yes {
		o.Answers = []runbooktest.Answer{}
		if asked != nil {
			o.Answers = mode.answers
		}
	}
	answer := mode.name
	if mode.yes && asked != nil {
		// --yes cannot decide: exit 3, nothing touched, release paused.
		mustRun(t, w, o, resume, runbook.ErrNeedsHuman)
		for _, r := range nightRuns {
			if n := w.Hosts.Count(r[1], "do:"+r[0]); n != before[r] {
				t.Fatalf("resume --yes that stopped for a human changed %s on %s (%d → %d)", r[0], r[1], before[r], n)
			}
		}
		if got := w.Release().State; got != runbook.ReleasePaused {
			t.Fatalf("after resume --yes stopped, the release is %s, want paused", got)
		}
		o, answer = runbooktest.ProcessOptions{Answers: resumeModes[1].answers}, "rerun"
	}
	mustRun(t, w, o, resume, nil)
	checkOnce(t, w, before, open, answer)
	for r, st := range state {
		if st == runbook.RunSucceeded && w.Hosts.Count(r[1], "do:"+r[0]) != before[r] {
			t.Errorf("%s on %s had succeeded before the crash and ran again on resume", r[0], r[1])
		}
	}
}

// asksOperator reports whether the engine must ask about open run o.
func asksOperator(o openRun, before int) bool {
	if o.marker != "in doubt" {
		return false
	}
	switch o.step {
	case "migrate", "restart":
		return true
	case "warm":
		return before == 0 // its check passes when the effect is in place
	}
	return false
}

// checkOnce checks the end of a resumed night: succeeded, every host run
// final, every effect as often as the rules allow.
func checkOnce(t *testing.T, w *runbooktest.World, before map[[2]string]int, open []openRun, answer string) {
	t.Helper()
	rel := w.Release()
	if rel.State != runbook.ReleaseSucceeded {
		t.Fatalf("the resumed release is %s, want succeeded", rel.State)
	}
	isOpen := map[[2]string]openRun{}
	for _, o := range open {
		isOpen[[2]string{o.step, o.host}] = o
	}
	for _, sr := range w.Steps(rel.ID) {
		for _, hr := range sr.Hosts {
			r := [2]string{sr.Name, hr.Host}
			after := w.Hosts.Count(hr.Host, "do:"+sr.Name)
			o, wasOpen := isOpen[r]
			want := expectedAfter(r, before[r], o, wasOpen, answer)
			if after != want {
				t.Errorf("%s on %s took effect %d times (before the crash %d, open %v, marker %q, answer %s), want %d\n%s",
					sr.Name, hr.Host, after, before[r], wasOpen, o.marker, answer, want, w.Hosts.Effects())
			}
			wantState := runbook.RunSucceeded
			if wasOpen && answer == "skip" && asksOperator(o, before[r]) {
				wantState = runbook.RunSkipped
			}
			if hr.State != wantState {
				t.Errorf("%s on %s ended %s, want %s", sr.Name, hr.Host, hr.State, wantState)
			}
		}
	}
}

// expectedAfter is how often the effect of run r must have happened once
// the resumed night succeeded.
func expectedAfter(r [2]string, before int, o openRun, wasOpen bool, answer string) int {
	if !wasOpen {
		return 1 // succeeded before (once), or never began and ran once
	}
	switch r[0] {
	case "stage", "activate":
		return before + 1 // built-ins keep no markers: run again, idempotent
	}
	switch o.marker {
	case "finished":
		return before // its outcome is adopted
	case "running", "none":
		return before + 1 // waited for, or never started and run now
	}
	// In doubt.
	switch {
	case r[0] == "warm" && before > 0:
		return before // its check says the effect is in place
	case r[0] == "build":
		return before + 1 // idempotent: run again
	}
	if answer == "rerun" {
		return before + 1
	}
	return before // marked done or skipped: the operator's word
}

// A run in doubt whose effect is in place is settled by its check,
// without asking and without running it again.
func TestSettleInDoubtByCheck(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if what == "do" && c.Step.Name == "warm" && c.Host.Name == "p1" && c.Attempt == 1 {
			return runbooktest.Fault{Die: runbooktest.DieAfterEffect}
		}
		return runbooktest.Fault{}
	}
	if _, died := w.Process(runbooktest.ProcessOptions{Yes: true, Script: script}).Run(context.Background(), nil, start("1.0")); !died {
		t.Fatal("the process did not die")
	}
	p := mustRun(t, w, runbooktest.ProcessOptions{Answers: []runbooktest.Answer{}}, resume, nil)
	if n := w.Hosts.Count("p1", "do:warm"); n != 1 {
		t.Errorf("warm took effect %d times on p1, want once", n)
	}
	if !strings.Contains(p.UI.String(), "verified by check") {
		t.Errorf("a run whose effect is in place was not settled by its check:\n%s", p.UI)
	}
}
