package engine_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
	"github.com/runbook-dev/runbook/steps"
)

// twoReleases runs the night twice, 1.0 then 1.1, with a new artifact
// each time, and returns the world.
func twoReleases(t *testing.T, rb *runbook.Runbook) *runbooktest.World {
	t.Helper()
	w := runbooktest.NewWorld(t, rb)
	rebuild(t, rb, "the ear of 1.0")
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	rebuild(t, rb, "the ear of 1.1")
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.1"), nil)
	return w
}

// verifies records which release each host's verify saw.
type verifies struct {
	mu   sync.Mutex
	seen []string // "host:version"
	fail func(c *runbook.Call) bool
}

func (v *verifies) script(c *runbook.Call, what string) runbooktest.Fault {
	if what != "verify" {
		return runbooktest.Fault{}
	}
	v.mu.Lock()
	v.seen = append(v.seen, c.Host.Name+":"+c.Data.Version)
	v.mu.Unlock()
	if v.fail != nil && v.fail(c) {
		return runbooktest.Fault{Exit: 1}
	}
	return runbooktest.Fault{}
}

// The bug the trial found: the restart's undo ran before current was
// switched back, and nothing restarted after it, so the servers ran the
// release rolled back from. Now the switch back is followed, on every host
// it switched, by the restart step run again against the restored
// release, and its verify.
func TestRollbackRestartsAfterTheSwitchAndVerifies(t *testing.T) {
	rb := load(t, rollbackNight)
	w := twoReleases(t, rb)
	v := &verifies{}
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: v.script}, rollback, nil)
	for _, h := range []string{"p1", "p2"} {
		host := w.Hosts.Host(h)
		if host.Current != "1.0" {
			t.Errorf("%s: current = %s, want 1.0", h, host.Current)
		}
		if !restartedAfterSwitch(host.Effects) {
			t.Errorf("%s: %v: the switch back is not followed by the restart", h, host.Effects)
		}
		if !slices.Contains(v.seen, h+":1.0") {
			t.Errorf("%s: no verify saw the restored release 1.0 (verifies: %v)", h, v.seen)
		}
	}
	if w.Hosts.Count("p1", "undo:restart") != 0 {
		t.Error("the restart's own undo ran before the switch back")
	}
	live, _ := w.Store.LiveVersions(context.Background())
	for _, l := range live {
		if l.Version != "1.0" || l.VerifiedAt.IsZero() {
			t.Errorf("live on %s: %s verified %v, want 1.0 verified", l.Host, l.Version, !l.VerifiedAt.IsZero())
		}
	}
	if rel := w.Release(); rel.State != runbook.ReleaseRolledBack {
		t.Errorf("release is %s, want rolled_back", rel.State)
	}
	if !strings.Contains(p.UI.String(), "live now: prod 1.0 (verified on p1, p2)") {
		t.Errorf("the rollback does not say what is live, verified:\n%s", p.UI)
	}
}

// A restart that fails its verify after the switch back ends the rollback
// rollback_failed, naming the host; fixed, `runbook rollback` finishes it.
func TestRollbackWhoseRestartFailsEndsRollbackFailed(t *testing.T) {
	rb := load(t, rollbackNight)
	w := twoReleases(t, rb)
	v := &verifies{fail: func(c *runbook.Call) bool { return c.Host.Name == "p2" }}
	p := w.Process(runbooktest.ProcessOptions{Yes: true, Script: v.script})
	err, _ := p.Run(context.Background(), nil, rollback)
	if !errors.Is(err, runbook.ErrStepFailed) || !strings.Contains(err.Error(), "rollback failed") || !strings.Contains(err.Error(), "p2 (restart on 1.0 after the switch back: verify failed after 1 attempt(s) (exit 1): health)") {
		t.Fatalf("got %v, want a failed rollback naming p2 and its verify", err)
	}
	if got := w.Release().State; got != runbook.ReleaseRollbackFailed {
		t.Fatalf("release is %s, want rollback_failed", got)
	}
	live, _ := w.Store.LiveVersions(context.Background())
	for _, l := range live {
		if l.Host == "p2" && !l.VerifiedAt.IsZero() {
			t.Errorf("p2 is recorded verified on %s although its verify failed", l.Version)
		}
	}
	// A new release cannot start over a failed rollback.
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.2"), runbook.ErrUnfinished)
	// Fixed: the rollback is retried and finishes.
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, rollback, nil)
	if got := w.Release().State; got != runbook.ReleaseRolledBack {
		t.Fatalf("release is %s after the retry, want rolled_back", got)
	}
	if c := w.Hosts.Host("p2").Current; c != "1.0" {
		t.Errorf("p2 runs %s, want 1.0", c)
	}
}

