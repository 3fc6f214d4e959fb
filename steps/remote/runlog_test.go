package remote_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// TestSSHDRunLog reads the output log of a run on a real sshd while it
// goes on (what `runbook logs` shows of a run whose runbook died), then
// once it ended; a forgotten run has none.
func TestSSHDRunLog(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	ctx := context.Background()
	gate := filepath.Join(h.Dir, "go-on")
	token := "r1-s01-slow-a1-sshd-0001"
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, remote.ExecSpec{Token: token,
			Script: "echo one; while [ ! -e " + remote.ShellQuote(gate) + " ]; do sleep 0.05; done; echo two"})
		done <- err
	}()
	var out syncBuffer
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "one") {
		if time.Now().After(deadline) {
			t.Fatalf("the log of the running run never showed its first line: %q\nsshd log:\n%s", out.String(), h.Log())
		}
		out = syncBuffer{}
		if err := c.RunLog(ctx, token, &out); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("RunLog while it runs: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := out.String(); got != "one\n" {
		t.Errorf("RunLog while it runs = %q, want the output so far", got)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out = syncBuffer{}
	if err := c.RunLog(ctx, token, &out); err != nil || out.String() != "one\ntwo\n" {
		t.Errorf("RunLog once it ended = %q, %v", out.String(), err)
	}
	if err := c.ForgetMarkers(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := c.RunLog(ctx, token, &out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RunLog of a forgotten run: %v, want fs.ErrNotExist", err)
	}
	if err := c.RunLog(ctx, "../etc/passwd", &out); err == nil {
		t.Error("RunLog took a token that is not a plain file name")
	}
	// A local run's output went to the process that started it.
	local := remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()})
	if err := local.RunLog(ctx, token, &out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("local RunLog: %v, want fs.ErrNotExist", err)
	}
}
