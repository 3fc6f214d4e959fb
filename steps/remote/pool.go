package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// PoolOptions configure how a Pool reaches hosts.
type PoolOptions struct {
	// KnownHosts is the known_hosts file; "" means ~/.ssh/known_hosts.
	KnownHosts string
	// AcceptNewHostKeys trusts and records the key of a host that has none
	// in KnownHosts. A changed key is refused whatever this says.
	AcceptNewHostKeys bool
	// AskHostKey is asked about an unknown key when AcceptNewHostKeys is
	// off; true trusts and records it. nil refuses unknown keys.
	AskHostKey func(host, addr, fingerprint string) (bool, error)
	// ConnectTimeout bounds the TCP connect and the SSH handshake
	// together; 0 means 10s.
	ConnectTimeout time.Duration
	// Keepalive is the interval of keepalive@openssh.com requests; a
	// connection that answers nothing for three intervals is closed (so a
	// dead link is noticed 2 to 3 intervals after it died). 0 means 15s.
	Keepalive time.Duration
	// SSHConfig is the OpenSSH client config consulted for host aliases;
	// "" means ~/.ssh/config.
	SSHConfig string
}

// Pool holds one SSH connection per host for a whole run, jump hosts
// included, and redials a host whose connection died. Safe for concurrent
// use.
type Pool struct {
	opts      PoolOptions
	keys      *hostKeys
	sshConfig func() (*sshConfig, error)

	mu     sync.Mutex
	hosts  map[string]*hostSlot
	swept  map[string]bool       // hosts whose old markers this pool has swept
	links  map[string]*relayLink // copy connections to relay hosts (relay.go)
	closed bool
	dials  atomic.Int64
	// shells holds a shell started ahead for the next local command
	// (local_shells.go), for every local host of the pool.
	shells aheadShells
}

type hostSlot struct {
	mu   sync.Mutex // held while dialling, so concurrent callers share one dial
	live *client
	// warm is the last dial Warm started (under Pool.mu): a caller that
	// came while it was under way takes its failure instead of dialling
	// a host that just timed out a second time.
	warm *warmDial
}

// warmDial is one dial started by Warm. done is closed, with slot.mu
// held, once err is set.
type warmDial struct {
	done chan struct{}
	err  error // a failure worth sharing (unreachable, refused credentials)
}

// client is one live SSH connection and what hangs off it.
type client struct {
	name string // the runbook host name
	addr string // host:port dialled
	user string
	ssh  *ssh.Client
	// hostKey is the key the host presented and known_hosts vouched for:
	// what a relay pins for it (relay.go).
	hostKey  ssh.PublicKey
	done     chan struct{} // closed when the connection has ended
	sftpMu   sync.Mutex
	sftp     *sftp.Client
	sftpSess *ssh.Session // sftp's session, closed with it
	// sftpErr is why the host refused the SFTP subsystem on this
	// connection: asked once, not again on every step.
	sftpErr error
	// sftpOpening: readySFTP has started opening it in the background,
	// which it does once per connection, answered or not.
	sftpOpening bool
	// sftpSeesMarkers: a removal through SFTP found a run's markers, which
	// the host's shell wrote. Its SFTP sees the shell's tree (no chroot),
	// so a run without markers there has none: ForgetMarkers need not ask
	// the shell too (see forgetSFTP).
	sftpSeesMarkers atomic.Bool
	// packetMu guards the SFTP client's packet size, which an upload
	// lowers for its first bytes (sftpFS.pour): held for writing only
	// while the size changes, and for reading by every transfer of file
	// contents on the client (pkg/sftp reads the size as it starts),
	// once, never nested.
	packetMu sync.RWMutex
	// agent answers the agent channels of a relay's copy jobs on this
	// connection (agentfwd.go), set up on first use.
	agentOnce sync.Once
	agent     *agentForward
	// shellUse is held by the one run in the connection's host shell
	// (shell.go); a call that finds it taken opens a session instead.
	shellUse sync.Mutex
	shell    *hostShell // under shellUse; nil before the first run
	noShell  bool       // under shellUse: the host cannot keep one
}