// Rollback --to switches, then runs the restart steps with their verify.
func TestRollbackToRestartsAndVerifies(t *testing.T) {
	rb := load(t, rollbackNight)
	w := twoReleases(t, rb)
	v := &verifies{}
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: v.script}, func(ctx context.Context, e *engine.Engine) error {
		return e.RollbackTo(ctx, engine.RollbackToOptions{Version: "1.0", Envs: []string{"prod"}})
	}, nil)
	for _, h := range []string{"p1", "p2"} {
		if !slices.Contains(v.seen, h+":1.0") {
			t.Errorf("%s: no verify of 1.0 after rollback --to (verifies: %v)", h, v.seen)
		}
	}
	live, _ := w.Store.LiveVersions(context.Background())
	for _, l := range live {
		if l.Version != "1.0" || l.VerifiedAt.IsZero() {
			t.Errorf("live on %s: %s verified %v, want 1.0 verified", l.Host, l.Version, !l.VerifiedAt.IsZero())
		}
	}
}

// The undo policy, per kind of step and what it changes (docs/SPEC.md):
// what a rollback does with each, under --yes and with an operator.
func TestUndoPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		step string // the step under test, on environment "prod" unless it says
		// under --yes: the error (nil: rolled back) and whether the step's undo ran
		yesErr  error
		undone  bool
		passes  string // the line that says it is passed over ("" for none)
		asks    string // the question an operator gets ("" for none)
		def     string // its preselected answer
		changes runbook.Change
	}{
		{name: "build step", step: `{name: x, on: build, run: mvn package}`, changes: runbook.ChangesBuild, passes: "changed only the build directory"},
		{name: "build step with an undo", step: `{name: x, on: build, run: mvn package, undo: mvn clean}`, changes: runbook.ChangesBuild, undone: true, asks: "Undo x?", def: engine.ChUndo},
		{name: "probe", step: `{name: x, on: prod, probe: {tcp: ["db:5432"]}}`, changes: runbook.ChangesNothing},
		{name: "confirm", step: `{name: x, confirm: QA is happy}`, changes: runbook.ChangesNothing},
		{name: "run with undo: none", step: `{name: x, on: prod, run: smoke-test, undo: none}`, changes: runbook.ChangesNothing},
		{name: "run with an undo", step: `{name: x, on: prod, run: migrate up, undo: migrate down}`, changes: runbook.ChangesHosts, undone: true, asks: "Undo x?", def: engine.ChUndo},
		{name: "run without undo", step: `{name: x, on: prod, run: migrate up}`, changes: runbook.ChangesHosts, yesErr: runbook.ErrNeedsHuman, asks: "x changed p1, p2 and has no undo", def: engine.ChPause},
		{name: "op before the switch", step: `{name: x, on: prod, op: restart}`, changes: runbook.ChangesHosts, yesErr: runbook.ErrNeedsHuman, asks: "has no undo", def: engine.ChPause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(policyNight, "STEP", tc.step, 1)
			rb := load(t, text)
			if got := steps.Changes(rb, rb.Step("x")); got != tc.changes {
				t.Errorf("x changes %s, want %s", got, tc.changes)
			}
			undos := func(w *runbooktest.World) int {
				n := 0
				for _, h := range w.Hosts.Names() {
					n += w.Hosts.Count(h, "undo:x")
				}
				return n
			}
			// Under --yes.
			w := runbooktest.NewWorld(t, rb)
			mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Signoffs: map[string]string{}}, start("1.0"), nil)
			p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, rollback, tc.yesErr)
			if got := undos(w) > 0; got != tc.undone {
				t.Errorf("--yes: the undo of x ran: %v, want %v\n%s", got, tc.undone, p.UI)
			}
			if tc.passes != "" && !strings.Contains(p.UI.String(), tc.passes) {
				t.Errorf("--yes: no note %q:\n%s", tc.passes, p.UI)
			}
			if tc.yesErr != nil {
				if strings.Contains(p.UI.String(), "undone by hand") {
					t.Errorf("--yes recorded a manual undo nobody did:\n%s", p.UI)
				}
				return
			}
			// With an operator, who takes the default where asked.
			w = runbooktest.NewWorld(t, rb)
			mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
			answers := []runbooktest.Answer{}
			if tc.asks != "" {
				answers = append(answers, runbooktest.Answer{Match: tc.asks, Choose: tc.def})
			}
			p = mustRun(t, w, runbooktest.ProcessOptions{Answers: answers}, rollback, nil)
			if tc.asks != "" {
				if got := p.Prompter.Default(tc.asks); got != tc.def {
					t.Errorf("the question %q defaults to %q, want %q", tc.asks, got, tc.def)
				}
			}
		})
	}
}

