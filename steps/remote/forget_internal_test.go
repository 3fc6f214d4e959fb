package remote

import (
	"context"
	"os"
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
// forget that finds nothing there says so, for the shell to look instead.
func TestForgetMarkersThroughSFTP(t *testing.T) {
	c, runs := realSSHD(t)
	ctx := context.Background()
	const token = "r1:run:1:sshd"
	if code, err := c.Exec(ctx, ExecSpec{Script: "echo hi", Token: token}); err != nil || code != 0 {
		t.Fatalf("Exec: %d %v", code, err)
	}
	marks, _ := filepath.Glob(filepath.Join(runs, "*"))
	if len(marks) != 3 {
		t.Fatalf("markers on the host: %v, want .started, .rc and .log", marks)
	}
	sc, _, err := c.sftpClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !forgetSFTP(sc, runs, token) {
		t.Fatal("forgetSFTP found no markers")
	}
	if left, _ := filepath.Glob(filepath.Join(runs, "*")); len(left) != 0 {
		t.Errorf("markers left after forgetSFTP: %v", left)
	}
	if forgetSFTP(sc, runs, token) {
		t.Error("forgetSFTP reported markers that were already gone")
	}
	if err := c.ForgetMarkers(ctx, token); err != nil {
		t.Errorf("ForgetMarkers of forgotten markers: %v", err)
	}
}

// realSSHD starts an sshd and returns a connection to it, with its marker
// directory.
func realSSHD(t *testing.T) (*sshConn, string) {
	t.Helper()
	h := sshdtest.Start(t, sshdtest.Options{})
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, []byte(h.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := NewPool(PoolOptions{KnownHosts: known, SSHConfig: filepath.Join(t.TempDir(), "none")})
	t.Cleanup(func() { p.Close() })
	runs := filepath.Join(h.Dir, "runs")
	conn, err := p.Conn(context.Background(), HostConfig{Name: "sshd", Address: h.Addr, User: h.User, KeyFile: h.ClientKey, MarkerDir: runs})
	if err != nil {
		t.Fatal(err)
	}
	return conn.(*sshConn), runs
}
