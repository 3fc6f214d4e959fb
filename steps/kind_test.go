package steps

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// Every kind of the runbook file has its type here: a kind added to
// runbook.Kinds without one would load and then fail on the first host.
func TestEveryKindIsRegistered(t *testing.T) {
	for _, k := range runbook.Kinds {
		if _, err := KindOf(&runbook.Step{Name: "x", Kind: k}); err != nil {
			t.Errorf("kind %s: %v", k, err)
		}
	}
	if len(kinds) != len(runbook.Kinds) {
		t.Errorf("%d kinds registered, runbook knows %d", len(kinds), len(runbook.Kinds))
	}
}

// What each kind changes, which the undo policy acts on, and how plan
// describes it.
func TestKindsChangesAndDescribe(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(p, []byte(`name: k
artifact: {path: app.ear}
environments:
  build: {local: true}
  prod:
    local: true
    hosts: [{name: p1, deploy_dir: d/p1}]
    operations: {restart: restart-app, status: status-app}
  remote:
    hosts: [{name: r1, address: 127.0.0.1, deploy_dir: /d}]
consistency: {commands: ["java -version"]}
steps:
  - {name: build, on: build, run: mvn package}
  - {name: migrate, on: prod, run: migrate up}
  - {name: smoke, on: prod, run: smoke-test, undo: none}
  - {name: status-before, on: prod, op: status}
  - {name: stage, on: prod, upload: artifact}
  - {name: activate, on: prod, activate: true}
  - {name: restart, on: prod, op: restart}
  - {name: remote-run, on: remote, run: touch x}
  - {name: qa, confirm: QA is happy, signoff: [QA]}
  - {name: same, diff: [prod, remote]}
  - {name: reach, on: prod, probe: {tcp: ["db:5432"]}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step     string
		changes  runbook.Change
		describe string
	}{
		{"build", runbook.ChangesBuild, ""},
		{"migrate", runbook.ChangesHosts, ""}, // prod is local, but its hosts have deploy dirs: it stands for hosts
		{"smoke", runbook.ChangesNothing, ""},
		{"status-before", runbook.ChangesHosts, "operation status of prod"},
		{"stage", runbook.ChangesStaged, "stage app.ear as releases/2.0/app.ear"},
		{"activate", runbook.ChangesCurrent, "switch current to releases/2.0"},
		{"restart", runbook.ChangesRunning, "operation restart of prod"},
		{"remote-run", runbook.ChangesHosts, ""},
		{"qa", runbook.ChangesNothing, "confirm: QA is happy (sign-off: QA)"},
		{"same", runbook.ChangesNothing, "compare environments prod and remote"},
		{"reach", runbook.ChangesNothing, "probe db:5432"},
	} {
		s := rb.Step(tc.step)
		if got := Changes(rb, s); got != tc.changes {
			t.Errorf("%s changes %s, want %s", tc.step, got, tc.changes)
		}
		if got := Describe(rb, s, "2.0"); got != tc.describe {
			t.Errorf("%s is described %q, want %q", tc.step, got, tc.describe)
		}
	}
}
