package sshdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStartAcceptsClientKey(t *testing.T) {
	h := Start(t, Options{})
	kh := h.WriteKnownHosts(t)
	out, err := exec.Command("ssh", "-i", h.ClientKey, "-p", strconv.Itoa(h.Port),
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes", "-F", "/dev/null",
		h.User+"@127.0.0.1", "echo ok").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v: %s\nsshd log:\n%s", err, out, h.Log())
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("ssh printed %q, want ok", out)
	}
}

// With OwnHome a session's HOME is the host's own directory, so what a
// test runs there leaves nothing in the real home of the user.
func TestOwnHome(t *testing.T) {
	h := Start(t, Options{OwnHome: true})
	kh := h.WriteKnownHosts(t)
	out, err := exec.Command("ssh", "-i", h.ClientKey, "-p", strconv.Itoa(h.Port),
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes", "-F", "/dev/null",
		h.User+"@127.0.0.1", `echo "home=$HOME"`).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v: %s\nsshd log:\n%s", err, out, h.Log())
	}
	if !strings.Contains(string(out), "home="+h.Home+"\n") || h.Home == "" {
		t.Fatalf("ssh printed %q, want home=%s", out, h.Home)
	}
	// SFTP starts there too, as it starts in the user's home on a real
	// host: a relative path means the same file to both.
	sftp := exec.Command("sftp", "-b", "-", "-i", h.ClientKey, "-P", strconv.Itoa(h.Port),
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-F", "/dev/null",
		h.User+"@127.0.0.1")
	sftp.Stdin = strings.NewReader("pwd\n")
	out, err = sftp.CombinedOutput()
	if err != nil {
		t.Fatalf("sftp: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "Remote working directory: "+h.Home+"\n") {
		t.Fatalf("sftp printed %q, want its working directory %s", out, h.Home)
	}
}

// CPU counts what the host's sessions used, also while their connection
// stays open: a session that burns CPU raises it by about that much.
func TestCPUCountsTheSessions(t *testing.T) {
	h := Start(t, Options{})
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(h.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "master")
	ssh := func(args ...string) *exec.Cmd {
		return exec.Command("ssh", append([]string{"-i", h.ClientKey, "-p", strconv.Itoa(h.Port), "-o", "UserKnownHostsFile=" + kh,
			"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-F", "/dev/null", "-S", sock}, append(args, h.User+"@127.0.0.1")...)...)
	}
	// One connection held open by a master, as runbook holds its own.
	if out, err := ssh("-M", "-N", "-f").CombinedOutput(); err != nil {
		t.Fatalf("ssh master: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = ssh("-O", "exit").Run() })
	before, err := h.CPU()
	if err != nil {
		t.Fatal(err)
	}
	// A fixed amount of work (not a time: a loaded machine gives a timed
	// loop less CPU), costed first on this side in a plain sh.
	const work = `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`
	local := exec.Command("sh", "-c", work)
	if out, err := local.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v: %s", err, out)
	}
	want := (local.ProcessState.UserTime() + local.ProcessState.SystemTime()) / 2
	loop := ssh()
	loop.Args = append(loop.Args, work)
	if out, err := loop.CombinedOutput(); err != nil {
		t.Fatalf("ssh: %v: %s", err, out)
	}
	var after time.Duration
	for deadline := time.Now().Add(10 * time.Second); after-before < want && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // the session's end reaches its connection's sshd
		if after, err = h.CPU(); err != nil {
			t.Fatal(err)
		}
	}
	if used := after - before; used < want {
		t.Errorf("the host counted %v for a session whose loop costs %v here", used, 2*want)
	}
}

// A process a session left running (its shell gone, so it is no longer
// the sshd's) ends with the test that started the host: it would
// otherwise write into directories the test is removing.
func TestSessionsEndWithTheTest(t *testing.T) {
	out := filepath.Join(t.TempDir(), "late")
	var h *Host
	t.Run("host", func(t *testing.T) {
		h = Start(t, Options{})
		kh := h.WriteKnownHosts(t)
		b, err := exec.Command("ssh", "-i", h.ClientKey, "-p", strconv.Itoa(h.Port),
			"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
			"-o", "IdentitiesOnly=yes", "-F", "/dev/null", h.User+"@127.0.0.1",
			"setsid sh -c 'sleep 2; touch "+out+"' </dev/null >/dev/null 2>&1 &").CombinedOutput()
		if err != nil {
			t.Fatalf("ssh: %v: %s", err, b)
		}
		if len(h.sessions()) == 0 {
			t.Fatal("the session's orphan does not carry the host's mark")
		}
	})
	if pids := h.sessions(); len(pids) > 0 {
		t.Fatalf("processes of the host's sessions outlived its test: %v", pids)
	}
	time.Sleep(3 * time.Second)
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the orphan ran on after the test")
	}
}
