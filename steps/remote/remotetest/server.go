// Package remotetest runs an in-process SSH and SFTP server on 127.0.0.1:0
// for tests, like net/http/httptest: password and public-key auth, exec
// requests run by /bin/sh -c on this machine (so `sh -s` works), the sftp
// subsystem on the real file system, direct-tcpip forwarding, and fault
// injection: dropping connections, a server that never answers, slow
// channels, another host key.
package remotetest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Options configure a Server. The zero value is a working server.
type Options struct {
	// User and Password accepted by password auth; "" user means "deploy",
	// "" password disables password auth.
	User     string
	Password string
	// HostKey replaces the fresh ed25519 host key (to present a key that
	// differs from the one a known_hosts file holds).
	HostKey ssh.Signer
	// NeverAnswer accepts TCP connections and never says a word.
	NeverAnswer bool
	// ReadDelay delays every read of every channel (slow server).
	ReadDelay time.Duration
	// Home is $HOME for commands (where markers go); "" means a temp dir.
	Home string
	// NoSFTP refuses the sftp subsystem, as a host whose sshd has none
	// configured: what runbook does over a shell alone.
	NoSFTP bool
	// Questions, when set, replace password auth by keyboard-interactive:
	// the server asks them, none echoed, in one round, and accepts when
	// every answer is Password. Answers tells what clients answered.
	Questions []string
}

// Server is a running test server, closed by t.Cleanup.
type Server struct {
	Addr string // 127.0.0.1:PORT
	User string
	// Password is the password accepted (Options.Password).
	Password string
	// ClientKey is a PEM private key (unencrypted) the server accepts.
	ClientKey []byte
	// ClientKeyFile holds ClientKey, mode 0600.
	ClientKeyFile string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey
	Home    string

	opts     Options
	ln       net.Listener
	config   *ssh.ServerConfig
	authKeys []ssh.PublicKey

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	procs map[*os.Process]struct{}
	wg    sync.WaitGroup

	answers     []string // keyboard-interactive answers received, under mu
	handshakes  atomic.Int64
	open        atomic.Int64 // connections past their handshake and not yet ended
	dropSFTP    atomic.Int64 // bytes of SFTP upload traffic after which to drop; 0 off
	dropStdout  atomic.Int64 // bytes of exec stdout after which to drop; 0 off
	stalled     atomic.Bool
	stallSignal chan struct{}
}

// NewServer starts a server for the test.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func start(dir string, opts Options) (*Server, error) {
	if opts.User == "" {
		opts.User = "deploy"
	}
	s := &Server{User: opts.User, Password: opts.Password, opts: opts, Home: opts.Home,
		conns: map[net.Conn]struct{}{}, procs: map[*os.Process]struct{}{}, stallSignal: make(chan struct{})}
	if s.Home == "" {
		s.Home = filepath.Join(dir, "home")
		if err := os.MkdirAll(s.Home, 0o700); err != nil {
			return nil, err
		}
	}
	hostKey := opts.HostKey
	if hostKey == nil {
		var err error
		if hostKey, _, err = NewKey(); err != nil {
			return nil, err
		}
	}
	s.HostKey = hostKey.PublicKey()
	clientSigner, clientPEM, err := NewKey()
	if err != nil {
		return nil, err
	}
	s.ClientKey = clientPEM
	s.ClientKeyFile = filepath.Join(dir, "client_key")
	if err := os.WriteFile(s.ClientKeyFile, clientPEM, 0o600); err != nil {
		return nil, err
	}
	s.authKeys = []ssh.PublicKey{clientSigner.PublicKey()}

	s.config = &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() != s.User {
				return nil, fmt.Errorf("unknown user %q", c.User())
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, k := range s.authKeys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("key not authorized")
		},
	}
	if len(opts.Questions) > 0 {
		s.config.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := client(c.User(), "", opts.Questions, make([]bool, len(opts.Questions)))
			if err != nil {
				return nil, err
			}
			s.mu.Lock()
			s.answers = append(s.answers, answers...)
			s.mu.Unlock()
			for _, a := range answers {
				if c.User() != s.User || subtle.ConstantTimeCompare([]byte(a), []byte(opts.Password)) != 1 {
					return nil, errors.New("wrong answer")
				}
			}
			return nil, nil
		}
	} else if opts.Password != "" {
		s.config.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == s.User && subtle.ConstantTimeCompare(pw, []byte(opts.Password)) == 1 {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	s.config.AddHostKey(hostKey)

	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = s.ln.Addr().String()
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// NewKey returns a fresh ed25519 signer and its PEM (OpenSSH format).
func NewKey() (ssh.Signer, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "remotetest")
	if err != nil {
		return nil, nil, err
	}
	return signer, pem.EncodeToMemory(block), nil
}

// Authorize accepts another client public key.
func (s *Server) Authorize(key ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authKeys = append(s.authKeys, key)
}

// KnownHostsLine is a known_hosts line for this server.
func (s *Server) KnownHostsLine() string { return KnownHostsLine(s.Addr, s.HostKey) }

// KnownHostsLine is a known_hosts line for addr (host:port) and key.
func KnownHostsLine(addr string, key ssh.PublicKey) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("[%s]:%s %s", host, port, bytes.TrimSpace(ssh.MarshalAuthorizedKey(key)))
}

