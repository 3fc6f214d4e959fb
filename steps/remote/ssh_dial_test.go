package remote_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

func emptyKnownHosts(t *testing.T) string {
	return filepath.Join(t.TempDir(), "ssh", "known_hosts") // dir missing too
}

func TestUnknownHostKeyRefused(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	kh := emptyKnownHosts(t)
	_, err := testPool(t, srv, remote.PoolOptions{KnownHosts: kh}).Conn(context.Background(), hostConfig(srv))
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || !hk.Unknown {
		t.Fatalf("got %v, want an unknown-host-key error", err)
	}
	fp := ssh.FingerprintSHA256(srv.HostKey)
	if hk.Fingerprint != fp || hk.Host != "pre1" || !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), "pre1") {
		t.Errorf("error %q (%+v) should name the host and fingerprint %s", err, hk, fp)
	}
	if exists(kh) {
		t.Error("a refused key was written to known_hosts")
	}
}

func TestUnknownHostKeyAcceptedNewIsRecorded(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	kh := emptyKnownHosts(t)
	p := testPool(t, srv, remote.PoolOptions{KnownHosts: kh, AcceptNewHostKeys: true})
	c := connect(t, p, hostConfig(srv))
	if _, err := c.Exec(context.Background(), remote.ExecSpec{Script: "true"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), srv.KnownHostsLine(); got != want {
		t.Errorf("known_hosts holds %q, want %q", got, want)
	}
	for p, mode := range map[string]os.FileMode{kh: 0o600, filepath.Dir(kh): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}
	// A fresh pool without accepting now trusts the recorded key.
	if _, err := testPool(t, srv, remote.PoolOptions{KnownHosts: kh}).Conn(context.Background(), hostConfig(srv)); err != nil {
		t.Fatalf("recorded key not trusted: %v", err)
	}
}

func TestUnknownHostKeyAsked(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	for _, answer := range []bool{false, true} {
		kh := emptyKnownHosts(t)
		var asked []string
		p := testPool(t, srv, remote.PoolOptions{KnownHosts: kh, AskHostKey: func(host, addr, fp string) (bool, error) {
			asked = append(asked, host, addr, fp)
			return answer, nil
		}})
		_, err := p.Conn(context.Background(), hostConfig(srv))
		want := []string{"pre1", srv.Addr, ssh.FingerprintSHA256(srv.HostKey)}
		if fmt.Sprint(asked) != fmt.Sprint(want) {
			t.Errorf("asked %q, want %q", asked, want)
		}
		if answer != (err == nil) || answer != exists(kh) {
			t.Errorf("answer %v: err %v, known_hosts written %v", answer, err, exists(kh))
		}
	}
}

func TestChangedHostKeyAlwaysRefused(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	old, _, err := remotetest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	content := "# first line\nother.example.com " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(old.PublicKey()))) + "\n" +
		remotetest.KnownHostsLine(srv.Addr, old.PublicKey()) + "\n"
	if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	asked := false
	p := testPool(t, srv, remote.PoolOptions{KnownHosts: kh, AcceptNewHostKeys: true,
		AskHostKey: func(string, string, string) (bool, error) { asked = true; return true, nil }})
	_, err = p.Conn(context.Background(), hostConfig(srv))
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || hk.Unknown {
		t.Fatalf("got %v, want a changed-host-key error", err)
	}
	msg := err.Error()
	for _, want := range []string{ssh.FingerprintSHA256(srv.HostKey), ssh.FingerprintSHA256(old.PublicKey()), kh + ":3", "ssh-keygen -R", "pre1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if len(hk.Known) != 1 || hk.Known[0].Line != 3 || hk.Known[0].File != kh {
		t.Errorf("known keys %+v, want line 3 of %s", hk.Known, kh)
	}
	if asked {
		t.Error("the operator was asked about a changed key")
	}
	if b, _ := os.ReadFile(kh); string(b) != content {
		t.Error("known_hosts was modified")
	}
}

// A key known_hosts marks @revoked is refused whatever the flags, and the
// refusal names the key, the line, and what to do (not "remove the line").
func TestRevokedHostKeyRefusedWithItsLine(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	content := "# revoked after the incident\n@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey))) + "\n"
	if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testPool(t, srv, remote.PoolOptions{KnownHosts: kh, AcceptNewHostKeys: true,
		AskHostKey: func(string, string, string) (bool, error) { return true, nil }})
	_, err := p.Conn(context.Background(), hostConfig(srv))
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || !hk.Revoked || hk.Unknown {
		t.Fatalf("got %v, want a revoked-host-key error", err)
	}
	for _, want := range []string{ssh.FingerprintSHA256(srv.HostKey), kh + ":2", "@revoked", "pre1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "ssh-keygen -R") {
		t.Errorf("the refusal of a revoked key advises removing it: %q", err)
	}
}

func TestAuthRefusedListsMethods(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{Password: "right"})
	_, otherKey, err := remotetest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := remote.HostConfig{Name: "pre1", Address: srv.Addr, User: srv.User, Key: otherKey, Password: "wrong"}
	_, err = testPool(t, srv, remote.PoolOptions{}).Conn(context.Background(), cfg)
	var ae *remote.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an AuthError", err)
	}
	if want := "authentication refused by pre1 for deploy (methods tried: publickey, password, keyboard-interactive)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if h := ae.Hint(); !strings.Contains(h, "deploy") || !strings.Contains(h, "pre1") {
		t.Errorf("hint %q", h)
	}
}

