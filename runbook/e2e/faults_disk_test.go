package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/remotetest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// diskSteps are the steps of the state-disk test: each appends its name to
// a file outside the small disk (so every effect can be counted) and
// prints some output (so logs grow beside the database).
var diskSteps = []string{"s1", "s2", "s3", "s4", "s5"}

func diskRunbook(effects string, chatty int) string {
	var b strings.Builder
	b.WriteString("name: full-disk\nenvironments:\n  build: {local: true}\nsteps:\n")
	for _, s := range diskSteps {
		lines := 40
		if s == "s3" {
			lines += chatty
		}
		fmt.Fprintf(&b, "  - {name: %s, on: build, run: \"echo %s >> %s; i=0; while [ $i -lt %d ]; do echo %s says line $i; i=$((i+1)); done\"}\n",
			s, s, effects, lines, s)
	}
	return b.String()
}

// stateDiskSize is the tmpfs under .runbook: a whole release needs about
// half of it at its peak (database, WAL, logs, markers).
const stateDiskSize = 1 << 20

// TestFaultStateDiskFull puts .runbook (state database, logs, markers) on
// a small tmpfs and lets it fill up at every point of a release: a ballast
// file leaves a chosen number of bytes free before the release starts, so
// the disk runs out at a different transition each round; one more round
// is filled by the release's own log. Each time: exit 0 or 1 (a clear
// error with a hint, no stack), the database passes quick_check, what was
// recorded is still there after the resume, and once the ballast is gone
// one resume finishes the release with every step's effect exactly once.
func TestFaultStateDiskFull(t *testing.T) {
	r := remotetest.FaultRand(t)
	// Levels of free space, in pages, up to what a whole release needs:
	// every one in the full run, a random sample in the quick one.
	const pages = 160
	levels := make([]int64, 0, pages+1)
	for p := range pages + 1 {
		levels = append(levels, int64(p)*4096)
	}
	if !remotetest.FullFaults() {
		r.Shuffle(len(levels), func(i, j int) { levels[i], levels[j] = levels[j], levels[i] })
		levels = levels[:6]
	}
	levels = append(levels, -1) // -1: no ballast, a chatty step fills the disk

	outcomes := map[string]int{}
	var hints, resumed int
	for _, free := range levels {
		name := fmt.Sprintf("free=%d", free)
		if free < 0 {
			name = "own log"
		}
		dir := t.TempDir()
		disk := remotetest.SmallDisk(t, stateDiskSize)
		if err := os.Symlink(disk, filepath.Join(dir, ".runbook")); err != nil {
			t.Fatal(err)
		}
		effects := filepath.Join(dir, "effects")
		chatty := 0
		if free < 0 {
			chatty = 40000 // about 1.2 MiB of log
		}
		write(t, dir, "runbook.yaml", diskRunbook(effects, chatty))
		ballast := ""
		if free >= 0 {
			ballast = remotetest.Fill(t, disk, free)
		}

		first := run(t, dir, "start", "--version", "1", "--yes")
		switch first.code {
		case 0:
			outcomes["succeeded at once"]++
		case 1:
			outcomes["stopped, exit 1"]++
			errLines := first.stderr
			if !strings.Contains(errLines, "runbook: error:") || !strings.Contains(errLines, "runbook: hint:") {
				t.Errorf("%s: exit 1 without an error and a hint:\n%s", name, first)
			}
			if strings.Contains(errLines, "is full") || strings.Contains(errLines, "no space left") {
				hints++
			} else {
				t.Errorf("%s: the error does not say the disk is full:\n%s", name, first)
			}
		default:
			t.Errorf("%s: start on a filling disk exited %d, want 0 or 1:\n%s", name, first.code, first)
		}
		if strings.Contains(first.stdout+first.stderr, "goroutine ") || strings.Contains(first.stdout+first.stderr, "panic") {
			t.Errorf("%s: a stack trace:\n%s", name, first)
		}
		// status reads; even so SQLite may need room for the WAL index,
		// and then it must say so.
		if st := run(t, dir, "status"); st.code != 0 && !strings.Contains(st.stderr, "no release has run here") && !strings.Contains(st.stderr, "is full") {
			t.Errorf("%s: status on the full disk: %s", name, st)
		}

		// Space freed: the ballast goes, or the disk grows past the log.
		if ballast != "" {
			if err := os.Remove(ballast); err != nil {
				t.Fatal(err)
			}
		} else {
			remotetest.ResizeDisk(t, disk, 8<<20)
		}
		// What the failed run left, read before anything else runs (a
		// reader needs room for the WAL index too, hence after freeing).
		before := recorded(t, dir)
		if before != nil {
			quickCheck(t, dir)
		}
		if first.code != 0 {
			again := run(t, dir, "resume", "--yes")
			if again.code == 2 && strings.Contains(again.stderr, "nothing to resume") {
				// The disk was full before the release was recorded.
				again = run(t, dir, "start", "--version", "1", "--yes")
			} else {
				resumed++
			}
			if again.code != 0 {
				t.Errorf("%s: after freeing space, the release did not finish:\n%s\nthe first run:\n%s", name, again, first)
				continue
			}
		}
		if d := status(t, dir); d.Release.State != "succeeded" {
			t.Errorf("%s: release %s, want succeeded", name, d.Release.State)
		}
		if got, want := read(t, effects), strings.Join(diskSteps, "\n")+"\n"; got != want {
			t.Errorf("%s: effects %q, want each step once, in order: %q", name, got, want)
		}
		quickCheck(t, dir)
		if lost, ok := keptAll(before, recorded(t, dir)); !ok {
			t.Errorf("%s: transition %d (%s %s → %s) was recorded before the resume and is gone or changed", name, lost.ID, lost.Scope, lost.From, lost.To)
		}
	}
	remotetest.Figure(t, "state disk full (tmpfs of %d KiB under .runbook): %d fill levels: %d succeeded at once, %d stopped with exit 1 (%d said the disk is full, with a hint); "+
		"%d resumed, all finished once space was freed; every step's effect exactly once; quick_check ok and no recorded transition lost in every round",
		stateDiskSize>>10, len(levels), outcomes["succeeded at once"], outcomes["stopped, exit 1"], hints, resumed)
}

