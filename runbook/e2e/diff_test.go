package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/state"
)

const httpdConf = `# Apache on %s, managed by hand
ServerRoot "/etc/httpd"
Listen 8080
Timeout 60
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
`

// TestDiffKeepAlive: two real hosts whose httpd.conf differ only in
// KeepAlive (and a comment). diff exits 1 and shows the line, agrees after
// the fix, and a diff step fails the release until the difference is
// accepted with a reason.
func TestDiffKeepAlive(t *testing.T) {
	f := newFleet(t, "pre1", "prod1")
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: billing
known_hosts: `+f.knownHosts+`
environments:
`+f.env("prerelease", "pre1")+f.env("production", "prod1")+`
consistency:
  files: ["{{.Host.DeployDir}}/conf/httpd.conf"]
  commands: ["grep -c '^KeepAlive' {{.Host.DeployDir}}/conf/httpd.conf"]
  ignore: ['^\s*#']
steps:
  - {name: environments-match, diff: [prerelease, production]}
  - {name: stage, on: production, run: "touch {{.Host.DeployDir}}/staged"}
`)
	conf := func(host, keepAlive string) {
		t.Helper()
		c := strings.Replace(strings.Replace(httpdConf, "%s", host, 1), "KeepAlive On", "KeepAlive "+keepAlive, 1)
		write(t, f.hosts[host].DeployDir, "conf/httpd.conf", c)
	}
	conf("pre1", "On")
	conf("prod1", "Off")

	r := run(t, dir, "diff", "prerelease", "production")
	if r.code != 1 {
		t.Fatalf("diff of differing hosts: %s", r)
	}
	for _, want := range []string{
		"✗ file {{.Host.DeployDir}}/conf/httpd.conf — 2 variants",
		"A  prerelease/pre1", "B  production/prod1",
		"--- prerelease/pre1", "+++ production/prod1",
		"-KeepAlive On", "+KeepAlive Off",
		"✓ command grep -c '^KeepAlive' {{.Host.DeployDir}}/conf/httpd.conf — 2 hosts agree",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff output lacks %q:\n%s", want, r)
		}
	}
	// The comment names the host, but ignore drops it: only KeepAlive differs.
	if strings.Contains(r.stdout, "managed by hand") {
		t.Errorf("an ignored line shows in the diff:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "runbook: error: 1 of 2 consistency fact(s) differ between prerelease and production") || !strings.Contains(r.stderr, "runbook: hint:") {
		t.Errorf("diff error: %s", r.stderr)
	}

	r = run(t, dir, "diff", "prerelease", "production", "--json")
	var rep struct {
		Differs bool `json:"differs"`
		Facts   []struct {
			Kind     string `json:"kind"`
			Agree    bool   `json:"agree"`
			Unified  string `json:"unified"`
			Variants []struct {
				Hosts []string `json:"hosts"`
			} `json:"variants"`
		} `json:"facts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("diff --json (%v): %s", err, r)
	}
	if !rep.Differs || len(rep.Facts) != 2 || rep.Facts[0].Agree || !strings.Contains(rep.Facts[0].Unified, "+KeepAlive Off") || !rep.Facts[1].Agree {
		t.Errorf("json report: %+v", rep)
	}

	// A missing file is a difference shown as such, not a crash.
	if err := os.Rename(f.file("prod1", "conf/httpd.conf"), f.file("prod1", "conf/httpd.conf.bak")); err != nil {
		t.Fatal(err)
	}
	r = run(t, dir, "diff", "prerelease", "production")
	if r.code != 1 || !strings.Contains(r.stdout, "B  production/prod1: file missing") || !strings.Contains(r.stdout, "production/prod1: exit status 2") {
		t.Errorf("diff with a missing file: %s", r)
	}
	if err := os.Rename(f.file("prod1", "conf/httpd.conf.bak"), f.file("prod1", "conf/httpd.conf")); err != nil {
		t.Fatal(err)
	}

	conf("prod1", "On")
	r = run(t, dir, "diff", "prerelease", "production")
	if r.code != 0 || !strings.Contains(r.stdout, "prerelease and production: 2 of 2 fact(s) agree") || r.stderr != "" {
		t.Fatalf("diff after the fix: %s", r)
	}

	// The release: the diff step fails while the hosts differ...
	conf("prod1", "Off")
	r = run(t, dir, "start", "--version", "1.0", "--yes")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "+KeepAlive Off") {
		t.Fatalf("start with differing hosts: %s", r)
	}
	if st, _ := status(t, dir).step("environments-match"); st != "failed" {
		t.Fatalf("diff step is %s, want failed", st)
	}
	if _, err := os.Stat(f.file("prod1", "staged")); err == nil {
		t.Fatal("the release went past a failed diff step")
	}
	// An acceptance for another step is no way past the diff.
	r = run(t, dir, "resume", "--yes", "--accept-diff", "stage=KeepAlive Off is intended")
	if r.code != 2 || !strings.Contains(r.stderr, "stage is not a diff step") {
		t.Errorf("--accept-diff for a step that is no diff: %s", r)
	}

	// ...and passes once the difference is accepted with a reason.
	reason := "KeepAlive Off on production is intended until CHG-4711"
	r = run(t, dir, "resume", "--yes", "--accept-diff", "environments-match="+reason)
	if r.code != 0 || !strings.Contains(r.stderr, reason) {
		t.Fatalf("resume with the difference accepted: %s", r)
	}
	d := status(t, dir)
	if st, _ := d.step("environments-match"); st != "succeeded" || d.Release.State != "succeeded" {
		t.Fatalf("after acceptance: diff step %s, release %s", st, d.Release.State)
	}
	if _, err := os.Stat(f.file("prod1", "staged")); err != nil {
		t.Errorf("the step after the accepted diff did not run: %v", err)
	}
	if !noteWith(t, dir, d.Release.ID, "deviation", reason) {
		t.Errorf("the accepted difference and its reason are not recorded")
	}
	// Whoever looks at the release next sees what was accepted, and why.
	if st := run(t, dir, "status"); !strings.Contains(st.stdout, "deviations:") ||
		!strings.Contains(st.stdout, "environments-match: accepted 1 differing fact(s): "+reason) {
		t.Errorf("status does not show the accepted difference:\n%s", st.stdout)
	}
	quickCheck(t, dir)
}

// noteWith reports whether the release has a note of kind containing text.
func noteWith(t *testing.T, dir string, releaseID int64, kind, text string) bool {
	t.Helper()
	st, err := state.OpenReadOnly(filepath.Join(dir, ".runbook", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	notes, err := st.Notes(t.Context(), releaseID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range notes {
		if n.Kind == kind && strings.Contains(n.Text, text) {
			return true
		}
	}
	t.Logf("notes: %+v", notes)
	return false
}
