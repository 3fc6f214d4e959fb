package e2e

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// nightFleet is three real sshd hosts: pre1 (prerelease) and prod1, prod2
// (production, reached through pre1 as the jump host).
type nightFleet struct {
	dir         string
	pre, p1, p2 *sshdtest.Host
	knownHosts  string
}

func startNightFleet(t *testing.T) *nightFleet {
	t.Helper()
	pre := sshdtest.Start(t, sshdtest.Options{})
	p1 := sshdtest.Start(t, sshdtest.Options{ClientKey: pre.ClientKey})
	p2 := sshdtest.Start(t, sshdtest.Options{ClientKey: pre.ClientKey})
	f := &nightFleet{dir: t.TempDir(), pre: pre, p1: p1, p2: p2}
	f.knownHosts = filepath.Join(f.dir, "known_hosts")
	write(t, f.dir, "known_hosts", pre.KnownHostsLine()+"\n"+p1.KnownHostsLine()+"\n"+p2.KnownHostsLine()+"\n")
	write(t, f.dir, "runbook.yaml", fmt.Sprintf(`name: nightFleet
known_hosts: known_hosts
artifact: {path: billing.ear}
environments:
  prerelease:
    user: %[1]s
    auth: {key_file: %[2]s}
    keep: 2
    hosts:
      - {name: pre1, address: "%[3]s", deploy_dir: %[4]s}
    operations:
      restart: echo "UP {{.Version}}" > {{.Host.DeployDir}}/health
  production:
    via: pre1
    user: %[1]s
    auth: {key_file: %[2]s}
    keep: 2
    parallel: 2
    hosts:
      - {name: prod1, address: "%[5]s", deploy_dir: %[6]s}
      - {name: prod2, address: "%[7]s", deploy_dir: %[8]s}
    operations:
      restart: echo "UP {{.Version}}" > {{.Host.DeployDir}}/health
steps:
  - {name: stage-pre, on: prerelease, upload: artifact}
  - {name: activate-pre, on: prerelease, activate: true}
  - name: restart-pre
    on: prerelease
    op: restart
    verify: grep -qx "UP {{.Version}}" {{.Host.DeployDir}}/health
  - {name: stage-prod, on: production, upload: artifact}
  - {name: activate-prod, on: production, activate: true}
  - {name: restart-prod, on: production, op: restart}
  - {name: where, on: production, run: "hostname; readlink {{.Host.DeployDir}}/current"}
`, pre.User, pre.ClientKey, pre.Addr, pre.DeployDir, p1.Addr, p1.DeployDir, p2.Addr, p2.DeployDir))
	f.artifact(t, 50<<20)
	return f
}

