package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// relayedUpload runs UploadVia to prod1 from a copy on the relay that the
// test stages by hand, bit by bit; wait returns its outcome.
type relayedUpload struct {
	part, final string // of the copy on prod1
	done        chan struct{}
	res         remote.UploadResult
	err         error
}

func startRelayedUpload(t *testing.T, f *relayFleet, local, sum string, from *remote.RelayCopy) *relayedUpload {
	t.Helper()
	relay := connect(t, f.pool, f.cfg("pre1", f.relay))
	c := connect(t, f.pool, f.cfg("prod1", f.t1))
	dir := filepath.Join(f.t1.DeployDir, "releases", "1")
	u := &relayedUpload{part: filepath.Join(dir, ".app.ear.part"), final: filepath.Join(dir, "app.ear"), done: make(chan struct{})}
	go func() {
		defer close(u.done)
		u.res, u.err = c.(remote.Relayer).UploadVia(context.Background(), relay, remote.RelaySpec{
			UploadSpec: remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "app.ear"},
			From:       from,
		})
	}()
	return u
}

// waitSize waits for the copy's temp file on prod1 to hold n bytes; the
// upload must still be under way, and nothing renamed.
func (u *relayedUpload) waitSize(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		fi, err := os.Stat(u.part)
		if err == nil && fi.Size() == n {
			break
		}
		select {
		case <-u.done:
			t.Fatalf("the copy ended (%+v, %v) before prod1 had %d bytes", u.res, u.err, n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prod1's copy never reached %d bytes (%v, %v)", n, fi, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Long enough for a copy that would not wait to be renamed.
	time.Sleep(300 * time.Millisecond)
	select {
	case <-u.done:
		t.Fatalf("the copy ended (%+v, %v) before the relay's copy was verified", u.res, u.err)
	default:
	}
	if _, err := os.Stat(u.final); err == nil {
		t.Fatal("prod1's copy was renamed before the relay's copy was verified")
	}
}

func (u *relayedUpload) wait(t *testing.T) {
	t.Helper()
	select {
	case <-u.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the copy did not end")
	}
}

// stagingOnRelay writes the first n bytes of local to the relay's temp
// file as an Upload would, and says they landed.
func stagingOnRelay(t *testing.T, spec remote.UploadSpec, local []byte, n int64) {
	t.Helper()
	p := filepath.Join(spec.Dir, "."+spec.Name+".part")
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, local[:n], 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Landed(n)
}

// followRelay starts a copy to prod1 that follows a relay's copy of an
// artifact of size random bytes, which the test then lands on the relay
// (stagingOnRelay) and finishes (rc.Finish).
func followRelay(t *testing.T, size int64) (f *relayFleet, art []byte, sum string, spec remote.UploadSpec, rc *remote.RelayCopy, u *relayedUpload) {
	f = startRelayFleet(t)
	var local string
	local, sum = randomFile(t, size)
	var err error
	art, err = os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	rc = remote.NewRelayCopy()
	spec = remote.UploadSpec{Local: local, SHA256: sum, Dir: filepath.Join(f.relay.DeployDir, ".relay"), Name: "app.ear"}
	rc.Staging(&spec)
	return f, art, sum, spec, rc, startRelayedUpload(t, f, local, sum, rc)
}

// The copies from the relay follow its copy as it lands, and none is
// done or renamed before the relay's copy is complete and verified.
func TestRelayCopyFollowsTheRelaysCopyAsItLands(t *testing.T) {
	f, art, sum, spec, rc, u := followRelay(t, 9<<20+3)

	// A part of it: prod1 gets that much before the relay has the rest.
	stagingOnRelay(t, spec, art, 5<<20+1)
	u.waitSize(t, 5<<20+1)
	// All of it, not yet verified on the relay: prod1 has all of it too,
	// and waits.
	stagingOnRelay(t, spec, art, int64(len(art)))
	u.waitSize(t, int64(len(art)))
	// Verified and renamed on the relay: prod1 checks its own and renames.
	final := filepath.Join(spec.Dir, spec.Name)
	if err := os.Rename(filepath.Join(spec.Dir, ".app.ear.part"), final); err != nil {
		t.Fatal(err)
	}
	rc.Finish(final, nil)
	u.wait(t)
	if u.err != nil {
		t.Fatalf("%v\nrelay log:\n%s", u.err, f.relay.Log())
	}
	if got := fileSHA256(t, u.final); got != sum || u.res.Written != int64(len(art)) {
		t.Errorf("prod1: sha %s, result %+v; want %s", got, u.res, sum)
	}
}

// A relay's copy that turns out corrupt (or short: its staging failed)
// fails the copies from it, whatever they received, and leaves no
// renamed file on the hosts, nor a copy job on the relay.
func TestRelayCopyFailsWithTheRelaysCopy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		landed int64 // how much of the relay's copy landed before it failed
		flip   bool  // a byte of it is wrong
	}{
		{"corrupt", 6<<20 + 9, true},
		{"short", 4<<20 + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, art, _, spec, rc, u := followRelay(t, 6<<20+9)
			onRelay := append([]byte(nil), art...)
			if tc.flip {
				onRelay[1<<20] ^= 1
			}
			stagingOnRelay(t, spec, onRelay, tc.landed)
			u.waitSize(t, tc.landed)
			rc.Finish("", errors.New("checksum mismatch on pre1 for the relay's copy"))
			u.wait(t)
			if u.err == nil || !strings.Contains(u.err.Error(), "checksum mismatch on pre1") {
				t.Errorf("the copy from a failed relay copy: %+v %v, want the relay's failure", u.res, u.err)
			}
			if _, err := os.Stat(u.final); err == nil {
				t.Error("prod1 renamed a copy of a relay's copy that failed")
			}
			jobs, _ := os.ReadDir(filepath.Join(f.relay.Home, ".runbook", "relay"))
			if len(jobs) != 0 {
				t.Errorf("copy jobs left on the relay: %v", jobs)
			}
		})
	}
}