// WriteKnownHosts writes a known_hosts file trusting this server (and
// whatever extra lines are given) and returns its path.
func (s *Server) WriteKnownHosts(t testing.TB, extra ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	content := s.KnownHostsLine() + "\n"
	for _, l := range extra {
		content += l + "\n"
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Answers returns every keyboard-interactive answer received so far.
func (s *Server) Answers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.answers...)
}

// Handshakes returns how many SSH handshakes completed.
func (s *Server) Handshakes() int { return int(s.handshakes.Load()) }

// Open returns how many connections are open: past their handshake, and
// not yet ended by the client or the network.
func (s *Server) Open() int { return int(s.open.Load()) }

// DropSFTPAfter arms a one-shot fault: the connection carrying the next
// SFTP session is closed once the client has sent n bytes on it.
func (s *Server) DropSFTPAfter(n int64) { s.dropSFTP.Store(n) }

// DropStdoutAfter arms a one-shot fault: the connection of the next exec
// is closed once n bytes of its stdout have been sent.
func (s *Server) DropStdoutAfter(n int64) { s.dropStdout.Store(n) }

// DropConnections closes every open connection at once, as a network
// failure would; commands already started keep running.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Stall makes every connection stop reading (a silent network): the
// client sees no answer to anything, keepalives included. Resume undoes it.
func (s *Server) Stall() { s.stalled.Store(true) }

// Resume ends a Stall.
func (s *Server) Resume() {
	if s.stalled.CompareAndSwap(true, false) {
		s.mu.Lock()
		close(s.stallSignal)
		s.stallSignal = make(chan struct{})
		s.mu.Unlock()
	}
}

// Close stops the server, closes connections and ends the commands it
// started (not the processes they detached). Idempotent.
func (s *Server) Close() {
	s.ln.Close()
	s.Resume()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	for p := range s.procs {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, nc)
				s.mu.Unlock()
				nc.Close()
			}()
			if s.opts.NeverAnswer {
				// Hold the connection open, silent, until the client or
				// Close ends it.
				_, _ = io.Copy(io.Discard, nc)
				return
			}
			s.handle(&gatedConn{Conn: nc, s: s})
		}()
	}
}

func (s *Server) handle(nc net.Conn) {
	conn, chans, reqs, err := ssh.NewServerConn(nc, s.config)
	if err != nil {
		return
	}
	defer conn.Close()
	s.handshakes.Add(1)
	s.open.Add(1)
	defer s.open.Add(-1)
	go ssh.DiscardRequests(reqs) // keepalive@openssh.com gets "failure", like OpenSSH
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			ch, creqs, err := nch.Accept()
			if err != nil {
				continue
			}
			go s.session(nc, s.slow(ch), creqs)
		case "direct-tcpip":
			go s.directTCPIP(nch)
		default:
			_ = nch.Reject(ssh.UnknownChannelType, "unsupported channel type")
		}
	}
}

// gatedConn blocks reads while the server is stalled.
type gatedConn struct {
	net.Conn
	s *Server
}

func (g *gatedConn) Read(p []byte) (int, error) {
	for g.s.stalled.Load() {
		g.s.mu.Lock()
		wait := g.s.stallSignal
		g.s.mu.Unlock()
		if !g.s.stalled.Load() {
			break
		}
		<-wait
	}
	return g.Conn.Read(p)
}
