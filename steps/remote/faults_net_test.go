package remote_test

// Network faults at random byte counts (issue 8, part B): connections cut
// or black-holed by a proxy on 127.0.0.1 between the pool and the
// in-process server, during commands and uploads. `make test` runs a few
// rounds of each; `make faults-net` (RUNBOOK_FAULTS=full) runs many and
// prints the figures (lines starting "figure:").

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// proxiedHost is a remotetest server behind a fault proxy, and a known_hosts
// file that trusts the server's key at the proxy's address.
type proxiedHost struct {
	srv        *remotetest.Server
	proxy      *remotetest.Proxy
	knownHosts string
	pools      []*remote.Pool // of the current round
}

func newProxiedHost(t *testing.T) *proxiedHost {
	t.Helper()
	srv := remotetest.NewServer(t, remotetest.Options{})
	proxy := remotetest.NewProxy(t, srv.Addr)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(remotetest.KnownHostsLine(proxy.Addr, srv.HostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &proxiedHost{srv: srv, proxy: proxy, knownHosts: kh}
}

// pool returns a fresh pool, so that its first call dials a new connection
// through the proxy (the one an armed fault strikes).
func (h *proxiedHost) pool(t *testing.T, opts remote.PoolOptions) *remote.Pool {
	opts.KnownHosts = h.knownHosts
	p := testPool(t, h.srv, opts)
	h.pools = append(h.pools, p)
	return p
}

// endRound closes the pools of a round, so that rounds do not pile up
// connections (testPool closes them at the end of the test anyway).
func (h *proxiedHost) endRound() {
	for _, p := range h.pools {
		p.Close()
	}
	h.pools = nil
}

func (h *proxiedHost) config() remote.HostConfig {
	return remote.HostConfig{Name: "pre1", Address: h.proxy.Addr, User: h.srv.User, Key: h.srv.ClientKey}
}

// bigScript is a command larger than several SSH packets, so that a cut
// can fall inside it: it appends "begin" to a file, then, after about
// 100 KiB of no-op lines, "end", prints 200 lines and exits 7. A run that
// wrote "begin" without "end" is a script cut short and run anyway.
func bigScript(effects string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "echo begin >> %s\n", remote.ShellQuote(effects))
	pad := ": " + strings.Repeat("p", 96) + "\n"
	for range 1024 {
		b.WriteString(pad)
	}
	fmt.Fprintf(&b, "echo end >> %s\n", remote.ShellQuote(effects))
	b.WriteString("i=0; while [ $i -lt 200 ]; do echo \"line $i\"; i=$((i+1)); done\nexit 7\n")
	return b.String()
}

func readEffects(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFaultCutCommandsAtRandomBytes cuts the connection at a random byte
// of a command's whole exchange (handshake, script upload, output, exit
// status). Whatever the point, Exec must tell the truth: a result means
// the script ran whole; "in doubt" means the host's markers settle it; any
// other error means it never started. The script runs whole or not at all,
// and never twice.
func TestFaultCutCommandsAtRandomBytes(t *testing.T) {
	h := newProxiedHost(t)
	r := remotetest.FaultRand(t)
	ctx := context.Background()

	// A clean run measures the exchange.
	dir := t.TempDir()
	before := h.proxy.Forwarded()
	code, err := connect(t, h.pool(t, remote.PoolOptions{}), h.config()).Exec(ctx,
		remote.ExecSpec{Script: bigScript(filepath.Join(dir, "effects")), Token: "clean:1"})
	if err != nil || code != 7 {
		t.Fatalf("clean run: %d %v", code, err)
	}
	total := h.proxy.Forwarded() - before
	if got := readEffects(t, filepath.Join(dir, "effects")); got != "begin\nend\n" {
		t.Fatalf("clean run wrote %q", got)
	}

	n := remotetest.Rounds(12, 200)
	outcomes := map[string]int{}
	for i := range n {
		h.endRound()
		dir := t.TempDir()
		effects := filepath.Join(dir, "effects")
		token := fmt.Sprintf("cut:%d", i)
		// The script is most of the exchange: every other cut falls in
		// its last 6 KiB (the end of the script, the output, the exit
		// status), so that those get their share.
		at := r.Int64N(total)
		if i%2 == 1 {
			at = total - 1 - r.Int64N(6<<10)
		}
		fault := h.proxy.Arm(remotetest.Cut, at)
		pool := h.pool(t, remote.PoolOptions{})
		c, err := pool.Conn(ctx, h.config())
		var code int
		if err == nil {
			var out syncBuffer
			code, err = c.Exec(ctx, remote.ExecSpec{Script: bigScript(effects), Token: token, Stdout: &out})
		}
		h.proxy.Disarm()
		// The truth, read over a fresh connection once the run is over.
		check := connect(t, h.pool(t, remote.PoolOptions{}), h.config())
		var m remote.Marker
		waitFor(t, "the run to end", func() bool {
			var merr error
			m, merr = check.Markers(ctx, token, time.Time{})
			return merr == nil && m.State != remote.StillRunning
		})
		got := readEffects(t, effects)
		switch {
		case err == nil:
			outcomes["result"]++
			if code != 7 || got != "begin\nend\n" || m.State != remote.Finished || m.ExitCode != 7 {
				t.Errorf("round %d (cut at %d of %d, struck %v): exit %d, effects %q, markers %+v; want 7, the whole script, finished",
					i, at, total, !fault.At().IsZero(), code, got, m)
			}
		case errors.Is(err, remote.ErrInDoubt):
			outcomes["in doubt"]++
			if got != "" {
				outcomes["in doubt, ran"]++
			}
			if got != "" && got != "begin\nend\n" {
				t.Errorf("round %d (cut at %d of %d): in doubt, and the script ran part-way: effects %q", i, at, total, got)
			}
			if (got == "") != (m.State == remote.NeverStarted) {
				t.Errorf("round %d (cut at %d of %d): effects %q but markers say %v", i, at, total, got, m.State)
			}
			if m.State == remote.Finished && m.ExitCode != 7 {
				t.Errorf("round %d: markers recorded exit %d, want 7", i, m.ExitCode)
			}
		default:
			outcomes["not started"]++
			if got != "" || m.State != remote.NeverStarted {
				t.Errorf("round %d (cut at %d of %d): %v says it did not start, but effects %q, markers %v", i, at, total, err, got, m.State)
			}
		}
	}
	remotetest.Figure(t, "commands cut at random bytes: %d rounds over a %d-byte exchange (a 105 KiB script): %d returned a result, %d in doubt (%d had run whole, "+
		"their exit code found in the markers; the others never began), %d reported not started; 0 ran part-way, 0 ran twice, 0 wrong exit codes",
		n, total, outcomes["result"], outcomes["in doubt"], outcomes["in doubt, ran"], outcomes["not started"])
}

// TestFaultCutUploadsAtRandomBytes cuts the connection at a random byte of
// an upload, then uploads again on a healthy link until it succeeds: the
// staged file must always have the artifact's checksum, a partial file
// must be resumed rather than sent again when its prefix is good, and no
// file may be renamed into place with another checksum.
func TestFaultCutUploadsAtRandomBytes(t *testing.T) {
	h := newProxiedHost(t)
	r := remotetest.FaultRand(t)
	ctx := context.Background()
	size := int64(4 << 20)
	if remotetest.FullFaults() {
		size = 16 << 20
	}
	local, sum := randomFile(t, size)

	dir := t.TempDir()
	before := h.proxy.Forwarded()
	if _, err := connect(t, h.pool(t, remote.PoolOptions{}), h.config()).Upload(ctx,
		remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"}); err != nil {
		t.Fatal(err)
	}
	total := h.proxy.Forwarded() - before

	n := remotetest.Rounds(8, 150)
	var failed, resumed, restarted, mismatchBefore, mismatchAfter, attempts int
	var resumedBytes int64
	for i := range n {
		h.endRound()
		dir := filepath.Join(t.TempDir(), "releases", "1.0")
		final := filepath.Join(dir, "billing.ear")
		spec := remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"}
		at := r.Int64N(total)
		h.proxy.Arm(remotetest.Cut, at)
		pool := h.pool(t, remote.PoolOptions{})
		var res remote.UploadResult
		var err error
		if c, cerr := pool.Conn(ctx, h.config()); cerr != nil {
			err = cerr
		} else {
			res, err = c.Upload(ctx, spec)
		}
		h.proxy.Disarm()
		// Up to five more attempts on a healthy link; one must do.
		for try := 0; err != nil && try < 5; try++ {
			attempts++
			if try == 0 {
				failed++
			}
			if strings.Contains(err.Error(), "checksum mismatch") {
				mismatchBefore++
			}
			if exists(final) && fileSHA256(t, final) != sum {
				mismatchAfter++
				t.Errorf("round %d (cut at %d of %d): a file with the wrong checksum was renamed into place", i, at, total)
			}
			var c remote.Conn
			if c, err = pool.Conn(ctx, h.config()); err == nil {
				res, err = c.Upload(ctx, spec)
			}
		}
		if err != nil {
			t.Fatalf("round %d (cut at %d of %d): upload still failing on a healthy link: %v", i, at, total, err)
		}
		if got := fileSHA256(t, final); got != sum {
			mismatchAfter++
			t.Errorf("round %d (cut at %d of %d): staged sha256 %s, want %s", i, at, total, got, sum)
		}
		if exists(filepath.Join(dir, ".billing.ear.part")) {
			t.Errorf("round %d: the partial file is left behind", i)
		}
		switch {
		case res.Resumed > 0:
			resumed++
			resumedBytes += res.Resumed
		case res.Written == size:
			restarted++
		}
	}
	remotetest.Figure(t, "uploads cut at random bytes: %d rounds of a %d MiB upload (%d-byte exchange): %d cut short, %d retries in all; "+
		"%d resumed a verified prefix (%.1f MiB kept on average), %d sent again from 0; checksum mismatches: %d before rename (caught), %d after rename",
		n, size>>20, total, failed, attempts, resumed, float64(resumedBytes)/float64(max(resumed, 1))/(1<<20), restarted, mismatchBefore, mismatchAfter)
}

// TestFaultBlackHoleDetection black-holes the link at a random byte count
// after the handshake, during a command's output or an upload, and
// measures how long the pool takes to notice: keepalive@openssh.com every
// K, closed 3K after the last answer, so 2K to 3K after the link died
// (30 to 45 s with the default K of 15 s; the issue asks for 60 s at
// most). K is lowered here through PoolOptions only. The test asserts what must hold on any machine: the dead
// link is noticed, a cut command is in doubt, and its true end is found
// afterwards; the times are figures, not assertions (but for the hang
// guard).
func TestFaultBlackHoleDetection(t *testing.T) {
	h := newProxiedHost(t)
	r := remotetest.FaultRand(t)
	ctx := context.Background()
	const k = 200 * time.Millisecond
	opts := remote.PoolOptions{Keepalive: k}
	local, sum := randomFile(t, 8<<20)

	n := remotetest.Rounds(4, 60)
	var cmdRatios, uploadRatios []float64
	inDoubt := 0
	for i := range n {
		h.endRound()
		upload := i%2 == 1
		dir := t.TempDir()
		ready, go1, go2 := filepath.Join(dir, "ready"), filepath.Join(dir, "go1"), filepath.Join(dir, "go2")
		token := fmt.Sprintf("bh:%d", i)
		// About 8 KiB of output between two gates, so the fault can be
		// placed inside it.
		script := fmt.Sprintf("touch %[1]s\nwhile [ ! -e %[2]s ]; do sleep 0.02; done\n"+
			"i=0; while [ $i -lt 400 ]; do echo \"output line $i\"; i=$((i+1)); done\n"+
			"while [ ! -e %[3]s ]; do sleep 0.02; done\nexit 5\n", remote.ShellQuote(ready), remote.ShellQuote(go1), remote.ShellQuote(go2))

		c := connect(t, h.pool(t, opts), h.config())
		var f *remotetest.Fault
		var err error
		done := make(chan struct{})
		if upload {
			f = h.proxy.ArmLatest(remotetest.BlackHole, r.Int64N(8<<20))
			go func() {
				defer close(done)
				_, err = c.Upload(ctx, remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "a.ear"})
			}()
		} else {
			go func() {
				defer close(done)
				_, err = c.Exec(ctx, remote.ExecSpec{Script: script, Token: token})
			}()
			waitFor(t, "the command to start", func() bool { return exists(ready) })
			// Less than the output, so it strikes while the output flows.
			f = h.proxy.ArmLatest(remotetest.BlackHole, r.Int64N(6<<10))
			if err := os.WriteFile(go1, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: a black-holed link was not noticed within 60s", i)
		}
		returned := time.Now()
		if f.At().IsZero() {
			t.Fatalf("round %d: the fault never struck (err %v)", i, err)
		}
		ratio := float64(returned.Sub(f.At())) / float64(k)
		if upload {
			if err == nil {
				t.Errorf("round %d: an upload over a black-holed link succeeded", i)
			}
			uploadRatios = append(uploadRatios, ratio)
			continue
		}
		cmdRatios = append(cmdRatios, ratio)
		if !errors.Is(err, remote.ErrInDoubt) {
			t.Errorf("round %d: a command cut by a black hole returned %v, want in doubt", i, err)
		} else {
			inDoubt++
		}
		if err := os.WriteFile(go2, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		// The run went on on the host; a new connection finds its end.
		var out syncBuffer
		code, err := connect(t, h.pool(t, opts), h.config()).Wait(ctx, token, &out)
		if err != nil || code != 5 {
			t.Errorf("round %d: Wait after the black hole: %d %v, want 5", i, code, err)
		}
		if !strings.HasSuffix(out.String(), "output line 399\n") {
			t.Errorf("round %d: the log on the host lost output: %q", i, tail(out.String()))
		}
	}
	all := append(slices.Clone(cmdRatios), uploadRatios...)
	remotetest.Figure(t, "black hole after the handshake, keepalive K=%s: %d commands (%d reported in doubt), %d uploads; detection p50 %.2fK, p99 %.2fK, max %.2fK "+
		"(expected 2K-3K); scaled to the default K=15s: p99 %.0fs, max %.0fs (limit 60s)",
		k, len(cmdRatios), inDoubt, len(uploadRatios), percentile(all, 50), percentile(all, 99), slices.Max(all),
		percentile(all, 99)*15, slices.Max(all)*15)
}

func tail(s string) string {
	if len(s) > 200 {
		return "…" + s[len(s)-200:]
	}
	return s
}

// TestFaultBlackHoleInHandshake black-holes a connection before the SSH
// handshake is done: the connect timeout, not the keepalive, ends it.
func TestFaultBlackHoleInHandshake(t *testing.T) {
	h := newProxiedHost(t)
	r := remotetest.FaultRand(t)
	const timeout = time.Second
	n := remotetest.Rounds(2, 20)
	var ratios []float64
	for i := range n {
		// The handshake is a few KiB; any point in it will do.
		f := h.proxy.Arm(remotetest.BlackHole, r.Int64N(2<<10))
		_, err := h.pool(t, remote.PoolOptions{ConnectTimeout: timeout}).Conn(context.Background(), h.config())
		var ue *remote.UnreachableError
		if !errors.As(err, &ue) {
			t.Fatalf("round %d: a handshake into a black hole returned %v, want unreachable", i, err)
		}
		if f.At().IsZero() {
			t.Fatalf("round %d: the fault did not strike in the handshake", i)
		}
		ratios = append(ratios, float64(time.Since(f.At()))/float64(timeout))
	}
	remotetest.Figure(t, "black hole during the handshake: %d rounds, detection max %.2f x the connect timeout (default 10s: %.0fs)",
		n, slices.Max(ratios), slices.Max(ratios)*10)
}

// percentile returns the p-th percentile (nearest rank) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
