package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The forwarded agent signs only with what a copy under way was lent, at
// most signaturesPerCopy times, and nothing once the copy ended; it never
// takes keys.
func TestAgentForwardLendsForTheCopyOnly(t *testing.T) {
	f := &agentForward{}
	s := newSigner(t)
	if keys, _ := f.List(); len(keys) != 0 {
		t.Fatalf("keys before any copy: %v", keys)
	}
	if _, err := f.Sign(s.PublicKey(), []byte("x")); err == nil {
		t.Fatal("signed with nothing lent")
	}
	end := f.lend([]ssh.Signer{s})
	if keys, _ := f.List(); len(keys) != 1 || string(keys[0].Blob) != string(s.PublicKey().Marshal()) {
		t.Fatalf("keys lent: %v", keys)
	}
	for i := range signaturesPerCopy {
		sig, err := f.Sign(s.PublicKey(), []byte("data"))
		if err != nil || s.PublicKey().Verify([]byte("data"), sig) != nil {
			t.Fatalf("signature %d: %v", i+1, err)
		}
	}
	if _, err := f.Sign(s.PublicKey(), []byte("data")); err == nil {
		t.Errorf("signed beyond the copy's budget of %d", signaturesPerCopy)
	}
	if _, err := f.Sign(newSigner(t).PublicKey(), []byte("data")); err == nil {
		t.Error("signed with a key never lent")
	}
	end()
	if keys, _ := f.List(); len(keys) != 0 {
		t.Errorf("keys after the copy: %v", keys)
	}
	if f.RemoveAll() == nil || f.Lock(nil) == nil {
		t.Error("the forwarded agent let its keys be managed")
	}
}

// sshdHost connects a pool to h directly.
func sshdHost(t *testing.T, p *Pool, name string, h *sshdtest.Host) *sshConn {
	t.Helper()
	cfg := HostConfig{Name: name, Address: h.Addr, User: h.User, KeyFile: h.ClientKey}
	c, err := p.Conn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*sshConn)
}

// The relay accepts only the host key runbook saw, and copies paths that
// a shell would otherwise split or glob.
func TestRelayCopyPinsTheHostKeyAndQuotesPaths(t *testing.T) {
	relay := sshdtest.Start(t, sshdtest.Options{OwnHome: true})
	target := sshdtest.Start(t, sshdtest.Options{ClientKey: relay.ClientKey})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(relay.KnownHostsLine()+"\n"+target.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := NewPool(PoolOptions{KnownHosts: kh, SSHConfig: filepath.Join(t.TempDir(), "none")})
	t.Cleanup(func() { p.Close() })
	r := sshdHost(t, p, "pre1", relay)
	c := sshdHost(t, p, "prod1", target)
	cl, err := p.client(context.Background(), c.cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := readKeyFile(target.ClientKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	from := filepath.Join(relay.DeployDir, `a "b" *c [d]? $x 'e'`)
	if err := os.WriteFile(from, []byte("the ear"), 0o644); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(target.DeployDir, "x y*", "part")
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	job := copyJob{from: from, to: to, total: 7, target: "prod1", addr: cl.addr, user: cl.user, hostKey: cl.hostKey, signers: []ssh.Signer{key}}
	if _, err := r.sendCopy(context.Background(), job, StagedCopy(from)); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if b, _ := os.ReadFile(to); string(b) != "the ear" {
		t.Fatalf("copied %q", b)
	}

	// Another key than the one runbook saw: the relay refuses the host.
	os.WriteFile(to, nil, 0o644)
	job.hostKey = newSigner(t).PublicKey()
	_, err = r.sendCopy(context.Background(), job, StagedCopy(from))
	if err == nil || !strings.Contains(err.Error(), "another key than the one known_hosts vouched for") {
		t.Fatalf("copy to a host with another key: %v, want it refused", err)
	}
	if b, _ := os.ReadFile(to); len(b) != 0 {
		t.Errorf("the copy reached a host whose key was not the one vouched for")
	}
}

// A copy job's directory is named after the SFTP server that writes it,
// so that a relay that died between writing a job and starting it leaves
// nothing a later sweep keeps: a job without a pid goes at once when its
// owner is gone, and stays while its owner lives (it is being set up).
// One without an owner in its name (an older runbook's) stays until it
// is ten minutes old.
func TestRelaySweepKnowsTheJobsOwner(t *testing.T) {
	relay := sshdtest.Start(t, sshdtest.Options{OwnHome: true})
	p := NewPool(PoolOptions{KnownHosts: relay.WriteKnownHosts(t), SSHConfig: filepath.Join(t.TempDir(), "none")})
	t.Cleanup(func() { p.Close() })
	r := sshdHost(t, p, "pre1", relay)
	ctx := context.Background()

	// The owner a job's name records is the SFTP server of the
	// connection that writes it.
	var owner string
	if err := r.withFS(ctx, func(f *sftpFS) error {
		name := f.jobName()
		i := strings.LastIndexByte(name, '-')
		if i != 16 || strings.Trim(name[:i], "0123456789abcdef") != "" {
			t.Fatalf("job name %q, want 16 hex digits, -, the SFTP server's pid", name)
		}
		owner = name[i+1:]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// internal-sftp, as here, serves SFTP in the connection's sshd.
	if comm, _ := os.ReadFile("/proc/" + owner + "/comm"); strings.TrimSpace(string(comm)) != "sshd" {
		t.Fatalf("the owner %s is %q, not the connection's SFTP server", owner, comm)
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := strconv.Itoa(dead.Process.Pid)
	jobs := filepath.Join(relay.Home, filepath.FromSlash(relayDir))
	cases := []struct {
		name  string
		files map[string]string
		kept  bool
	}{
		{"0a1b2c3d4e5f6a7b-" + deadPID, map[string]string{"job": "x"}, false},
		{"1a1b2c3d4e5f6a7b-" + owner, map[string]string{"job": "x"}, true},
		{"2a1b2c3d4e5f6a7b-" + owner, nil, true}, // its files not written yet
		{"3a1b2c3d4e5f6a7b", map[string]string{"job": "x"}, true},
		{"4a1b2c3d4e5f6a7b-" + owner, map[string]string{"job": "x", "pid": deadPID + "\n"}, false},
		{"5a1b2c3d4e5f6a7b-" + deadPID, map[string]string{"job": "x", "pid": owner + "\n"}, true},
		{"6a1b2c3d4e5f6a7b-" + deadPID, map[string]string{"job": "x", "pid": ""}, false}, // killed as it wrote its pid
	}
	for _, c := range cases {
		if err := os.MkdirAll(filepath.Join(jobs, c.name), 0o700); err != nil {
			t.Fatal(err)
		}
		for f, content := range c.files {
			if err := os.WriteFile(filepath.Join(jobs, c.name, f), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, code, err := r.run(ctx, sweepRelayScript); err != nil || code != 0 {
		t.Fatalf("sweep: %d %v", code, err)
	}
	for _, c := range cases {
		if _, err := os.Stat(filepath.Join(jobs, c.name)); (err == nil) != c.kept {
			t.Errorf("job %s (%d files): kept %v, want %v", c.name, len(c.files), err == nil, c.kept)
		}
	}
}
