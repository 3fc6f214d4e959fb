package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// reportShape is SPEC §7's report JSON as jq sees it: the status object
// (every field with its type), then the report's own lists.
const reportShape = `
def rfc3339: type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$");
def opt_time: . == null or rfc3339;
def str: type == "string";
def num: type == "number";

(.runbook | str)
and (.release | type == "object")
and (.release.id | num) and (.release.version | str) and (.release.kind == "release")
and (.release.state == "succeeded") and (.release.operator | str)
and (.release.started_at | rfc3339) and (.release.finished_at | rfc3339)
and (.release.artifact.path == "target/billing.ear")
and (.release.artifact.sha256 | test("^[0-9a-f]{64}$"))
and (.steps | length) == 9
and all(.steps[];
	(.name | str) and (.kind | str) and (.env | str) and (.state == "succeeded")
	and (.attempts | num) and (.started_at | opt_time) and (.finished_at | opt_time)
	and (.duration_ms | num) and (.reason | str) and (.hosts | type == "array")
	and all(.hosts[];
		(.host | str) and (.state | str) and (.exit_code == null or (.exit_code | num))
		and (.attempts | num) and (.duration_ms | num)
		and (.started_at | opt_time) and (.finished_at | opt_time) and (.output_tail | str)))
and (.next == null)
and (.identity.runbook_file | str) and (.identity.runbook_sha256 | test("^[0-9a-f]{64}$")) and (.identity.machine | str)
and (.transitions | length) > 0
and all(.transitions[];
	(.at | rfc3339) and (.scope | str) and (.from | str) and (.to | str)
	and (.event | str) and (.operator | str) and (.reason | str))
and (.transitions[0].to == "planned") and (.transitions[-1].to == "succeeded")
and (.signoffs | length) == 2
and all(.signoffs[]; (.step == "qa-signoff") and (.role | str) and (.name | str) and (.os_user | str) and (.at | rfc3339))
and ([.signoffs[] | .role + "=" + .name] | sort) == ["DBA=Wang Li", "QA=Li Na"]
and (.confirmations | type == "array") and (.deviations == []) and (.diffs == []) and (.probes == [])
and (.rollbacks == [])
and (.live | length) > 0
and all(.live[]; (.env | str) and (.host | str) and (.version == "1.0.0") and (.release_id | num) and (.at | rfc3339))
and ([.live[] | .env + "/" + .host] | sort) == ["prerelease/pre1", "production/prod1", "production/prod2"]
and (.staged | length) == 3
`

// TestReportOfARealNight walks the example runbook, then reads its report
// in every format: JSON checked against the SPEC §7 shape with jq, text
// and Markdown for the version and the people who signed off.
func TestReportOfARealNight(t *testing.T) {
	dir := initDemo(t)
	if r := run(t, dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	if st := run(t, dir, "status"); !strings.Contains(st.stdout, "runbook report") {
		t.Errorf("status of a finished release does not point to the report:\n%s", st)
	}

	j := run(t, dir, "report", "--format", "json")
	if j.code != 0 {
		t.Fatalf("report --format json: %s", j)
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Log("jq is not installed: the JSON shape is not checked (apt-get install jq)")
	} else {
		jq := exec.Command("jq", "-e", reportShape)
		jq.Stdin = strings.NewReader(j.stdout)
		if out, err := jq.CombinedOutput(); err != nil {
			t.Errorf("report JSON does not have the SPEC §7 shape (jq: %v %s):\n%s", err, out, j.stdout)
		}
	}

	for _, format := range []string{"text", "md"} {
		r := run(t, dir, "report", "--format", format)
		if r.code != 0 {
			t.Fatalf("report --format %s: %s", format, r)
		}
		for _, want := range []string{"1.0.0", "Li Na", "Wang Li", "SUCCEEDED", "qa-signoff"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("report --format %s lacks %q:\n%s", format, want, r.stdout)
			}
		}
	}
	if r := run(t, dir, "report"); !strings.HasPrefix(r.stdout, "billing-center release 1.0.0 (#1): SUCCEEDED") {
		t.Errorf("the default report is not the text of the latest release:\n%s", r)
	}
}

func TestReportPicksTheRelease(t *testing.T) {
	dir := initDemo(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if r := run(t, dir, append([]string{"start", "--version", v, "--yes"}, signoffs...)...); r.code != 0 {
			t.Fatalf("start %s: %s", v, r)
		}
	}
	cases := []struct {
		args []string
		want string
	}{
		{nil, "release 1.1.0 (#2)"},
		{[]string{"--release", "1.0.0"}, "release 1.0.0 (#1)"},
		{[]string{"--id", "2"}, "release 1.1.0 (#2)"},
	}
	for _, c := range cases {
		r := run(t, dir, append([]string{"report"}, c.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("report %v: want %q\n%s", c.args, c.want, r)
		}
	}

	for _, args := range [][]string{{"--release", "9.9.9"}, {"--id", "42"}} {
		r := run(t, dir, append([]string{"report"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "runbook: hint:") || !strings.Contains(r.stderr, "runbook history") {
			t.Errorf("report %v of an unknown release: want exit 2 and a hint naming runbook history\n%s", args, r)
		}
	}
	if r := run(t, dir, "report", "--release", "9.9.9"); !strings.Contains(r.stderr, "recorded: 1.1.0, 1.0.0") {
		t.Errorf("the error does not list the recorded versions:\n%s", r)
	}
	if r := run(t, dir, "report", "--format", "pdf"); r.code != 2 {
		t.Errorf("unknown format: %s", r)
	}
	if r := run(t, dir, "report", "--id", "1", "--release", "1.0.0"); r.code != 2 {
		t.Errorf("--id with --release: %s", r)
	}
}

func TestReportToFile(t *testing.T) {
	dir := initDemo(t)
	if r := run(t, dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	out := filepath.Join(dir, "night.md")
	r := run(t, dir, "report", "--format", "md", "-o", out)
	if r.code != 0 || !strings.Contains(r.stdout, "to "+out) {
		t.Fatalf("report -o: %s", r)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 { // private to the operator (L-12)
		t.Errorf("report file mode %v, want 0600", fi.Mode().Perm())
	}
	if body := read(t, out); !strings.HasPrefix(body, "# billing-center release 1.0.0 (#1)") {
		t.Errorf("report file:\n%s", body)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".night.md.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	r = run(t, dir, "report", "-o", filepath.Join(dir, "no", "such", "dir", "r.txt"))
	if r.code != 1 || !strings.Contains(r.stderr, "runbook: hint:") {
		t.Errorf("report -o into a missing directory: %s", r)
	}
}