// policyNight releases one step x (and stages nothing).
const policyNight = `
name: policy
artifact: {path: app.ear}
environments:
  build: {local: true, workdir: .}
  prod:
    local: true
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
      - {name: p2, deploy_dir: hosts/p2}
    operations:
      restart: restart-app
steps:
  - STEP
`

// With no undo, the operator must say, in their own words, what was done
// by hand; Enter (the default) pauses instead of recording a lie.
func TestManualUndoRecordsTheOperatorsWords(t *testing.T) {
	rb := load(t, strings.Replace(policyNight, "STEP", `{name: x, on: prod, run: migrate up}`, 1))
	w := runbooktest.NewWorld(t, rb)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	mustRun(t, w, runbooktest.ProcessOptions{Answers: []runbooktest.Answer{{Match: "has no undo", Choose: engine.ChPause}}}, rollback, runbook.ErrPaused)
	if steps := w.Steps(w.Release().ID); steps[0].State != runbook.RunSucceeded {
		t.Fatalf("after Pause the step is %s, want still succeeded", steps[0].State)
	}
	mustRun(t, w, runbooktest.ProcessOptions{Answers: []runbooktest.Answer{
		{Match: "has no undo", Choose: engine.ChDoneByHand},
		{Match: "What did you do to undo x", Choose: "ran migrate down 42 by hand"},
	}}, rollback, nil)
	notes, _ := w.Store.Notes(context.Background(), w.Release().ID)
	found := false
	for _, n := range notes {
		if n.Kind == "deviation" && strings.Contains(n.Text, "ran migrate down 42 by hand") && strings.Contains(n.Text, "tester") {
			found = true
		}
	}
	if !found {
		t.Errorf("the operator's words are not in the record: %+v", notes)
	}
}

// After a failed step the operator is offered Rollback; it rolls the
// release back at once.
func TestRollbackOfferedAfterAFailure(t *testing.T) {
	rb := load(t, rollbackNight)
	w := runbooktest.NewWorld(t, rb)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	rebuild(t, rb, "the ear of 1.1")
	failRestart := func(c *runbook.Call, what string) runbooktest.Fault {
		if what == "verify" && c.Data.Version == "1.1" && c.Host.Name == "p2" {
			return runbooktest.Fault{Exit: 1}
		}
		return runbooktest.Fault{}
	}
	p := mustRun(t, w, runbooktest.ProcessOptions{Script: failRestart, Answers: []runbooktest.Answer{
		{Match: "restart failed. What now?", Choose: engine.ChRollback},
		{Match: "Undo activate?", Choose: engine.ChUndo},
		{Match: "Undo stage?", Choose: engine.ChUndo},
		{Match: "Undo migrate?", Choose: engine.ChUndo},
	}}, start("1.1"), nil)
	if opts := p.Prompter.Options("restart failed"); !slices.Contains(opts, engine.ChRollback) {
		t.Errorf("the failure prompt offers %v, no Rollback", opts)
	}
	if got := w.Release().State; got != runbook.ReleaseRolledBack {
		t.Fatalf("release is %s, want rolled_back", got)
	}
	for _, h := range []string{"p1", "p2"} {
		if c := w.Hosts.Host(h).Current; c != "1.0" {
			t.Errorf("%s runs %s after the rollback, want 1.0", h, c)
		}
	}
	// p2's restart failed, but activate had switched it: it too is switched
	// back and restarted.
	if !restartedAfterSwitch(w.Hosts.Host("p2").Effects) {
		t.Errorf("p2 was not restarted after its switch back: %v", w.Hosts.Host("p2").Effects)
	}
}

