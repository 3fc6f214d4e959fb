package remote

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// KnownKey is a key recorded for a host in a known_hosts file.
type KnownKey struct {
	Fingerprint string // SHA256:...
	File        string
	Line        int
}

// HostKeyError refuses a host whose key is not trusted: unknown (not in
// known_hosts, and neither accepted nor confirmed by the operator) or
// changed (known_hosts holds other keys for it, which is always refused).
type HostKeyError struct {
	Host        string // the runbook's host name
	Addr        string // host:port that was dialled
	Fingerprint string // SHA256:... of the key the host offered
	Unknown     bool   // true: no key known for the host; false: changed
	// Certificate, when set, says why a host that known_hosts trusts
	// through a certificate authority (@cert-authority) is refused; Known
	// then lists the authorities, not keys of the host.
	Certificate string
	// Revoked: known_hosts marks the offered key @revoked (Known names
	// that line): refused always, and never to be "fixed" by trusting it.
	Revoked    bool
	Known      []KnownKey
	KnownHosts string // the known_hosts file consulted
}

func (e *HostKeyError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("unknown host key for %s (%s): %s; check the fingerprint with the host's administrator, then accept it (--accept-new-host-keys) or add it to %s",
			e.Host, e.Addr, e.Fingerprint, e.KnownHosts)
	}
	var known []string
	for _, k := range e.Known {
		known = append(known, fmt.Sprintf("%s in %s:%d", k.Fingerprint, k.File, k.Line))
	}
	if e.Revoked {
		return fmt.Sprintf("host key of %s (%s) %s is marked @revoked in %s: it is refused, with or without --accept-new-host-keys. Ask the host's administrator whether the host was compromised and which key it has now; keep the @revoked line",
			e.Host, e.Addr, e.Fingerprint, strings.Join(known, ", "))
	}
	if e.Certificate != "" {
		// Never the advice to remove a line: that would drop the trust
		// anchor and leave the host to be trusted on first use.
		return fmt.Sprintf("host %s (%s) is refused: %s (host key %s); known_hosts trusts only certificates signed by the authority %s for it. Ask the host's administrator to check its HostCertificate (signed by that authority, principal %s, still valid); keep the @cert-authority line",
			e.Host, e.Addr, e.Certificate, e.Fingerprint, strings.Join(known, ", "), hostOnly(e.Addr))
	}
	file := e.KnownHosts
	if len(e.Known) > 0 {
		file = e.Known[0].File
	}
	return fmt.Sprintf("host key for %s (%s) has CHANGED: it offers %s but known_hosts holds %s (offending key); this may be an attack. If the host was reinstalled, remove the old key with `ssh-keygen -R '%s' -f %s` and connect again",
		e.Host, e.Addr, e.Fingerprint, strings.Join(known, ", "), knownHostsName(e.Addr), file)
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// AuthError says the host refused every credential offered.
type AuthError struct {
	Host    string
	User    string
	Methods []string // the methods offered, e.g. publickey, password
	Err     error
}

func (e *AuthError) Error() string {
	methods := "none"
	if len(e.Methods) > 0 {
		methods = strings.Join(e.Methods, ", ")
	}
	msg := fmt.Sprintf("authentication refused by %s for %s (methods tried: %s)", e.Host, e.User, methods)
	if errors.Is(e.Err, errNotPasswordPrompt) {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Hint says what to do next.
func (e *AuthError) Hint() string {
	if errors.Is(e.Err, errNotPasswordPrompt) {
		return fmt.Sprintf("log in once with ssh to see what %s asks; give runbook a key for it (auth: key or key_file), or the agent", e.Host)
	}
	return fmt.Sprintf("check the user (%s) and the key or password configured for %s (auth in the runbook, or IdentityFile in ~/.ssh/config), and that the host accepts that method", e.User, e.Host)
}

func (e *AuthError) Unwrap() error { return e.Err }

// UnreachableError says a host could not be reached: no TCP connection,
// or no SSH handshake within the connect timeout.
type UnreachableError struct {
	Host string
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s at %s: %v; check the address, the port and the firewall", e.Host, e.Addr, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }
