package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// recapOf returns the recap the command printed last: from its RECAP
// line to the end of its stdout.
func recapOf(t *testing.T, r result) string {
	t.Helper()
	i := strings.LastIndex(r.stdout, "RECAP ")
	if i < 0 {
		t.Fatalf("no recap:\n%s", r)
	}
	return r.stdout[i:]
}

// wantLines checks that every pattern matches a line of the recap.
func wantLines(t *testing.T, what, recap string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(recap) {
			t.Errorf("%s: the recap has no line like %q:\n%s", what, p, recap)
		}
	}
}

// TestRecapAfterEachWalk: start, resume and rollback each end with the
// recap of what they walked, as recorded — a failed start, the resume
// that finishes it, the rollback that undoes it — and a command that
// walked nothing prints none.
func TestRecapAfterEachWalk(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: recap
environments:
  a: {local: true, hosts: [{name: a1}, {name: a2}]}
steps:
  - {name: build, on: a, run: "echo built", undo: "echo unbuilt"}
  - {name: flaky, on: a, run: "test -e ok || { echo not yet; exit 1; }", undo: "echo unflaked"}
  - {name: last, on: a, run: "echo never", auto: true}
`)
	r := run(t, dir, "start", "--version", "1.0", "--yes")
	if r.code != 1 {
		t.Fatalf("start: %s", r)
	}
	rc := recapOf(t, r)
	wantLines(t, "failed start", rc,
		`^RECAP release 1\.0 \(#1\) failed after \S+$`,
		`^  build\s+succeeded\s+run\s+\S+$`,
		`^  flaky\s+failed\s+run\s+\S+$`,
		`^  last\s+pending\s+run\s+-$`,
		`^  a1\s+ok=1  changed=1  failed=1  skipped=0  \S+$`,
		// max_fail 0, one host at a time: a2 never ran flaky.
		`^  a2\s+ok=1  changed=1  failed=0  skipped=0  \S+$`)

	write(t, dir, "ok", "")
	r = run(t, dir, "resume", "--yes")
	if r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	wantLines(t, "resume", recapOf(t, r),
		`^RECAP release 1\.0 \(#1\) succeeded in \S+$`,
		`^  flaky\s+succeeded\s+run\s+\S+$`,
		`^  last\s+succeeded\s+run\s+\S+$`,
		`^  a1\s+ok=3  changed=3  failed=0  skipped=0  \S+$`)

	// Nothing to walk: no recap.
	if r := run(t, dir, "start", "--version", "1.0", "--yes"); r.code != 0 || strings.Contains(r.stdout, "RECAP") {
		t.Errorf("a start of a version already done walked nothing and printed a recap: %s", r)
	}

	r = run(t, dir, "rollback", "--yes")
	if r.code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	wantLines(t, "rollback", recapOf(t, r),
		`^RECAP release 1\.0 \(#1\) rolled_back in \S+$`,
		`^  build\s+undone\s+run\s+\S+$`,
		`^  flaky\s+undone\s+run\s+\S+$`,
		// The last step has no undo: it stays as it ran.
		`^  last\s+succeeded\s+run\s+\S+$`,
		`^  a1\s+ok=1  changed=1  failed=0  skipped=0  undone=2  \S+$`)
	if strings.Contains(r.stdout+r.stderr, "\x1b[") {
		t.Errorf("the recap holds colour codes though stdout is not a terminal:\n%q", r.stdout)
	}
}
