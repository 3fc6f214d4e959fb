package remote_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// A warmed host is dialled once: the Conn that follows (here while the
// warm dial may still be under way) finds the connection, and its SFTP.
func TestWarmThenConnDialsOnce(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	p := testPool(t, srv, remote.PoolOptions{})
	p.Warm(context.Background(), hostConfig(srv), true)
	c := connect(t, p, hostConfig(srv))
	local, sum := randomFile(t, 1<<20)
	if _, err := c.Upload(context.Background(), remote.UploadSpec{Local: local, SHA256: sum, Dir: t.TempDir(), Name: "a.ear"}); err != nil {
		t.Fatal(err)
	}
	if p.Dials() != 1 || srv.Handshakes() != 1 {
		t.Errorf("%d dials, %d handshakes, want 1", p.Dials(), srv.Handshakes())
	}
}

// Warm asks nothing: a host key nobody trusted yet is left to the Conn
// that follows, which asks, and dials again.
func TestWarmNeverAsks(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	proxy := remotetest.NewProxy(t, srv.Addr)
	var asked atomic.Int32
	p := testPool(t, srv, remote.PoolOptions{KnownHosts: emptyKnownHosts(t), AskHostKey: func(string, string, string) (bool, error) {
		asked.Add(1)
		return true, nil
	}})
	cfg := hostConfig(srv)
	cfg.Address = proxy.Addr
	p.Warm(context.Background(), cfg, false)
	waitFor(t, "the warm dial to connect", func() bool { return proxy.Accepted() == 1 })
	connect(t, p, cfg) // waits for the warm dial, which refused the key
	if n, conns := asked.Load(), proxy.Accepted(); n != 1 || conns != 2 {
		t.Errorf("asked %d times over %d connections, want once, by the Conn's own dial after the warm one", n, conns)
	}
}

// A Conn that comes while a warm dial times out shares its failure: the
// host is not given a second timeout.
func TestWarmUnreachableSharedOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			defer c.Close() // says nothing: the handshake times out
		}
	}()
	srv := remotetest.NewServer(t, remotetest.Options{})
	const timeout = 400 * time.Millisecond
	p := testPool(t, srv, remote.PoolOptions{ConnectTimeout: timeout})
	cfg := remote.HostConfig{Name: "mute", Address: l.Addr().String(), User: "x", Password: "x"}
	p.Warm(context.Background(), cfg, false)
	waitFor(t, "the warm dial to connect", func() bool { return accepted.Load() == 1 })
	start := time.Now()
	_, err = p.Conn(context.Background(), cfg)
	var ue *remote.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want the warm dial's UnreachableError", err)
	}
	if d := time.Since(start); d > timeout+timeout/2 || accepted.Load() != 1 {
		t.Errorf("the Conn took %s and %d connections, want at most the one warm timeout", d, accepted.Load())
	}
	// The next Conn tries again.
	if _, err := p.Conn(context.Background(), cfg); !errors.As(err, &ue) || accepted.Load() != 2 {
		t.Errorf("second Conn: %v after %d connections, want a new attempt", err, accepted.Load())
	}
}
