package remote_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// A run that fills the file system of its own markers (its log on an SSH
// host grows there; a local command writes beside them) must still leave
// its exit code: it is what a resume adopts when the outcome's commit was
// lost, instead of asking the operator about a run in doubt.
func TestFaultFullDiskKeepsTheExitCode(t *testing.T) {
	ctx := context.Background()
	t.Run("ssh", func(t *testing.T) {
		home := remotetest.SmallDisk(t, 256<<10)
		srv := remotetest.NewServer(t, remotetest.Options{Home: home})
		c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
		// About 1 MiB of output into the log on a 256 KiB disk.
		code, err := c.Exec(ctx, remote.ExecSpec{Token: "r1-s01-full-a1-pre1",
			Script: "i=0; while [ $i -lt 16384 ]; do echo 'a line of output that fills the disk'; i=$((i+1)); done; exit 9"})
		if err != nil || code != 9 {
			t.Fatalf("Exec: %d %v, want 9", code, err)
		}
		if free := remotetest.FreeBytes(t, home); free > 8<<10 {
			t.Fatalf("the disk still has %d bytes free: the test did not fill it", free)
		}
		m, err := c.Markers(ctx, "r1-s01-full-a1-pre1", time.Time{})
		if err != nil || m.State != remote.Finished || m.ExitCode != 9 {
			t.Errorf("markers on a full disk: %+v %v, want finished with 9", m, err)
		}
	})
	t.Run("local", func(t *testing.T) {
		disk := remotetest.SmallDisk(t, 256<<10)
		c := remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: filepath.Join(disk, "runs")})
		code, err := c.Exec(ctx, remote.ExecSpec{Token: "r1-s01-full-a1-local",
			Script: "head -c 1048576 /dev/zero > " + remote.ShellQuote(filepath.Join(disk, "junk")) + "; exit 9"})
		if err != nil || code != 9 {
			t.Fatalf("Exec: %d %v, want 9", code, err)
		}
		if free := remotetest.FreeBytes(t, disk); free > 8<<10 {
			t.Fatalf("the disk still has %d bytes free: the test did not fill it", free)
		}
		m, err := c.Markers(ctx, "r1-s01-full-a1-local", time.Time{})
		if err != nil || m.State != remote.Finished || m.ExitCode != 9 {
			t.Errorf("markers on a full disk: %+v %v, want finished with 9", m, err)
		}
	})
}