func TestPasswordAuth(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{Password: "s3cret"})
	cfg := remote.HostConfig{Name: "pre1", Address: srv.Addr, User: srv.User, Password: "s3cret"}
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), cfg)
	if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "exit 4"}); err != nil || code != 4 {
		t.Fatalf("Exec: %d %v", code, err)
	}
}

func TestKeyFileAuthAndEncryptedKeyWithoutPassphrase(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	p := testPool(t, srv, remote.PoolOptions{})
	if _, err := p.Conn(context.Background(), remote.HostConfig{Name: "a", Address: srv.Addr, User: srv.User, KeyFile: srv.ClientKeyFile}); err != nil {
		t.Fatalf("key file: %v", err)
	}
	enc := encryptedKey(t, "pw")
	_, err := p.Conn(context.Background(), remote.HostConfig{Name: "b", Address: srv.Addr, User: srv.User, Key: enc})
	if err == nil || !strings.Contains(err.Error(), "encrypted") || !strings.Contains(err.Error(), "key_passphrase") {
		t.Errorf("encrypted key without passphrase: %v, want a clear error", err)
	}
}

func encryptedKey(t *testing.T, passphrase string) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

func TestNeverAnsweringServerTimesOut(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{NeverAnswer: true})
	const timeout = 500 * time.Millisecond
	p := testPool(t, srv, remote.PoolOptions{ConnectTimeout: timeout})
	start := time.Now()
	_, err := p.Conn(context.Background(), hostConfig(srv))
	var ue *remote.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "handshake") || !strings.Contains(err.Error(), "firewall") {
		t.Fatalf("got %v, want an UnreachableError about the handshake", err)
	}
	if d := time.Since(start); d < timeout {
		t.Errorf("gave up after %s, before the %s timeout", d, timeout)
	}
}

func TestRefusedPortIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := remotetest.NewServer(t, remotetest.Options{})
	_, err = testPool(t, srv, remote.PoolOptions{}).Conn(context.Background(), remote.HostConfig{Name: "gone", Address: addr, User: "x", Password: "x"})
	var ue *remote.UnreachableError
	if !errors.As(err, &ue) || ue.Host != "gone" || ue.Addr != addr {
		t.Fatalf("got %v, want UnreachableError for gone at %s", err, addr)
	}
}

// A production host reached through a jump host: both connections are
// pooled, and the jump host's is shared by every host behind it.
func TestJumpHost(t *testing.T) {
	bastion := remotetest.NewServer(t, remotetest.Options{})
	prod := remotetest.NewServer(t, remotetest.Options{})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(bastion.KnownHostsLine()+"\n"+prod.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testPool(t, bastion, remote.PoolOptions{KnownHosts: kh})
	jump := hostConfig(bastion)
	for _, name := range []string{"prod1", "prod2"} {
		cfg := remote.HostConfig{Name: name, Address: prod.Addr, User: prod.User, Key: prod.ClientKey, Via: &jump}
		c := connect(t, p, cfg)
		var out syncBuffer
		if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "echo via", Stdout: &out}); err != nil || code != 0 || out.String() != "via\n" {
			t.Fatalf("%s: %d %v %q", name, code, err, out.String())
		}
	}
	if p.Dials() != 3 || bastion.Handshakes() != 1 || prod.Handshakes() != 2 {
		t.Errorf("dials %d, bastion handshakes %d, prod %d; want 3, 1, 2", p.Dials(), bastion.Handshakes(), prod.Handshakes())
	}
}

// The host's Dial starts connections on the host (direct-tcpip).
func TestDialFromHost(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hello from the target"))
			c.Close()
		}
	}()
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	conn, err := c.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	b := make([]byte, 64)
	n, _ := conn.Read(b)
	if string(b[:n]) != "hello from the target" {
		t.Errorf("read %q", b[:n])
	}
}

func TestSSHConfigAlias(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	host, port, _ := net.SplitHostPort(srv.Addr)
	conf := filepath.Join(t.TempDir(), "config")
	content := fmt.Sprintf("Host other\n  HostName 192.0.2.1\nHost pre*\n  HostName %s\n  Port %s\n  User %s\n  IdentityFile %s\n", host, port, srv.User, srv.ClientKeyFile)
	if err := os.WriteFile(conf, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testPool(t, srv, remote.PoolOptions{SSHConfig: conf})
	c := connect(t, p, remote.HostConfig{Name: "pre1", Address: "prerelease"})
	if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "exit 0"}); err != nil || code != 0 {
		t.Fatalf("Exec through an ssh config alias: %d %v", code, err)
	}
}

// A slow host (every channel read delayed) is slow, not broken.
func TestSlowServer(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{ReadDelay: 5 * time.Millisecond})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	var out syncBuffer
	if code, err := c.Exec(context.Background(), remote.ExecSpec{Script: "echo slow", Token: "r1:slow:1:pre1", Stdout: &out}); err != nil || code != 0 || out.String() != "slow\n" {
		t.Fatalf("Exec on a slow host: %d %v %q", code, err, out.String())
	}
}
