package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHCheck runs the preflight against real sshd hosts (production
// reached through the prerelease host): ready; then a host key not known,
// a deploy directory that cannot take the release and a secret missing
// from the vault, each alone and all at once, from check and from start,
// which then runs nothing.
func TestSSHCheck(t *testing.T) {
	f := startNightFleet(t)
	writeVault(t, f.dir, fixtureVault(t))
	rb := read(t, filepath.Join(f.dir, "runbook.yaml"))
	write(t, f.dir, "runbook.yaml", rb+`  - name: smoke
    on: production
    run: 'echo "db {{ secret "db/password" }}" > /dev/null'
`)
	check := func(args ...string) result {
		t.Helper()
		return runEnv(t, f.dir, []string{passEnv}, append([]string{"check"}, args...)...)
	}

	r := check("--version", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "ready to start") {
		t.Fatalf("check of a ready fleet: %s", r)
	}
	for _, h := range []string{"pre1", "prod1", "prod2"} {
		if !strings.Contains(r.stdout, "✓ "+h) || !strings.Contains(r.stdout, "key known, logged in") {
			t.Errorf("check does not report %s reached:\n%s", h, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "✓ secrets   1 resolved from the vault") {
		t.Errorf("check does not report the secret:\n%s", r.stdout)
	}

	// prod2's key is not known: check reports it and records nothing;
	// start --yes stops before its first step (exit 3).
	kh := f.pre.KnownHostsLine() + "\n" + f.p1.KnownHostsLine() + "\n"
	write(t, f.dir, "known_hosts", kh)
	r = check()
	if r.code != 3 || !strings.Contains(r.stderr, "unknown host key for prod2") || !strings.Contains(r.stderr, "SHA256:") {
		t.Fatalf("unknown key: %s", r)
	}
	if read(t, f.knownHosts) != kh {
		t.Fatal("check recorded a host key")
	}
	r = runEnv(t, f.dir, []string{passEnv}, "start", "--version", "1", "--yes")
	if r.code != 3 || strings.Contains(r.stdout, "[1/") || !strings.Contains(r.stderr, "nothing was run or recorded") {
		t.Fatalf("start with an unknown host key: %s", r)
	}
	if _, err := os.Stat(filepath.Join(f.pre.DeployDir, "releases")); err == nil {
		t.Fatal("start staged on pre1 before it stopped")
	}
	write(t, f.dir, "known_hosts", kh+f.p2.KnownHostsLine()+"\n")

	// prod1's releases/ is a file: the upload would refuse it (exit 1).
	write(t, f.p1.DeployDir, "releases", "not a directory")
	if r = check(); r.code != 1 || !strings.Contains(r.stderr, f.p1.DeployDir+"/releases on prod1 is not a directory") {
		t.Fatalf("bad deploy_dir: %s", r)
	}

	// A secret missing from the vault (exit 5), with the rest at once.
	write(t, f.dir, "runbook.yaml", strings.Replace(read(t, filepath.Join(f.dir, "runbook.yaml")), `secret "db/password"`, `secret "db/passwd"`, 1))
	write(t, f.dir, "known_hosts", kh)
	r = runEnv(t, f.dir, []string{passEnv}, "start", "--version", "1", "--yes")
	if r.code != 5 {
		t.Fatalf("everything at once: %s", r)
	}
	for _, want := range []string{`no secret "db/passwd" in the vault`, "unknown host key for prod2", "releases on prod1 is not a directory", "3 problems"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("start does not list %q:\n%s", want, r.stderr)
		}
	}
	if r := run(t, f.dir, "history", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("a release was recorded: %s", r)
	}
}
