package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// relayFleet is a prerelease host pre1 and three production hosts behind
// it (via: pre1), whose upload step goes through pre1 as its relay. The
// production hosts accept the key runbook holds, which pre1 has no file
// of: the relay is lent it through the forwarded agent.
type relayFleet struct {
	dir   string
	pre   *sshdtest.Host
	prods []*sshdtest.Host
}

func startRelayFleet(t *testing.T, size int64) *relayFleet {
	t.Helper()
	pre := sshdtest.Start(t, sshdtest.Options{OwnHome: true})
	f := &relayFleet{dir: t.TempDir(), pre: pre}
	prods, kh, hosts := sshdtest.StartBehind(t, pre, 3)
	f.prods = prods
	write(t, f.dir, "known_hosts", pre.KnownHostsLine()+"\n"+kh)
	write(t, f.dir, "runbook.yaml", fmt.Sprintf(`name: relayFleet
known_hosts: known_hosts
artifact: {path: billing.ear}
environments:
  prerelease:
    user: %[1]s
    auth: {key_file: %[2]s}
    hosts:
      - {name: pre1, address: "%[3]s", deploy_dir: %[4]s}
  production:
    via: pre1
    user: %[1]s
    auth: {key_file: %[2]s}
    parallel: 3
    hosts:
%[5]s
steps:
  - {name: stage-prod, on: production, upload: artifact, relay: pre1}
  - {name: activate-prod, on: production, activate: true}
`, pre.User, pre.ClientKey, pre.Addr, pre.DeployDir, hosts))
	writeArtifact(t, filepath.Join(f.dir, "billing.ear"), size)
	return f
}

func writeArtifact(t *testing.T, p string, n int64) {
	t.Helper()
	(&nightFleet{dir: filepath.Dir(p)}).artifact(t, n)
}

// checkRelayed checks that every production host has version v staged
// with the artifact's checksum and live, and that the relay kept no key
// and no copy job.
func (f *relayFleet) checkRelayed(t *testing.T, v string) {
	t.Helper()
	ear := sha(t, filepath.Join(f.dir, "billing.ear"))
	for i, h := range f.prods {
		if got := sha(t, filepath.Join(h.DeployDir, "releases", v, "billing.ear")); got != ear {
			t.Errorf("prod%d: staged sha %s, want %s", i+1, got, ear)
		}
		if got := currentOf(t, h); got != v {
			t.Errorf("prod%d: current -> %q, want %s", i+1, got, v)
		}
	}
	if got := sha(t, filepath.Join(f.pre.DeployDir, ".relay", "billing.ear")); got != ear {
		t.Errorf("the relay's copy: sha %s, want %s", got, ear)
	}
	jobsDir := filepath.Join(f.pre.Home, ".runbook", "relay")
	if jobs, _ := os.ReadDir(jobsDir); len(jobs) != 0 {
		t.Errorf("copy jobs left on the relay: %v", jobs)
		for _, j := range jobs {
			files, _ := os.ReadDir(filepath.Join(jobsDir, j.Name()))
			for _, fe := range files {
				b, _ := os.ReadFile(filepath.Join(jobsDir, j.Name(), fe.Name()))
				if fe.Name() == "pid" {
					t.Logf("%s/%s: %q", j.Name(), fe.Name(), b)
				} else {
					t.Logf("%s/%s: %d bytes", j.Name(), fe.Name(), len(b))
				}
			}
		}
	}
	// What the relay's sessions write lands in its home and deploy_dir.
	for _, dir := range []string{f.pre.Home, f.pre.DeployDir} {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "PRIVATE KEY") {
				t.Errorf("a private key on the relay: %s", p)
			}
			return nil
		})
	}
}

// TestSSHRelay: the artifact crosses to pre1 once, pre1 sends it to every
// production host, each verifies it and goes live; the per-host summary
// says where it came from; a second run finds it all in place.
func TestSSHRelay(t *testing.T) {
	f := startRelayFleet(t, 20<<20)
	r := run(t, f.dir, "start", "--version", "1", "--yes")
	if r.code != 0 {
		t.Fatalf("start: %s\nrelay log:\n%s", r, f.pre.Log())
	}
	if n := strings.Count(r.stdout, "on relay pre1 in"); n != 1 {
		t.Errorf("the artifact was staged on the relay %d times, want once:\n%s", n, r.stdout)
	}
	if n := strings.Count(r.stdout, "from relay pre1 in"); n != 3 {
		t.Errorf("%d hosts say they were staged from the relay, want 3:\n%s", n, r.stdout)
	}
	f.checkRelayed(t, "1")

	// A new version with the same build: the relay's copy is reused.
	r = run(t, f.dir, "start", "--version", "2", "--yes", "--same-artifact")
	if r.code != 0 {
		t.Fatalf("start 2: %s", r)
	}
	if !strings.Contains(r.stdout, "relay pre1 has "+filepath.Join(f.pre.DeployDir, ".relay", "billing.ear")) {
		t.Errorf("the relay's copy was not reused:\n%s", r.stdout)
	}
	f.checkRelayed(t, "2")
	quickCheck(t, f.dir)
}

// TestSSHRelayDiesMidFanOut kills the relay's sshd and every process
// it started (every connection through it ends) while it sends the
// artifact to production, then brings it back and resumes: the relay's
// copy is reused (or resumed, when it was still landing), the hosts
// continue from their verified prefix, and every one ends verified and
// live.
func TestSSHRelayDiesMidFanOut(t *testing.T) {
	f := startRelayFleet(t, 160<<20)
	cmd, out := start(t, f.dir, "start", "--version", "1", "--yes")
	part := filepath.Join(f.prods[0].DeployDir, "releases", "1", ".billing.ear.part")
	waitFor(t, "the relay to be sending to prod1", func() bool {
		fi, err := os.Stat(part)
		return err == nil && fi.Size() > 16<<20
	})
	if err := f.pre.Crash(); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("the release went on without its relay:\n%s", out)
	}
	if !strings.Contains(out.String(), "relay pre1") {
		t.Errorf("the failure does not name the relay:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(f.prods[0].DeployDir, "releases", "1", "billing.ear")); err == nil {
		t.Fatalf("prod1 has billing.ear (%d bytes) although its copy was cut", fi.Size())
	}
	if err := f.pre.Restart(); err != nil {
		t.Fatal(err)
	}
	r := run(t, f.dir, "resume", "--yes")
	if r.code != 0 {
		t.Fatalf("resume: %s\nfirst run:\n%s\nrelay log:\n%s", r, out, f.pre.Log())
	}
	t.Logf("resume:\n%s", r)
	// The copies follow the relay's copy as it lands: pre1 may have died
	// before its copy was complete, which is then resumed, never sent
	// again from its start.
	for line := range strings.Lines(r.stdout) {
		if strings.Contains(line, "on relay pre1 in") && !strings.Contains(line, "resumed after") {
			t.Errorf("the relay's copy was sent again instead of reused or resumed:\n%s", r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "resumed after") {
		t.Errorf("no host resumed its copy:\n%s", r.stdout)
	}
	f.checkRelayed(t, "1")
	quickCheck(t, f.dir)
}
