package steps

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// localConn probes from this machine, as for a local environment.
func localConn() remote.Conn { return remote.NewLocal(remote.HostConfig{Name: "ops", Local: true}) }

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// countingServer is an HTTP server on 127.0.0.1 that counts the
// connections it accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// rawServer accepts one connection at a time and hands it to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return l.Addr().String()
}

func TestProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r := probeTCP(t.Context(), localConn(), l.Addr().String(), time.Minute); !r.OK || r.Error != "" || r.Target != "tcp "+l.Addr().String() {
		t.Errorf("open port: %+v", r)
	}
	closed := closedPort(t)
	r := probeTCP(t.Context(), localConn(), closed, time.Minute)
	if r.OK || !strings.Contains(r.Error, closed) || !strings.Contains(r.Error, "refused") {
		t.Errorf("closed port: %+v", r)
	}
}

func TestProbeHTTPKeepAlive(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "UP") })
	r := probeHTTP(t.Context(), localConn(), runbook.HTTPProbe{URL: srv.URL + "/health", Expect: 200, KeepAlive: 3, Timeout: time.Minute})
	if !r.OK || r.Error != "" || len(r.LatencyMS) != 3 {
		t.Fatalf("keep-alive server: %+v", r)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("three requests used %d connections, want one kept alive", n)
	}
}

func TestProbeHTTPFailures(t *testing.T) {
	closing, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		fmt.Fprintln(w, "UP")
	})
	unavailable, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	// Answers like a keep-alive server, then hangs up anyway.
	dropper := rawServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nUP\n")
		}
	})
	// Reads the request and never answers.
	staller := rawServer(t, func(c net.Conn) {
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = c.Read(make([]byte, 1)) // until the prober gives up
	})
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsSrv.Close()
	closed := closedPort(t)

	tests := []struct {
		name    string
		probe   runbook.HTTPProbe
		want    string
		answers int // latencies recorded before the failure
	}{
		{"connection close", runbook.HTTPProbe{URL: closing.URL, Expect: 200, KeepAlive: 3}, "closed the connection after request 1 of 3: keep-alive is off", 1},
		{"wrong status", runbook.HTTPProbe{URL: unavailable.URL, Expect: 200, KeepAlive: 1}, "status 503, expected 200", 1},
		{"dropped", runbook.HTTPProbe{URL: "http://" + dropper + "/", Expect: 200, KeepAlive: 3}, "request 2 of 3 on one connection: the server dropped the kept-alive connection after request 1", 1},
		{"stalls", runbook.HTTPProbe{URL: "http://" + staller + "/", Expect: 200, KeepAlive: 2, Timeout: 100 * time.Millisecond}, "request 1 of 2 on one connection: no answer within 100ms: the connection stalls", 0},
		{"closed port", runbook.HTTPProbe{URL: "http://" + closed + "/", Expect: 200}, "connection to " + closed + " refused", 0},
		{"untrusted certificate", runbook.HTTPProbe{URL: tlsSrv.URL, Expect: 200}, "TLS handshake with " + strings.TrimPrefix(tlsSrv.URL, "https://"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.probe.Timeout == 0 {
				tc.probe.Timeout = time.Minute
			}
			r := probeHTTP(t.Context(), localConn(), tc.probe)
			if r.OK || !strings.Contains(r.Error, tc.want) {
				t.Errorf("got %+v, want an error containing %q", r, tc.want)
			}
			if len(r.LatencyMS) != tc.answers {
				t.Errorf("%d latencies recorded, want %d", len(r.LatencyMS), tc.answers)
			}
		})
	}
}

func TestProbeStepOutcome(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {})
	closed := closedPort(t)
	var out strings.Builder
	c := &runbook.Call{
		Step: &runbook.Step{Name: "interfaces", Kind: runbook.KindProbe, Probe: &runbook.Probe{
			TCP:  []string{strings.TrimPrefix(srv.URL, "http://"), closed},
			HTTP: []runbook.HTTPProbe{{URL: srv.URL, Expect: 200, KeepAlive: 2, Timeout: time.Minute}},
		}},
		Host: &runbook.Host{Name: "pre1"},
		Out:  &out,
	}
	o, err := probe(t.Context(), localConn(), c)
	if err != nil {
		t.Fatal(err)
	}
	if o.ExitCode != 1 || o.Summary != "1 of 3 targets failed from pre1: tcp "+closed {
		t.Errorf("outcome %+v", o)
	}
	var results []ProbeResult
	if err := json.Unmarshal([]byte(o.Detail), &results); err != nil || len(results) != 3 {
		t.Fatalf("detail %q: %v", o.Detail, err)
	}
	if !results[0].OK || results[1].OK || !results[2].OK || len(results[2].LatencyMS) != 2 {
		t.Errorf("results %+v", results)
	}
	for _, want := range []string{"ok   tcp ", "FAIL tcp " + closed + " from pre1: connection to " + closed + " refused", "ok   http " + srv.URL + " from pre1: connect", ", requests "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	c.Step.Probe.TCP = c.Step.Probe.TCP[:1]
	out.Reset()
	if o, err := probe(t.Context(), localConn(), c); err != nil || o.ExitCode != 0 || o.Summary != "2 of 2 targets reachable" {
		t.Errorf("all reachable: %+v %v", o, err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := probe(ctx, localConn(), c); err == nil || !strings.Contains(err.Error(), "probe from pre1") {
		t.Errorf("interrupted probe: %v", err)
	}
}
