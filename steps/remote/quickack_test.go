//go:build linux

// TCP_QUICKACK is Linux's (quickack_other.go): the tests run where it is.

package remote_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// The pool's own connections go through ackAtOnce: quick
// acknowledgements are asked for at the dial and again as the host's
// answers come.
func TestPoolDialsAcknowledgeAtOnce(t *testing.T) {
	count, restore := remote.CountQuickAcks()
	defer restore()
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	var out bytes.Buffer
	if _, err := c.Exec(context.Background(), remote.ExecSpec{Script: "echo hello\n", Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n < 2 {
		t.Errorf("quick acknowledgements asked %d times over a connection and a command, want one at the dial and more after reads", n)
	}
}
