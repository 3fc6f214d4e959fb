package remote

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
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
// this run are seen; a missing file is an empty database.
func (k *hostKeys) load() (ssh.HostKeyCallback, error) {
	if _, err := os.Stat(k.file); errors.Is(err, os.ErrNotExist) {
		return knownhosts.New()
	}
	cb, err := knownhosts.New(k.file)
	if err != nil {
		return nil, fmt.Errorf("read known hosts %s: %w", k.file, err)
	}
	return cb, nil
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

// algorithms returns the host key algorithms of the keys known for addr,
// so the server is asked for a key we can check rather than its preferred
// one (golang/go#29286); nil when none are known.
func algorithms(cb ssh.HostKeyCallback, addr string) []string {
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{}, probeKey()); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		var add []string
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		default:
			add = []string{t}
		}
		for _, a := range add {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// callback returns the HostKeyCallback for one host and the algorithms to
// ask it for. ask (may be nil) decides about an unknown key when new keys
// are not accepted by themselves.
func (k *hostKeys) callback(host, addr string, ask func(host, addr, fingerprint string) (bool, error)) (ssh.HostKeyCallback, []string, error) {
	db, err := k.load()
	if err != nil {
		return nil, nil, err
	}
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := db(hostname, remote, key)
		var ke *knownhosts.KeyError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		fp := ssh.FingerprintSHA256(key)
		if len(ke.Want) > 0 {
			known := make([]KnownKey, 0, len(ke.Want))
			for _, w := range ke.Want {
				known = append(known, KnownKey{Fingerprint: ssh.FingerprintSHA256(w.Key), File: w.Filename, Line: w.Line})
			}
			return &HostKeyError{Host: host, Addr: addr, Fingerprint: fp, Known: known, KnownHosts: k.file}
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
	return check, algorithms(db, addr), nil
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
