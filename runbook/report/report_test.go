package report_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/report"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const earSHA = "5d41402abc4b2a76b9719d911017c592e7d6a3c1b2f4e5d6c7b8a9f0e1d2c3b4"

// recordNight records release 2.4.0 of the billing center: a failure and
// its retry, a sign-off, an accepted diff, probes, a skip with a reason, a
// crash in the middle of an upload with the lock recovered and the upload
// run again, then a rollback that undoes the switch.
func recordNight(t *testing.T) *night {
	n := newNight(t)
	hosts := func(names ...string) []*runbook.HostRun {
		var hs []*runbook.HostRun
		for _, h := range names {
			hs = append(hs, &runbook.HostRun{Host: h})
		}
		return hs
	}
	n.plan("2.4.0", []*runbook.StepRun{
		{Name: "build-ear", Kind: runbook.KindRun, Env: "build", Hosts: hosts("local")},
		{Name: "stage-prerelease", Kind: runbook.KindUpload, Env: "prerelease", Hosts: hosts("pre1")},
		{Name: "activate-prerelease", Kind: runbook.KindActivate, Env: "prerelease", Hosts: hosts("pre1")},
		{Name: "restart-prerelease", Kind: runbook.KindOp, Env: "prerelease", Hosts: hosts("pre1")},
		{Name: "qa-signoff", Kind: runbook.KindConfirm},
		{Name: "environments-match", Kind: runbook.KindDiff},
		{Name: "interfaces-reachable", Kind: runbook.KindProbe, Env: "production", Hosts: hosts("prod1", "prod2")},
		{Name: "load-test", Kind: runbook.KindRun, Env: "production", Hosts: hosts("prod1", "prod2")},
		{Name: "stage-production", Kind: runbook.KindUpload, Env: "production", Hosts: hosts("prod1", "prod2")},
		{Name: "activate-production", Kind: runbook.KindActivate, Env: "production", Hosts: hosts("prod1", "prod2")},
		{Name: "restart-production", Kind: runbook.KindOp, Env: "production", Hosts: hosts("prod1", "prod2")},
	})
	none := func(string) string { return "" }
	n.wait(time.Second)
	n.release(runbook.EvStart, runbook.ReleaseRunning, "")

	n.ok("build-ear", 42*time.Second, func(string) string {
		return "[INFO] Building billing 2.4.0\n[INFO] BUILD SUCCESS\nbuilt target/billing.ear (48213 bytes)\n"
	}, none)
	n.rel.ArtifactSHA256 = earSHA
	n.check(n.st.RecordRelease(n.ctx, n.rel, nil))

	n.ok("stage-prerelease", 6*time.Second, none, func(string) string {
		return runbook.ActionDetail{SHA256: earSHA, Bytes: 48213}.JSON()
	})
	n.check(n.st.AddStaged(n.ctx, runbook.Staged{Env: "prerelease", Host: "pre1", Version: "2.4.0", SHA256: earSHA, ReleaseID: n.rel.ID}))
	n.ok("activate-prerelease", time.Second, none, func(string) string {
		return runbook.ActionDetail{Version: "2.4.0", Previous: "2.3.0", Removed: []string{"2.0.0"}}.JSON()
	})
	n.check(n.st.AddStaged(n.ctx, runbook.Staged{Env: "prerelease", Host: "pre1", Version: "2.0.0", ReleaseID: n.rel.ID, Removed: true}))
	n.check(n.st.SetLive(n.ctx, runbook.Live{Env: "prerelease", Host: "pre1", Version: "2.4.0", Previous: "2.3.0", ReleaseID: n.rel.ID}))

	// The first restart fails its health check; the operator stops,
	// fixes the datasource and resumes, which retries the step.
	n.wait(time.Second)
	n.step("restart-prerelease", runbook.EvStart, runbook.RunRunning, "")
	n.begin("restart-prerelease", "pre1", runbook.EvStart)
	n.wait(16 * time.Second)
	n.end("restart-prerelease", "pre1", 1, "restarting jboss (db password=****)\nhealth: HTTP 503 from http://localhost:8080/billing/health\nverify failed after 5 tries\n", "")
	n.step("restart-prerelease", runbook.EvFail, runbook.RunFailed, "restart-prerelease failed on pre1 (exit 1)")
	n.release(runbook.EvFail, runbook.ReleaseFailed, "step restart-prerelease failed")
	n.wait(4 * time.Minute)
	n.release(runbook.EvRetry, runbook.ReleaseRunning, "resumed by alice")
	n.step("restart-prerelease", runbook.EvRetry, runbook.RunRunning, "")
	n.begin("restart-prerelease", "pre1", runbook.EvRetry)
	n.wait(20 * time.Second)
	n.end("restart-prerelease", "pre1", 0, "restarting jboss (db password=****)\nhealth: UP 2.4.0\n", "")
	n.step("restart-prerelease", runbook.EvSucceed, runbook.RunSucceeded, "")

	n.wait(time.Second)
	n.step("qa-signoff", runbook.EvStart, runbook.RunRunning, "")
	n.wait(15 * time.Second)
	n.check(n.st.AddSignoff(n.ctx, runbook.Signoff{ReleaseID: n.rel.ID, Step: "qa-signoff", Role: "QA", Name: "Li Na", Operator: "alice", OSUser: "alice", Via: "--signoff"}))
	n.check(n.st.AddSignoff(n.ctx, runbook.Signoff{ReleaseID: n.rel.ID, Step: "qa-signoff", Role: "DBA", Name: "Wang Li", Operator: "alice", OSUser: "alice", Via: "prompt"}))
	n.note("confirm", "qa-signoff", "", "confirmed at the prompt by alice: QA verified the prerelease and the DBA ran the migration")
	n.step("qa-signoff", runbook.EvSucceed, runbook.RunSucceeded, "")

	n.wait(time.Second)
	n.step("environments-match", runbook.EvStart, runbook.RunRunning, "")
	n.wait(3 * time.Second)
	diff, _ := json.Marshal(runbook.DiffReport{EnvA: "prerelease", EnvB: "production", Differs: true, Facts: []runbook.FactDiff{
		{Kind: "command", Fact: "java -version 2>&1 | head -1", Agree: true, Variants: []runbook.FactVariant{
			{Hosts: []string{"prerelease/pre1", "production/prod1", "production/prod2"}, Value: `openjdk version "1.8.0_402"`}}},
		{Kind: "command", Fact: "sysctl -n net.ipv4.tcp_keepalive_time", Agree: false, Variants: []runbook.FactVariant{
			{Hosts: []string{"prerelease/pre1"}, Value: "7200"},
			{Hosts: []string{"production/prod1", "production/prod2"}, Value: "600"}},
			Unified: "--- prerelease/pre1\n+++ production/prod1\n@@ -1 +1 @@\n-7200\n+600\n"},
	}})
	n.note("diff", "environments-match", "", string(diff))
	n.note("deviation", "environments-match", "", "accepted 1 differing fact(s): production keepalive is tuned for the load balancer (CHG-1142)")
	n.step("environments-match", runbook.EvSucceed, runbook.RunSucceeded, "")

	n.ok("interfaces-reachable", 2*time.Second, func(h string) string {
		return "ok   tcp billing-db:3306 from " + h + ": connect 1.8 ms\n"
	}, func(string) string {
		return `[{"target":"tcp billing-db:3306","ok":true,"connect_ms":1.8},` +
			`{"target":"http http://localhost:8080/billing/health","ok":true,"connect_ms":0.9,"latency_ms":[12.5,3.1,2.9]}]`
	})

	n.wait(30 * time.Second)
	reason := "load generator is down; Wang Li (DBA) accepted going without"
	n.host("load-test", "prod1", runbook.EvSkip, runbook.RunSkipped, reason)
	n.host("load-test", "prod2", runbook.EvSkip, runbook.RunSkipped, reason)
	n.step("load-test", runbook.EvSkip, runbook.RunSkipped, reason)
	n.note("deviation", "load-test", "", "skipped: "+reason)

	// The operator's laptop dies while prod2 is still receiving the EAR.
	n.wait(time.Second)
	n.step("stage-production", runbook.EvStart, runbook.RunRunning, "")
	n.begin("stage-production", "prod1", runbook.EvStart)
	n.begin("stage-production", "prod2", runbook.EvStart)
	n.wait(7 * time.Second)
	n.end("stage-production", "prod1", 0, "", runbook.ActionDetail{SHA256: earSHA, Bytes: 48213}.JSON())
	n.check(n.st.AddStaged(n.ctx, runbook.Staged{Env: "production", Host: "prod1", Version: "2.4.0", SHA256: earSHA, ReleaseID: n.rel.ID}))
	n.wait(10 * time.Minute)
	n.note("lock", "", "", "lock recovered from dead holder alice@ops-box pid 4242 (start 2.4.0, since 2026-11-26T21:06:56Z)")
	const crash = "found running after a crash"
	n.host("stage-production", "prod2", runbook.EvInterrupt, runbook.RunInterrupted, crash)
	n.step("stage-production", runbook.EvInterrupt, runbook.RunInterrupted, crash)
	n.release(runbook.EvPause, runbook.ReleasePaused, crash)
	// Bob takes over on the shared build account, naming himself.
	n.operator, n.osUser = "bob", "builder"
	n.note("resume", "", "", "resumed after a crash by bob on ops-box")
	n.release(runbook.EvResume, runbook.ReleaseRunning, "resumed by bob")
	n.step("stage-production", runbook.EvRerun, runbook.RunRunning, "")
	n.begin("stage-production", "prod2", runbook.EvRerun)
	n.wait(8 * time.Second)
	n.end("stage-production", "prod2", 0, "", runbook.ActionDetail{SHA256: earSHA, Bytes: 48213}.JSON())
	n.check(n.st.AddStaged(n.ctx, runbook.Staged{Env: "production", Host: "prod2", Version: "2.4.0", SHA256: earSHA, ReleaseID: n.rel.ID}))
	n.step("stage-production", runbook.EvSucceed, runbook.RunSucceeded, "")

	n.ok("activate-production", time.Second, none, func(string) string {
		return runbook.ActionDetail{Version: "2.4.0", Previous: "2.3.0"}.JSON()
	})
	for _, h := range []string{"prod1", "prod2"} {
		n.check(n.st.SetLive(n.ctx, runbook.Live{Env: "production", Host: h, Version: "2.4.0", Previous: "2.3.0", ReleaseID: n.rel.ID}))
	}
	n.ok("restart-production", 25*time.Second, func(h string) string {
		return "restarting jboss on " + h + "\nhealth: UP 2.4.0\n"
	}, none)
	for _, h := range []string{"prod1", "prod2"} {
		n.check(n.st.VerifyLive(n.ctx, "production", h, "2.4.0", n.now))
	}
	n.wait(time.Second)
	n.release(runbook.EvSucceed, runbook.ReleaseSucceeded, "")

	// Error rates climb: the operator rolls the release back.
	n.wait(40 * time.Minute)
	n.release(runbook.EvRollback, runbook.ReleaseRollingBack, "error rate up to 4% after the switch")
	// Switched back, then restarted on 2.3.0 and verified (SPEC 4.6).
	n.undo("activate-production", 21*time.Second)
	for _, h := range []string{"prod1", "prod2"} {
		n.check(n.st.SetLive(n.ctx, runbook.Live{Env: "production", Host: h, Version: "2.3.0", Previous: "2.4.0", ReleaseID: n.rel.ID}))
		n.check(n.st.VerifyLive(n.ctx, "production", h, "2.3.0", n.now))
	}
	n.wait(time.Second)
	n.release(runbook.EvRolledBack, runbook.ReleaseRolledBack, "")
	return n
}