func (c *client) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// NewPool returns an empty pool; connections are made on demand.
func NewPool(opts PoolOptions) *Pool {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.Keepalive <= 0 {
		opts.Keepalive = 15 * time.Second
	}
	home, _ := os.UserHomeDir()
	if opts.KnownHosts == "" {
		opts.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	if opts.SSHConfig == "" {
		opts.SSHConfig = filepath.Join(home, ".ssh", "config")
	}
	p := &Pool{
		opts:  opts,
		keys:  &hostKeys{file: opts.KnownHosts, acceptNew: opts.AcceptNewHostKeys},
		hosts: make(map[string]*hostSlot),
		swept: make(map[string]bool),
		links: make(map[string]*relayLink),
	}
	p.sshConfig = sync.OnceValues(func() (*sshConfig, error) { return loadSSHConfig(opts.SSHConfig) })
	return p
}

// Conn returns the connection to the host of cfg: the local transport for
// a local host, else the pool's SSH connection to it (dialled now if there
// is none yet, so unreachable hosts, unknown keys and refused credentials
// show here). The returned Conn redials by itself when its connection
// dies; Close on it closes the host's pooled connection.
func (p *Pool) Conn(ctx context.Context, cfg HostConfig) (Conn, error) {
	if cfg.Local {
		return &Local{cfg: cfg, shells: &p.shells}, nil
	}
	if _, err := p.client(ctx, cfg, 0); err != nil {
		return nil, err
	}
	return &sshConn{pool: p, cfg: cfg}, nil
}

// Dials returns how many connections (TCP connect and SSH handshake, jump
// hosts included) the pool has made.
func (p *Pool) Dials() int { return int(p.dials.Load()) }

// Close closes every connection. The pool cannot be used afterwards.
// Idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	slots := p.hosts
	p.hosts = map[string]*hostSlot{}
	links := p.links
	p.links = map[string]*relayLink{}
	p.mu.Unlock()
	p.shells.close()
	var errs []error
	for _, l := range links {
		_ = l.cl.close()
	}
	for _, s := range slots {
		s.mu.Lock()
		if s.live != nil {
			errs = append(errs, s.live.close())
			s.live = nil
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

func poolKey(cfg HostConfig) string {
	if cfg.Name != "" {
		return cfg.Name
	}
	return cfg.User + "@" + cfg.Address
}

// firstRun reports whether this is the pool's first run with markers on
// the host of cfg (then the run sweeps old markers), once per host and
// marker directory: a pool lives for one run of runbook.
func (p *Pool) firstRun(cfg HostConfig) bool {
	key := poolKey(cfg) + "\x00" + cfg.MarkerDir
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.swept[key] {
		return false
	}
	p.swept[key] = true
	return true
}

// maxJumps bounds a chain of jump hosts, so a ProxyJump that matches its
// own jump host fails instead of recursing.
const maxJumps = 8

// client returns the live connection for cfg, dialling it when there is
// none or it died.
func (p *Pool) client(ctx context.Context, cfg HostConfig, depth int) (*client, error) {
	return p.get(ctx, cfg, depth, dialMode{})
}

// dialMode says how get dials: quiet asks nothing about host keys (Warm,
// and the jump hosts on its way), warm is Warm's own dial to report to.
type dialMode struct {
	quiet bool
	warm  *warmDial
}

// Warm starts connecting to the host of cfg in the background, as Conn
// would, and with sftp also starts its SFTP subsystem, so that a Conn
// that comes later finds them open. It never asks about a host key: one
// nobody trusted yet (AcceptNewHostKeys off) is left to the Conn that
// follows, which asks. A Conn that comes while the warm dial is under way
// waits for it, and shares its failure when the host was unreachable or
// refused the credentials. A local host needs nothing.
func (p *Pool) Warm(ctx context.Context, cfg HostConfig, sftp bool) {
	if cfg.Local {
		return
	}
	wd := &warmDial{done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	slot := p.slotLocked(cfg)
	slot.warm = wd
	p.mu.Unlock()
	go func() {
		cl, err := p.get(ctx, cfg, 0, dialMode{quiet: true, warm: wd})
		if err == nil && sftp {
			_, _ = (&sshConn{pool: p, cfg: cfg}).sftpOn(ctx, cl)
		}
	}()
}

// slotLocked returns the slot of cfg's host, made on first use; p.mu is held.
func (p *Pool) slotLocked(cfg HostConfig) *hostSlot {
	key := poolKey(cfg)
	slot := p.hosts[key]
	if slot == nil {
		slot = &hostSlot{}
		p.hosts[key] = slot
	}
	return slot
}

// get is client, dialling as m says.
func (p *Pool) get(ctx context.Context, cfg HostConfig, depth int, m dialMode) (*client, error) {
	wd := m.warm
	if wd != nil {
		defer func() {
			select {
			case <-wd.done:
			default:
				close(wd.done) // the slot was never dialled: a live connection, a closed pool
			}
		}()
	}
	if depth > maxJumps {
		return nil, fmt.Errorf("more than %d jump hosts on the way to %s: check via and ProxyJump for a loop", maxJumps, cfg.Name)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("connect to %s: connection pool closed", cfg.Name)
	}
	slot := p.slotLocked(cfg)
	warm := slot.warm
	p.mu.Unlock()

	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.live != nil && slot.live.alive() {
		return slot.live, nil
	}
	if wd == nil && warm != nil {
		select {
		case <-warm.done:
			if warm.err != nil {
				// Shared with the callers that came meanwhile; the next
				// ones dial again.
				p.mu.Lock()
				if slot.warm == warm {
					slot.warm = nil
				}
				p.mu.Unlock()
				return nil, warm.err
			}
		default: // it has not dialled yet: this dial is the one
		}
	}
	if slot.live != nil {
		_ = slot.live.close()
		slot.live = nil
	}
	c, err := p.dial(ctx, cfg, depth, m.quiet)
	if wd != nil {
		var ue *UnreachableError
		var ae *AuthError
		if errors.As(err, &ue) || errors.As(err, &ae) {
			wd.err = err
		}
		close(wd.done)
	}
	if err != nil {
		return nil, err
	}
	slot.live = c
	return c, nil
}

// discard closes cl if it is still cfg's pooled connection: a caller saw
// it fail before its reader noticed, and the next call must redial.
func (p *Pool) discard(cfg HostConfig, cl *client) {
	p.mu.Lock()
	slot := p.hosts[poolKey(cfg)]
	p.mu.Unlock()
	if slot == nil {
		return
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.live == cl {
		_ = cl.close()
		slot.live = nil
	}
}

// drop closes the pooled connection of cfg, if any.
func (p *Pool) drop(cfg HostConfig) error {
	p.mu.Lock()
	slot := p.hosts[poolKey(cfg)]
	p.mu.Unlock()
	if slot == nil {
		return nil
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.live == nil {
		return nil
	}
	err := slot.live.close()
	slot.live = nil
	return err
}

func (c *client) close() error {
	// The connection first: an SFTP start still waiting for the host
	// (readySFTP's, in the background) holds sftpMu until its session
	// ends, and this ends it.
	err := c.ssh.Close()
	c.sftpMu.Lock()
	if c.sftp != nil {
		_ = c.sftp.Close()
		c.sftp = nil
	}
	if c.sftpSess != nil {
		_ = c.sftpSess.Close()
		c.sftpSess = nil
	}
	c.sftpMu.Unlock()
	if err != nil && !c.alive() {
		// Already gone (dropped, or closed by the keepalive): not news.
		return nil
	}
	return err
}

// dial connects and authenticates to cfg's host, directly or through its
// jump host, within the connect timeout. A quiet dial (Warm's) asks
// nothing about a host key.
func (p *Pool) dial(ctx context.Context, cfg HostConfig, depth int, quiet bool) (*client, error) {
	t, err := p.resolve(cfg)
	if err != nil {
		return nil, err
	}
	creds, err := authFor(cfg, t.identityFiles)
	if err != nil {
		return nil, err
	}
	defer creds.close()

	deadline := time.Now().Add(p.opts.ConnectTimeout)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var conn net.Conn
	if t.via != nil {
		jump, err := p.get(dctx, *t.via, depth+1, dialMode{quiet: quiet})
		if err != nil {
			return nil, fmt.Errorf("jump host for %s: %w", cfg.Name, err)
		}
		conn, err = jump.ssh.DialContext(dctx, "tcp", t.addr)
		if err != nil {
			return nil, &UnreachableError{Host: cfg.Name, Addr: t.addr, Err: fmt.Errorf("through jump host %s: %w", jump.name, err)}
		}
	} else {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", t.addr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &UnreachableError{Host: cfg.Name, Addr: t.addr, Err: err}
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			conn = joinWrites(ackAtOnce(tcp), tcp) // quickack.go, joinwrites.go
		}
	}

	// ClientConfig.Timeout covers only the TCP connect: a host that
	// accepts and then says nothing would hang the handshake forever.
	// Closing the connection is the one deadline that works for a TCP
	// socket and a channel through a jump host alike.
	var timedOut atomic.Bool
	timer := time.AfterFunc(time.Until(deadline), func() {
		timedOut.Store(true)
		conn.Close()
	})
	stopCtx := context.AfterFunc(ctx, func() { conn.Close() })
	ask := p.opts.AskHostKey
	if quiet {
		ask = nil
	}
	if ask != nil {
		// The operator may take longer than the connect timeout to decide.
		ask = func(host, addr, fp string) (bool, error) {
			timer.Stop()
			defer timer.Reset(p.opts.ConnectTimeout)
			return p.opts.AskHostKey(host, addr, fp)
		}
	}
	hostKey, algos, err := p.keys.callback(cfg.Name, t.addr, ask)
	if err != nil {
		conn.Close()
		return nil, err
	}
	var presented ssh.PublicKey // set by the handshake's goroutine, read after it
	sc := &ssh.ClientConfig{
		User: t.user,
		Auth: creds.methods,
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			err := hostKey(host, remote, key)
			if err == nil {
				presented = key
			}
			return err
		},
		HostKeyAlgorithms: algos,
	}
	sshConn, chans, reqs, err := ssh.NewClientConn(conn, t.addr, sc)
	timer.Stop()
	stopCtx()
	if err != nil {
		conn.Close()
		return nil, p.handshakeError(ctx, cfg.Name, t, creds, timedOut.Load(), err)
	}
	p.dials.Add(1)
	c := &client{name: cfg.Name, addr: t.addr, user: t.user, hostKey: presented, ssh: ssh.NewClient(sshConn, chans, reqs), done: make(chan struct{})}
	go func() {
		_ = c.ssh.Wait()
		close(c.done)
	}()
	go keepalive(c, p.opts.Keepalive)
	return c, nil
}

func (p *Pool) handshakeError(ctx context.Context, name string, t target, creds *credentials, timedOut bool, err error) error {
	var hk *HostKeyError
	switch {
	case errors.As(err, &hk):
		return hk
	case timedOut:
		return &UnreachableError{Host: name, Addr: t.addr, Err: fmt.Errorf("no SSH handshake within %s", p.opts.ConnectTimeout)}
	case ctx.Err() != nil:
		return ctx.Err()
	case isAuthFailure(err):
		return &AuthError{Host: name, User: t.user, Methods: creds.names, Err: err}
	}
	return fmt.Errorf("ssh handshake with %s (%s): %w", name, t.addr, err)
}
