package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// handbookRunbook has remote hosts that are never contacted: info reads
// the file, the state database and the vault, nothing else.
const handbookRunbook = `name: billing-center
artifact: {path: target/billing.ear}
environments:
  build:
    local: true
    workdir: .
  prerelease:
    deploy_dir: /opt/billing
    keep: 3
    user: deploy
    auth: {key: secret:ssh/deploy_key}
    hosts:
      - {name: pre1, address: 10.1.0.5}
    operations:
      restart: sudo /opt/jboss/bin/restart.sh
      status: /opt/jboss/bin/status.sh | tail -n 1
  production:
    via: pre1
    parallel: 2
    deploy_dir: /opt/billing
    user: deploy
    auth: {key: secret:ssh/deploy_key}
    hosts:
      - {name: prod1, address: 10.2.0.11}
      - {name: prod2, address: "10.2.0.12:2222", user: jboss}
    operations:
      restart: sudo /opt/jboss/bin/restart.sh
handbook:
  domains: {prerelease: pre.billing.example.com, production: billing.example.com}
  contacts:
    - {role: DBA, name: Wang Li, phone: "+86 10 5555 0101"}
    - {role: QA, name: Li Na, email: qa@billing.example.com}
  checks:
    - {name: service health, on: production, run: "curl -fsS http://localhost:8080/billing/health"}
    - {name: staged, on: prerelease, run: "ls {{.Host.DeployDir}}/releases"}
  queries:
    - {name: orders since release, sql: "SELECT count(*) FROM orders WHERE created > '{{.Release.StartedAt}}'"}
  notes: |
    Announce the window in #billing-ops before stage-production.
    Rollback: runbook rollback --to the previous version.
steps:
  - {name: build, on: build, run: "true"}
`

// golden compares got with testdata/name; RUNBOOK_E2E_UPDATE=1 rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if os.Getenv("RUNBOOK_E2E_UPDATE") == "1" {
		write(t, ".", p, got)
	}
	want := read(t, p)
	if got != want {
		t.Errorf("%s differs from %s (RUNBOOK_E2E_UPDATE=1 rewrites it)\n--- got\n%s--- want\n%s", name, p, got, want)
	}
}

func TestInfoGolden(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", handbookRunbook)
	r := run(t, dir, "info")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("info: %s", r)
	}
	golden(t, "info.golden", strings.ReplaceAll(r.stdout, dir, "$DIR"))

	r = run(t, dir, "info", "production", "--format", "md")
	if r.code != 0 {
		t.Fatalf("info production --format md: %s", r)
	}
	for _, want := range []string{
		"# billing-center — release handbook (production)\n",
		"### production\n\n- **domain:** billing.example.com\n",
		"| prod2 | 10.2.0.12:2222 | jboss | /opt/billing | never released |\n",
		"| service health | production | curl -fsS http://localhost:8080/billing/health |\n",
		"```\nSELECT count(*) FROM orders WHERE created > '{{.Release.StartedAt}}'\n```\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("markdown lacks %q:\n%s", want, r.stdout)
		}
	}
	// Only the environment asked for, and only its checks.
	for _, unwanted := range []string{"### prerelease", "| staged |"} {
		if strings.Contains(r.stdout, unwanted) {
			t.Errorf("info production shows %q:\n%s", unwanted, r.stdout)
		}
	}
	if r := run(t, dir, "info", "staging"); r.code != 2 || !strings.Contains(r.stderr, "build, prerelease, production") {
		t.Errorf("info of an unknown environment: %s", r)
	}
	if r := run(t, dir, "info", "--format", "pdf"); r.code != 2 {
		t.Errorf("info --format pdf: %s", r)
	}
}

// TestInfoLiveVersionsAndVault: after a release the handbook shows what is
// live and renders the queries for it; the vault's names are listed when
// its key is given, values only with --reveal.
func TestInfoLiveVersionsAndVault(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "app.ear", "ear bytes")
	write(t, dir, "runbook.yaml", `name: live
artifact: {path: app.ear}
environments:
  prerelease:
    local: true
    hosts: [{name: pre1, deploy_dir: hosts/pre1}, {name: pre2, deploy_dir: hosts/pre2}]
    operations:
      connect: "psql -U billing -W {{ secret \"db/password\" }}"
handbook:
  queries: [{name: release row, sql: "SELECT * FROM releases WHERE version = '{{.Version}}' AND id = {{.Release.ID}}"}]
steps:
  - {name: stage, on: prerelease, upload: artifact}
  - {name: activate, on: prerelease, activate: true}
`)
	r := run(t, dir, "info")
	if r.code != 0 || strings.Count(r.stdout, "never released") != 3 || !strings.Contains(r.stdout, "no vault") {
		t.Fatalf("info before any release: %s", r)
	}
	writeVault(t, dir, fixtureVault(t))
	if r := runEnv(t, dir, []string{passEnv}, "start", "--version", "2.0", "--yes"); r.code != 0 {
		t.Fatalf("release 2.0: %s", r)
	}

	r = run(t, dir, "info")
	if r.code != 0 {
		t.Fatalf("info: %s", r)
	}
	for _, want := range []string{
		"live: 2.0 since ", "(release #1)",
		"SELECT * FROM releases WHERE version = '2.0' AND id = 1",
		"rendered for release 2.0 (#1",
		"locked: its names are encrypted",
		"db/password  needed by the runbook",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(lineWith(r.stdout, "pre2 "), "2.0") {
		t.Errorf("the hosts table does not show pre2 live on 2.0:\n%s", r.stdout)
	}

	r = runEnv(t, dir, []string{passEnv}, "info")
	if r.code != 0 || !strings.Contains(r.stdout, "db/password  in the vault, used") || leakIn([]byte(r.stdout+r.stderr)) != "" {
		t.Errorf("info with the vault's key: %s", r)
	}
	r = runEnv(t, dir, []string{passEnv}, "info", "--reveal")
	if r.code != 0 || !strings.Contains(r.stdout, testSecret) {
		t.Errorf("info --reveal: %s", r)
	}
	// No terminal to ask the passphrase: --reveal is a vault error.
	if r := run(t, dir, "info", "--reveal"); r.code != 5 || strings.Contains(r.stdout, testSecret) {
		t.Errorf("info --reveal without the passphrase: %s", r)
	}
}

func lineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, prefix); i >= 0 {
			return l[i:]
		}
	}
	return ""
}