var renderers = map[string]func(io.Writer, *report.Doc) error{
	"txt": report.Text, "md": report.Markdown, "html": report.HTML, "json": report.JSON,
}

// TestGolden renders the recorded night in every format and compares it
// with testdata/night.<format>.golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	doc := report.Build(recordNight(t).input())
	for format, render := range renderers {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := render(&b, doc); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "night."+format+".golden"), b.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test -update and review the diff):\n%s", path, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first line that differs, enough to find it.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n- " + w + "\n+ " + g
		}
	}
	return "(same lines, different bytes)"
}

// TestSections checks what the golden files are meant to show, so a
// careless -update cannot bless a report that lost a section.
func TestSections(t *testing.T) {
	doc := report.Build(recordNight(t).input())
	if doc.Release.State != "rolled_back" || doc.Next != nil {
		t.Errorf("release %+v next %v", doc.Release, doc.Next)
	}
	restart := doc.Steps[3]
	if restart.Name != "restart-prerelease" || restart.Attempts != 2 || restart.State != "succeeded" ||
		restart.Hosts[0].Attempts != 2 || *restart.Hosts[0].ExitCode != 0 {
		t.Errorf("retried step: %+v", restart)
	}
	if load := doc.Steps[7]; load.State != "skipped" || !strings.Contains(load.Reason, "load generator is down") {
		t.Errorf("skipped step: %+v", load)
	}
	if len(doc.Signoffs) != 2 || doc.Signoffs[0].Name != "Li Na" || doc.Signoffs[1].Via != "prompt" {
		t.Errorf("signoffs: %+v", doc.Signoffs)
	}
	kinds := map[string]int{}
	for _, d := range doc.Deviations {
		kinds[d.Kind]++
	}
	if kinds["deviation"] != 2 || kinds["lock"] != 1 || kinds["resume"] != 1 || len(doc.Confirmations) != 1 {
		t.Errorf("deviations by kind %v, confirmations %d", kinds, len(doc.Confirmations))
	}
	if len(doc.Diffs) != 1 || !doc.Diffs[0].Differs || len(doc.Diffs[0].Facts) != 2 {
		t.Errorf("diffs: %+v", doc.Diffs)
	}
	if len(doc.Probes) != 4 || !doc.Probes[1].OK || len(doc.Probes[1].LatencyMS) != 3 {
		t.Errorf("probes: %+v", doc.Probes)
	}
	if len(doc.Rollbacks) != 1 {
		t.Fatalf("rollbacks: %+v", doc.Rollbacks)
	}
	rb := doc.Rollbacks[0]
	if rb.Kind != report.RollbackUndo || rb.State != "rolled_back" || rb.Reason != "error rate up to 4% after the switch" ||
		len(rb.Steps) != 1 || rb.Steps[0].Name != "activate-production" || rb.Steps[0].State != "undone" || rb.FinishedAt == nil {
		t.Errorf("rollback: %+v", rb)
	}
	for _, l := range doc.Live {
		if l.Env == "production" && (l.Version != "2.3.0" || l.VerifiedAt == nil) {
			t.Errorf("live after the rollback: %+v", l)
		}
		if l.Env == "prerelease" && l.VerifiedAt != nil {
			t.Errorf("pre1 is reported verified, though nothing verified it: %+v", l)
		}
	}
	if len(doc.Staged) != 4 || !doc.Staged[1].Removed {
		t.Errorf("staged: %+v", doc.Staged)
	}
	// The failed first attempt and the retry are two bars on one row; the
	// upload cut by the crash is a bar in doubt followed by its re-run.
	for _, row := range doc.Timeline.Rows {
		switch row.Step + "/" + row.Host {
		case "restart-prerelease/pre1":
			if len(row.Segments) != 2 || row.Segments[0].State != "failed" || row.Segments[1].State != "succeeded" {
				t.Errorf("timeline %s: %+v", row.Step, row.Segments)
			}
		case "stage-production/prod2":
			if len(row.Segments) != 2 || row.Segments[0].State != "interrupted" || row.Segments[1].State != "succeeded" {
				t.Errorf("timeline %s: %+v", row.Step, row.Segments)
			}
		case "activate-production/prod1":
			if len(row.Segments) != 2 || !row.Segments[1].Undo || row.Segments[1].State != "undone" {
				t.Errorf("timeline %s: %+v", row.Step, row.Segments)
			}
		}
	}
	labels := map[string]bool{}
	for _, a := range doc.Attention {
		labels[a.Label+" "+a.What] = true
	}
	for _, want := range []string{"ROLLED BACK release", "RETRIED restart-prerelease", "SKIPPED load-test",
		"RETRIED stage-production", "DIFFERS environments-match", "DEVIATIONS release"} {
		if !labels[want] {
			t.Errorf("attention lacks %q: %v", want, labels)
		}
	}
}

