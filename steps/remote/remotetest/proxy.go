package remotetest

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultKind is what a Proxy does to a connection when its fault strikes.
type FaultKind int

// Fault kinds.
const (
	// Cut closes both sides of the connection, as a reset or a crashed
	// router does: both ends notice at once.
	Cut FaultKind = iota + 1
	// BlackHole stops forwarding and reading in both directions, as a link
	// that silently drops every packet does: nothing is closed, the
	// senders' buffers fill up, and only a timeout or a keepalive tells.
	BlackHole
)

func (k FaultKind) String() string {
	switch k {
	case Cut:
		return "cut"
	case BlackHole:
		return "black hole"
	}
	return "none"
}

// Proxy is a TCP proxy on 127.0.0.1:0 in front of one server, for network
// faults at chosen byte counts: a fault armed with Arm strikes the next
// connection once that many bytes, both directions together, have passed
// through it; one armed with ArmLatest strikes the newest open connection
// that many bytes from now. Other connections are forwarded untouched.
// Closed by t.Cleanup.
type Proxy struct {
	Addr   string // 127.0.0.1:PORT, what clients dial
	target string
	ln     net.Listener
	quit   chan struct{} // closed by Close: parked black holes let go

	mu    sync.Mutex
	armed *Fault
	links map[*link]struct{}
	wg    sync.WaitGroup
	once  sync.Once

	accepted  atomic.Int64
	forwarded atomic.Int64
}

// Fault is one armed fault and, once it struck, when. Kind and After say
// how it was armed; changing them afterwards has no effect.
type Fault struct {
	Kind  FaultKind
	After int64 // bytes forwarded on the connection before it strikes

	once   sync.Once
	struck chan struct{}
	at     time.Time
}

func newFault(kind FaultKind, after int64) *Fault {
	return &Fault{Kind: kind, After: max(after, 0), struck: make(chan struct{})}
}

// Struck is closed when the fault strikes.
func (f *Fault) Struck() <-chan struct{} { return f.struck }

// At is when the fault first struck; zero before.
func (f *Fault) At() time.Time {
	select {
	case <-f.struck:
		return f.at
	default:
		return time.Time{}
	}
}

func (f *Fault) strike() {
	f.once.Do(func() {
		f.at = time.Now()
		close(f.struck)
	})
}

// NewProxy starts a proxy to target (host:port) for the test.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, quit: make(chan struct{}), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// Arm sets a fault on the next connection the proxy accepts, replacing one
// armed earlier and not yet taken: it strikes once after bytes have passed
// through that connection, counted from its start.
func (p *Proxy) Arm(kind FaultKind, after int64) *Fault {
	f := newFault(kind, after)
	p.mu.Lock()
	p.armed = f
	p.mu.Unlock()
	return f
}

// ArmLatest sets a fault on the open connection accepted last (unless it
// has one already): it strikes once after more bytes have passed through
// it, counted from now. For a fault at a chosen point of an exchange that
// has already begun; older connections, idle or not, are left alone.
func (p *Proxy) ArmLatest(kind FaultKind, after int64) *Fault {
	f := newFault(kind, after)
	p.mu.Lock()
	defer p.mu.Unlock()
	var latest *link
	for l := range p.links {
		if latest == nil || l.seq > latest.seq {
			latest = l
		}
	}
	if latest != nil {
		latest.arm(f, true)
	}
	return f
}

// Disarm drops a fault not yet taken by a connection.
func (p *Proxy) Disarm() {
	p.mu.Lock()
	p.armed = nil
	p.mu.Unlock()
}

// Accepted returns how many connections the proxy accepted.
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

// Forwarded returns how many bytes the proxy forwarded in all, both
// directions: the difference over a clean run is the range from which
// random fault points are drawn.
func (p *Proxy) Forwarded() int64 { return p.forwarded.Load() }

// Close stops the proxy and closes every connection, black-holed ones
// included. Idempotent.
func (p *Proxy) Close() {
	p.once.Do(func() {
		p.ln.Close()
		close(p.quit)
		p.mu.Lock()
		for l := range p.links {
			l.client.Close()
			l.server.Close()
		}
		p.mu.Unlock()
	})
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		seq := p.accepted.Add(1)
		p.mu.Lock()
		f := p.armed
		p.armed = nil
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forward(client, seq, f)
		}()
	}
}

// link is one proxied connection: the bytes it forwarded, shared by both
// directions, and its fault.
type link struct {
	p              *Proxy
	client, server net.Conn
	seq            int64 // order of acceptance

	mu     sync.Mutex
	sent   int64
	fault  *Fault
	limit  int64 // sent at which the fault strikes
	struck bool
}

// arm gives the link fault f, counted from now when live, from its start
// otherwise. The caller holds p.mu; a link keeps its first fault.
func (l *link) arm(f *Fault, live bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fault != nil {
		return
	}
	l.fault, l.limit = f, f.After
	if live {
		l.limit += l.sent
	}
}

// register adds the link to the proxy, false when the proxy is closing.
func (p *Proxy) register(l *link, f *Fault) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.quit:
		return false
	default:
	}
	if f != nil {
		l.arm(f, false)
	}
	p.links[l] = struct{}{}
	return true
}

func (p *Proxy) forward(client net.Conn, seq int64, f *Fault) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	l := &link{p: p, client: client, server: server, seq: seq}
	if !p.register(l, f) {
		return
	}
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	if l.due() {
		l.strike()
	}
	halfClosed := make(chan bool, 2)
	go func() { halfClosed <- l.pipe(server, client) }()
	go func() { halfClosed <- l.pipe(client, server) }()
	// A direction that ended by a clean EOF leaves the other running (a
	// half-closed TCP connection); any other end closes both sockets.
	if <-halfClosed {
		<-halfClosed
		return
	}
	client.Close()
	server.Close()
	<-halfClosed
}

// pipe copies src to dst until EOF (true), an error or the fault (false).
func (l *link) pipe(dst, src net.Conn) (eof bool) {
	buf := make([]byte, 32<<10)
	for {
		if l.blackHoled() {
			<-l.p.quit
			return false
		}
		n, err := src.Read(buf)
		if n > 0 {
			allowed := l.take(n)
			if allowed > 0 {
				if _, werr := dst.Write(buf[:allowed]); werr != nil {
					return false
				}
			}
			if allowed < n {
				if l.strike() == BlackHole {
					// Park without reading, so the sender's buffers
					// fill as on a dead link, until the proxy closes.
					<-l.p.quit
				}
				return false
			}
		}
		if errors.Is(err, io.EOF) {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return true
		}
		if err != nil {
			return false
		}
	}
}

// due reports whether the link's fault strikes before its next byte.
func (l *link) due() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fault != nil && l.sent >= l.limit
}

// take accounts for n bytes read and returns how many may be forwarded
// before the fault strikes.
func (l *link) take(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	allowed := n
	if l.fault != nil {
		allowed = int(max(min(l.limit-l.sent, int64(n)), 0))
	}
	l.sent += int64(allowed)
	l.p.forwarded.Add(int64(allowed))
	return allowed
}

func (l *link) blackHoled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.struck && l.fault.Kind == BlackHole
}

// strike applies the link's fault and returns its kind.
func (l *link) strike() FaultKind {
	l.mu.Lock()
	f := l.fault
	l.struck = true
	l.mu.Unlock()
	f.strike()
	if f.Kind == Cut {
		l.client.Close()
		l.server.Close()
	}
	return f.Kind
}
