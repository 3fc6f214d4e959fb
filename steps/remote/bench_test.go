package remote_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// sshdPool connects to a real sshd host with its client key.
func sshdPool(tb testing.TB, h *sshdtest.Host) (*remote.Pool, remote.HostConfig) {
	tb.Helper()
	return sshdPoolAt(tb, h, h.Addr)
}

// sshdPoolAt is sshdPool for the host reached at addr (a proxy in front
// of it): a fresh pool, so its first call dials a new connection.
func sshdPoolAt(tb testing.TB, h *sshdtest.Host, addr string) (*remote.Pool, remote.HostConfig) {
	tb.Helper()
	p := remote.NewPool(remote.PoolOptions{KnownHosts: h.WriteKnownHostsAt(tb, addr), SSHConfig: filepath.Join(tb.TempDir(), "none")})
	tb.Cleanup(func() { p.Close() })
	return p, remote.HostConfig{Name: "sshd", Address: addr, User: h.User, KeyFile: h.ClientKey, MarkerDir: filepath.Join(h.Dir, "runs")}
}

// BenchmarkExec measures what a remote step costs beyond its command on
// an open connection: a session, the wrapper, `true`; host-ms/op is the
// processor time the host's side spent on each (sshd, the login shell,
// the wrapper and its processes).
func BenchmarkExec(b *testing.B) {
	h, c := benchConn(b, sshdtest.Options{}, "")
	b.Run("plain", func(b *testing.B) { defer hostCPU(b, h)(); benchPlain(b, c) })
	tokens := &benchTokens{}
	var finished string
	b.Run("markers", func(b *testing.B) {
		defer hostCPU(b, h)()
		for tok := range tokens.each(b) {
			finished = tok
			benchMarked(b, c, tok)
		}
	})
	b.Run("step", func(b *testing.B) { defer hostCPU(b, h)(); benchStep(b, c, tokens) })
	b.Run("markers-lookup", func(b *testing.B) {
		for b.Loop() {
			if m, err := c.Markers(context.Background(), finished, time.Time{}); err != nil || m.State != remote.Finished {
				b.Fatal(m, err)
			}
		}
	})
}

// slowRC is a ~/.bashrc that starts eight programs, as version managers'
// init lines do (pyenv's and its virtualenv plugin's start about that many).
const slowRC = `for i in 1 2 3 4 5 6 7 8; do x=$(/bin/true); done
`

// BenchmarkExecSlowRC is BenchmarkExec against a user whose bash sources
// a heavy ~/.bashrc for every command sshd runs (Debian's bash does, for
// commands from sshd): what every session then costs.
func BenchmarkExecSlowRC(b *testing.B) {
	_, c := benchConn(b, sshdtest.Options{OwnHome: true, SourceRC: true}, slowRC)
	b.Run("plain", func(b *testing.B) { benchPlain(b, c) })
	b.Run("step", func(b *testing.B) { benchStep(b, c, &benchTokens{}) })
}

// hostCPU starts counting the host's processor time; the function it
// returns reports it per op (host-ms/op). The last run's sessions have
// ended when it is called: each op waits for its session's end.
func hostCPU(b *testing.B, h *sshdtest.Host) func() {
	before, err := h.CPU()
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		after, err := h.CPU()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(after-before)/float64(time.Millisecond)/float64(b.N), "host-ms/op")
	}
}

// benchConn starts an sshd, writes rc as the user's ~/.bashrc (with
// OwnHome) and returns it and a Conn to it.
func benchConn(b *testing.B, opts sshdtest.Options, rc string) (*sshdtest.Host, remote.Conn) {
	h := sshdtest.Start(b, opts)
	if rc != "" {
		if err := os.WriteFile(filepath.Join(h.Home, ".bashrc"), []byte(rc), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	p, cfg := sshdPool(b, h)
	c, err := p.Conn(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return h, c
}

// benchTokens hands out run tokens. They are never reused (a run's
// .started is created exclusively), so every invocation of a benchmark
// function (-count, the -benchtime probe) gets its own series.
type benchTokens struct{ series int }

func (t *benchTokens) each(b *testing.B) func(yield func(string) bool) {
	t.series++
	return func(yield func(string) bool) {
		for i := 1; b.Loop(); i++ {
			if !yield(fmt.Sprintf("bench-%d:%d", t.series, i)) {
				return
			}
		}
	}
}

func benchPlain(b *testing.B, c remote.Conn) {
	for b.Loop() {
		if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "true"}); err != nil || code != 0 {
			b.Fatal(code, err)
		}
	}
}

func benchMarked(b *testing.B, c remote.Conn, tok string) {
	if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "true", Token: tok}); err != nil || code != 0 {
		b.Fatal(code, err)
	}
}

// benchStep is what a remote step costs the walker on a host: the run with
// its markers, then their removal once the outcome is committed.
func benchStep(b *testing.B, c remote.Conn, tokens *benchTokens) {
	for tok := range tokens.each(b) {
		benchMarked(b, c, tok)
		if err := c.ForgetMarkers(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpload256MiB sends a 256 MiB file to one sshd host (the
// checksum on the host and the rename included).
func BenchmarkUpload256MiB(b *testing.B) {
	h := sshdtest.Start(b, sshdtest.Options{})
	p, cfg := sshdPool(b, h)
	c, err := p.Conn(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	const size = 256 << 20
	local, sum := randomFile(b, size)
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		i++
		res, err := c.Upload(context.Background(), remote.UploadSpec{Local: local, SHA256: sum, Dir: filepath.Join(h.DeployDir, fmt.Sprint(i)), Name: "app.ear"})
		if err != nil || res.Skipped {
			b.Fatal(res, err)
		}
		b.StopTimer()
		_ = os.RemoveAll(filepath.Join(h.DeployDir, fmt.Sprint(i)))
		b.StartTimer()
	}
}

// randomFile writes size pseudo-random (incompressible) bytes and returns
// the path and its SHA-256.
func randomFile(tb testing.TB, size int64) (string, string) {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "artifact.ear")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), newPRNG(1), size); err != nil {
		tb.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// prng is a fast deterministic byte stream (xorshift), enough to defeat
// any compression.
type prng struct{ s uint64 }

func newPRNG(seed uint64) *prng { return &prng{s: seed*0x9E3779B97F4A7C15 + 1} }

func (r *prng) Read(p []byte) (int, error) {
	for i := 0; i+8 <= len(p); i += 8 {
		r.s ^= r.s << 13
		r.s ^= r.s >> 7
		r.s ^= r.s << 17
		v := r.s
		for j := range 8 {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(p) &^ 7; i < len(p); i++ {
		r.s ^= r.s << 13
		r.s ^= r.s >> 7
		r.s ^= r.s << 17
		p[i] = byte(r.s)
	}
	return len(p), nil
}
