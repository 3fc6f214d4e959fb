package steps

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// bars records the progress bars an upload starts.
type bars struct {
	mu   sync.Mutex
	last map[string][2]int64 // host: last done, total
	done map[string]int      // host: Done calls
}

type bar struct {
	b    *bars
	host string
}

func (b bar) Update(done, total int64) {
	b.b.mu.Lock()
	defer b.b.mu.Unlock()
	b.b.last[b.host] = [2]int64{done, total}
}

func (b bar) Done(error) {
	b.b.mu.Lock()
	defer b.b.mu.Unlock()
	b.b.done[b.host]++
}

// relayWorld is pre1 and three production hosts on real sshd, a runbook
// whose upload step goes through pre1, and an Executor over one pool.
type relayWorld struct {
	rb    *runbook.Runbook
	x     *Executor
	pre   *sshdtest.Host
	prods []*sshdtest.Host
	sum   string
	bars  *bars
}

// startRelayWorld starts the hosts; relay is the step's relay value with
// KEY for the path of the key the hosts accept, extra pre1's sshd_config.
func startRelayWorld(t *testing.T, relay string, extra ...string) *relayWorld {
	t.Helper()
	pre := sshdtest.Start(t, sshdtest.Options{OwnHome: true, ExtraConfig: extra})
	w := &relayWorld{pre: pre, bars: &bars{last: map[string][2]int64{}, done: map[string]int{}}}
	dir := t.TempDir()
	prods, prodKH, hosts := sshdtest.StartBehind(t, pre, 3)
	w.prods = prods
	kh := pre.KnownHostsLine() + "\n" + prodKH
	art := make([]byte, 3<<20+7)
	rand.Read(art)
	sum := sha256.Sum256(art)
	w.sum = hex.EncodeToString(sum[:])
	for name, content := range map[string]string{
		"known_hosts": kh,
		"app.ear":     string(art),
		"runbook.yaml": fmt.Sprintf(`name: r
known_hosts: known_hosts
artifact: {path: app.ear}
environments:
  pre:
    user: %[1]s
    auth: {key_file: %[2]s}
    hosts: [{name: pre1, address: "%[3]s", deploy_dir: %[4]s}]
  prod:
    user: %[1]s
    auth: {key_file: %[2]s}
    parallel: 3
    hosts:
%[5]s
steps:
  - {name: stage, on: prod, upload: artifact, relay: %[6]s}
`, pre.User, pre.ClientKey, pre.Addr, pre.DeployDir, hosts, strings.ReplaceAll(relay, "KEY", pre.ClientKey)),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rb, err := runbook.Load(filepath.Join(dir, "runbook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.rb = rb
	pool := remote.NewPool(remote.PoolOptions{KnownHosts: rb.KnownHosts, SSHConfig: filepath.Join(dir, "none")})
	w.x = &Executor{RB: rb, Dialer: pool, Closer: pool, Progress: func(host string, total int64) Progress {
		return bar{b: w.bars, host: host}
	}}
	t.Cleanup(func() { w.x.Close() })
	return w
}

// uploadAll runs the upload step on every production host at once.
func (w *relayWorld) uploadAll(t *testing.T, version string) (map[string]runbook.Outcome, map[string]error, string) {
	t.Helper()
	s := w.rb.Step("stage")
	var (
		mu   sync.Mutex
		out  bytes.Buffer
		outs = map[string]runbook.Outcome{}
		errs = map[string]error{}
		wg   sync.WaitGroup
	)
	for _, h := range w.rb.Envs["prod"].Hosts {
		wg.Go(func() {
			var hostOut bytes.Buffer
			c := &runbook.Call{Release: &runbook.Release{Version: version}, Step: s, Host: h, Out: &hostOut,
				Data: runbook.TemplateData{Artifact: runbook.TemplateArtifact{Name: "app.ear", SHA256: w.sum}}}
			o, err := w.x.Do(context.Background(), c)
			mu.Lock()
			defer mu.Unlock()
			outs[h.Name], errs[h.Name] = o, err
			out.Write(hostOut.Bytes())
		})
	}
	wg.Wait()
	return outs, errs, out.String()
}

// The host runs of a step that start together stage the artifact on the
// relay once; each host gets it verified, and each shows its progress,
// the relay's copy too.
func TestRelayStagesOnceForTheStep(t *testing.T) {
	w := startRelayWorld(t, "pre1")
	outs, errs, out := w.uploadAll(t, "1")
	for name, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v\nrelay log:\n%s", name, err, w.pre.Log())
		}
		if !strings.Contains(outs[name].Summary, "from relay pre1") {
			t.Errorf("%s: summary %q", name, outs[name].Summary)
		}
	}
	if n := strings.Count(out, "on relay pre1 in"); n != 1 {
		t.Errorf("staged on the relay %d times, want once:\n%s", n, out)
	}
	size := int64(3<<20 + 7)
	for _, name := range []string{"pre1 (relay)", "prod1", "prod2", "prod3"} {
		if got := w.bars.last[name]; got != [2]int64{size, size} || w.bars.done[name] != 1 {
			t.Errorf("%s: progress ended at %v with %d Done, want %d/%d and one", name, got, w.bars.done[name], size, size)
		}
	}
	for i, h := range w.prods {
		b, err := os.ReadFile(filepath.Join(h.DeployDir, "releases", "1", "app.ear"))
		if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != w.sum {
			t.Errorf("prod%d: staged copy %v, sha %x", i+1, err, sum)
		}
	}
}

// A relay that cannot take the artifact fails every host run that waited
// for it, and the next attempt tries again rather than repeat the error.
func TestRelayFailureIsSharedThenRetried(t *testing.T) {
	w := startRelayWorld(t, "pre1")
	// A file where the relay's slot directory goes: the upload refuses it.
	slot := filepath.Join(w.pre.DeployDir, relayDir)
	if err := os.WriteFile(slot, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, _ := w.uploadAll(t, "1")
	for name, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "relay pre1") {
			t.Errorf("%s: %v, want the relay's failure", name, err)
		}
	}
	if err := os.Remove(slot); err != nil {
		t.Fatal(err)
	}
	_, errs, _ = w.uploadAll(t, "1")
	for name, err := range errs {
		if err != nil {
			t.Errorf("%s after the relay was fixed: %v", name, err)
		}
	}
}

// relay: {host, key_file}: the relay logs in to the hosts with its own
// key, so a relay whose sshd forbids agent forwarding serves the step.
func TestRelayWithItsOwnKey(t *testing.T) {
	w := startRelayWorld(t, "{host: pre1, key_file: KEY}", "AllowAgentForwarding no")
	_, errs, _ := w.uploadAll(t, "1")
	for name, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for i, h := range w.prods {
		b, err := os.ReadFile(filepath.Join(h.DeployDir, "releases", "1", "app.ear"))
		if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != w.sum {
			t.Errorf("prod%d: staged copy %v, sha %x", i+1, err, sum)
		}
	}
}
