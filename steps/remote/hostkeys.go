package remote

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys checks host keys against one known_hosts file and records newly
// trusted ones in it. Safe for concurrent use: parallel connections that
// accept new keys append to the file one at a time.
type hostKeys struct {
	file      string
	acceptNew bool
	mu        sync.Mutex
}

func knownHostsName(addr string) string { return knownhosts.Normalize(addr) }

// load reads the file anew, so keys appended by an earlier connection of
// this run are seen; a missing file is an empty database. It also returns
// the lines that are @cert-authority entries: x/crypto's KeyError lists
// them among the known keys of a host, and they are no host's key.
func (k *hostKeys) load() (ssh.HostKeyCallback, map[int]bool, error) {
	b, err := os.ReadFile(k.file)
	if errors.Is(err, os.ErrNotExist) {
		cb, err := knownhosts.New()
		return cb, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read known hosts %s: %w", k.file, err)
	}
	cb, err := knownhosts.New(k.file)
	if err != nil {
		return nil, nil, fmt.Errorf("read known hosts %s: %w", k.file, err)
	}
	cas := map[int]bool{}
	for i, line := range bytes.Split(b, []byte("\n")) {
		if f := bytes.Fields(line); len(f) > 0 && string(f[0]) == "@cert-authority" {
			cas[i+1] = true
		}
	}
	return cb, cas, nil
}

// probeKey is a key no host has: checking it against the database makes
// knownhosts list every key it holds for an address.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})

// knownFor returns what the database holds for addr: the host's own keys
// and the certificate authorities trusted for it.
func knownFor(db ssh.HostKeyCallback, caLines map[int]bool, addr string) (keys, cas []knownhosts.KnownKey) {
	var ke *knownhosts.KeyError
	if err := db(addr, &net.TCPAddr{}, probeKey()); !errors.As(err, &ke) {
		return nil, nil
	}
	for _, w := range ke.Want {
		if caLines[w.Line] {
			cas = append(cas, w)
		} else {
			keys = append(keys, w)
		}
	}
	return keys, cas
}

// algorithms returns the host key algorithms to ask addr for: those of its
// known keys, so the server offers a key we can check rather than its
// preferred one (golang/go#29286); with a trusted certificate authority,
// every certificate algorithm first (the CA's own type says nothing of
// the host key it signed), then plain ones, so that a host without a
// certificate is refused with a message, not a failed negotiation. nil,
// x/crypto's defaults, when nothing is known.
func algorithms(keys, cas []knownhosts.KnownKey) []string {
	var algos []string
	add := func(as ...string) {
		for _, a := range as {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	supported := ssh.SupportedAlgorithms().HostKeys
	if len(cas) > 0 {
		for _, a := range supported {
			if strings.HasSuffix(a, "-cert-v01@openssh.com") {
				add(a)
			}
		}
	}
	for _, k := range keys {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	if len(cas) > 0 && len(keys) == 0 {
		for _, a := range supported {
			if !strings.HasSuffix(a, "-cert-v01@openssh.com") {
				add(a)
			}
		}
	}
	return algos
}

// callback returns the HostKeyCallback for one host and the algorithms to
// ask it for. ask (may be nil) decides about an unknown key when new keys
// are not accepted by themselves.
//
// A host certificate is checked against the @cert-authority entries for
// the host (knownhosts does that, with principals, validity and
// revocation); one the host presents where no authority is trusted for
// it is judged by the key it certifies, like a plain key: known, changed,
// or unknown (asked about, and recorded as a plain key when accepted).
func (k *hostKeys) callback(host, addr string, ask func(host, addr, fingerprint string) (bool, error)) (ssh.HostKeyCallback, []string, error) {
	db, caLines, err := k.load()
	if err != nil {
		return nil, nil, err
	}
	keys, cas := knownFor(db, caLines, addr)
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := db(hostname, remote, key)
		if err == nil {
			return nil
		}
		if cert, ok := key.(*ssh.Certificate); ok {
			if len(cas) > 0 {
				return &HostKeyError{Host: host, Addr: addr, Fingerprint: ssh.FingerprintSHA256(cert.Key), Known: knownKeys(cas), KnownHosts: k.file,
					Certificate: certReason(err)}
			}
			key = cert.Key
			if err = db(hostname, remote, key); err == nil {
				return nil
			}
		}
		var re *knownhosts.RevokedError
		if errors.As(err, &re) {
			return &HostKeyError{Host: host, Addr: addr, Fingerprint: ssh.FingerprintSHA256(key), Revoked: true,
				Known: knownKeys([]knownhosts.KnownKey{re.Revoked}), KnownHosts: k.file}
		}
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		fp := ssh.FingerprintSHA256(key)
		switch {
		case len(keys) > 0:
			return &HostKeyError{Host: host, Addr: addr, Fingerprint: fp, Known: knownKeys(keys), KnownHosts: k.file}
		case len(cas) > 0:
			return &HostKeyError{Host: host, Addr: addr, Fingerprint: fp, Known: knownKeys(cas), KnownHosts: k.file,
				Certificate: "it presents a plain host key, not a certificate"}
		}
		trusted := k.acceptNew
		if !trusted && ask != nil {
			if trusted, err = ask(host, addr, fp); err != nil {
				return fmt.Errorf("ask about the host key of %s: %w", host, err)
			}
		}
		if !trusted {
			return &HostKeyError{Host: host, Addr: addr, Fingerprint: fp, Unknown: true, KnownHosts: k.file}
		}
		return k.add(addr, key)
	}
	return check, algorithms(keys, cas), nil
}

func knownKeys(ks []knownhosts.KnownKey) []KnownKey {
	out := make([]KnownKey, 0, len(ks))
	for _, w := range ks {
		out = append(out, KnownKey{Fingerprint: ssh.FingerprintSHA256(w.Key), File: w.Filename, Line: w.Line})
	}
	return out
}

// certReason words x/crypto's refusal of a host certificate.
func certReason(err error) string {
	msg := strings.TrimPrefix(err.Error(), "ssh: ")
	switch {
	case strings.HasPrefix(msg, "no authorities for hostname"):
		return "its certificate is signed by an authority known_hosts does not trust for it"
	case strings.Contains(msg, "revoked"):
		return "its certificate or the authority that signed it is revoked"
	}
	return "its certificate is not valid for it: " + msg
}

// add appends a line for addr to the known_hosts file, creating it 0600
// (and its directory 0700) when needed.
func (k *hostKeys) add(addr string, key ssh.PublicKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(k.file), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(k.file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	line := knownhosts.Line([]string{addr}, key) + "\n"
	// Start on a line of our own when the file lacks a final newline.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("record host key in %s: %w", k.file, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("record host key in %s: %w", k.file, err)
	}
	return f.Close()
}