// The failure hint under --yes names rollback, not only resume.
func TestFailureHintNamesRollback(t *testing.T) {
	rb := load(t, night)
	w := runbooktest.NewWorld(t, rb)
	fail := func(c *runbook.Call, what string) runbooktest.Fault {
		if what == "do" && c.Step.Name == "migrate" {
			return runbooktest.Fault{Exit: 2}
		}
		return runbooktest.Fault{}
	}
	p := w.Process(runbooktest.ProcessOptions{Yes: true, Script: fail})
	err, _ := p.Run(context.Background(), nil, start("1.0"))
	var he *runbook.HintError
	if !errors.As(err, &he) || !strings.Contains(he.Hint, "`runbook rollback`") {
		t.Fatalf("the failure (%v) has no hint naming runbook rollback", err)
	}
}

// Abort asks to confirm, defaults to no, names what the release changed,
// and records the reason.
func TestAbortAsksFirst(t *testing.T) {
	rb := load(t, night)
	w := runbooktest.NewWorld(t, rb)
	// Stop before the restart: prod is staged and switched.
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, func(ctx context.Context, e *engine.Engine) error {
		return e.Start(ctx, engine.StartOptions{Version: "1.0"})
	}, nil)
	rebuild(t, rb, "the ear of 1.1")
	failRestart := func(c *runbook.Call, what string) runbooktest.Fault {
		if what == "do" && c.Step.Name == "restart" {
			return runbooktest.Fault{Exit: 1}
		}
		return runbooktest.Fault{}
	}
	p := mustRun(t, w, runbooktest.ProcessOptions{Script: failRestart, Answers: []runbooktest.Answer{
		{Match: "restart failed. What now?", Choose: engine.ChAbort},
		{Match: "Abort release 1.1 for good?", Choose: "No, go back"},
		{Match: "restart failed. What now?", Choose: engine.ChAbort},
		{Match: "Abort release 1.1 for good?", Choose: "Yes, abort the release"},
		{Match: "Why abort?", Choose: "wrong build, redo tomorrow"},
	}}, start("1.1"), runbook.ErrAborted)
	q := p.Prompter.String()
	if !strings.Contains(q, "It changed prod (p1, p2)") || !strings.Contains(q, "default No, go back") {
		t.Errorf("the abort question does not name the hosts or does not default to no:\n%s", q)
	}
	if got := w.Release().State; got != runbook.ReleaseAborted {
		t.Fatalf("release is %s, want aborted", got)
	}
}

// A new version whose artifact is the very bytes of an earlier release
// is noticed before anything is staged.
func TestSameArtifactTwiceIsNoticed(t *testing.T) {
	rb := load(t, night)
	w := runbooktest.NewWorld(t, rb)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.1"), runbook.ErrNeedsHuman)
	if n := w.Hosts.Count("p1", "do:stage"); n != 1 {
		t.Errorf("the same artifact was staged again under 1.1 (%d stagings)", n)
	}
	// --same-artifact ships it knowingly, recorded.
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, SameArtifact: true}, resume, nil)
	notes, _ := w.Store.Notes(context.Background(), w.Release().ID)
	found := false
	for _, n := range notes {
		if strings.Contains(n.Text, "shipped the same artifact as release 1.0") {
			found = true
		}
	}
	if !found {
		t.Errorf("shipping the same artifact is not recorded: %+v", notes)
	}
}

// rebuild writes a new artifact for rb, as a build step would.
func rebuild(t *testing.T, rb *runbook.Runbook, content string) {
	t.Helper()
	if err := os.WriteFile(rb.Artifact.Abs, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// restartedAfterSwitch reports whether a host's first switch back is
// followed by a restart (a switch done again after a crash changes
// nothing and needs none), and no restart ran as an undo before it.
func restartedAfterSwitch(effects []string) bool {
	i := slices.Index(effects, "undo:activate")
	return i >= 0 && slices.Contains(effects[i:], "do:restart") && !slices.Contains(effects, "undo:restart")
}
