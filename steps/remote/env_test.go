package remote_test

import (
	"context"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// runbookOwn are variables runbook itself consumes, with values that must
// never reach a step.
var runbookOwn = map[string]string{
	"RUNBOOK_VAULT_PASSPHRASE":     "correct horse battery staple 42",
	"RUNBOOK_NEW_VAULT_PASSPHRASE": "the next passphrase 43",
	"RUNBOOK_VAULT_PASS_FILE":      "/home/op/.runbook-pass",
	"RUNBOOK_IDENTITY":             "/home/op/.age/key.txt",
	"RUNBOOK_STATE":                "/home/op/state.db",
}

// stepEnv runs `env` on c, with runbook's own variables set in this
// process, under and without run markers, and checks what the command saw.
func stepEnv(t *testing.T, c remote.Conn) {
	for k, v := range runbookOwn {
		t.Setenv(k, v)
	}
	for _, token := range []string{"", "r1-s01-env-a1-h1-00"} {
		var out syncBuffer
		spec := remote.ExecSpec{Script: "env", Token: token, Stdout: &out, Stderr: &out,
			Env: map[string]string{"TOKEN": "from the step", "RUNBOOK_VERSION": "2.4.0"}}
		if code, err := c.Exec(context.Background(), spec); err != nil || code != 0 {
			t.Fatalf("env: %d %v", code, err)
		}
		got := out.String()
		for k, v := range runbookOwn {
			if strings.Contains(got, k) || strings.Contains(got, v) {
				t.Errorf("token %q: the step saw %s", token, k)
			}
		}
		for _, want := range []string{"TOKEN=from the step", "RUNBOOK_VERSION=2.4.0", "PATH="} {
			if !strings.Contains(got, want) {
				t.Errorf("token %q: the step did not see %s:\n%s", token, want, got)
			}
		}
		// No agent is forwarded to a host.
		if strings.Contains(got, "SSH_AUTH_SOCK=") && !strings.Contains(got, "SSH_AUTH_SOCK=/operator/agent.sock") {
			t.Errorf("token %q: an agent was forwarded:\n%s", token, got)
		}
	}
}

// H-2: a local step's environment is this process's less runbook's own
// variables, plus its own.
func TestStepEnvLocal(t *testing.T) {
	stepEnv(t, remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()}))
}

// H-2 on a real sshd that would accept any variable sent (AcceptEnv *):
// nothing of the operator's environment is sent, and no agent forwarded
// even where sshd allows it.
func TestStepEnvSSHD(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "/operator/agent.sock")
	h := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{"AcceptEnv *", "AllowAgentForwarding yes"}})
	p, cfg := sshdPool(t, h)
	stepEnv(t, connect(t, p, cfg))
	if log := h.Log(); strings.Contains(log, "RUNBOOK_") {
		t.Errorf("sshd was sent runbook's variables:\n%s", log)
	}
}
