package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote/remotetest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// scaleFleet is many real sshd hosts on 127.0.0.1 that accept one key,
// each with a HOME of its own (where the run markers are counted).
type scaleFleet struct {
	names      []string
	hosts      map[string]*sshdtest.Host
	knownHosts string // the file's content
	key, user  string
}

// startScaleFleet starts n sshd, h001 to hNNN.
func startScaleFleet(t *testing.T, n int) *scaleFleet {
	t.Helper()
	f := &scaleFleet{hosts: map[string]*sshdtest.Host{}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("h%03d", i)
		h := sshdtest.Start(t, sshdtest.Options{ClientKey: f.key, OwnHome: true})
		f.key, f.user = h.ClientKey, h.User
		f.names = append(f.names, name)
		f.hosts[name] = h
		f.knownHosts += h.KnownHostsLine() + "\n"
	}
	return f
}

// yaml writes the runbook of dir: environment prod of every host with
// the given keys, and steps.
func (f *scaleFleet) yaml(t *testing.T, dir, prodKeys, steps string) {
	t.Helper()
	write(t, dir, "known_hosts", f.knownHosts)
	var b strings.Builder
	fmt.Fprintf(&b, "name: scale\nknown_hosts: known_hosts\nartifact: {path: app.ear}\nenvironments:\n")
	fmt.Fprintf(&b, "  build:\n    local: true\n")
	fmt.Fprintf(&b, "  prod:\n    user: %s\n    auth: {key_file: %s}\n%s", f.user, f.key, prodKeys)
	b.WriteString("    operations:\n      restart: D={{ .Host.DeployDir | q }}; echo x >> \"$D/count-restart-{{ .Version }}\"; readlink \"$D/current\" > \"$D/running\"; sleep 0.4\n")
	b.WriteString("    hosts:\n")
	for _, name := range f.names {
		fmt.Fprintf(&b, "      - {name: %s, address: %q, deploy_dir: %s}\n", name, f.hosts[name].Addr, f.hosts[name].DeployDir)
	}
	b.WriteString("steps:\n" + steps)
	write(t, dir, "runbook.yaml", b.String())
	write(t, dir, "app.ear", "the application\n")
}

