package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var signoffs = []string{"--signoff", "QA=Li Na", "--signoff", "DBA=Wang Li"}

func initDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if r := run(t, dir, "init", "."); r.code != 0 {
		t.Fatalf("init: %s", r)
	}
	return dir
}

func sha(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestExampleNight walks the example runbook twice, as `make demo` does,
// and checks the effects on disk and the record, with the record on
// either backend.
func TestExampleNight(t *testing.T) { eachRecord(t, exampleNight) }

func exampleNight(t *testing.T, record func(*testing.T, string)) {
	dir := initDemo(t)
	record(t, dir)
	if r := run(t, dir, "validate"); r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("validate: %s", r)
	}
	r := run(t, dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...)
	if r.code != 0 {
		t.Fatalf("start 1.0.0: %s", r)
	}
	for _, want := range []string{"[1/9] update-source", "pre1", "prod2", "QA signed off by Li Na", "release 1.0.0 succeeded"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	ear := sha(t, filepath.Join(dir, "target/billing.ear"))
	for _, h := range []string{"pre1", "prod1", "prod2"} {
		base := filepath.Join(dir, "hosts", h, "opt/billing")
		link, err := os.Readlink(filepath.Join(base, "current"))
		if err != nil || filepath.Base(link) != "1.0.0" {
			t.Errorf("%s: current -> %q (%v), want releases/1.0.0", h, link, err)
		}
		if got := sha(t, filepath.Join(base, "releases/1.0.0/billing.ear")); got != ear {
			t.Errorf("%s: staged ear sha %s, want %s", h, got, ear)
		}
		if got := strings.TrimSpace(read(t, filepath.Join(base, "run/health"))); got != "UP 1.0.0" {
			t.Errorf("%s: health %q", h, got)
		}
	}

	d := status(t, dir)
	if d.Release.State != "succeeded" || d.Release.Version != "1.0.0" || d.Release.Kind != "release" || d.Next != nil {
		t.Errorf("status: %+v", d.Release)
	}
	if d.Release.Artifact.SHA256 != ear || d.Release.FinishedAt == nil {
		t.Errorf("status artifact %+v finished %v", d.Release.Artifact, d.Release.FinishedAt)
	}
	for _, s := range d.Steps {
		if s.State != "succeeded" || s.Attempts != 1 {
			t.Errorf("step %s: %s after %d attempts", s.Name, s.State, s.Attempts)
		}
	}

	// The same version again: nothing runs.
	r = run(t, dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "already released") || strings.Contains(r.stdout, "[1/9]") {
		t.Fatalf("second start of 1.0.0: %s", r)
	}

	// The next version: 1.0.0 stays staged as the previous release.
	if r := run(t, dir, append([]string{"start", "--version", "1.1.0", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("start 1.1.0: %s", r)
	}
	link, _ := os.Readlink(filepath.Join(dir, "hosts/prod1/opt/billing/current"))
	if filepath.Base(link) != "1.1.0" {
		t.Errorf("prod1 current -> %s after 1.1.0", link)
	}
	if _, err := os.Stat(filepath.Join(dir, "hosts/prod1/opt/billing/releases/1.0.0/billing.ear")); err != nil {
		t.Errorf("previous release removed: %v", err)
	}
	h := run(t, dir, "history", "--json")
	if h.code != 0 || strings.Count(h.stdout, `"version"`) != 2 {
		t.Errorf("history: %s", h)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, ".runbook/logs/*/*-build-ear/local.log"))
	if len(logs) != 2 || !strings.Contains(read(t, logs[0]), "built target/billing.ear") {
		t.Errorf("build logs %v", logs)
	}
	quickCheck(t, dir)
}

func TestStartNeedsTerminalOrYes(t *testing.T) {
	dir := initDemo(t)
	r := run(t, dir, "start", "--version", "1.0.0")
	if r.code != 2 || !strings.Contains(r.stderr, "runbook: hint:") || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("%s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, ".runbook/state.db")); err == nil {
		// Refused before anything was recorded.
		if d := run(t, dir, "history", "--json"); strings.Contains(d.stdout, "1.0.0") {
			t.Fatalf("a release was recorded: %s", d)
		}
	}
}

func TestMissingSignoffWithYesExits3(t *testing.T) {
	dir := initDemo(t)
	r := run(t, dir, "start", "--version", "1.0.0", "--yes", "--signoff", "QA=Li Na")
	if r.code != 3 || !strings.Contains(r.stderr, "DBA") || !strings.Contains(r.stderr, "--signoff DBA=NAME") {
		t.Fatalf("%s", r)
	}
	d := status(t, dir)
	if st, _ := d.step("restart-prerelease"); st != "succeeded" {
		t.Errorf("restart-prerelease %s", st)
	}
	if st, _ := d.step("qa-signoff"); st != "pending" && st != "interrupted" {
		t.Errorf("qa-signoff %s, want it not run", st)
	}
	if d.Release.State != "paused" || d.Next == nil || *d.Next != "qa-signoff" {
		t.Errorf("release %s next %v", d.Release.State, d.Next)
	}
	// Given the missing sign-off, resume finishes the night.
	r = run(t, dir, append([]string{"resume", "--yes"}, signoffs...)...)
	if r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	if d := status(t, dir); d.Release.State != "succeeded" {
		t.Fatalf("after resume: %s", d.Release.State)
	}
}

func TestFailedStepResumeRetries(t *testing.T) { eachRecord(t, failedStepResumeRetries) }

func failedStepResumeRetries(t *testing.T, record func(*testing.T, string)) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: one, on: build, run: "echo one >> one.count"}
  - {name: flaky, on: build, run: "echo try >> flaky.count; test -f fixed"}
  - {name: three, on: build, run: "echo three >> three.count"}
`)
	record(t, dir)
	r := run(t, dir, "start", "--version", "1", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "flaky") || !strings.Contains(r.stderr, "runbook resume") {
		t.Fatalf("want exit 1 naming the step: %s", r)
	}
	if d := status(t, dir); d.Release.State != "failed" || *d.Next != "flaky" {
		t.Fatalf("release %s next %v", d.Release.State, d.Next)
	}
	// start --yes again does not retry by itself (only resume does).
	if r := run(t, dir, "start", "--version", "1", "--yes"); r.code != 1 {
		t.Fatalf("start again: %s", r)
	}
	write(t, dir, "fixed", "")
	if r := run(t, dir, "resume", "--yes"); r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	for f, want := range map[string]int{"one.count": 1, "flaky.count": 2, "three.count": 1} {
		if n := strings.Count(read(t, filepath.Join(dir, f)), "\n"); n != want {
			t.Errorf("%s ran %d times, want %d", f, n, want)
		}
	}
	if _, attempts := status(t, dir).step("flaky"); attempts != 2 {
		t.Errorf("flaky attempts %d", attempts)
	}
	if r := run(t, dir, "resume", "--yes"); r.code != 2 || !strings.Contains(r.stderr, "no release is unfinished") {
		t.Fatalf("resume with nothing to resume: %s", r)
	}
}

func TestVerifyRetries(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - name: up
    on: build
    run: "echo 0 > n"
    verify: "n=$(cat n); echo $((n+1)) > n; test $n -ge 2"
    retries: 3
    retry_delay: 10ms
`)
	if r := run(t, dir, "start", "--version", "1", "--yes"); r.code != 0 {
		t.Fatalf("%s", r)
	}
	if got := strings.TrimSpace(read(t, filepath.Join(dir, "n"))); got != "3" {
		t.Fatalf("verify ran %s times, want 3", got)
	}
}

