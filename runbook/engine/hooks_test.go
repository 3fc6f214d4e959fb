package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

// hooksNight is a small night with every hook.
const hooksNight = `
name: hooks
artifact: {path: app.ear}
environments:
  prod:
    local: true
    hosts: [{name: p1, deploy_dir: hosts/p1}]
    operations: {restart: restart-app}
hooks:
  on_start: notify "{{ .Version }} starting"
  on_success: notify "{{ .Version }} is out"
  on_failure: {run: notify failed, timeout: 50ms}
  on_rollback: notify rolled back
steps:
  - {name: migrate, on: prod, run: migrate, undo: migrate-down}
  - {name: stage, on: prod, upload: artifact}
  - {name: activate, on: prod, activate: true}
  - {name: restart, on: prod, op: restart, verify: health}
`

func hookNames(runs []runbooktest.HookRun) string {
	var names []string
	for _, r := range runs {
		names = append(names, r.Name)
	}
	return strings.Join(names, " ")
}

// A release runs on_start before its first step and on_success after its
// last line, each with the release facts; a resume starts nothing.
func TestHooksOfASucceedingRelease(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, hooksNight))
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	runs := p.Exec.HookRuns()
	if got := hookNames(runs); got != "on_start on_success" {
		t.Fatalf("hooks run: %q, want on_start on_success\n%s", got, p.UI)
	}
	if runs[0].Command != `notify "1.0 starting"` || runs[1].Command != `notify "1.0 is out"` {
		t.Errorf("commands %q, %q: not rendered for the release", runs[0].Command, runs[1].Command)
	}
	for k, v := range map[string]string{"RUNBOOK_HOOK": "on_success", "RUNBOOK_NAME": "hooks", "RUNBOOK_VERSION": "1.0",
		"RUNBOOK_RELEASE_ID": fmt.Sprint(w.Release().ID), "RUNBOOK_RELEASE_KIND": "release", "RUNBOOK_RELEASE_STATE": "succeeded",
		"RUNBOOK_OPERATOR": "tester", "RUNBOOK_MACHINE": "test", "RUNBOOK_STEP": ""} {
		if got, ok := runs[1].Env[k]; !ok || got != v {
			t.Errorf("on_success: %s=%q, want %q", k, got, v)
		}
	}
	if runs[0].Env["RUNBOOK_RELEASE_STATE"] != "running" {
		t.Errorf("on_start sees state %q, want running", runs[0].Env["RUNBOOK_RELEASE_STATE"])
	}
	ui := p.UI.String()
	if !(strings.Index(ui, "on_start | hook on_start ran") < strings.Index(ui, "[1/4] migrate") &&
		strings.Index(ui, "info: release 1.0 succeeded") < strings.Index(ui, "on_success | hook on_success ran")) {
		t.Errorf("hooks out of place:\n%s", ui)
	}
}

// A failed step (with --yes) runs on_failure naming the step; the
// resume that retries it starts nothing, and its success runs
// on_success. A rollback runs on_rollback.
func TestHooksOfAFailureAndARollback(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, hooksNight))
	broken := true
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if broken && c.Step.Name == "restart" && what == "verify" {
			return runbooktest.Fault{Exit: 7}
		}
		return runbooktest.Fault{}
	}
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: script}, start("1.0"), runbook.ErrStepFailed)
	runs := p.Exec.HookRuns()
	if got := hookNames(runs); got != "on_start on_failure" {
		t.Fatalf("hooks run: %q, want on_start on_failure", got)
	}
	if f := runs[1].Env; f["RUNBOOK_STEP"] != "restart" || f["RUNBOOK_RELEASE_STATE"] != "failed" || f["RUNBOOK_REASON"] != "step restart failed" {
		t.Errorf("on_failure env %v", f)
	}
	broken = false
	p = mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: script}, resume, nil)
	if got := hookNames(p.Exec.HookRuns()); got != "on_success" {
		t.Errorf("resume ran hooks %q, want on_success only", got)
	}
	p = mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, rollback, nil)
	runs = p.Exec.HookRuns()
	if got := hookNames(runs); got != "on_rollback" || runs[0].Env["RUNBOOK_RELEASE_STATE"] != "rolled_back" {
		t.Errorf("rollback ran hooks %q (%v), want on_rollback in state rolled_back", got, runs)
	}
}

// rollback --to is a rollback: it runs on_rollback when it ends, and no
// other hook.
func TestHooksOfRollbackTo(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, hooksNight))
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, SameArtifact: true}, start("1.1"), nil)
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, func(ctx context.Context, e *engine.Engine) error {
		return e.RollbackTo(ctx, engine.RollbackToOptions{Version: "1.0"})
	}, nil)
	runs := p.Exec.HookRuns()
	if got := hookNames(runs); got != "on_rollback" {
		t.Fatalf("rollback --to ran hooks %q, want on_rollback", got)
	}
	if e := runs[0].Env; e["RUNBOOK_RELEASE_KIND"] != "rollback" || e["RUNBOOK_RELEASE_STATE"] != "succeeded" || e["RUNBOOK_VERSION"] != "1.0" {
		t.Errorf("on_rollback env %v", e)
	}
}

// A hook that fails, hangs past its timeout or cannot start is reported
// and noted, and the release goes on as if it had passed.
func TestFailingHooksAreNeverFatal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault runbooktest.Fault
		want  string
	}{
		{"exit", runbooktest.Fault{Exit: 3}, "hook on_failure failed (exit 3): hook on_failure ran; the release is not affected"},
		{"hang", runbooktest.Fault{Hang: true}, "hook on_failure did not finish (timed out after 50ms): hook on_failure ran; the release is not affected"},
		{"cannot start", runbooktest.Fault{Err: errors.New("start sh: no such file")}, "hook on_failure did not finish (start sh: no such file)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := runbooktest.NewWorld(t, load(t, hooksNight))
			fail := func(c *runbook.Call, what string) runbooktest.Fault {
				if c.Step.Name == "migrate" {
					return runbooktest.Fault{Exit: 1}
				}
				return runbooktest.Fault{}
			}
			hooks := func(c runbook.HookCall) runbooktest.Fault {
				if c.Hook.Name == runbook.HookOnFailure {
					return tc.fault
				}
				return runbooktest.Fault{}
			}
			begun := time.Now()
			p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: fail, HookScript: hooks}, start("1.0"), runbook.ErrStepFailed)
			if d := time.Since(begun); d > 30*time.Second {
				t.Errorf("a hanging hook held the command %s", d)
			}
			if ui := p.UI.String(); !strings.Contains(ui, "warn: "+tc.want) {
				t.Errorf("no warning %q:\n%s", tc.want, ui)
			}
			notes, _ := w.Store.Notes(context.Background(), w.Release().ID)
			found := false
			for _, n := range notes {
				found = found || n.Kind == "hook" && strings.HasPrefix(n.Text, tc.want)
			}
			if !found {
				t.Errorf("no note of the hook among %+v", notes)
			}
			if w.Release().State != runbook.ReleaseFailed {
				t.Errorf("release is %s, want failed (as without the hook)", w.Release().State)
			}
		})
	}
}
