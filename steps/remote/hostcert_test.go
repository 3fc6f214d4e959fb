package remote_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// hostCA makes a certificate authority and returns its private key's path.
func hostCA(t *testing.T) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "host_ca")
	if err := sshdtest.Keygen("ed25519", key); err != nil {
		t.Fatal(err)
	}
	return key
}

// caLine is the known_hosts line trusting the authority of key for the
// host on port of 127.0.0.1.
func caLine(t *testing.T, key string, port int) string {
	t.Helper()
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	return fmt.Sprintf("@cert-authority [127.0.0.1]:%d %s %s", port, f[0], f[1])
}

func knownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func dialWith(t *testing.T, h *sshdtest.Host, opts remote.PoolOptions) error {
	t.Helper()
	opts.SSHConfig = filepath.Join(t.TempDir(), "none")
	p := remote.NewPool(opts)
	defer p.Close()
	c, err := p.Conn(context.Background(), remote.HostConfig{Name: "pre2", Address: h.Addr, User: h.User, KeyFile: h.ClientKey})
	if err != nil {
		return err
	}
	_, err = c.Exec(context.Background(), remote.ExecSpec{Script: "true"})
	return err
}

// L-3: a host whose certificate is signed by an authority known_hosts
// trusts for it (@cert-authority) is trusted, as OpenSSH trusts it.
func TestSSHDHostCertificateTrusted(t *testing.T) {
	caKey := hostCA(t)
	h := sshdtest.Start(t, sshdtest.Options{HostCA: caKey})
	ca := caLine(t, caKey, h.Port)

	if err := dialWith(t, h, remote.PoolOptions{KnownHosts: knownHosts(t, ca)}); err != nil {
		t.Fatalf("a host certificate signed by the trusted authority: %v\nsshd log:\n%s", err, h.Log())
	}
	// Beside a plain key of the host, the certificate is still asked for
	// and checked against the authority.
	if err := dialWith(t, h, remote.PoolOptions{KnownHosts: knownHosts(t, ca, h.KnownHostsLine())}); err != nil {
		t.Fatalf("authority and plain key: %v", err)
	}
	// A plain key alone still works with a host that has a certificate.
	if err := dialWith(t, h, remote.PoolOptions{KnownHosts: knownHosts(t, h.KnownHostsLine())}); err != nil {
		t.Fatalf("plain key of a host with a certificate: %v", err)
	}
}

// L-3: a certificate signed by another authority, or a host that presents
// no certificate where only an authority is trusted, is refused with
// words for certificates, never the advice to remove the line.
func TestSSHDHostCertificateRefused(t *testing.T) {
	caKey := hostCA(t)
	h := sshdtest.Start(t, sshdtest.Options{HostCA: caKey})
	otherCA := caLine(t, hostCA(t), h.Port)
	plain := sshdtest.Start(t, sshdtest.Options{})
	caForPlain := caLine(t, caKey, plain.Port)

	for name, tc := range map[string]struct {
		h    *sshdtest.Host
		kh   string
		want string
	}{
		"signed by another authority": {h, knownHosts(t, otherCA), "signed by an authority known_hosts does not trust"},
		"no certificate":              {plain, knownHosts(t, caForPlain), "plain host key, not a certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			err := dialWith(t, tc.h, remote.PoolOptions{KnownHosts: tc.kh, AcceptNewHostKeys: true})
			var hk *remote.HostKeyError
			if !errors.As(err, &hk) || hk.Unknown {
				t.Fatalf("got %v, want a refused host key", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "@cert-authority") || strings.Contains(msg, "ssh-keygen -R") || strings.Contains(msg, "CHANGED") {
				t.Errorf("message %q: want %q, certificate words, no advice to remove the line", msg, tc.want)
			}
			if b, _ := os.ReadFile(tc.kh); strings.Count(string(b), "\n") != 1 {
				t.Errorf("known_hosts was changed:\n%s", b)
			}
		})
	}
}

// L-3: an unknown host that presents a certificate is an unknown host key
// (exit 3, or asked about), judged by the key it certifies; accepted, that
// plain key is recorded and trusted next time.
func TestSSHDUnknownHostWithCertificate(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{HostCA: hostCA(t)})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	err := dialWith(t, h, remote.PoolOptions{KnownHosts: kh})
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || !hk.Unknown {
		t.Fatalf("got %v, want an unknown host key", err)
	}
	if err := dialWith(t, h, remote.PoolOptions{KnownHosts: kh, AcceptNewHostKeys: true}); err != nil {
		t.Fatalf("accept the new host: %v", err)
	}
	if b, _ := os.ReadFile(kh); strings.TrimSpace(string(b)) != h.KnownHostsLine() {
		t.Errorf("recorded %q, want the plain key %q", b, h.KnownHostsLine())
	}
	if err := dialWith(t, h, remote.PoolOptions{KnownHosts: kh}); err != nil {
		t.Fatalf("the recorded key is not trusted: %v", err)
	}
}
