package remote_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// TestPoolCloseEndsEveryConnection: Close ends the connection of every
// host the pool reached, and a second Close changes nothing.
func TestPoolCloseEndsEveryConnection(t *testing.T) {
	var srvs []*remotetest.Server
	var others []string
	for i := range 5 {
		srv := remotetest.NewServer(t, remotetest.Options{})
		srvs = append(srvs, srv)
		if i > 0 {
			others = append(others, srv.KnownHostsLine())
		}
	}
	p := testPool(t, srvs[0], remote.PoolOptions{KnownHosts: srvs[0].WriteKnownHosts(t, others...)})
	for i, srv := range srvs {
		cfg := hostConfig(srv)
		cfg.Name = fmt.Sprintf("app%d", i+1)
		c := connect(t, p, cfg)
		if _, err := c.Exec(context.Background(), remote.ExecSpec{Script: "true", Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			t.Fatalf("%s: %v", cfg.Name, err)
		}
		if srv.Open() != 1 {
			t.Fatalf("%s has %d connections open, want 1", cfg.Name, srv.Open())
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, srv := range srvs {
		waitFor(t, fmt.Sprintf("the connection to app%d to end", i+1), func() bool { return srv.Open() == 0 })
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
