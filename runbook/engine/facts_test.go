package engine_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

// envLog keeps the environment every call of the fake executor was given.
type envLog struct {
	mu   sync.Mutex
	seen map[string]map[string]string // "what step/host" → env
}

func (l *envLog) script(c *runbook.Call, what string) runbooktest.Fault {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]map[string]string{}
	}
	l.seen[fmt.Sprintf("%s %s/%s", what, c.Step.Name, c.Host.Name)] = maps.Clone(c.Env)
	return runbooktest.Fault{}
}

func (l *envLog) env(t *testing.T, key string) map[string]string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	env, ok := l.seen[key]
	if !ok {
		t.Fatalf("no call %q among %v", key, slices.Sorted(maps.Keys(l.seen)))
	}
	return env
}

// SPEC §8 "Step environment": every command of a release gets the
// release facts beside its step's env — the action, the verify, an
// undo, and the restart a rollback runs after switching back, which
// runs for the restored version.
func TestEveryCommandGetsTheReleaseFacts(t *testing.T) {
	rb := load(t, `
name: facts
artifact: {path: app.ear}
environments:
  prod:
    local: true
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
    operations:
      restart: restart-app
steps:
  - {name: migrate, on: prod, run: migrate, undo: migrate-down, env: {DB: billing}}
  - {name: stage, on: prod, upload: artifact}
  - {name: activate, on: prod, activate: true}
  - {name: restart, on: prod, op: restart, verify: health}
`)
	w := runbooktest.NewWorld(t, rb)
	var log envLog
	yes := runbooktest.ProcessOptions{Yes: true, Script: log.script, SameArtifact: true}
	mustRun(t, w, yes, start("1.0"), nil)
	mustRun(t, w, yes, start("1.1"), nil)
	second := w.Release().ID
	want := func(key, version string, id int64, step string) {
		t.Helper()
		env := log.env(t, key)
		for k, v := range map[string]string{
			"RUNBOOK_VERSION": version, "RUNBOOK_RELEASE_ID": fmt.Sprint(id), "RUNBOOK_STEP": step,
			"RUNBOOK_HOST": "p1", "RUNBOOK_OPERATOR": "tester",
		} {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q (env %v)", key, k, env[k], v, env)
			}
		}
	}
	want("do migrate/p1", "1.1", second, "migrate")
	want("do restart/p1", "1.1", second, "restart")
	want("verify restart/p1", "1.1", second, "restart")
	if env := log.env(t, "do migrate/p1"); env["DB"] != "billing" {
		t.Errorf("the step's own env is gone: %v", env)
	}
	mustRun(t, w, yes, rollback, nil)
	want("undo migrate/p1", "1.1", second, "migrate")
	// The restart after the switch back runs for 1.0, in the rollback of
	// release #2.
	want("do restart/p1", "1.0", second, "restart")
	want("verify restart/p1", "1.0", second, "restart")
}
