package engine_test

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

// A host run whose command passed and whose verify did not names the
// verify with the run, its last exit status and its attempts; the reason
// of its failure says it too. A retry that passes forgets it.
func TestFailedVerifyIsNamed(t *testing.T) {
	rb := load(t, `
name: verify
environments:
  prod:
    local: true
    hosts: [{name: p1}, {name: p2}]
    operations: {restart: restart-app}
steps:
  - {name: restart, on: prod, op: restart, verify: 'curl -fsS http://localhost/health?token={{ .Version }}', retries: 2, retry_delay: 1ms}
`)
	w := runbooktest.NewWorld(t, rb)
	healthy := false
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if what == "verify" && c.Host.Name == "p2" && !healthy {
			return runbooktest.Fault{Exit: 22}
		}
		return runbooktest.Fault{}
	}
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: script}, start("1.0"), runbook.ErrStepFailed)
	sr := w.Steps(w.Release().ID)[0]
	p2 := sr.Hosts[1]
	if p2.State != runbook.RunFailed || p2.ExitCode != 0 {
		t.Fatalf("p2 is %s with exit %d, want failed with its command's exit 0", p2.State, p2.ExitCode)
	}
	f := runbook.ParseDetail(p2.Detail).FailedVerify
	want := runbook.FailedVerify{Command: "curl -fsS http://localhost/health?token=1.0", ExitCode: 22, Attempts: 3}
	if f == nil || *f != want {
		t.Fatalf("failed verify %+v, want %+v", f, want)
	}
	if runbook.ParseDetail(sr.Hosts[0].Detail).FailedVerify != nil {
		t.Errorf("p1's verify passed, and its run names a failed one: %s", sr.Hosts[0].Detail)
	}
	if !strings.Contains(sr.Reason, "p2 (verify failed after 3 attempt(s) (exit 22): curl -fsS http://localhost/health?token=1.0)") {
		t.Errorf("step reason %q does not name the verify", sr.Reason)
	}
	if ui := p.UI.String(); !strings.Contains(ui, "runbook: verify failed after 3 attempt(s) (exit 22)") {
		t.Errorf("the host's output does not name the verify:\n%s", ui)
	}
	healthy = true
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: script}, resume, nil)
	if d := w.Steps(w.Release().ID)[0].Hosts[1].Detail; d != "" {
		t.Errorf("p2 passed on retry and still records %s", d)
	}
}
