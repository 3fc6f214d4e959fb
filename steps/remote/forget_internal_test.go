package remote

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

func TestSFTPMarkerDir(t *testing.T) {
	for in, want := range map[string]string{
		"":              ".runbook/runs",
		"~":             ".",
		"~/x/runs":      "x/runs",
		"/var/rb/runs":  "/var/rb/runs",
		"relative/runs": "relative/runs",
	} {
		if got := sftpMarkerDir(in); got != want {
			t.Errorf("sftpMarkerDir(%q) = %q, want %q", in, got, want)
		}
	}
}

// A step's markers go through the SFTP channel of a real sshd, and a
// forget that finds nothing there says so, for the shell to look instead
// — until SFTP has been seen to reach the shell's markers: then a run
// without markers there (an upload's) has none, and no shell is asked.
func TestForgetMarkersThroughSFTP(t *testing.T) {
	c, runs := realSSHD(t)
	ctx := context.Background()
	const token = "r1:run:1:sshd"
	if code, err := c.Exec(ctx, ExecSpec{Script: "echo hi", Token: token}); err != nil || code != 0 {
		t.Fatalf("Exec: %d %v", code, err)
	}
	marks, _ := filepath.Glob(filepath.Join(runs, "[^.]*")) // not .swept
	if len(marks) != 3 {
		t.Fatalf("markers on the host: %v, want .started, .rc and .log", marks)
	}
	sc, _, err := c.sftpClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Before SFTP has been seen to reach them, a run without markers
	// there is asked of the shell too (a chrooted SFTP sees another tree).
	if err := c.ForgetMarkers(ctx, "r1:upload:2:sshd"); err != nil {
		t.Fatalf("ForgetMarkers of a run without markers: %v", err)
	}
	if n := c.shellForgets.Load(); n != 1 {
		t.Fatalf("%d forgets asked the shell before SFTP was seen to reach the markers, want 1", n)
	}
	if got := forgetSFTP(sc, runs, token); got != forgotSome {
		t.Fatalf("forgetSFTP = %v, want forgotSome", got)
	}
	if left, _ := filepath.Glob(filepath.Join(runs, "[^.]*")); len(left) != 0 { // not .swept
		t.Errorf("markers left after forgetSFTP: %v", left)
	}
	if got := forgetSFTP(sc, runs, token); got != forgotNone {
		t.Errorf("forgetSFTP of markers already gone = %v, want forgotNone", got)
	}
	// The same through ForgetMarkers, which then knows SFTP sees the
	// shell's markers: a run without markers costs no shell.
	const token2 = "r1:run:3:sshd"
	if code, err := c.Exec(ctx, ExecSpec{Script: "true", Token: token2}); err != nil || code != 0 {
		t.Fatalf("Exec: %d %v", code, err)
	}
	if err := c.ForgetMarkers(ctx, token2); err != nil {
		t.Fatalf("ForgetMarkers: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(runs, "[^.]*")); len(left) != 0 { // not .swept
		t.Errorf("markers left after ForgetMarkers: %v", left)
	}
	for _, tok := range []string{token, "r1:activate:4:sshd"} {
		if err := c.ForgetMarkers(ctx, tok); err != nil {
			t.Errorf("ForgetMarkers(%s) without markers: %v", tok, err)
		}
	}
	if n := c.shellForgets.Load(); n != 1 {
		t.Errorf("%d forgets asked the shell, want still 1: SFTP was seen to reach the markers", n)
	}
}

// realSSHD starts an sshd and returns a connection to it, with its marker
// directory.
func realSSHD(t *testing.T) (*sshConn, string) {
	t.Helper()
	h := sshdtest.Start(t, sshdtest.Options{})
	p := NewPool(PoolOptions{KnownHosts: h.WriteKnownHosts(t), SSHConfig: filepath.Join(t.TempDir(), "none")})
	t.Cleanup(func() { p.Close() })
	runs := filepath.Join(h.Dir, "runs")
	conn, err := p.Conn(context.Background(), HostConfig{Name: "sshd", Address: h.Addr, User: h.User, KeyFile: h.ClientKey, MarkerDir: runs})
	if err != nil {
		t.Fatal(err)
	}
	return conn.(*sshConn), runs
}

// When the SFTP session that would read a step's log back has died, the
// log comes through a shell instead, whole and once.
func TestStepLogFallsBackToTheShell(t *testing.T) {
	c, _ := realSSHD(t)
	ctx := context.Background()
	if code, err := c.Exec(ctx, ExecSpec{Script: "echo hi", Token: "r1:run:1:sshd"}); err != nil || code != 0 {
		t.Fatalf("Exec: %d %v", code, err)
	}
	sc, cl, err := c.sftpClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ForgetMarkers(ctx, "r1:run:1:sshd"); err != nil || !cl.sftpSeesMarkers.Load() {
		t.Fatalf("forget through SFTP: %v, sees markers %v", err, cl.sftpSeesMarkers.Load())
	}
	sc.Close() // the session dies; the client is still the connection's
	var out bytes.Buffer
	code, err := c.Exec(ctx, ExecSpec{Script: "echo one; printf two; exit 4", Token: "r1:run:2:sshd", Stdout: &out})
	if err != nil || code != 4 || out.String() != "one\ntwo" {
		t.Fatalf("Exec with SFTP gone: %d %v %q, want 4 and %q", code, err, out.String(), "one\ntwo")
	}
	if cl.sftpSeesMarkers.Load() {
		t.Error("after SFTP failed to read a log, the next runs still leave their logs to it")
	}
}