// TestFaultDeployDiskFull stages an artifact larger than the room left in
// a host's deploy directory, a local host's and a real sshd host's. When
// the artifact is there before the release, the check before the first
// step says so and nothing runs. When a step builds it, the room cannot
// be known beforehand: the upload fails with a message that says the disk
// is full, nothing is renamed into releases/ and current is not switched;
// once the volume is grown, resume finishes the upload from the partial
// file.
func TestFaultDeployDiskFull(t *testing.T) {
	const diskSize, artifact = 2 << 20, 3 << 20
	for _, kind := range []string{"local", "ssh"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			deploy := remotetest.SmallDisk(t, diskSize)
			env := fmt.Sprintf("  app: {local: true, deploy_dir: %s}\n", deploy)
			knownHosts := ""
			if kind == "ssh" {
				h := sshdtest.Start(t, sshdtest.Options{})
				env = fmt.Sprintf("  app:\n    user: %s\n    auth: {key_file: %s}\n    hosts: [{name: app1, address: %q, deploy_dir: %s}]\n", h.User, h.ClientKey, h.Addr, deploy)
				write(t, dir, "known_hosts", h.KnownHostsLine()+"\n")
				knownHosts = "known_hosts: known_hosts\n"
			}
			steps := "steps:\n  - {name: stage, on: app, upload: artifact}\n  - {name: activate, on: app, activate: true}\n"
			write(t, dir, "runbook.yaml", "name: deploy-full\n"+knownHosts+"artifact: {path: app.ear}\nenvironments:\n"+env+steps)
			writeRandom(t, filepath.Join(dir, "app.ear"), artifact)
			r := run(t, dir, "start", "--version", "1.0", "--yes")
			if r.code != 1 || !strings.Contains(r.stderr, "MiB free in "+deploy) || !strings.Contains(r.stderr, "the artifact takes 3.0 MiB") {
				t.Fatalf("start with no room for the artifact: want the check to stop it, exit 1, got %s", r)
			}
			if h := run(t, dir, "history", "--json"); strings.TrimSpace(h.stdout) != "[]" {
				t.Fatalf("the check recorded a release: %s", h)
			}

			// Built by a step of the release: the upload meets the full disk.
			build := "  build: {local: true, workdir: .}\n"
			write(t, dir, "runbook.yaml", "name: deploy-full\n"+knownHosts+"artifact: {path: app.ear}\nenvironments:\n"+build+env+
				strings.Replace(steps, "steps:\n", fmt.Sprintf("steps:\n  - {name: build, on: build, run: \"head -c %d /dev/urandom > app.ear\"}\n", artifact), 1))
			if err := os.Remove(filepath.Join(dir, "app.ear")); err != nil {
				t.Fatal(err)
			}
			r = run(t, dir, "start", "--version", "1.0", "--yes")
			if r.code != 1 {
				t.Fatalf("start with a full deploy dir: want exit 1, got %s", r)
			}
			if !strings.Contains(r.stdout+r.stderr, "no space left on device") || !strings.Contains(r.stdout+r.stderr, "free some space") {
				t.Errorf("the failure does not say the disk is full and what to do:\n%s", r)
			}
			if !strings.Contains(r.stderr, "runbook: hint:") {
				t.Errorf("no hint:\n%s", r)
			}
			if st, _ := status(t, dir).step("stage"); st != "failed" {
				t.Errorf("stage is %q, want failed", st)
			}
			if _, err := os.Stat(filepath.Join(deploy, "releases/1.0/app.ear")); err == nil {
				t.Error("a partial artifact was renamed into place")
			}
			if _, err := os.Lstat(filepath.Join(deploy, "current")); err == nil {
				t.Error("current was switched after a failed upload")
			}

			remotetest.ResizeDisk(t, deploy, 16<<20)
			r = run(t, dir, "resume", "--yes")
			if r.code != 0 {
				t.Fatalf("resume once the volume grew: %s", r)
			}
			if !strings.Contains(r.stdout, "resumed after") {
				t.Errorf("the upload started over instead of resuming the partial file:\n%s", r.stdout)
			}
			if got, want := sha(t, filepath.Join(deploy, "releases/1.0/app.ear")), sha(t, filepath.Join(dir, "app.ear")); got != want {
				t.Errorf("staged sha256 %s, want %s", got, want)
			}
			if l, err := os.Readlink(filepath.Join(deploy, "current")); err != nil || l != "releases/1.0" {
				t.Errorf("current -> %q %v", l, err)
			}
			quickCheck(t, dir)
		})
	}
}

// writeRandom writes n random bytes to p.
func writeRandom(t *testing.T, p string, n int) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on Linux
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
