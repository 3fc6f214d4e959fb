package steps

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// localExecutor loads a runbook written into dir and returns an Executor
// whose hosts are all local.
func localExecutor(t *testing.T, dir, yaml string) *Executor {
	t.Helper()
	p := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Load(p)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	pool := remote.NewPool(remote.PoolOptions{KnownHosts: filepath.Join(dir, "known_hosts")})
	t.Cleanup(func() { pool.Close() })
	return &Executor{RB: rb, Dialer: pool, MarkerDir: filepath.Join(dir, ".runbook", "runs"), Closer: pool}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const diffRunbook = `name: t
environments:
  pre:
    local: true
    hosts:
      - {name: pre1, deploy_dir: hosts/pre1}
      - {name: pre2, deploy_dir: hosts/pre2}
  prod:
    local: true
    hosts:
      - {name: prod1, deploy_dir: hosts/prod1}
consistency:
  files: ["{{.Host.DeployDir}}/httpd.conf", "{{.Host.DeployDir}}/extra.conf"]
  commands: ["cat {{.Host.DeployDir}}/version.txt", "echo out; echo err >&2", "exit 3"]
  ignore: ['^\s*#']
`

func factOf(t *testing.T, rep *runbook.DiffReport, tmpl string) runbook.FactDiff {
	t.Helper()
	for _, f := range rep.Facts {
		if f.Fact == tmpl {
			return f
		}
	}
	t.Fatalf("no fact %q in %+v", tmpl, rep.Facts)
	return runbook.FactDiff{}
}

func TestDiffGroupsHostsAndShowsTheDifference(t *testing.T) {
	dir := t.TempDir()
	e := localExecutor(t, dir, diffRunbook)
	conf := "# the live config\nListen 80\nKeepAlive On\nTimeout 60\n"
	writeFile(t, filepath.Join(dir, "hosts/pre1/httpd.conf"), conf)
	// Only comments and whitespace differ on pre2: it agrees with pre1.
	writeFile(t, filepath.Join(dir, "hosts/pre2/httpd.conf"), "# edited by hand\n  Listen 80  \nKeepAlive On\r\n\tTimeout 60")
	writeFile(t, filepath.Join(dir, "hosts/prod1/httpd.conf"), strings.Replace(conf, "KeepAlive On", "KeepAlive Off", 1))
	for _, h := range []string{"pre1", "pre2", "prod1"} {
		writeFile(t, filepath.Join(dir, "hosts", h, "version.txt"), "jdk 1.8.0_402\n")
	}
	writeFile(t, filepath.Join(dir, "hosts/pre1/extra.conf"), "x\n")
	writeFile(t, filepath.Join(dir, "hosts/pre2/extra.conf"), "x\n")

	var progress strings.Builder
	rep, err := e.Diff(t.Context(), "pre", "prod", &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Differs || rep.EnvA != "pre" || rep.EnvB != "prod" || len(rep.Facts) != 5 {
		t.Fatalf("report: %+v", rep)
	}
	if strings.Count(progress.String(), "collected 5 fact(s)") != 3 || !strings.Contains(progress.String(), "prod/prod1") {
		t.Errorf("progress:\n%s", progress.String())
	}

	httpd := factOf(t, rep, "{{.Host.DeployDir}}/httpd.conf")
	if httpd.Kind != "file" || httpd.Agree || len(httpd.Variants) != 2 {
		t.Fatalf("httpd.conf: %+v", httpd)
	}
	if got := strings.Join(httpd.Variants[0].Hosts, ","); got != "pre/pre1,pre/pre2" {
		t.Errorf("first variant hosts %s", got)
	}
	if httpd.Variants[0].Value != "Listen 80\nKeepAlive On\nTimeout 60" {
		t.Errorf("normalised value %q", httpd.Variants[0].Value)
	}
	wantDiff := "--- pre/pre1 (and 1 more)\n+++ prod/prod1\n@@ -1,3 +1,3 @@\n Listen 80\n-KeepAlive On\n+KeepAlive Off\n Timeout 60\n"
	if httpd.Unified != wantDiff {
		t.Errorf("unified diff:\n%s\nwant:\n%s", httpd.Unified, wantDiff)
	}

	extra := factOf(t, rep, "{{.Host.DeployDir}}/extra.conf")
	if extra.Agree || len(extra.Variants) != 2 || extra.Variants[1].Error != "file missing" || extra.Variants[1].Hosts[0] != "prod/prod1" || extra.Unified != "" {
		t.Errorf("a missing file must be a difference shown as such: %+v", extra)
	}

	if v := factOf(t, rep, "cat {{.Host.DeployDir}}/version.txt"); !v.Agree || v.Kind != "command" || v.Variants[0].Value != "jdk 1.8.0_402" || len(v.Variants[0].Hosts) != 3 {
		t.Errorf("host-specific paths must still make one fact: %+v", v)
	}
	if v := factOf(t, rep, "echo out; echo err >&2"); !v.Agree || v.Variants[0].Value != "out\nerr" {
		t.Errorf("stdout then stderr: %+v", v)
	}
	if v := factOf(t, rep, "exit 3"); !v.Agree || v.Variants[0].Error != "exit status 3" {
		t.Errorf("a failing command is recorded with its status: %+v", v)
	}
}

func TestDiffAgreesAfterTheFix(t *testing.T) {
	dir := t.TempDir()
	e := localExecutor(t, dir, strings.Replace(diffRunbook, `, "exit 3"`, "", 1))
	for _, h := range []string{"pre1", "pre2", "prod1"} {
		writeFile(t, filepath.Join(dir, "hosts", h, "httpd.conf"), "KeepAlive On\n")
		writeFile(t, filepath.Join(dir, "hosts", h, "extra.conf"), "")
		writeFile(t, filepath.Join(dir, "hosts", h, "version.txt"), "1\n")
	}
	rep, err := e.Diff(t.Context(), "pre", "prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Differs {
		t.Fatalf("facts differ: %+v", rep.Facts)
	}
	for _, f := range rep.Facts {
		if !f.Agree || len(f.Variants) != 1 || f.Unified != "" {
			t.Errorf("fact %s: %+v", f.Fact, f)
		}
	}
}

func TestDiffRefusesWhatCannotBeCompared(t *testing.T) {
	dir := t.TempDir()
	e := localExecutor(t, dir, diffRunbook)
	if _, err := e.Diff(t.Context(), "pre", "staging", nil); err == nil || !strings.Contains(err.Error(), `"staging"`) || !strings.Contains(err.Error(), "pre, prod") {
		t.Errorf("unknown environment: %v", err)
	}
	if _, err := e.Diff(t.Context(), "pre", "pre", nil); err == nil || !strings.Contains(err.Error(), "itself") {
		t.Errorf("same environment twice: %v", err)
	}
}

func TestDiffWithoutFactsAgrees(t *testing.T) {
	dir := t.TempDir()
	e := localExecutor(t, dir, "name: t\nenvironments:\n  a: {local: true}\n  b: {local: true}\n")
	rep, err := e.Diff(t.Context(), "a", "b", nil)
	if err != nil || rep.Differs || len(rep.Facts) != 0 {
		t.Fatalf("rep %+v, err %v", rep, err)
	}
}

func TestNormalise(t *testing.T) {
	ignore := []*regexp.Regexp{regexp.MustCompile(`^\s*#`), regexp.MustCompile(`^\s*$`)}
	tests := []struct {
		in     string
		ignore []*regexp.Regexp
		want   string
	}{
		{"", ignore, ""},
		{"a\n", nil, "a"},
		{"  a  \r\n\tb\n", nil, "a\nb"},
		{"a\n\nb\n", nil, "a\n\nb"},                      // blank lines count unless ignored
		{"# c\na\n   \n  # indented\nb", ignore, "a\nb"}, // ignored lines vanish
		{"a # not a comment line", ignore, "a # not a comment line"},
	}
	for _, tc := range tests {
		if got := normalise(tc.in, tc.ignore); got != tc.want {
			t.Errorf("normalise(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