// artifact writes a random artifact of n bytes.
func (f *nightFleet) artifact(t *testing.T, n int64) {
	t.Helper()
	out, err := os.Create(filepath.Join(f.dir, "billing.ear"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.CopyN(out, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
}

func (f *nightFleet) all() map[string]*sshdtest.Host {
	return map[string]*sshdtest.Host{"pre1": f.pre, "prod1": f.p1, "prod2": f.p2}
}

func currentOf(t *testing.T, h *sshdtest.Host) string {
	t.Helper()
	l, err := os.Readlink(filepath.Join(h.DeployDir, "current"))
	if err != nil {
		return ""
	}
	return filepath.Base(l)
}

// TestSSHReleaseNight stages a 50 MiB EAR on real sshd hosts (production
// through the prerelease host as jump host), activates, runs commands,
// releases twice more to see keep-N cleanup, and checks it all on disk.
func TestSSHReleaseNight(t *testing.T) {
	f := startNightFleet(t)
	for _, v := range []string{"1.0", "1.1", "1.2"} {
		f.artifact(t, 50<<20+int64(len(v))) // a new build each time
		r := run(t, f.dir, "start", "--version", v, "--yes")
		if r.code != 0 {
			t.Fatalf("release %s: %s\nsshd log:\n%s", v, r, f.p1.Log())
		}
		ear := sha(t, filepath.Join(f.dir, "billing.ear"))
		for name, h := range f.all() {
			if got := currentOf(t, h); got != v {
				t.Errorf("%s: current -> %s, want %s", name, got, v)
			}
			if got := sha(t, filepath.Join(h.DeployDir, "releases", v, "billing.ear")); got != ear {
				t.Errorf("%s: staged sha %s, want %s", name, got, ear)
			}
			if got := strings.TrimSpace(read(t, filepath.Join(h.DeployDir, "health"))); got != "UP "+v {
				t.Errorf("%s: health %q", name, got)
			}
		}
		if !strings.Contains(r.stdout, "prod2 │ releases/"+v) && !strings.Contains(r.stdout, "releases/"+v) {
			t.Errorf("no prefixed command output:\n%s", r.stdout)
		}
	}
	// keep: 2 — the live (1.2) and the previous (1.1) stay, 1.0 is gone.
	for name, h := range f.all() {
		entries, _ := os.ReadDir(filepath.Join(h.DeployDir, "releases"))
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if strings.Join(got, " ") != "1.1 1.2" {
			t.Errorf("%s: releases %v after keep-2 cleanup, want [1.1 1.2]", name, got)
		}
	}
	quickCheck(t, f.dir)
}

func TestSSHHostKeys(t *testing.T) {
	f := startNightFleet(t)
	f.artifact(t, 1<<20)
	// prod2 unknown: refused under --yes (exit 3), with its fingerprint,
	// by the check before the first step: nothing is staged on pre1.
	write(t, f.dir, "known_hosts", f.pre.KnownHostsLine()+"\n"+f.p1.KnownHostsLine()+"\n")
	r := run(t, f.dir, "start", "--version", "1", "--yes")
	if r.code != 3 || !strings.Contains(r.stderr, "SHA256:") || !strings.Contains(r.stderr, "prod2") {
		t.Fatalf("unknown key: %s", r)
	}
	if currentOf(t, f.pre) != "" {
		t.Fatal("pre1 was switched before the unknown key of prod2 stopped the night")
	}
	// --accept-new-host-keys trusts and records it; the release goes on.
	r = run(t, f.dir, "start", "--version", "1", "--yes", "--accept-new-host-keys")
	if r.code != 0 {
		t.Fatalf("accept new: %s", r)
	}
	if kh := read(t, f.knownHosts); strings.Count(kh, "\n") != 3 {
		t.Fatalf("known_hosts after accepting:\n%s", kh)
	}
	// prod1's key changed: always refused, naming both fingerprints and
	// the file and line to fix — even with --accept-new-host-keys.
	other := sshdtest.Start(t, sshdtest.Options{})
	wrong := fmt.Sprintf("[127.0.0.1]:%d %s", f.p1.Port, strings.TrimSpace(other.HostKey))
	write(t, f.dir, "known_hosts", f.pre.KnownHostsLine()+"\n"+wrong+"\n"+f.p2.KnownHostsLine()+"\n")
	f.artifact(t, 1<<20+1) // a new build for the new version
	r = run(t, f.dir, "start", "--version", "2", "--yes", "--accept-new-host-keys")
	if r.code != 1 || strings.Count(r.stderr, "SHA256:") < 2 || !strings.Contains(r.stderr, "known_hosts:2") {
		t.Fatalf("changed key: %s", r)
	}
	if currentOf(t, f.p1) != "1" {
		t.Fatalf("prod1 touched despite a changed key: %s", currentOf(t, f.p1))
	}
}

// TestSSHUploadKilledResumes kills runbook while it streams the EAR to
// production, then resumes: the upload continues from the verified part.
func TestSSHUploadKilledResumes(t *testing.T) {
	f := startNightFleet(t)
	f.artifact(t, 200<<20)
	cmd, out := start(t, f.dir, "start", "--version", "1", "--yes")
	part := filepath.Join(f.p1.DeployDir, "releases", "1", ".billing.ear.part")
	waitFor(t, "the upload to prod1 to be under way", func() bool {
		fi, err := os.Stat(part)
		return err == nil && fi.Size() > 8<<20
	})
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(f.p1.DeployDir, "releases", "1", "billing.ear")); err == nil {
		t.Skipf("the upload finished before the kill landed; output:\n%s", out)
	}
	r := run(t, f.dir, "start", "--version", "1", "--yes")
	if r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	if !strings.Contains(r.stdout, "resumed after") {
		t.Errorf("the upload started over instead of resuming:\n%s", r.stdout)
	}
	ear := sha(t, filepath.Join(f.dir, "billing.ear"))
	for name, h := range f.all() {
		if got := sha(t, filepath.Join(h.DeployDir, "releases/1/billing.ear")); got != ear {
			t.Errorf("%s: sha %s after a resumed upload, want %s", name, got, ear)
		}
	}
	quickCheck(t, f.dir)
}

// TestSSHRollbackTo: 1.0 then 1.1 on three hosts; production goes back to
// 1.0 and is restarted, prerelease stays; unknown and damaged targets are
// refused before any host is touched.
func TestSSHRollbackTo(t *testing.T) {
	f := startNightFleet(t)
	for _, v := range []string{"1.0", "1.1"} {
		f.artifact(t, 1<<20+int64(len(v)))
		if r := run(t, f.dir, "start", "--version", v, "--yes"); r.code != 0 {
			t.Fatalf("release %s: %s", v, r)
		}
	}
	if r := run(t, f.dir, "rollback", "--to", "0.9", "--env", "production", "--yes"); r.code != 1 || !strings.Contains(r.stderr, "nothing was changed") {
		t.Fatalf("rollback to 0.9: %s", r)
	}
	r := run(t, f.dir, "rollback", "--to", "1.0", "--env", "production", "--yes")
	if r.code != 0 {
		t.Fatalf("rollback to 1.0: %s", r)
	}
	if currentOf(t, f.p1) != "1.0" || currentOf(t, f.p2) != "1.0" || currentOf(t, f.pre) != "1.1" {
		t.Fatalf("after rollback: prod1=%s prod2=%s pre1=%s", currentOf(t, f.p1), currentOf(t, f.p2), currentOf(t, f.pre))
	}
	if got := strings.TrimSpace(read(t, filepath.Join(f.p2.DeployDir, "health"))); got != "UP 1.0" {
		t.Fatalf("prod2 not restarted on 1.0: %q", got)
	}
	if h := run(t, f.dir, "history", "--json"); !strings.Contains(h.stdout, `"kind": "rollback"`) {
		t.Fatalf("history:\n%s", h.stdout)
	}
	// Forward again, then delete 1.0 on one host by hand: refused.
	if r := run(t, f.dir, "rollback", "--to", "1.1", "--env", "production", "--yes"); r.code != 0 {
		t.Fatalf("rollback to 1.1: %s", r)
	}
	os.RemoveAll(filepath.Join(f.p2.DeployDir, "releases", "1.0"))
	r = run(t, f.dir, "rollback", "--to", "1.0", "--env", "production", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "production/prod2") {
		t.Fatalf("rollback to a deleted release: %s", r)
	}
	if currentOf(t, f.p1) != "1.1" {
		t.Fatalf("a refused rollback switched prod1 to %s", currentOf(t, f.p1))
	}
}

// TestSSHOneConnectionPerHost: fifty remote steps over three hosts open one
// SSH connection per host for the whole run (the jump host's connection
// carries production's), counted in the sshd logs.
func TestSSHOneConnectionPerHost(t *testing.T) {
	f := startNightFleet(t)
	var b strings.Builder
	b.WriteString(strings.SplitN(read(t, filepath.Join(f.dir, "runbook.yaml")), "steps:", 2)[0] + "steps:\n")
	for i := 0; i < 50; i++ {
		env := []string{"prerelease", "production"}[i%2]
		fmt.Fprintf(&b, "  - {name: s%02d, on: %s, run: \"echo step %d on $(hostname)\"}\n", i, env, i)
	}
	write(t, f.dir, "runbook.yaml", b.String())
	if r := run(t, f.dir, "start", "--version", "1", "--yes"); r.code != 0 {
		t.Fatalf("%s", r)
	}
	for name, h := range f.all() {
		if n := strings.Count(h.Log(), "Accepted publickey"); n != 1 {
			t.Errorf("%s: %d SSH connections for 50 steps, want 1\n%s", name, n, h.Log())
		}
	}
}
