package remote_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// testPool is a pool trusting srv, with a known_hosts file of its own and
// no ~/.ssh/config, closed with the test.
func testPool(t testing.TB, srv *remotetest.Server, opts remote.PoolOptions) *remote.Pool {
	t.Helper()
	if opts.KnownHosts == "" {
		opts.KnownHosts = srv.WriteKnownHosts(t)
	}
	if opts.SSHConfig == "" {
		opts.SSHConfig = filepath.Join(t.TempDir(), "no-ssh-config")
	}
	if opts.ConnectTimeout == 0 {
		// Generous: a loaded 2-core CI machine must not fail a test by
		// timing; the timeout tests set their own.
		opts.ConnectTimeout = 30 * time.Second
	}
	p := remote.NewPool(opts)
	t.Cleanup(func() { p.Close() })
	return p
}

func hostConfig(srv *remotetest.Server) remote.HostConfig {
	return remote.HostConfig{Name: "pre1", Address: srv.Addr, User: srv.User, Key: srv.ClientKey}
}

func connect(t testing.TB, p *remote.Pool, cfg remote.HostConfig) remote.Conn {
	t.Helper()
	c, err := p.Conn(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return c
}

// syncBuffer is a bytes.Buffer safe for the session's copy goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds; the deadline only guards against a
// hung test, it never decides success.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
