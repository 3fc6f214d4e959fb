package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// load writes a runbook file (and its artifact, app.ear) into a temporary
// directory and loads it.
func load(t testing.TB, text string) *runbook.Runbook {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.ear"), []byte("the ear"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Load(p)
	if err != nil {
		t.Fatalf("load the test runbook: %v", err)
	}
	return rb
}

// night is a small release night: a build step, a migration that is not
// idempotent and has no check, a warm-up with a check, staging, switching
// and a restart with a verify, on two production hosts two at a time.
// Every step is auto, so an interactive run asks only what the engine
// must decide with the operator.
const night = `
name: night
artifact: {path: app.ear}
environments:
  build: {local: true, workdir: .}
  prod:
    local: true
    parallel: 2
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
      - {name: p2, deploy_dir: hosts/p2}
    operations:
      restart: restart-app
steps:
  - {name: build, on: build, run: make, auto: true, idempotent: true}
  - {name: migrate, on: prod, run: migrate, auto: true}
  - {name: warm, on: prod, run: warm, check: test -f warm, auto: true}
  - {name: stage, on: prod, upload: artifact, auto: true}
  - {name: activate, on: prod, activate: true, auto: true}
  - {name: restart, on: prod, op: restart, verify: health, auto: true}
`

// hostsOf lists the (step, host) pairs of the night that touch a host.
var nightRuns = [][2]string{
	{"build", "local"},
	{"migrate", "p1"}, {"migrate", "p2"},
	{"warm", "p1"}, {"warm", "p2"},
	{"stage", "p1"}, {"stage", "p2"},
	{"activate", "p1"}, {"activate", "p2"},
	{"restart", "p1"}, {"restart", "p2"},
}

// rollbackNight is the night with an undo (or `undo: none`) on every step
// that changes a host, so a rollback under --yes can undo all of it.
var rollbackNight = strings.NewReplacer(
	"{name: migrate, on: prod, run: migrate, auto: true}", "{name: migrate, on: prod, run: migrate, undo: migrate-down, auto: true}",
	"check: test -f warm, auto: true}", "check: test -f warm, undo: none, auto: true}",
).Replace(night)