func TestOtherVersionUnfinishedExits4(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: bad, on: build, run: "exit 7"}
`)
	if r := run(t, dir, "start", "--version", "1", "--yes"); r.code != 1 {
		t.Fatalf("%s", r)
	}
	r := run(t, dir, "start", "--version", "2", "--yes")
	if r.code != 4 || !strings.Contains(r.stderr, "release 1") || !strings.Contains(r.stderr, "runbook abort") {
		t.Fatalf("%s", r)
	}
	// Without a terminal, abort needs --yes: it would ask to confirm.
	if r := run(t, dir, "abort"); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("abort without a terminal or --yes: %s", r)
	}
	if r := run(t, dir, "abort", "--yes"); r.code != 0 {
		t.Fatalf("abort: %s", r)
	}
	if d := status(t, dir); d.Release.State != "aborted" {
		t.Fatalf("after abort: %s", d.Release.State)
	}
}

func TestFromSkipsEarlierSteps(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: a, on: build, run: "touch a"}
  - {name: b, on: build, run: "touch b"}
`)
	if r := run(t, dir, "start", "--version", "1", "--yes", "--from", "b"); r.code != 0 {
		t.Fatalf("%s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err == nil {
		t.Error("step a ran despite --from b")
	}
	if st, _ := status(t, dir).step("a"); st != "skipped" {
		t.Errorf("a is %s", st)
	}
	if r := run(t, dir, "start", "--version", "2", "--yes", "--from", "nope"); r.code != 2 {
		t.Errorf("--from unknown: %s", r)
	}
}

func TestValidateReportsPositions(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: a, on: nowhere, run: "true"}
  - {name: a, on: build, runn: "true"}
`)
	r := run(t, dir, "validate")
	if r.code != 2 {
		t.Fatalf("%s", r)
	}
	for _, want := range []string{"runbook.yaml:5:", "nowhere", "runbook.yaml:6:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r := run(t, t.TempDir(), "validate"); r.code != 2 || !strings.Contains(r.stderr, "runbook init") {
		t.Errorf("missing file: %s", r)
	}
}

func TestPlanJSON(t *testing.T) {
	dir := initDemo(t)
	r := run(t, dir, "plan", "--version", "2.0.0", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"name": "stage-production"`) || !strings.Contains(r.stdout, "2.0.0") {
		t.Fatalf("%s", r)
	}
	if r := run(t, dir, "plan"); r.code != 0 || !strings.Contains(r.stdout, "restart-production") {
		t.Fatalf("%s", r)
	}
}
