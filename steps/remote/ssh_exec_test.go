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
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

func TestExecExitCodesAndOutput(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	for _, token := range []string{"", "r1:exec:1:pre1"} {
		for _, tc := range []struct {
			script           string
			code             int
			stdout, stderrIn string
		}{
			{"echo hello; echo oops >&2", 0, "hello\n", "oops"},
			{"printf 'no newline'; exit 3", 3, "no newline", ""},
			{"exit 0", 0, "", ""},
			{"sh -c 'kill -TERM $$'", 143, "", ""},
			{"false", 1, "", ""},
		} {
			t.Run(fmt.Sprintf("token=%q/%s", token, tc.script), func(t *testing.T) {
				var out, errOut syncBuffer
				code, err := c.Exec(context.Background(), remote.ExecSpec{Script: tc.script, Token: token, Stdout: &out, Stderr: &errOut})
				if err != nil {
					t.Fatalf("Exec: %v", err)
				}
				if code != tc.code {
					t.Errorf("exit code %d, want %d", code, tc.code)
				}
				if token == "" {
					if out.String() != tc.stdout {
						t.Errorf("stdout %q, want %q", out.String(), tc.stdout)
					}
					if !strings.Contains(errOut.String(), tc.stderrIn) {
						t.Errorf("stderr %q, want it to contain %q", errOut.String(), tc.stderrIn)
					}
					return
				}
				// With markers, stderr is merged into the log and stdout.
				got := out.String()
				if !strings.Contains(got, tc.stdout) || !strings.Contains(got, tc.stderrIn) {
					t.Errorf("output %q, want %q and %q", got, tc.stdout, tc.stderrIn)
				}
				m, err := c.Markers(context.Background(), token, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if m.State != remote.Finished || m.ExitCode != tc.code {
					t.Errorf("markers %+v, want finished with %d", m, tc.code)
				}
				if err := c.ForgetMarkers(context.Background(), token); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestExecEnvAndDir(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	dir := t.TempDir()
	for _, token := range []string{"", "r1:env:1:pre1"} {
		var out syncBuffer
		code, err := c.Exec(context.Background(), remote.ExecSpec{
			Script: `printf '%s|%s|%s' "$GREETING" "$QUOTED" "$(pwd)"`,
			Env:    map[string]string{"GREETING": "hello world", "QUOTED": `it's "$HOME"`},
			Dir:    dir, Token: token, Stdout: &out,
		})
		if err != nil || code != 0 {
			t.Fatalf("Exec: %d %v", code, err)
		}
		want := fmt.Sprintf(`hello world|it's "$HOME"|%s`, dir)
		if out.String() != want {
			t.Errorf("token %q: output %q, want %q", token, out.String(), want)
		}
	}
}

func TestExecMissingDirIsAnErrorNotAnExitCode(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	for _, token := range []string{"", "r1:dir:1:pre1"} {
		code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "echo ran", Dir: "/nonexistent/dir", Token: token})
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/dir") || !strings.Contains(err.Error(), "pre1") {
			t.Fatalf("token %q: got code %d err %v, want an error naming the dir and host", token, code, err)
		}
		if errors.Is(err, remote.ErrInDoubt) {
			t.Errorf("a missing directory is not in doubt: %v", err)
		}
		if token != "" {
			m, err := c.Markers(context.Background(), token, time.Time{})
			if err != nil || m.State != remote.NeverStarted {
				t.Errorf("markers %+v %v, want never started", m, err)
			}
		}
	}
}

// The script (and any secret in it) must not show in any process's argv.
func TestExecScriptNotInArgv(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	secret := "s3cret-" + fmt.Sprint(time.Now().UnixNano())
	for _, token := range []string{"", "r1:argv:1:pre1"} {
		dir := t.TempDir()
		script := fmt.Sprintf(`pw=%s
touch %s/ready
while [ ! -e %s/go ]; do sleep 0.02; done
echo "$pw" | wc -c`, secret, dir, dir)
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(context.Background(), remote.ExecSpec{Script: script, Env: map[string]string{"TOKEN": secret}, Token: token})
			done <- err
		}()
		waitFor(t, "the script to start", func() bool { return exists(filepath.Join(dir, "ready")) })
		if pid := processWithArg(t, secret); pid != "" {
			t.Errorf("token %q: process %s has the secret in its argv", token, pid)
		}
		if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// processWithArg returns the pid of a process whose cmdline holds s.
func processWithArg(t *testing.T, s string) string {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if len(cmdlines) == 0 {
		t.Fatal("no /proc: cannot inspect process arguments")
	}
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), s) {
			return filepath.Base(filepath.Dir(p))
		}
	}
	return ""
}

func TestMarkersLifecycle(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	ctx := context.Background()
	token := "r7:deploy:1:pre1"
	dir := t.TempDir()

	done := make(chan int, 1)
	go func() {
		code, err := c.Exec(ctx, remote.ExecSpec{Token: token, Script: fmt.Sprintf(
			"touch %s/ready; while [ ! -e %s/go ]; do sleep 0.02; done; exit 7", dir, dir)})
		if err != nil {
			t.Error(err)
		}
		done <- code
	}()
	waitFor(t, "the script to start", func() bool { return exists(filepath.Join(dir, "ready")) })
	m, err := c.Markers(ctx, token, time.Time{})
	if err != nil || m.State != remote.StillRunning || m.PID <= 0 {
		t.Fatalf("while running: %+v %v, want still running with a pid", m, err)
	}
	started, err := os.ReadFile(filepath.Join(srv.Home, ".runbook/runs", token+".started"))
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(started)); len(f) != 2 || f[0] != fmt.Sprint(m.PID) {
		t.Errorf(".started is %q, want \"%d <unixtime>\"", started, m.PID)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
	if m, err := c.Markers(ctx, token, time.Time{}); err != nil || m.State != remote.Finished || m.ExitCode != 7 {
		t.Fatalf("after: %+v %v, want finished with 7", m, err)
	}
	if err := c.ForgetMarkers(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := c.ForgetMarkers(ctx, token); err != nil {
		t.Fatalf("ForgetMarkers is not idempotent: %v", err)
	}
	if m, err := c.Markers(ctx, token, time.Time{}); err != nil || m.State != remote.NeverStarted {
		t.Fatalf("after forget: %+v %v, want never started", m, err)
	}
}

// "Never started" is final: the answer claims the token on the host, so a
// command sent under it before a crash, still on its way to the host, runs
// nothing when it arrives (the resume runs it again under a new token).
func TestMarkersNeverStartedIsFinal(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	ctx := context.Background()
	token := "r7:deploy:1:pre1"
	for range 2 {
		if m, err := c.Markers(ctx, token, time.Time{}); err != nil || m.State != remote.NeverStarted {
			t.Fatalf("markers: %+v %v, want never started", m, err)
		}
	}
	ran := filepath.Join(t.TempDir(), "ran")
	_, err := c.Exec(ctx, remote.ExecSpec{Token: token, Script: "touch " + ran})
	if err == nil || errors.Is(err, remote.ErrInDoubt) || !strings.Contains(err.Error(), "settled as never started") {
		t.Fatalf("Exec of a token settled as never started: %v, want an error saying it did not run", err)
	}
	if exists(ran) {
		t.Fatal("the command ran under a token settled as never started")
	}
	if m, err := c.Markers(ctx, token, time.Time{}); err != nil || m.State != remote.NeverStarted {
		t.Fatalf("markers after the late arrival: %+v %v, want never started", m, err)
	}
}

// A dropped connection mid-command is in doubt; the detached command goes
// on, and its markers and Wait later tell how it ended.
func TestDroppedConnectionIsInDoubtAndTheRunFinishes(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	pool := testPool(t, srv, remote.PoolOptions{})
	c := connect(t, pool, hostConfig(srv))
	ctx := context.Background()
	token := "r8:migrate:1:pre1"
	dir := t.TempDir()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, remote.ExecSpec{Token: token, Stdout: &out, Script: fmt.Sprintf(
			"echo first; touch %s/ready; while [ ! -e %s/go ]; do sleep 0.02; done; echo second; exit 5", dir, dir)})
		done <- err
	}()
	waitFor(t, "the script to start", func() bool { return exists(filepath.Join(dir, "ready")) })
	srv.DropConnections()
	err := <-done
	if !errors.Is(err, remote.ErrInDoubt) {
		t.Fatalf("Exec after a dropped connection: %v, want ErrInDoubt", err)
	}
	// The next call reconnects by itself.
	m, err := c.Markers(ctx, token, time.Time{})
	if err != nil || m.State != remote.StillRunning {
		t.Fatalf("markers after the drop: %+v %v, want still running", m, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var again syncBuffer
	code, err := c.Wait(ctx, token, &again)
	if err != nil || code != 5 {
		t.Fatalf("Wait: %d %v, want 5", code, err)
	}
	if got := again.String(); got != "first\nsecond\n" {
		t.Errorf("Wait streamed %q, want the whole log", got)
	}
	if m, err := c.Markers(ctx, token, time.Time{}); err != nil || m.State != remote.Finished || m.ExitCode != 5 {
		t.Fatalf("markers at the end: %+v %v, want finished with 5", m, err)
	}
	if pool.Dials() != 2 {
		t.Errorf("%d dials, want 2 (the first and one after the drop)", pool.Dials())
	}
}

func TestMarkersInDoubtWhenTheRunDiedWithoutCode(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	token := "r9:x:1:pre1"
	runs := filepath.Join(srv.Home, ".runbook", "runs")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		t.Fatal(err)
	}
	// A pid that cannot be alive: beyond Linux's pid_max.
	if err := os.WriteFile(filepath.Join(runs, token+".started"), []byte("99999999 1700000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := c.Markers(context.Background(), token, time.Time{})
	if err != nil || m.State != remote.InDoubt || m.PID != 99999999 {
		t.Fatalf("markers %+v %v, want in doubt with the pid", m, err)
	}
	if _, err := c.Wait(context.Background(), token, nil); !errors.Is(err, remote.ErrInDoubt) {
		t.Fatalf("Wait: %v, want ErrInDoubt", err)
	}
}

func TestExecTimeoutKillsTheCommand(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	for _, token := range []string{"", "r1:slow:1:pre1"} {
		dir := t.TempDir()
		// The child sleep would keep the session open if only the shell
		// died; the whole group must go.
		script := fmt.Sprintf("sleep 600 & echo $! > %s/child; wait", dir)
		start := time.Now()
		code, err := c.Exec(context.Background(), remote.ExecSpec{Script: script, Token: token, Timeout: time.Second})
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("token %q: %d %v, want a timeout error", token, code, err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("token %q: Exec took %s after its timeout", token, d)
		}
		// On a machine slow enough to time out before the script ran,
		// there is no child to check.
		if pid, err := os.ReadFile(filepath.Join(dir, "child")); err == nil {
			waitFor(t, "the child to be killed", func() bool {
				return !exists("/proc/"+strings.TrimSpace(string(pid))) || zombie(strings.TrimSpace(string(pid)))
			})
		}
		if token != "" {
			waitFor(t, "the rc marker", func() bool {
				m, err := c.Markers(context.Background(), token, time.Time{})
				return err == nil && m.State == remote.Finished
			})
			m, _ := c.Markers(context.Background(), token, time.Time{})
			if m.ExitCode != 143 {
				t.Errorf("recorded exit code %d, want 143 (TERM)", m.ExitCode)
			}
		}
	}
}

func zombie(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

// The operator's Ctrl-C (a cancelled context, not a timeout) stops the
// command part-way and leaves the run in doubt: Markers and Wait never
// report the code of our own TERM as the command's outcome, so a resume
// settles it as it settles a local run interrupted the same way (see
// TestLocalInterruptedIsInDoubt), not as a failure "exit 143".
func TestExecInterruptedIsInDoubt(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	interruptedIsInDoubt(t, c, false)
}

func TestOneConnectionPerHost(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	pool := testPool(t, srv, remote.PoolOptions{})
	cfg := hostConfig(srv)
	for i := range 20 {
		c := connect(t, pool, cfg) // asking again returns the same connection
		if _, err := c.Exec(context.Background(), remote.ExecSpec{Script: "true"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(context.Background(), remote.ExecSpec{Script: "true", Token: fmt.Sprintf("r1:s:%d:pre1", i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Markers(context.Background(), fmt.Sprintf("r1:s:%d:pre1", i), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if pool.Dials() != 1 || srv.Handshakes() != 1 {
		t.Errorf("%d dials and %d handshakes for 60 calls, want 1", pool.Dials(), srv.Handshakes())
	}
}

// Keepalives notice a silent network and close the connection, so a
// running command ends in doubt instead of hanging.
func TestKeepaliveClosesASilentConnection(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{Keepalive: 50 * time.Millisecond}), hostConfig(srv))
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), remote.ExecSpec{Script: fmt.Sprintf("touch %s/ready; sleep 600", dir)})
		done <- err
	}()
	waitFor(t, "the script to start", func() bool { return exists(filepath.Join(dir, "ready")) })
	srv.Stall()
	defer srv.Resume()
	if err := <-done; !errors.Is(err, remote.ErrInDoubt) {
		t.Fatalf("Exec on a silent connection: %v, want ErrInDoubt", err)
	}
}

// The connection drops while output streams: in doubt, and the log on the
// host still has all of it.
func TestDropMidOutput(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	cfg := hostConfig(srv)
	// Absolute: this server's SFTP, which streams the log of a run that
	// lasts, does not start in the home directory as sshd's does.
	cfg.MarkerDir = filepath.Join(srv.Home, ".runbook", "runs")
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), cfg)
	token := "r2:chatty:1:pre1"
	dir := t.TempDir()
	script := fmt.Sprintf("i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; while [ ! -e %s/go ]; do sleep 0.02; done; exit 6", dir)
	var streamed syncBuffer
	res := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), remote.ExecSpec{Token: token, Script: script, Stdout: &streamed})
		res <- err
	}()
	// The run's output streams while it waits for go: the connection
	// drops in the middle of it.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(streamed.String(), "line 0\n"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no output streamed in 30 s: %q", streamed.String())
		}
	}
	srv.DropConnections()
	if err := <-res; !errors.Is(err, remote.ErrInDoubt) {
		t.Fatalf("Exec: %v, want ErrInDoubt", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	code, err := c.Wait(context.Background(), token, &out)
	if err != nil || code != 6 {
		t.Fatalf("Wait: %d %v, want 6", code, err)
	}
	if n := strings.Count(out.String(), "\n"); n != 200 || !strings.HasSuffix(out.String(), "line 199\n") {
		t.Errorf("Wait streamed %d lines, want all 200", n)
	}
}
