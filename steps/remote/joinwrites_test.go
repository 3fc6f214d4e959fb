package remote_test

import (
	"context"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// An upload through the pool sends each of its packets in one system
// call (joinwrites.go): the joining is wired in, and x/crypto/ssh still
// writes the way it relies on. A library that changed would make this
// fail, not the uploads slow down unseen.
func TestPoolJoinsPacketWrites(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	const size = 4 << 20
	local, sum := randomFile(t, size)
	before := remote.JoinedWrites()
	if _, err := c.Upload(context.Background(), remote.UploadSpec{Local: local, SHA256: sum, Dir: t.TempDir(), Name: "a.ear"}); err != nil {
		t.Fatal(err)
	}
	// Packets carry at most 32 KiB of a file; nearly all of them join.
	if n, want := remote.JoinedWrites()-before, int64(size/(32<<10)*9/10); n < want {
		t.Errorf("%d writes joined over an upload of %d bytes, want at least %d", n, size, want)
	}
}
