package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// lineReader collects the lines a command prints, as they come.
type lineReader struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineReader) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.mu.Unlock()
	}
}

func (l *lineReader) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func (l *lineReader) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// follow starts `runbook logs ARGS... -f` in dir; wait returns its exit
// code and stderr once it ends.
func follow(t *testing.T, dir string, args ...string) (*lineReader, func() (int, string), func() bool) {
	t.Helper()
	cmd := exec.Command(bin, append(append([]string{"logs"}, args...), "-f")...)
	cmd.Dir = dir
	cmd.Env = env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := &lineReader{}
	done := make(chan struct{})
	go func() { lines.read(out); close(done) }()
	var code int
	ended := make(chan struct{})
	go func() {
		<-done
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		close(ended)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-ended })
	wait := func() (int, string) { <-ended; return code, errb.String() }
	running := func() bool {
		select {
		case <-ended:
			return false
		default:
			return true
		}
	}
	return lines, wait, running
}

// TestLogsFollow: `logs STEP -f` shows a step's lines while it runs and
// returns when the step ends, the release going on; `logs -f` follows the
// whole release and returns when it ends.
func TestLogsFollow(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
environments:
  build: {local: true}
steps:
  - {name: slow, on: build, run: "echo tick 1; while [ ! -e gate1 ]; do sleep 0.05; done; echo tick 2"}
  - {name: after, on: build, run: "echo after 1; while [ ! -e gate2 ]; do sleep 0.05; done; echo after 2"}
`)
	cmd, out := start(t, dir, "start", "--version", "1", "--yes")
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	waitFor(t, "the release to start slow", func() bool {
		_, err := os.Stat(filepath.Join(dir, ".runbook", "logs", "1", "01-slow", "local.log"))
		return err == nil
	})

	step, stepDone, stepRunning := follow(t, dir, "slow")
	whole, wholeDone, _ := follow(t, dir)
	// The first line shows while the step still runs: it is blocked.
	waitFor(t, "logs slow -f to show tick 1", func() bool { return step.has("tick 1") })
	if !stepRunning() || step.has("tick 2") {
		t.Fatalf("logs -f ended or saw the end before the step did:\n%s", step)
	}
	write(t, dir, "gate1", "")
	if code, stderr := stepDone(); code != 0 {
		t.Fatalf("logs slow -f exited %d: %s\n%s", code, stderr, step)
	}
	if !step.has("tick 2") || step.has("after") {
		t.Errorf("logs slow -f showed:\n%s", step)
	}
	// The release goes on at after; the whole-release follower with it.
	waitFor(t, "logs -f to show after 1", func() bool { return whole.has("after 1") })
	write(t, dir, "gate2", "")
	if code, stderr := wholeDone(); code != 0 {
		t.Fatalf("logs -f exited %d: %s", code, stderr)
	}
	for _, want := range []string{"==> slow on local <==", "tick 2", "==> after on local <==", "after 2"} {
		if !whole.has(want) {
			t.Errorf("logs -f lacks %q:\n%s", want, whole)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the release: %v\n%s", err, out)
	}
}

// TestLogsOfARunLeftGoingOnItsHost: runbook is killed while a step runs
// on a real sshd host, where the run goes on. `logs STEP --host H` reads
// what it wrote so far from the host's own log of the run (masked, since
// that log is raw), and -f follows it to its end.
func TestLogsOfARunLeftGoingOnItsHost(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{OwnHome: true})
	dir := t.TempDir()
	gate := filepath.Join(h.Dir, "gate")
	write(t, dir, "known_hosts", h.KnownHostsLine()+"\n")
	write(t, dir, "runbook.yaml", fmt.Sprintf(`name: t
known_hosts: known_hosts
environments:
  prerelease:
    user: %s
    auth: {key_file: %s}
    hosts: [{name: pre1, address: "%s"}]
steps:
  - name: slow
    on: prerelease
    run: 'echo "one, password={{ secret "db/password" }}"; printf "%%0200d\n" 0; while [ ! -e %s ]; do sleep 0.05; done; echo two; exit 3'
`, h.User, h.ClientKey, h.Addr, gate))
	writeVault(t, dir, fixtureVault(t))
	cmd := exec.Command(bin, "start", "--version", "1", "--yes")
	cmd.Dir = dir
	cmd.Env = env(passEnv)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, ".runbook", "logs", "1", "01-slow", "pre1.log")
	waitFor(t, "the step to print its first line", func() bool {
		b, _ := os.ReadFile(local)
		return strings.Contains(string(b), "one")
	})
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()

	r := runEnv(t, dir, []string{passEnv}, "logs", "slow", "--host", "pre1")
	if r.code != 0 || !strings.Contains(r.stdout, "one, password=****") || !strings.Contains(r.stderr, "no runbook walks the release") {
		t.Fatalf("logs of the run left going: %s", r)
	}
	if tr := leakIn([]byte(r.stdout + r.stderr)); tr != "" {
		t.Fatalf("the host's raw log leaked the secret (%q): %s", tr, r)
	}
	if strings.Contains(r.stdout, "two") {
		t.Fatalf("the run cannot have printed two yet: %s", r)
	}

	cmdF := exec.Command(bin, "logs", "slow", "--host", "pre1", "-f")
	cmdF.Dir = dir
	cmdF.Env = env(passEnv)
	outF, err := cmdF.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errF strings.Builder
	cmdF.Stderr = &errF
	if err := cmdF.Start(); err != nil {
		t.Fatal(err)
	}
	lines := &lineReader{}
	read := make(chan struct{})
	go func() { lines.read(outF); close(read) }()
	// (A line of zeros follows the first: what streams from a host may be
	// held back by a few bytes until more output comes.)
	waitFor(t, "logs -f to show the first line from the host", func() bool { return lines.has("one, password=****") })
	write(t, h.Dir, "gate", "")
	<-read
	if err := cmdF.Wait(); err != nil {
		t.Fatalf("logs -f: %v\n%s\n%s", err, lines, errF.String())
	}
	if !lines.has("two") || !strings.Contains(errF.String(), "ended on the host with exit code 3") {
		t.Fatalf("logs -f did not follow the run to its end:\n%s\n%s", lines, errF.String())
	}
	// The record is settled by resume, which adopts the exit code.
	if r := runEnv(t, dir, []string{passEnv}, "resume", "--yes"); r.code != 1 {
		t.Fatalf("resume after the run failed on its host: %s", r)
	}
}
