package remote_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// relayFleet is a relay host and two targets, real sshd that accept one
// key, and a pool that knows all three.
type relayFleet struct {
	relay, t1, t2 *sshdtest.Host
	pool          *remote.Pool
}

func startRelayFleet(t *testing.T, relayConfig ...string) *relayFleet {
	t.Helper()
	relay := sshdtest.Start(t, sshdtest.Options{OwnHome: true, ExtraConfig: relayConfig})
	t1 := sshdtest.Start(t, sshdtest.Options{ClientKey: relay.ClientKey})
	t2 := sshdtest.Start(t, sshdtest.Options{ClientKey: relay.ClientKey})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(relay.KnownHostsLine()+"\n"+t1.KnownHostsLine()+"\n"+t2.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := remote.NewPool(remote.PoolOptions{KnownHosts: kh, SSHConfig: filepath.Join(t.TempDir(), "none")})
	t.Cleanup(func() { p.Close() })
	return &relayFleet{relay: relay, t1: t1, t2: t2, pool: p}
}

func (f *relayFleet) cfg(name string, h *sshdtest.Host) remote.HostConfig {
	return remote.HostConfig{Name: name, Address: h.Addr, User: h.User, KeyFile: h.ClientKey, MarkerDir: filepath.Join(h.Dir, "runs")}
}

// The artifact crosses to the relay once; the relay sends it to each
// target, which checks it against the checksum of record; the relay keeps
// no key and no file of the copies.
func TestRelayUploadVia(t *testing.T) {
	f := startRelayFleet(t)
	ctx := context.Background()
	local, sum := randomFile(t, 24<<20+5)
	relay := connect(t, f.pool, f.cfg("pre1", f.relay))
	copyDir := filepath.Join(f.relay.DeployDir, ".runbook-relay")
	if _, err := relay.Upload(ctx, remote.UploadSpec{Local: local, SHA256: sum, Dir: copyDir, Name: "app.ear"}); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*sshdtest.Host{"prod1": f.t1, "prod2": f.t2} {
		c := connect(t, f.pool, f.cfg(name, h))
		dir := filepath.Join(h.DeployDir, "releases", "1")
		var last, total int64
		spec := remote.RelaySpec{
			UploadSpec: remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "app.ear", Progress: func(d, t int64) { last, total = d, t }},
			From:       remote.StagedCopy(filepath.Join(copyDir, "app.ear")),
		}
		res, err := c.(remote.Relayer).UploadVia(ctx, relay, spec)
		if err != nil {
			t.Fatalf("%s: %v\nrelay log:\n%s", name, err, f.relay.Log())
		}
		if res.Written != 24<<20+5 || res.Skipped || last != total || total != 24<<20+5 {
			t.Errorf("%s: result %+v, last progress %d/%d", name, res, last, total)
		}
		if got := fileSHA256(t, filepath.Join(dir, "app.ear")); got != sum {
			t.Errorf("%s: sha %s, want %s", name, got, sum)
		}
		// Again: already there with the checksum.
		if res, err := c.(remote.Relayer).UploadVia(ctx, relay, spec); err != nil || !res.Skipped {
			t.Errorf("%s: second relayed upload %+v %v, want skipped", name, res, err)
		}
	}
	// Nothing of the copies is left on the relay, and no key ever was.
	jobs, _ := os.ReadDir(filepath.Join(f.relay.Home, ".runbook", "relay"))
	if len(jobs) != 0 {
		t.Errorf("copy jobs left on the relay: %v", jobs)
	}
	filepath.WalkDir(f.relay.Home, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "PRIVATE KEY") {
				t.Errorf("a private key on the relay: %s", p)
			}
		}
		return nil
	})
}

// A relay that forbids agent forwarding refuses to be lent a key, saying
// so; told to use its own key (RelaySpec.KeyFile), it sends the copy with
// that key and asks for no agent.
func TestRelayUploadViaOwnKey(t *testing.T) {
	f := startRelayFleet(t, "AllowAgentForwarding no")
	ctx := context.Background()
	local, sum := randomFile(t, 3<<20+1)
	relay := connect(t, f.pool, f.cfg("pre1", f.relay))
	copyDir := filepath.Join(f.relay.DeployDir, ".relay")
	if _, err := relay.Upload(ctx, remote.UploadSpec{Local: local, SHA256: sum, Dir: copyDir, Name: "app.ear"}); err != nil {
		t.Fatal(err)
	}
	c := connect(t, f.pool, f.cfg("prod1", f.t1))
	dir := filepath.Join(f.t1.DeployDir, "releases", "1")
	spec := remote.RelaySpec{
		UploadSpec: remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "app.ear"},
		From:       remote.StagedCopy(filepath.Join(copyDir, "app.ear")),
	}
	_, err := c.(remote.Relayer).UploadVia(ctx, relay, spec)
	if err == nil || !strings.Contains(err.Error(), "AllowAgentForwarding") {
		t.Fatalf("lent a key through a relay that forbids forwarding: %v", err)
	}
	// The relay's own key: a file on the relay (here the key it shares
	// with the targets, as a fleet's deploy key would be).
	spec.KeyFile = f.relay.ClientKey
	res, err := c.(remote.Relayer).UploadVia(ctx, relay, spec)
	if err != nil {
		t.Fatalf("with the relay's own key: %v\nrelay log:\n%s", err, f.relay.Log())
	}
	if res.Written != 3<<20+1 || fileSHA256(t, filepath.Join(dir, "app.ear")) != sum {
		t.Errorf("result %+v, staged sha %s, want %s", res, fileSHA256(t, filepath.Join(dir, "app.ear")), sum)
	}
}
