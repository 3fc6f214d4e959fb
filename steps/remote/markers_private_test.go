package remote_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// markerHost is a Conn and the directory its run markers live in.
type markerHost struct {
	c    remote.Conn
	runs string
	// fresh returns a Conn of a new run of runbook (a new pool) to the
	// same host.
	fresh func() remote.Conn
}

func eachMarkerHost(t *testing.T, fn func(t *testing.T, h markerHost)) {
	t.Run("local", func(t *testing.T) {
		runs := filepath.Join(t.TempDir(), "runs")
		mk := func() remote.Conn {
			return remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: runs})
		}
		fn(t, markerHost{c: mk(), runs: runs, fresh: mk})
	})
	t.Run("sshd", func(t *testing.T) {
		h := sshdtest.Start(t, sshdtest.Options{})
		mk := func() remote.Conn {
			p, cfg := sshdPool(t, h)
			return connect(t, p, cfg)
		}
		fn(t, markerHost{c: mk(), runs: filepath.Join(h.Dir, "runs"), fresh: mk})
	})
}

// L-4: the markers and the log of a run (which holds its raw output) are
// the user's alone, whatever the umask; the command itself runs under the
// session's umask as without markers.
func TestMarkersArePrivate(t *testing.T) {
	eachMarkerHost(t, func(t *testing.T, h markerHost) {
		ctx := context.Background()
		var plain, marked syncBuffer
		if _, err := h.c.Exec(ctx, remote.ExecSpec{Script: "umask", Stdout: &plain}); err != nil {
			t.Fatal(err)
		}
		token := "r1-s01-umask-a1-h-0a0b0c0d"
		if _, err := h.c.Exec(ctx, remote.ExecSpec{Script: "umask", Token: token, Stdout: &marked}); err != nil {
			t.Fatal(err)
		}
		if plain.String() != marked.String() {
			t.Errorf("the command's umask is %q with markers, %q without", marked.String(), plain.String())
		}
		if fi, err := os.Stat(h.runs); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("marker directory: %v %v, want 0700", fi.Mode().Perm(), err)
		}
		files, _ := filepath.Glob(filepath.Join(h.runs, token+".*"))
		if len(files) < 2 {
			t.Fatalf("markers %v", files)
		}
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v %v, want 0600", filepath.Base(f), fi.Mode().Perm(), err)
			}
		}
	})
}

// plant writes the marker files of a run, .started holding started, all
// with modification time age ago.
func plant(t *testing.T, dir, token, started string, age time.Duration, exts ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	for _, ext := range exts {
		p := filepath.Join(dir, token+ext)
		content := "output of the run\n"
		if ext == ".started" {
			content = started
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
}

// L-4: the first run with markers of a new run of runbook sweeps the
// marker files of runs older than MarkerRetention; never those of a run
// whose process group is alive, nor a run with a recent file, nor
// anything else in the directory.
func TestOldMarkersAreSwept(t *testing.T) {
	eachMarkerHost(t, func(t *testing.T, h markerHost) {
		live := exec.Command("sleep", "120")
		live.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := live.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-live.Process.Pid, syscall.SIGKILL); _ = live.Wait() })
		gone := exec.Command("true")
		if err := gone.Run(); err != nil {
			t.Fatal(err)
		}
		old := remote.MarkerRetention + 48*time.Hour
		all := []string{".started", ".rc", ".log"}
		plant(t, h.runs, "r1-s01-dead-a1-h-00000001", fmt.Sprintf("%d 1\n", gone.Process.Pid), old, all...)
		plant(t, h.runs, "r1-s02-claim-a1-h.example-00000002", "- never started: settled\n", old, ".started")
		plant(t, h.runs, "r1-s03-orphan-a1-h-00000003", "", old, ".log")
		plant(t, h.runs, "r1-s04-live-a1-h-00000004", fmt.Sprintf("%d 1\n", live.Process.Pid), old, all...)
		plant(t, h.runs, "r1-s05-recent-a1-h-00000005", fmt.Sprintf("%d 1\n", gone.Process.Pid), time.Hour, all...)
		plant(t, h.runs, "r1-s06-long-a1-h-00000006", fmt.Sprintf("%d 1\n", gone.Process.Pid), old, ".started", ".rc")
		plant(t, h.runs, "r1-s06-long-a1-h-00000006", "", time.Minute, ".log")
		plant(t, h.runs, "notes", "", old, ".txt")

		c := h.fresh()
		if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "true", Token: "r2-s01-now-a1-h-0000000a"}); err != nil || code != 0 {
			t.Fatalf("Exec: %d %v", code, err)
		}
		swept := []string{"r1-s01-dead-a1-h-00000001.started", "r1-s01-dead-a1-h-00000001.rc", "r1-s01-dead-a1-h-00000001.log",
			"r1-s02-claim-a1-h.example-00000002.started", "r1-s03-orphan-a1-h-00000003.log"}
		waitFor(t, "the sweep", func() bool {
			for _, f := range swept {
				if exists(filepath.Join(h.runs, f)) {
					return false
				}
			}
			return true
		})
		time.Sleep(300 * time.Millisecond) // a sweep still going would remove more
		var left []string
		entries, _ := os.ReadDir(h.runs)
		for _, e := range entries {
			left = append(left, e.Name())
		}
		for _, want := range []string{"r1-s04-live-a1-h-00000004.log", "r1-s05-recent-a1-h-00000005.rc", "r1-s06-long-a1-h-00000006.started", "notes.txt", "r2-s01-now-a1-h-0000000a.rc"} {
			if !strings.Contains(strings.Join(left, " "), want) {
				t.Errorf("%s was swept; left %v", want, left)
			}
		}
	})
}

// The absence of markers proves a run never started only within the
// retention: past it, a sweep may have taken them, and the run is in
// doubt. (A machine that booted since is in doubt anyway: this one is
// made to have booted long ago.)
func TestMarkersPastRetentionAreInDoubt(t *testing.T) {
	booted := remote.LocalBootTime
	remote.LocalBootTime = func() time.Time { return time.Now().Add(-3 * remote.MarkerRetention) }
	t.Cleanup(func() { remote.LocalBootTime = booted })
	c := remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()})
	ctx := context.Background()
	m, err := c.Markers(ctx, "r1-s01-lost-a1-h-00000001", time.Now().Add(-remote.MarkerRetention-time.Hour))
	if err != nil || m.State != remote.InDoubt {
		t.Errorf("a run older than the retention without markers: %+v %v, want in doubt", m, err)
	}
	m, err = c.Markers(ctx, "r1-s01-new-a1-h-00000002", time.Now().Add(-time.Hour))
	if err != nil || m.State != remote.NeverStarted {
		t.Errorf("a recent run without markers: %+v %v, want never started", m, err)
	}
}
