package remote_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// statfsFree is what statfs(2) says is free for the user at p, here.
func statfsFree(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// near reports whether two readings of free space taken moments apart
// agree: other processes write meanwhile, so within 64 MiB or 1%.
func near(a, b int64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 64<<20 || d <= a/100
}

// TestFreeSpace: the free space of a host's file system, over SFTP's
// statvfs on a real sshd, over df -Pk on a host without SFTP, and
// locally; the hosts are this machine, so statfs here must agree.
func TestFreeSpace(t *testing.T) {
	ctx := context.Background()
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	got, err := connect(t, p, cfg).FreeSpace(ctx, h.DeployDir)
	if want := statfsFree(t, h.DeployDir); err != nil || !near(got, want) {
		t.Errorf("sshd (statvfs@openssh.com): %d, %v; statfs here says %d", got, err, want)
	}

	srv := remotetest.NewServer(t, remotetest.Options{NoSFTP: true})
	dir := t.TempDir()
	got, err = connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv)).FreeSpace(ctx, dir)
	if want := statfsFree(t, dir); err != nil || !near(got, want) {
		t.Errorf("no SFTP (df -Pk): %d, %v; statfs here says %d", got, err, want)
	}

	local := remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: dir})
	got, err = local.FreeSpace(ctx, dir)
	if want := statfsFree(t, dir); err != nil || !near(got, want) {
		t.Errorf("local: %d, %v; statfs says %d", got, err, want)
	}
	if _, err := local.FreeSpace(ctx, dir+"/no/such"); err == nil {
		t.Error("local: free space of a path that does not exist")
	}
}