// TestHTMLSelfContained checks that the page loads nothing: no src or href
// but data: and fragments, no CSS url() or @import but fragment references.
func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := report.HTML(&b, report.Build(recordNight(t).input())); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, m := range regexp.MustCompile(`(?i)\b(?:src|href|xlink:href|action|poster|srcset)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "data:") && !strings.HasPrefix(m[1], "#") {
			t.Errorf("external reference %s", m[0])
		}
	}
	for _, m := range regexp.MustCompile(`(?i)url\(\s*['"]?([^'")]*)`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") {
			t.Errorf("external url() %s", m[0])
		}
	}
	if strings.Contains(strings.ToLower(page), "@import") {
		t.Error("the stylesheet imports another")
	}
	for _, want := range []string{"<svg", `class="bar failed"`, `class="bar doubt"`, ">FAILED</text>", ">IN DOUBT</text>", ">SKIPPED</text>", "@media print"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

// TestMaskedStaysMasked: a report shows recorded text as recorded; the
// masked value stays masked and no format invents a secret-looking value.
func TestMaskedStaysMasked(t *testing.T) {
	doc := report.Build(recordNight(t).input())
	for format, render := range renderers {
		var b bytes.Buffer
		if err := render(&b, doc); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "password=****") {
			t.Errorf("%s: the masked output tail is missing", format)
		}
	}
}

// TestRollbackTo shows a later `rollback --to` release in the report of
// the release it switched back.
func TestRollbackTo(t *testing.T) {
	n := recordNight(t)
	in := n.input()
	rel := &runbook.Release{ID: 2, Version: "2.3.0", Kind: runbook.KindRollback, State: runbook.ReleaseSucceeded, Operator: "bob",
		StartedAt: nightStart.Add(2 * time.Hour), FinishedAt: nightStart.Add(2*time.Hour + time.Minute), Envs: []string{"production"}}
	in.Rollbacks = []report.Rollback{{Release: rel,
		Steps:       []*runbook.StepRun{{Name: "switch-production", State: runbook.RunSucceeded}},
		Transitions: []runbook.Transition{{Scope: "release", To: "planned", Event: "create", Reason: "customers report wrong invoices"}}}}
	doc := report.Build(in)
	if len(doc.Rollbacks) != 2 || doc.Rollbacks[1].Kind != report.RollbackSwitch || doc.Rollbacks[1].Reason != "customers report wrong invoices" {
		t.Fatalf("rollbacks: %+v", doc.Rollbacks)
	}
	var b bytes.Buffer
	if err := report.Text(&b, doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rollback #2 to 2.3.0 on production [ok]", "started 2026-11-26T23:00:00Z by bob", "switch-production"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestUnfinishedRelease reports a release whose process died mid-step:
// the run still recorded as running is in doubt, and the report says
// where the release would continue.
func TestUnfinishedRelease(t *testing.T) {
	n := newNight(t)
	n.plan("2.5.0", []*runbook.StepRun{
		{Name: "build-ear", Kind: runbook.KindRun, Env: "build", Hosts: []*runbook.HostRun{{Host: "local"}}},
		{Name: "stage-production", Kind: runbook.KindUpload, Env: "production", Hosts: []*runbook.HostRun{{Host: "prod1"}}},
	})
	n.wait(time.Second)
	n.release(runbook.EvStart, runbook.ReleaseRunning, "")
	n.wait(time.Second)
	n.step("build-ear", runbook.EvStart, runbook.RunRunning, "")
	n.begin("build-ear", "local", runbook.EvStart)
	n.wait(9 * time.Second)
	n.note("warning", "", "", "the runbook file changed since release 2.5.0 started")

	doc := report.Build(n.input())
	if doc.Next == nil || *doc.Next != "build-ear" || doc.Release.FinishedAt != nil {
		t.Errorf("next %v finished %v", doc.Next, doc.Release.FinishedAt)
	}
	row := doc.Timeline.Rows[0]
	if len(row.Segments) != 1 || row.Segments[0].State != "running" || row.Segments[0].End.Sub(row.Segments[0].Start) != 0 {
		// The run never ended: its bar reaches the last thing recorded
		// (its own start here, as the note is not a transition).
		t.Errorf("open run: %+v", row.Segments)
	}
	var text, page bytes.Buffer
	if err := report.Text(&text, doc); err != nil {
		t.Fatal(err)
	}
	if err := report.HTML(&page, doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"billing-center release 2.5.0 (#1): RUNNING", "!! RUNNING     release", "next: build-ear",
		"!! RUNNING     build-ear on local", "ended     not yet (unfinished)", "warning", "the runbook file changed"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(page.String(), ">RUNNING</text>") || !strings.Contains(page.String(), `class="bar doubt"`) {
		t.Error("the html timeline does not mark the open run")
	}
}

// TestStagedRemovedBy tells the release's own version, removed when its
// rollback undid the upload, from an older one removed by keep: in JSON
// and in every format a person reads.
func TestStagedRemovedBy(t *testing.T) {
	in := recordNight(t).input()
	for i, s := range in.Staged {
		if s.Env == "production" && s.Host == "prod1" && s.Version == in.Release.Version {
			in.Staged[i].Removed, in.Staged[i].SHA256 = true, ""
		}
	}
	doc := report.Build(in)
	by := map[string]string{}
	for _, s := range doc.Staged {
		by[s.Host+"/"+s.Version] = s.RemovedBy
	}
	if by["prod1/2.4.0"] != report.RemovedByRollback || by["pre1/2.0.0"] != report.RemovedByKeep || by["prod2/2.4.0"] != "" {
		t.Fatalf("removed_by: %v", by)
	}
	for format, render := range renderers {
		if format == "json" {
			continue
		}
		var b bytes.Buffer
		if err := render(&b, doc); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "removed by the rollback") || !strings.Contains(b.String(), "removed (keep)") {
			t.Errorf("%s does not say what removed each release:\n%s", format, b.String())
		}
	}
}
