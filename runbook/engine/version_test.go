package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

const badRecorded = "../../../../victim"

// A release recorded with a version that is not one (written before
// versions were checked, or a copied or edited database) is neither
// resumed, undone nor restarted: undo would remove
// deploy_dir/releases/<it>. Abort, which runs nothing, still ends it.
func TestRecordedBadVersionIsRefused(t *testing.T) {
	rb := load(t, night)
	for _, tc := range []struct {
		what string
		run  func(context.Context, *engine.Engine) error
	}{
		{"resume", resume},
		{"start of the same version", start(badRecorded)},
		{"rollback", rollback},
	} {
		w := runbooktest.NewWorld(t, rb)
		recordBad(t, w)
		p := w.Process(runbooktest.ProcessOptions{Yes: true})
		err, _ := p.Run(context.Background(), nil, tc.run)
		var ve *runbook.VersionError
		if !errors.As(err, &ve) || !errors.Is(err, runbook.ErrUsage) {
			t.Errorf("%s: %v, want a version error", tc.what, err)
			continue
		}
		var he *runbook.HintError
		if !errors.As(err, &he) || !strings.Contains(he.Hint, "runbook abort") || strings.Contains(he.Hint, badRecorded) {
			t.Errorf("%s: hint %v", tc.what, err)
		}
		if p.Exec.Calls() != 0 {
			t.Errorf("%s reached a host for a release recorded as %q", tc.what, badRecorded)
		}
	}
	w := runbooktest.NewWorld(t, rb)
	recordBad(t, w)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, func(ctx context.Context, e *engine.Engine) error { return e.Abort(ctx, "bad record") }, nil)
	if got := w.Release().State; got != runbook.ReleaseAborted {
		t.Errorf("abort left the bad record %s", got)
	}
}

// recordBad writes a failed release of a version that is not one straight
// into the record, as an old or edited database would hold it.
func recordBad(t *testing.T, w *runbooktest.World) {
	t.Helper()
	r := &runbook.Release{Version: badRecorded, Kind: runbook.KindRelease, State: runbook.ReleaseFailed}
	if err := w.Store.CreateRelease(context.Background(), r, nil, runbook.Transition{Scope: "release", To: "failed"}); err != nil {
		t.Fatal(err)
	}
}

// Nothing is recorded for a version that is not one, whoever calls.
func TestStartRefusesABadVersion(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0;id"), runbook.ErrUsage)
	if w.Release() != nil {
		t.Errorf("a release of %q was recorded", "1.0;id")
	}
}

// A host's current link is read into the live record: one that is not a
// version becomes an unknown previous release, with a warning, never a
// .Release.Previous spliced into a command (M-3).
func TestBadPreviousIsUnknown(t *testing.T) {
	rb := load(t, strings.Replace(night, "run: warm,", `run: 'echo "previous was {{.Release.Previous}}"',`, 1))
	w := runbooktest.NewWorld(t, rb)
	for _, h := range []string{"p1", "p2"} {
		if err := w.Store.SetLive(context.Background(), runbook.Live{Env: "prod", Host: h, Version: `x"; id > PWNED; echo "`}); err != nil {
			t.Fatal(err)
		}
	}
	var previous []string
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if what == "do" && c.Step.Name == "warm" {
			previous = append(previous, c.Data.Release.Previous)
		}
		return runbooktest.Fault{}
	}
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: script}, start("2.0"), nil)
	for _, v := range previous {
		if v != "" {
			t.Errorf(".Release.Previous = %q, want unknown", v)
		}
	}
	if !strings.Contains(p.UI.String(), "prod/p1 is not a version") {
		t.Errorf("no warning about the bad live version:\n%s", p.UI)
	}
}

// rollback --to without a version takes the recorded previous one: never
// one that is not a version, and its hint never suggests it.
func TestRollbackToRefusesABadPrevious(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	for _, h := range []string{"p1", "p2"} {
		if err := w.Store.SetLive(context.Background(), runbook.Live{Env: "prod", Host: h, Version: "2.0", Previous: badRecorded}); err != nil {
			t.Fatal(err)
		}
	}
	p := w.Process(runbooktest.ProcessOptions{Yes: true})
	err, _ := p.Run(context.Background(), nil, func(ctx context.Context, e *engine.Engine) error {
		return e.RollbackTo(ctx, engine.RollbackToOptions{Envs: []string{"prod"}})
	})
	var he *runbook.HintError
	if !errors.Is(err, runbook.ErrUsage) || !errors.As(err, &he) || strings.Contains(he.Hint, badRecorded) || !strings.Contains(he.Hint, "--to V") {
		t.Fatalf("rollback --to with a bad previous: %v", err)
	}
	if p.Exec.Calls() != 0 {
		t.Error("rollback --to touched a host")
	}
}
