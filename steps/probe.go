package steps

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// tcpProbeTimeout bounds a tcp probe's connect; http probes have their own
// timeout in the runbook.
const tcpProbeTimeout = 10 * time.Second

// ProbeResult is one probed target, recorded as the host run's detail.
type ProbeResult struct {
	Target    string  `json:"target"`
	OK        bool    `json:"ok"`
	ConnectMS float64 `json:"connect_ms"`
	// LatencyMS holds one latency per HTTP request made on the connection.
	LatencyMS []float64 `json:"latency_ms,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// probeKind is `probe: {tcp, http}`: connections made from each host's
// side; it changes nothing.
type probeKind struct {
	shellVerify
	noBuiltInUndo
}

// Describe implements Kind.
func (probeKind) Describe(_ *runbook.Runbook, s *runbook.Step, _ string) string {
	t := append([]string(nil), s.Probe.TCP...)
	for _, h := range s.Probe.HTTP {
		t = append(t, h.URL)
	}
	return "probe " + strings.Join(t, ", ")
}

// Changes implements Kind.
func (probeKind) Changes(*runbook.Runbook, *runbook.Step) runbook.Change {
	return runbook.ChangesNothing
}

// Do implements Kind.
func (probeKind) Do(ctx context.Context, _ *Executor, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	return probe(ctx, conn, c)
}

// probe connects to every target from the host's side: through the SSH
// connection (direct-tcpip) for remote hosts, so no tool is needed there;
// from the operator's machine for local hosts.
func probe(ctx context.Context, conn remote.Conn, c *runbook.Call) (runbook.Outcome, error) {
	p := c.Step.Probe
	var results []ProbeResult
	for _, addr := range p.TCP {
		results = append(results, probeTCP(ctx, conn, addr, tcpProbeTimeout))
		show(c, results[len(results)-1])
	}
	for _, hp := range p.HTTP {
		results = append(results, probeHTTP(ctx, conn, hp))
		show(c, results[len(results)-1])
	}
	if err := ctx.Err(); err != nil {
		// Probes change nothing: the walker runs them again on resume.
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("probe from %s: %w", c.Host.Name, err)
	}
	b, err := json.Marshal(results)
	if err != nil {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("record the probe results: %w", err)
	}
	var failed []string
	for _, r := range results {
		if !r.OK {
			failed = append(failed, r.Target)
		}
	}
	out := runbook.Outcome{Detail: string(b), Summary: fmt.Sprintf("%d of %d targets reachable", len(results), len(results))}
	if len(failed) > 0 {
		out.ExitCode = 1
		out.Summary = fmt.Sprintf("%d of %d targets failed from %s: %s", len(failed), len(results), c.Host.Name, strings.Join(failed, ", "))
	}
	return out, nil
}

// show writes one result to the host's output, naming the host and the
// target, so a failure says what could not reach what.
func show(c *runbook.Call, r ProbeResult) {
	if r.OK {
		fmt.Fprintf(c.Out, "ok   %s from %s: connect %.1f ms%s\n", r.Target, c.Host.Name, r.ConnectMS, latencies(r.LatencyMS))
		return
	}
	fmt.Fprintf(c.Out, "FAIL %s from %s: %s\n", r.Target, c.Host.Name, r.Error)
}

func latencies(l []float64) string {
	if len(l) == 0 {
		return ""
	}
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return ", requests " + strings.Join(parts, " ") + " ms"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func probeTCP(ctx context.Context, conn remote.Conn, addr string, timeout time.Duration) ProbeResult {
	r := ProbeResult{Target: "tcp " + addr}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	nc, err := conn.Dial(dctx, "tcp", addr)
	r.ConnectMS = ms(time.Since(start))
	if err != nil {
		r.Error = connectError(dctx, addr, timeout, err)
		return r
	}
	nc.Close()
	r.OK = true
	return r
}

// connectError says why addr could not be reached, with the port named.
func connectError(ctx context.Context, addr string, timeout time.Duration, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("no connection to %s within %s (filtered, or nothing answers)", addr, timeout)
	}
	if errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "refused") {
		return fmt.Sprintf("connection to %s refused: nothing listens on that port", addr)
	}
	// What sshd answers a direct-tcpip request that AllowTcpForwarding or
	// PermitOpen forbids.
	if strings.Contains(err.Error(), "administratively prohibited") {
		return fmt.Sprintf("cannot connect to %s: the host's sshd forbids forwarding (AllowTcpForwarding, PermitOpen), so the probe cannot be made from it", addr)
	}
	return fmt.Sprintf("cannot connect to %s: %v", addr, err)
}

// probeHTTP sends KeepAlive requests on one connection. A server that
// closes a kept-alive connection, or stalls on it, fails the probe: that is
// the failure mode of a mismatched Apache KeepAlive between environments.
func probeHTTP(ctx context.Context, conn remote.Conn, hp runbook.HTTPProbe) ProbeResult {
	r := ProbeResult{Target: "http " + hp.URL}
	u, err := url.Parse(hp.URL)
	if err != nil {
		r.Error = fmt.Sprintf("url does not parse: %v", err)
		return r
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	timeout := hp.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	expect := hp.Expect
	if expect == 0 {
		expect = http.StatusOK
	}
	n := max(hp.KeepAlive, 1)

	dctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	raw, err := conn.Dial(dctx, "tcp", addr)
	r.ConnectMS = ms(time.Since(start))
	cancel()
	if err != nil {
		r.Error = connectError(dctx, addr, timeout, err)
		return r
	}
	// SSH channels (direct-tcpip) support no deadlines: closing the
	// connection is the one way to end a read from a server that stalls,
	// or to give up when the operator interrupts.
	g := &guard{c: raw}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	var nc net.Conn = raw
	if u.Scheme == "https" {
		tc := tls.Client(raw, &tls.Config{ServerName: u.Hostname()})
		g.arm(timeout)
		err := tc.Handshake()
		if g.disarm() {
			r.Error = fmt.Sprintf("no TLS handshake from %s within %s: the connection stalls", addr, timeout)
			return r
		}
		if err != nil {
			r.Error = fmt.Sprintf("TLS handshake with %s: %v", addr, err)
			return r
		}
		nc = tc
	}
	br := bufio.NewReader(nc)
	for i := 1; i <= n; i++ {
		lat, status, closing, err := exchange(g, nc, br, hp.URL, timeout)
		if err != nil {
			r.Error = requestError(err, i, n, timeout, g.fired.Load())
			return r
		}
		r.LatencyMS = append(r.LatencyMS, ms(lat))
		if status != expect {
			r.Error = fmt.Sprintf("status %d, expected %d (request %d of %d)", status, expect, i, n)
			return r
		}
		if closing && i < n {
			r.Error = fmt.Sprintf("the server closed the connection after request %d of %d: keep-alive is off", i, n)
			return r
		}
	}
	r.OK = true
	return r
}

// exchange sends one GET on the kept-alive connection and reads the whole
// answer, within timeout. closing reports that the server said it will
// close the connection.
func exchange(g *guard, nc net.Conn, br *bufio.Reader, target string, timeout time.Duration) (lat time.Duration, status int, closing bool, err error) {
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return 0, 0, false, err
	}
	req.Header.Set("User-Agent", "runbook-probe")
	g.arm(timeout)
	defer g.disarm()
	t0 := time.Now()
	if err := req.Write(nc); err != nil {
		return 0, 0, false, fmt.Errorf("send: %w", err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return 0, 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, 0, false, fmt.Errorf("read the body: %w", err)
	}
	return time.Since(t0), resp.StatusCode, resp.Close, nil
}

// requestError explains why request i of n got no answer.
func requestError(err error, i, n int, timeout time.Duration, stalled bool) string {
	where := fmt.Sprintf("request %d of %d on one connection", i, n)
	switch {
	case stalled:
		return fmt.Sprintf("%s: no answer within %s: the connection stalls", where, timeout)
	case dropped(err) && i > 1:
		return fmt.Sprintf("%s: the server dropped the kept-alive connection after request %d (keep-alive off or timed out?)", where, i-1)
	case dropped(err):
		return fmt.Sprintf("%s: the server closed the connection without answering", where)
	}
	return fmt.Sprintf("%s: %v", where, err)
}

// dropped reports whether err means the peer went away.
func dropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// guard closes a connection whose exchange has not finished in time. It
// closes the raw connection, which also ends a TLS session on top of it.
type guard struct {
	c     io.Closer
	timer *time.Timer
	fired atomic.Bool
}

func (g *guard) arm(d time.Duration) {
	g.timer = time.AfterFunc(d, func() {
		g.fired.Store(true)
		g.c.Close()
	})
}

// disarm stops the timer and reports whether it had already fired.
func (g *guard) disarm() bool {
	if g.timer != nil {
		g.timer.Stop()
	}
	return g.fired.Load()
}
