package remote_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// Once a connection's SFTP session is seen to reach the run markers, the
// output of a step that prints comes through SFTP, not from a `cat` the
// wrapper starts on the host: byte for byte (a NUL, no final line
// break, stderr in its place), once, beside the follower of a run that
// lasts, with the step's own exit code. Against real sshd, whose SFTP
// server logs the reads.
func TestSSHDStepOutputReadThroughSFTP(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{SFTPLogLevel: "DEBUG1"})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	ctx := context.Background()
	run := func(tok, script string, wantCode int) string {
		t.Helper()
		var out syncBuffer
		code, err := c.Exec(ctx, remote.ExecSpec{Script: script, Token: tok, Stdout: &out, Stderr: &out})
		if err != nil || code != wantCode {
			t.Fatalf("%s: exit %d %v, want %d\nsshd log:\n%s", tok, code, err, wantCode, h.Log())
		}
		if err := c.ForgetMarkers(ctx, tok); err != nil {
			t.Fatalf("forget %s: %v", tok, err)
		}
		return out.String()
	}
	if got := run("r1-s01-a-a1-h", "echo one", 0); got != "one\n" {
		t.Fatalf("first run printed %q", got)
	}
	// The SFTP session opens; the next forget goes through it and finds
	// the shell's markers.
	if _, err := c.Lstat(ctx, h.DeployDir); err != nil {
		t.Fatal(err)
	}
	if got := run("r1-s02-b-a1-h", "echo two", 0); got != "two\n" {
		t.Fatalf("second run printed %q", got)
	}

	const printed = "x\x00y\nto stderr\nlast"
	if got := run("r1-s03-c-a1-h", `printf 'x\0y\n'; echo 'to stderr' >&2; printf last; exit 7`, 7); got != printed {
		t.Errorf("a run through SFTP printed %q, want %q", got, printed)
	}
	// Past followAfter the follower shows the first line while the run
	// lasts; the rest comes through SFTP after it, and nothing twice.
	if got := run("r1-s04-d-a1-h", "echo first; sleep 0.8; echo second", 0); got != "first\nsecond\n" {
		t.Errorf("a run that lasted printed %q, want %q", got, "first\nsecond\n")
	}
	if got := run("r1-s05-e-a1-h", "true", 0); got != "" {
		t.Errorf("a silent run printed %q", got)
	}

	log := h.SFTPLog()
	for _, tok := range []string{"r1-s03-c-a1-h", "r1-s04-d-a1-h"} {
		opened := fmt.Sprintf("/%s.log\" flags READ", tok)
		if !strings.Contains(log, opened) {
			t.Errorf("the SFTP server never read the log of %s (no %s)\n%s", tok, opened, log)
		}
	}
	// A silent run's log is not read: the wrapper says it is empty.
	if strings.Contains(log, "r1-s05-e-a1-h.log\" flags READ") {
		t.Errorf("the empty log of a silent run was read through SFTP")
	}
}