// leftRuns counts the run markers left in the hosts' marker directories
// that are not a resume's claim of a run that never started.
func (f *scaleFleet) leftRuns(t *testing.T) int {
	t.Helper()
	runs := 0
	for _, h := range f.hosts {
		started, err := filepath.Glob(filepath.Join(h.Home, ".runbook", "runs", "*.started"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range started {
			if b, _ := os.ReadFile(p); !strings.HasPrefix(string(b), "- ") {
				runs++
			}
		}
	}
	return runs
}

// accepted returns the SSH connections each host's sshd has accepted.
func (f *scaleFleet) accepted() map[string]int {
	out := map[string]int{}
	for name, h := range f.hosts {
		out[name] = strings.Count(h.Log(), "Accepted publickey")
	}
	return out
}

const scaleSteps = `  - {name: stage, on: prod, upload: artifact}
  - {name: activate, on: prod, activate: true}
  - name: restart
    on: prod
    op: restart
    verify: grep -qx "releases/{{ .Version }}" {{ .Host.DeployDir | q }}/running
`

// TestKillFleetInBatch3: a rolling release on a fleet of real sshd
// (24 hosts in batches of 25%; 100 under `make faults`) is killed with
// SIGKILL while batch 3 of its restart runs; `resume` finishes it, and
// every host ends on the new release, restarted exactly once — the
// hosts of batch 3 that were mid-restart are adopted, not restarted
// again — with no run marker left on any host and every host in
// `status --json`.
func TestKillFleetInBatch3(t *testing.T) {
	n, parallel := 24, 6
	if remotetest.FullFaults() {
		n, parallel = 100, 20
	}
	f := startScaleFleet(t, n)
	dir := t.TempDir()
	f.yaml(t, dir, fmt.Sprintf("    parallel: %d\n    serial: 25%%\n", parallel), scaleSteps)

	cmd, out := start(t, dir, "start", "--version", "2.0", "--yes")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Batch 3 is the third quarter of the hosts: wait until one of them
	// has begun its restart.
	batch3 := f.names[n/2 : 3*n/4]
	deadline := time.Now().Add(2 * time.Minute)
	for running := false; !running; {
		for _, name := range batch3 {
			if _, err := os.Stat(filepath.Join(f.hosts[name].DeployDir, "count-restart-2.0")); err == nil {
				running = true
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the release ended (%v) before batch 3 of restart started:\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch 3 of restart never started:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	begun := 0
	for _, name := range batch3 {
		if _, err := os.Stat(filepath.Join(f.hosts[name].DeployDir, "count-restart-2.0")); err == nil {
			begun++
		}
	}
	for _, name := range f.names[3*n/4:] {
		if _, err := os.Stat(filepath.Join(f.hosts[name].DeployDir, "count-restart-2.0")); err == nil {
			t.Fatalf("%s of batch 4 restarted while batch 3 was running:\n%s", name, out)
		}
	}

	r := run(t, dir, "resume", "--yes")
	if r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	for _, name := range f.names {
		d := f.hosts[name].DeployDir
		if b, err := os.ReadFile(filepath.Join(d, "count-restart-2.0")); err != nil || string(b) != "x\n" {
			t.Errorf("%s restarted %q times (%v), want exactly once", name, b, err)
		}
		if cur, err := os.Readlink(filepath.Join(d, "current")); err != nil || cur != "releases/2.0" {
			t.Errorf("%s: current is %q (%v), want releases/2.0", name, cur, err)
		}
	}
	if left := f.leftRuns(t); left != 0 {
		t.Errorf("%d run markers left on the hosts after the release", left)
	}
	st := status(t, dir)
	if st.Release.State != "succeeded" {
		t.Errorf("the release is %s after the resume", st.Release.State)
	}
	for _, s := range st.Steps {
		if len(s.Hosts) != n {
			t.Errorf("status --json lists %d hosts of %s, want %d", len(s.Hosts), s.Name, n)
		}
		for _, h := range s.Hosts {
			if h.State != "succeeded" {
				t.Errorf("%s on %s is %s", s.Name, h.Host, h.State)
			}
		}
	}
	rep := run(t, dir, "report")
	for _, name := range f.names {
		if strings.Count(rep.stdout, name) < 3 {
			t.Errorf("the report names %s %d times, want it under each of the 3 steps", name, strings.Count(rep.stdout, name))
		}
	}
	quickCheck(t, dir)
	t.Logf("figure: %d hosts in 4 batches, kill -9 with %d of batch 3's %d restarts begun, resume: each host restarted exactly once, on 2.0", n, begun, len(batch3))
}

// TestFleetResourcesDoNotGrowWithSteps: thirty steps on a fleet open one
// SSH connection per host for the whole run, run at most `parallel`
// commands at a time, hold as many file descriptors at the thirtieth step
// as at the fourth, and leave no run marker on a host or on the
// operator's machine.
func TestFleetResourcesDoNotGrowWithSteps(t *testing.T) {
	const n, parallel, steps = 10, 3, 30
	f := startScaleFleet(t, n)
	dir := t.TempDir()
	spans := filepath.Join(dir, "spans")
	var b strings.Builder
	for i := 1; i <= steps; i++ {
		if i == 4 || i == steps {
			// The operator's side is sampled here, by the test, while
			// this local step waits for it.
			fmt.Fprintf(&b, "  - {name: sample-%d, on: build, run: \"touch ready-%d; while [ ! -e go-%d ]; do sleep 0.01; done\"}\n", i, i, i)
			continue
		}
		// Each command notes when it began and ended, in one file all
		// hosts share (they are all this machine).
		fmt.Fprintf(&b, "  - {name: s%02d, on: prod, run: \"echo + >> %s; sleep 0.03; echo - >> %s\"}\n", i, spans, spans)
	}
	f.yaml(t, dir, fmt.Sprintf("    parallel: %d\n", parallel), b.String())

	cmd, out := start(t, dir, "start", "--version", "1", "--yes")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	sample := func(i int) (fds int, rssKiB int) {
		waitFor(t, fmt.Sprintf("step sample-%d", i), func() bool {
			_, err := os.Stat(filepath.Join(dir, fmt.Sprintf("ready-%d", i)))
			return err == nil
		})
		// The fewest descriptors seen over a quarter of a second: while
		// the step runs, runbook starts the next local shell ahead in the
		// background, and a reading taken in the middle of that start sees
		// its pipes with both ends open (five more). A leak stays; a start
		// in flight does not.
		fds = -1
		for range 25 {
			ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			if fds < 0 || len(ents) < fds {
				fds = len(ents)
			}
			time.Sleep(10 * time.Millisecond)
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				rssKiB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			}
		}
		write(t, dir, fmt.Sprintf("go-%d", i), "")
		return fds, rssKiB
	}
	fds4, rss4 := sample(4)
	fdsLast, rssLast := sample(steps)
	if err := <-done; err != nil {
		t.Fatalf("the release failed: %v\n%s", err, out)
	}
	t.Logf("file descriptors %d at step 4, %d at step %d; RSS %d KiB, %d KiB", fds4, fdsLast, steps, rss4, rssLast)
	// A descriptor leaked per host run would be 200 more; a little slack
	// for what the Go runtime opens on its own.
	if fdsLast > fds4+2 {
		t.Errorf("runbook held %d file descriptors at step %d, %d at step 4: they grow with the steps", fdsLast, steps, fds4)
	}
	if rssLast > rss4*3/2+8<<10 {
		t.Errorf("runbook's RSS grew from %d KiB at step 4 to %d KiB at step %d", rss4, rssLast, steps)
	}
	for name, c := range f.accepted() {
		if c != 1 {
			t.Errorf("%s accepted %d SSH connections for %d steps, want 1", name, c, steps)
		}
	}
	// Every command without a terminal, the transport's own scripts
	// included, runs in the connection's one host shell.
	for name, h := range f.hosts {
		if c := strings.Count(h.Log(), "Starting session: command"); c != 1 {
			t.Errorf("%s started %d command sessions for %d steps, want 1 (the host shell)", name, c, steps)
		}
	}
	spanLog := read(t, spans)
	most, now := 0, 0
	for _, c := range spanLog {
		switch c {
		case '+':
			now++
			most = max(most, now)
		case '-':
			now--
		}
	}
	if want := (steps - 2) * n; strings.Count(spanLog, "+") != want {
		t.Errorf("%d commands ran, want %d", strings.Count(spanLog, "+"), want)
	}
	t.Logf("at most %d commands at once", most)
	if most > parallel {
		t.Errorf("%d commands ran at once, more than parallel %d", most, parallel)
	}
	if left := f.leftRuns(t); left != 0 {
		t.Errorf("%d run markers left on the hosts", left)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".runbook", "runs", "*")); len(left) != 0 {
		t.Errorf("run markers left on the operator's machine: %v", left)
	}
}
