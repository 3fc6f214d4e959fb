package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

// preflightCall is one call of the engine's Preflight.
type preflightCall struct {
	fresh bool
	from  string
}

// TestPreflightBeforeTheFirstStep: the cli's preflight runs once before
// a release's first step — before a new release is recorded, before a
// recorded one that ran no step goes on — and an error from it stops the
// command with nothing recorded and no host touched; a release that has
// run steps goes on after the preflight of what it needs at once.
func TestPreflightBeforeTheFirstStep(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, `
name: t
environments:
  build: {local: true}
steps:
  - {name: one, on: build, run: one}
  - {name: two, on: build, run: two}
`))
	var calls []preflightCall
	hook := func(fail error) func(context.Context, bool, string) error {
		return func(_ context.Context, fresh bool, from string) error {
			calls = append(calls, preflightCall{fresh, from})
			return fail
		}
	}
	stop := errors.New("prod1 cannot be reached")

	// Refused: nothing recorded, no host touched.
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Preflight: hook(stop)}, func(ctx context.Context, e *engine.Engine) error {
		return e.Start(ctx, engine.StartOptions{Version: "1.0", From: "two"})
	}, stop)
	if rels, _ := w.Store.Releases(context.Background()); len(rels) != 0 || p.Exec.Calls() != 0 {
		t.Fatalf("a refused preflight recorded %d release(s), made %d host call(s)", len(rels), p.Exec.Calls())
	}

	// Paused at the first question: recorded, no step run.
	mustRun(t, w, runbooktest.ProcessOptions{Preflight: hook(nil), Answers: []runbooktest.Answer{{Match: "Run one?", Choose: engine.ChPause}}}, start("1.0"), runbook.ErrPaused)
	// Resumed: still fresh; paused again after one.
	mustRun(t, w, runbooktest.ProcessOptions{Preflight: hook(nil), Answers: []runbooktest.Answer{
		{Match: "Run one?", Choose: engine.ChRun}, {Match: "Run two?", Choose: engine.ChPause}}}, resume, runbook.ErrPaused)
	// Resumed once a step ran: not fresh.
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Preflight: hook(nil)}, resume, nil)

	want := []preflightCall{{true, "two"}, {true, ""}, {true, ""}, {false, ""}}
	if len(calls) != len(want) {
		t.Fatalf("preflight calls %+v, want %+v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("preflight call %d: %+v, want %+v", i, calls[i], want[i])
		}
	}
	if rel := w.Release(); rel.State != runbook.ReleaseSucceeded {
		t.Errorf("release is %s", rel.State)
	}
}
