package remote_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// These tests run against real OpenSSH sshd processes on 127.0.0.1.

func TestSSHDExec(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	ctx := context.Background()
	var out, errOut syncBuffer
	code, err := c.Exec(ctx, remote.ExecSpec{Script: `echo "$A"; echo err >&2; pwd; exit 3`, Env: map[string]string{"A": "x y"}, Dir: h.DeployDir, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 3 || out.String() != "x y\n"+h.DeployDir+"\n" || errOut.String() != "err\n" {
		t.Fatalf("Exec: %d %v stdout %q stderr %q\nsshd log:\n%s", code, err, out.String(), errOut.String(), h.Log())
	}
	token := "r1:run:1:sshd"
	out = syncBuffer{}
	code, err = c.Exec(ctx, remote.ExecSpec{Script: "echo marked; exit 9", Token: token, Stdout: &out})
	if err != nil || code != 9 || out.String() != "marked\n" {
		t.Fatalf("Exec with markers: %d %v %q", code, err, out.String())
	}
	if m, err := c.Markers(ctx, token, time.Time{}); err != nil || m.State != remote.Finished || m.ExitCode != 9 {
		t.Fatalf("markers %+v %v", m, err)
	}
	var again syncBuffer
	if code, err := c.Wait(ctx, token, &again); err != nil || code != 9 || again.String() != "marked\n" {
		t.Errorf("Wait on a finished run: %d %v %q", code, err, again.String())
	}
	if _, err := c.Exec(ctx, remote.ExecSpec{Script: "true", Dir: "/no/such/dir"}); err == nil || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Errorf("missing dir: %v", err)
	}
	if p.Dials() != 1 {
		t.Errorf("%d dials, want 1", p.Dials())
	}
}

func TestSSHDUploadAndFiles(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	ctx := context.Background()
	local, sum := randomFile(t, 50<<20)
	dir := filepath.Join(h.DeployDir, "releases", "2.4.0")
	res, err := c.Upload(ctx, remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"})
	if err != nil {
		t.Fatalf("upload: %v\nsshd log:\n%s", err, h.Log())
	}
	if res.Written != 50<<20 || !res.HashedAlong {
		t.Errorf("result %+v, want 50 MiB written and hashed on the host as they arrived", res)
	}
	t.Logf("50 MiB in %s (%.0f MiB/s), verified %s after the last byte", res.Duration, 50/res.Duration.Seconds(), res.Verify)
	if got := fileSHA256(t, filepath.Join(dir, "billing.ear")); got != sum {
		t.Errorf("hash %s, want %s", got, sum)
	}
	if got, err := c.SHA256(ctx, filepath.Join(dir, "billing.ear")); err != nil || got != sum {
		t.Errorf("SHA256 %s %v", got, err)
	}
	if res, err := c.Upload(ctx, remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"}); err != nil || !res.Skipped {
		t.Errorf("second upload %+v %v, want skipped", res, err)
	}
	filePrimitives(t, c, filepath.Join(h.DeployDir, "primitives"))
}

// A resumed upload is hashed along too: the host reads the verified
// prefix first, then the bytes as they come. With ReadBack it is not.
func TestSSHDUploadResumedHashesAlong(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	local, sum := randomFile(t, 40<<20)
	dir := filepath.Join(h.DeployDir, "releases", "1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".a.ear.part"), b[:24<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := c.Upload(context.Background(), remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "a.ear"})
	if err != nil {
		t.Fatalf("upload: %v\nsshd log:\n%s", err, h.Log())
	}
	if res.Resumed == 0 || res.Resumed+res.Written != 40<<20 || !res.HashedAlong {
		t.Errorf("result %+v, want a resumed upload hashed along", res)
	}
	if got := fileSHA256(t, filepath.Join(dir, "a.ear")); got != sum {
		t.Errorf("hash %s, want %s", got, sum)
	}
	// Asked to read it back, the host hashes the complete copy.
	dir = filepath.Join(h.DeployDir, "releases", "2")
	res, err = c.Upload(context.Background(), remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "a.ear", ReadBack: true})
	if err != nil || res.HashedAlong || res.Written != 40<<20 {
		t.Errorf("read back: %+v %v, want a full upload hashed once complete", res, err)
	}
	if got := fileSHA256(t, filepath.Join(dir, "a.ear")); got != sum {
		t.Errorf("hash %s, want %s", got, sum)
	}
}

// Production reached through a jump host, both real sshd: the jump host's
// connection is dialled once and shared.
func TestSSHDJumpHost(t *testing.T) {
	bastion := sshdtest.Start(t, sshdtest.Options{})
	prod := sshdtest.Start(t, sshdtest.Options{ClientKey: bastion.ClientKey})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(bastion.KnownHostsLine()+"\n"+prod.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := remote.NewPool(remote.PoolOptions{KnownHosts: kh, SSHConfig: filepath.Join(t.TempDir(), "none")})
	t.Cleanup(func() { p.Close() })
	jump := remote.HostConfig{Name: "pre1", Address: bastion.Addr, User: bastion.User, KeyFile: bastion.ClientKey}
	for i := range 2 {
		cfg := remote.HostConfig{Name: fmt.Sprintf("prod%d", i+1), Address: prod.Addr, User: prod.User, KeyFile: prod.ClientKey, Via: &jump}
		c := connect(t, p, cfg)
		var out syncBuffer
		if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "echo $SSH_CONNECTION", Stdout: &out}); err != nil || code != 0 {
			t.Fatalf("%s: %d %v\nbastion log:\n%s", cfg.Name, code, err, bastion.Log())
		}
		// The production sshd sees the connection coming from the bastion
		// side of loopback, on its own port.
		if f := strings.Fields(out.String()); len(f) != 4 || f[3] != fmt.Sprint(prod.Port) {
			t.Errorf("SSH_CONNECTION %q, want the production port %d", out.String(), prod.Port)
		}
	}
	if p.Dials() != 3 {
		t.Errorf("%d dials, want 3 (bastion once, each production host once)", p.Dials())
	}
}

func TestSSHDKnownHosts(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	cfg := remote.HostConfig{Name: "pre1", Address: h.Addr, User: h.User, KeyFile: h.ClientKey}
	none := filepath.Join(t.TempDir(), "none")

	unknown := filepath.Join(t.TempDir(), "known_hosts")
	_, err := remote.NewPool(remote.PoolOptions{KnownHosts: unknown, SSHConfig: none}).Conn(context.Background(), cfg)
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || !hk.Unknown {
		t.Fatalf("unknown key: %v", err)
	}
	p := remote.NewPool(remote.PoolOptions{KnownHosts: unknown, SSHConfig: none, AcceptNewHostKeys: true})
	if _, err := p.Conn(context.Background(), cfg); err != nil {
		t.Fatalf("accept new: %v", err)
	}
	p.Close()
	if b, _ := os.ReadFile(unknown); strings.TrimSpace(string(b)) != h.KnownHostsLine() {
		t.Errorf("recorded %q, want %q", b, h.KnownHostsLine())
	}

	other, _, err := remotetest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(changed, []byte(remotetest.KnownHostsLine(h.Addr, other.PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = remote.NewPool(remote.PoolOptions{KnownHosts: changed, SSHConfig: none, AcceptNewHostKeys: true}).Conn(context.Background(), cfg)
	if !errors.As(err, &hk) || hk.Unknown || !strings.Contains(err.Error(), changed+":1") {
		t.Fatalf("changed key: %v", err)
	}
}

// sshd offers an ed25519 and an ECDSA host key, known_hosts knows only the
// ed25519 one: the client must ask for ed25519, not its preferred ECDSA,
// or the key would look changed (golang/go#29286).
func TestSSHDHostKeyAlgorithmFromKnownHosts(t *testing.T) {
	extraKey := filepath.Join(t.TempDir(), "ecdsa_host_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", extraKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	h := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{"HostKey " + extraKey}})
	p, cfg := sshdPool(t, h)
	if _, err := p.Conn(context.Background(), cfg); err != nil {
		t.Fatalf("ed25519 host key known, ecdsa offered too: %v", err)
	}
}

// A ForceCommand gives every session a shell, the SFTP subsystem's too:
// the SFTP start gets no answer. The upload must fail in bounded time and
// say what to check, a step's marker cleanup must not wait for SFTP at
// all, and the pool must close at once.
func TestSSHDForceCommandSwallowsSFTP(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{"ForceCommand exec sh -s"}})
	p := remote.NewPool(remote.PoolOptions{KnownHosts: h.WriteKnownHosts(t), SSHConfig: filepath.Join(t.TempDir(), "none"), ConnectTimeout: 2 * time.Second})
	cfg := remote.HostConfig{Name: "restricted", Address: h.Addr, User: h.User, KeyFile: h.ClientKey, MarkerDir: filepath.Join(h.Dir, "runs")}
	c := connect(t, p, cfg)
	ctx := context.Background()

	// Steps run and clean up through shell sessions alone, without delay.
	start := time.Now()
	for i := range 3 {
		tok := fmt.Sprintf("r1:run:%d:restricted", i)
		if code, err := c.Exec(ctx, remote.ExecSpec{Script: "true", Token: tok}); err != nil || code != 0 {
			t.Fatalf("Exec: %d %v", code, err)
		}
		if err := c.ForgetMarkers(ctx, tok); err != nil {
			t.Fatalf("ForgetMarkers: %v", err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(h.Dir, "runs", "[^.]*")); len(left) != 0 { // not .swept
		t.Errorf("markers left: %v", left)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("three steps took %s: the marker cleanup waited for SFTP", d)
	}

	local, sum := randomFile(t, 64<<10)
	start = time.Now()
	_, err := c.Upload(ctx, remote.UploadSpec{Local: local, SHA256: sum, Dir: filepath.Join(h.DeployDir, "releases", "1"), Name: "a.ear"})
	if err == nil || !strings.Contains(err.Error(), "no answer in 2s") || !strings.Contains(err.Error(), "ForceCommand") {
		t.Errorf("upload through a swallowed SFTP: %v, want no answer and a hint at ForceCommand", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the upload failed after %s, want about the 2 s timeout", d)
	}
	start = time.Now()
	p.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("closing the pool took %s", d)
	}
}
