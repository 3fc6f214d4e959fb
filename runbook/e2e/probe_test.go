package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// probeServer is an HTTP server on 127.0.0.1 that counts its connections;
// with keepAlive false it answers Connection: close, as Apache does with
// KeepAlive Off.
func probeServer(t *testing.T, keepAlive bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !keepAlive {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprintln(w, "UP")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// TestProbesThroughSSH walks probe steps on a real sshd host: the
// connections are made from the host's side, through the SSH connection.
func TestProbesThroughSSH(t *testing.T) {
	f := newFleet(t, "prod1")
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	alive, aliveConns := probeServer(t, true)
	closing, _ := probeServer(t, false)

	night := func(t *testing.T, probe string) (string, result) {
		t.Helper()
		dir := t.TempDir()
		write(t, dir, "runbook.yaml", `name: probes
known_hosts: `+f.knownHosts+`
environments:
`+f.env("production", "prod1")+`
steps:
  - name: interfaces-reachable
    on: production
    probe: `+probe+`
`)
		return dir, run(t, dir, "start", "--version", "1", "--yes")
	}

	t.Run("open port and keep-alive server pass", func(t *testing.T) {
		_, r := night(t, fmt.Sprintf(`{tcp: [%q], http: [{url: "%s/health", expect: 200, keepalive: 3}]}`, listener.Addr(), alive.URL))
		if r.code != 0 {
			t.Fatalf("probes: %s", r)
		}
		for _, want := range []string{
			"ok   tcp " + listener.Addr().String() + " from prod1: connect",
			"ok   http " + alive.URL + "/health from prod1: connect",
			"2 of 2 targets reachable",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r)
			}
		}
		// Three latencies: three requests, on one connection.
		if !threeLatencies.MatchString(r.stdout) {
			t.Errorf("want three request latencies:\n%s", r.stdout)
		}
		if n := aliveConns.Load(); n != 1 {
			t.Errorf("keepalive: 3 opened %d connections, want 1", n)
		}
	})

	// The proof that probes go through SSH: a host whose sshd forbids
	// forwarding cannot reach the port the operator's machine can.
	t.Run("a host that may not forward cannot reach the port", func(t *testing.T) {
		f.add(t, "gated", sshdtest.Options{ExtraConfig: []string{"PermitOpen none"}})
		dir := t.TempDir()
		write(t, dir, "runbook.yaml", `name: probes
known_hosts: `+f.knownHosts+`
environments:
`+f.env("production", "gated")+`
steps:
  - {name: reach, on: production, probe: {tcp: [`+strconv.Quote(listener.Addr().String())+`]}}
`)
		r := run(t, dir, "start", "--version", "1", "--yes")
		if r.code != 1 || !strings.Contains(r.stdout, "FAIL tcp "+listener.Addr().String()+" from gated: cannot connect to "+listener.Addr().String()+": the host's sshd forbids forwarding") {
			t.Fatalf("probe from a host without forwarding: %s", r)
		}
	})

	t.Run("closed port fails naming it", func(t *testing.T) {
		dir, r := night(t, fmt.Sprintf(`{tcp: [%q]}`, closedAddr))
		if r.code != 1 {
			t.Fatalf("probe of a closed port: %s", r)
		}
		want := "FAIL tcp " + closedAddr + " from prod1: connection to " + closedAddr + " refused"
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "1 of 1 targets failed from prod1: tcp "+closedAddr) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
		if st, _ := status(t, dir).step("interfaces-reachable"); st != "failed" {
			t.Errorf("probe step %s, want failed", st)
		}
	})

	t.Run("server closing after each response is reported", func(t *testing.T) {
		_, r := night(t, fmt.Sprintf(`{http: [{url: %q, keepalive: 3}]}`, closing.URL))
		if r.code != 1 {
			t.Fatalf("probe of a keep-alive-off server: %s", r)
		}
		if !strings.Contains(r.stdout, "FAIL http "+closing.URL+" from prod1: the server closed the connection after request 1 of 3: keep-alive is off") {
			t.Errorf("output:\n%s", r)
		}
	})
}

var threeLatencies = regexp.MustCompile(`ok   http \S+ from prod1: connect [0-9.]+ ms, requests [0-9.]+ [0-9.]+ [0-9.]+ ms`)
