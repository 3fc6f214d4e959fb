package sshdtest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
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
