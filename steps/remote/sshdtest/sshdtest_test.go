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
