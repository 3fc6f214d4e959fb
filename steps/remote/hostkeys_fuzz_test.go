package remote

import (
	"crypto/ed25519"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// fuzzHostKey is the key the fuzzed host presents: fixed, so a seed can
// hold a line that matches it (testdata/fuzz/FuzzKnownHosts).
func fuzzHostKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "runbook known_hosts fuzz key....")
	k, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(seed).Public())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// plainAddress is what the runbook loader accepts as a host address:
// host:port with a host of letters, digits, dots, dashes (or an IPv6
// literal). Others never reach the known_hosts code.
var plainAddress = regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$`)

// FuzzKnownHosts feeds arbitrary known_hosts files and addresses to the
// host key check: it must never panic; a file that does not parse is
// reported with its name and, from x/crypto's parser, the line; a refused
// key is a HostKeyError that names every known key by file and line (what
// the operator needs to fix known_hosts), or x/crypto's revoked-key error.
// And a key accepted as new is written so that the next check accepts it.
func FuzzKnownHosts(f *testing.F) {
	key := fuzzHostKey(f)
	f.Add([]byte(knownhosts.Line([]string{"127.0.0.1:2222"}, key)+"\n"), "127.0.0.1:2222")
	dir := f.TempDir()
	file := filepath.Join(dir, "known_hosts")
	f.Fuzz(func(t *testing.T, content []byte, addr string) {
		if err := os.WriteFile(file, content, 0o600); err != nil {
			t.Fatal(err)
		}
		k := &hostKeys{file: file}
		cb, algos, err := k.callback("h1", addr, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "read known hosts "+file+": ") {
				t.Fatalf("load error %q does not name the file", err)
			}
			return
		}
		for _, a := range algos {
			if a == "" || strings.ContainsAny(a, " \n,") {
				t.Fatalf("algorithm %q for %q", a, addr)
			}
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port) {
			return // the pool only ever checks a resolved HOST:PORT
		}
		err = cb(addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}, key)
		var hk *HostKeyError
		var revoked *knownhosts.RevokedError
		switch {
		case err == nil, errors.As(err, &revoked):
			return
		case errors.As(err, &hk):
			if hk.Fingerprint != ssh.FingerprintSHA256(key) || hk.KnownHosts != file {
				t.Fatalf("HostKeyError %+v: wrong fingerprint or file", hk)
			}
			if !hk.Unknown && len(hk.Known) == 0 {
				t.Fatalf("a changed key with no known key named: %v", hk)
			}
			for _, kk := range hk.Known {
				if kk.File != file || kk.Line < 1 || !strings.HasPrefix(kk.Fingerprint, "SHA256:") {
					t.Fatalf("known key %+v is not placed in %s", kk, file)
				}
			}
			if !strings.Contains(hk.Error(), hk.Fingerprint) {
				t.Fatalf("message %q lacks the fingerprint", hk)
			}
		default:
			t.Fatalf("check of %q: %v (%T), want nil, a HostKeyError or a revoked key", addr, err, err)
		}
		if !hk.Unknown || !plainAddress.MatchString(addr) {
			return
		}
		// Accepting the new key records it; the next run trusts it.
		accept := &hostKeys{file: file, acceptNew: true}
		cb, _, err = accept.callback("h1", addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := cb(addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}, key); err != nil {
			t.Fatalf("accepting a new key for %q: %v", addr, err)
		}
		cb, _, err = k.callback("h1", addr, nil)
		if err != nil {
			t.Fatalf("the file no longer loads after recording a key for %q: %v", addr, err)
		}
		if err := cb(addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}, key); err != nil {
			t.Fatalf("the key recorded for %q is not trusted on the next check: %v", addr, err)
		}
	})
}

var configLineErr = regexp.MustCompile(`^line \d+: `)

// FuzzSSHConfig feeds arbitrary OpenSSH client configs and host aliases to
// the parser and the lookup the pool resolves addresses with: no panic,
// every parse error names its line, and whatever the config says, a
// resolved target is a dialable host:port and a ProxyJump chain is no
// longer than the hops it lists.
func FuzzSSHConfig(f *testing.F) {
	f.Add([]byte(testSSHConfig), "prod1")
	f.Fuzz(func(t *testing.T, content []byte, alias string) {
		c, err := parseSSHConfig(strings.NewReader(string(content)))
		if err != nil {
			if !configLineErr.MatchString(err.Error()) {
				t.Fatalf("parse error %q does not name the line", err)
			}
			return
		}
		s, _ := c.lookup(alias)
		p := &Pool{opts: PoolOptions{SSHConfig: "ssh_config"}, sshConfig: func() (*sshConfig, error) { return c, nil }}
		tg, err := p.resolve(HostConfig{Name: "h", Address: alias, User: "deploy"})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "host h ") {
				t.Fatalf("resolve %q: %q does not name the host", alias, err)
			}
			return
		}
		host, port, err := net.SplitHostPort(tg.addr)
		if err != nil || host == "" || !validPort(port) {
			t.Fatalf("resolve %q (settings %+v) gave %q, not HOST:PORT", alias, s, tg.addr)
		}
		hops := 0
		for v := tg.via; v != nil; v = v.Via {
			if hops++; hops > strings.Count(s.ProxyJump, ",")+1 {
				t.Fatalf("ProxyJump %q gave a chain longer than its hops", s.ProxyJump)
			}
		}
	})
}
