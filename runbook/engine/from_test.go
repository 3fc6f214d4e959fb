package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

func resumeFrom(from string) func(context.Context, *engine.Engine) error {
	return func(ctx context.Context, e *engine.Engine) error { return e.Resume(ctx, from) }
}

// TestResumeFromBeforeTheNextStep: `resume --from STEP` naming a step
// before where the resume continues — one skipped, one that succeeded, or
// none at all — is refused before anything is recorded, saying why and
// where the resume continues, instead of being ignored (or, for an
// unknown name, skipping every step that was left).
func TestResumeFromBeforeTheNextStep(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	failWarm := func(c *runbook.Call, what string) runbooktest.Fault {
		if c.Step.Name == "warm" && what == "do" {
			return runbooktest.Fault{Exit: 1}
		}
		return runbooktest.Fault{}
	}
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: failWarm},
		func(ctx context.Context, e *engine.Engine) error {
			return e.Start(ctx, engine.StartOptions{Version: "1.0", From: "migrate"})
		}, runbook.ErrStepFailed)
	before := len(transitions(t, w))

	for _, tc := range []struct{ from, want string }{
		{"build", "--from build: build was skipped (started --from migrate), and a skip is final: the steps after it ran without it; without --from it continues at warm"},
		{"migrate", "--from migrate: migrate already succeeded, and a completed step never runs twice; without --from it continues at warm"},
		{"nosuch", "--from nosuch: no such step in release 1.0"},
	} {
		p := w.Process(runbooktest.ProcessOptions{Yes: true})
		err, _ := p.Run(context.Background(), nil, resumeFrom(tc.from))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resume --from %s: %v, want %q", tc.from, err, tc.want)
		}
		if p.Exec.Calls() != 0 {
			t.Errorf("resume --from %s made %d calls to hosts", tc.from, p.Exec.Calls())
		}
		if n := len(transitions(t, w)); n != before {
			t.Errorf("resume --from %s recorded %d transitions", tc.from, n-before)
		}
	}
	if got := w.Release().State; got != runbook.ReleaseFailed {
		t.Fatalf("release is %s after refused resumes, want failed", got)
	}
	// --from the failed step itself, or with nothing, retries it.
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, resumeFrom("warm"), nil)
	if n := w.Hosts.Count("local", "do:build"); n != 0 {
		t.Errorf("the skipped build ran %d times", n)
	}
}

func transitions(t *testing.T, w *runbooktest.World) []runbook.Transition {
	t.Helper()
	ts, err := w.Store.Transitions(context.Background(), w.Release().ID)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
