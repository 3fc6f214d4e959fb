package remote_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// L-6: keyboard-interactive gets the password only for a password prompt.
func TestKeyboardInteractiveAnswersOnlyAPasswordPrompt(t *testing.T) {
	for _, tc := range []struct {
		questions []string
		ok        bool
	}{
		{[]string{"Password: "}, true},
		{[]string{"deploy@pre1's password:"}, true},
		{[]string{"Verification code: "}, false},
		{[]string{"Password: ", "Verification code: "}, false},
		{[]string{"One-time password (OATH) for `deploy': "}, false},
		{[]string{"New password: "}, false},
	} {
		t.Run(strings.Join(tc.questions, "+"), func(t *testing.T) {
			srv := remotetest.NewServer(t, remotetest.Options{Password: "s3cret", Questions: tc.questions})
			cfg := remote.HostConfig{Name: "pre1", Address: srv.Addr, User: srv.User, Password: "s3cret"}
			_, err := testPool(t, srv, remote.PoolOptions{}).Conn(context.Background(), cfg)
			if tc.ok {
				if err != nil {
					t.Fatalf("a password prompt: %v", err)
				}
				return
			}
			var ae *remote.AuthError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), "not a password prompt") || !strings.Contains(err.Error(), tc.questions[len(tc.questions)-1]) {
				t.Fatalf("got %v, want an AuthError naming the question it did not answer", err)
			}
			if !strings.Contains(ae.Hint(), "ssh") {
				t.Errorf("hint %q", ae.Hint())
			}
			if got := srv.Answers(); slices.Contains(got, "s3cret") {
				t.Errorf("the password was given to %q: answers %q", tc.questions, got)
			}
		})
	}
}

// L-6 on a real sshd: a wrong password (sshd without PAM refuses the
// keyboard-interactive that follows before asking anything) is an
// AuthError that names the host, the user and the methods, not x/crypto's
// "unexpected message type 51".
func TestSSHDWrongPasswordIsAnAuthError(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{PasswordAuth: true})
	p, _ := sshdPool(t, h)
	_, err := p.Conn(context.Background(), remote.HostConfig{Name: "pre1", Address: h.Addr, User: h.User, Password: "wrong"})
	var ae *remote.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an AuthError\nsshd log:\n%s", err, h.Log())
	}
	if want := fmt.Sprintf("authentication refused by pre1 for %s (methods tried: password, keyboard-interactive)", h.User); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// L-5: a jump host taken from ~/.ssh/config (ProxyJump) is offered neither
// the target's password nor its key: only its own IdentityFile. The
// bastion's log shows no password attempt.
func TestSSHDProxyJumpGetsNoTargetCredentials(t *testing.T) {
	bastion := sshdtest.Start(t, sshdtest.Options{PasswordAuth: true})
	prod := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(bastion.KnownHostsLine()+"\n"+prod.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "config")
	content := fmt.Sprintf("Host prodalias\n  HostName 127.0.0.1\n  Port %d\n  ProxyJump %s@127.0.0.1:%d\nHost 127.0.0.1\n  IdentityFile %s\n",
		prod.Port, bastion.User, bastion.Port, bastion.ClientKey)
	if err := os.WriteFile(conf, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(prod.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	p := remote.NewPool(remote.PoolOptions{KnownHosts: kh, SSHConfig: conf})
	t.Cleanup(func() { p.Close() })
	cfg := remote.HostConfig{Name: "prod1", Address: "prodalias", User: prod.User, Key: key, Password: "the-target-password"}
	c := connect(t, p, cfg)
	if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "true"}); err != nil || code != 0 {
		t.Fatalf("Exec through the jump host: %d %v", code, err)
	}
	log := bastion.Log()
	if strings.Contains(log, "password") || !strings.Contains(log, "Accepted publickey") {
		t.Errorf("the bastion saw a password attempt, or no key login:\n%s", log)
	}
}
