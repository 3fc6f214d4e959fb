package remote_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// A command the operator interrupts is in doubt on every transport: the
// local one, the in-process SSH server (TestExecInterruptedIsInDoubt) and
// a real sshd.
func TestLocalInterruptedIsInDoubt(t *testing.T) {
	interruptedIsInDoubt(t, remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()}))
}

func TestSSHDInterruptedIsInDoubt(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	interruptedIsInDoubt(t, connect(t, p, cfg))
}

func interruptedIsInDoubt(t *testing.T, c remote.Conn) {
	t.Helper()
	for _, token := range []string{"", "r1-s01-slow-a1-pre1-00"} {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(ctx, remote.ExecSpec{Script: fmt.Sprintf("sleep 600 & echo $! > %[1]s/child; touch %[1]s/ready; wait", dir), Token: token})
			done <- err
		}()
		waitFor(t, "the script to start", func() bool { return exists(filepath.Join(dir, "ready")) })
		cancel()
		if err := <-done; !errors.Is(err, remote.ErrInDoubt) {
			t.Fatalf("token %q: cancelled Exec: %v, want ErrInDoubt", token, err)
		}
		// The command is ended on the host, its children with it.
		b, err := os.ReadFile(filepath.Join(dir, "child"))
		if err != nil {
			t.Fatal(err)
		}
		child := strings.TrimSpace(string(b))
		waitFor(t, "the command's child to be killed", func() bool { return !exists("/proc/"+child) || zombie(child) })
		if token == "" {
			continue
		}
		// The group's last process may take a moment to be reaped.
		var m remote.Marker
		waitFor(t, "the stopped run's group to be gone", func() bool {
			var err error
			m, err = c.Markers(context.Background(), token, time.Time{})
			return err != nil || m.State != remote.StillRunning
		})
		if m.State != remote.InDoubt {
			t.Errorf("markers of the stopped run: %+v, want in doubt", m)
		}
		if code, err := c.Wait(context.Background(), token, nil); !errors.Is(err, remote.ErrInDoubt) {
			t.Errorf("Wait on the stopped run: %d %v, want ErrInDoubt", code, err)
		}
		if err := c.ForgetMarkers(context.Background(), token); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Markers(context.Background(), token, time.Time{}); err != nil || m.State != remote.NeverStarted {
			t.Errorf("markers once forgotten: %+v %v, want none left", m, err)
		}
	}
}
