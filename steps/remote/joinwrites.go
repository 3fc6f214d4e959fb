package remote

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// x/crypto/ssh writes each packet through a bufio.Writer of the default
// 4096 bytes, and its AES-GCM cipher hands it the packet in two parts:
// the 4-byte length, then the rest. A packet larger than the buffer thus
// leaves the process in two write system calls, the buffer's 4096 bytes
// and then the rest; on loopback each call is a TCP segment and a wake-up
// of the sshd that reads it, and the first costs about as much as the
// second though it carries an eighth of the bytes. An upload is made of
// such packets (32 KiB each). Joining the two halves into one writev
// took 0.91× the client's CPU and 0.94× the transfer time of 8 hosts ×
// 256 MiB on the machine of BENCHMARKS.md ("One write per packet").
//
// joinedConn does that below the library, which offers no hook for it:
// a write of exactly the buffer's size is held, and goes out with the
// next write in one call. That next write comes at once, in the same
// call of the library, unless the held write was a whole packet that
// filled the buffer exactly: under AES-GCM its clear length says so and
// it is not held; under a cipher that hides the length, holdFor bounds
// the wait. Joining never reorders bytes; the worst a wrong guess costs
// is holdFor of delay.

// sshBufSize is the size of x/crypto/ssh's write buffer (bufio's
// default). A library that changes it makes joinedConn hold nothing,
// which TestPoolJoinsPacketWrites notices.
const sshBufSize = 4096

// gcmTagSize is what AES-GCM adds after the packet's encrypted part.
const gcmTagSize = 16

// holdFor is how long a held write waits for the write that should
// follow it at once. A variable for tests.
var holdFor = time.Millisecond

// joined counts the writes joined, for the tests that the joining still
// happens through the library.
var joined atomic.Int64

// joinedConn is a TCP connection to a host whose writes joinWrites
// joins. Reads, deadlines and addresses are conn's.
type joinedConn struct {
	net.Conn
	// send writes its buffers in order, in one system call where the
	// connection can (writev); a test records them instead.
	send func(net.Buffers) (int64, error)

	mu    sync.Mutex
	held  []byte // a write waiting for the one that follows it; nil: none
	buf   [sshBufSize]byte
	timer *time.Timer
	err   error // a held write's failure, returned by the next Write
}

// joinWrites wraps conn, whose writes go to tcp, so that the two halves
// of a packet leave in one system call.
func joinWrites(conn net.Conn, tcp *net.TCPConn) net.Conn {
	return &joinedConn{Conn: conn, send: func(b net.Buffers) (int64, error) { return b.WriteTo(tcp) }}
}

// Write implements net.Conn. A held write is reported written; if it
// then fails, the next Write returns the failure.
func (c *joinedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.held != nil {
		c.timer.Stop()
		held := int64(len(c.held))
		n, err := c.send(net.Buffers{c.held, p})
		c.held = nil
		if err != nil {
			c.err = err
			return int(max(n-held, 0)), err
		}
		joined.Add(1)
		return len(p), nil
	}
	if len(p) == sshBufSize && !gcmWhole(p) {
		c.held = c.buf[:copy(c.buf[:], p)]
		if c.timer == nil {
			c.timer = time.AfterFunc(holdFor, c.sendHeld)
		} else {
			c.timer.Reset(holdFor)
		}
		return len(p), nil
	}
	n, err := c.send(net.Buffers{p})
	return int(n), err
}

// sendHeld sends a held write that no other followed in time.
func (c *joinedConn) sendHeld() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sendHeldLocked()
}

// sendHeldLocked sends the held write alone, if any; c.mu is held. Its
// failure is kept for the next Write.
func (c *joinedConn) sendHeldLocked() {
	if c.held == nil {
		return
	}
	if _, err := c.send(net.Buffers{c.held}); err != nil && c.err == nil {
		c.err = err
	}
	c.held = nil
}

// Close implements net.Conn. A held write goes out first, unless a Write
// is under way (then the close is what ends it): a held write is a whole
// packet only under a cipher that hides its length, and then the peer
// should have it.
func (c *joinedConn) Close() error {
	if c.mu.TryLock() {
		if c.timer != nil {
			c.timer.Stop()
		}
		if c.held != nil && c.err == nil {
			// A peer that reads nothing must not hang the close.
			_ = c.Conn.SetWriteDeadline(time.Now().Add(holdFor * 100))
			c.sendHeldLocked()
		}
		c.held = nil
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// gcmWhole reports whether p, a buffer's worth of a packet's start, is
// the whole packet as AES-GCM frames it: its clear length, the encrypted
// part, the tag. Under another cipher the length is encrypted and this
// is false but for one value in about a million.
func gcmWhole(p []byte) bool {
	return uint64(binary.BigEndian.Uint32(p))+4+gcmTagSize == uint64(len(p))
}
