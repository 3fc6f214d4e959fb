package remote

import "net"

// sshd leaves Nagle's algorithm on for sessions without a terminal, so a
// small packet it sends while an earlier one is not yet acknowledged
// waits for that acknowledgement; and a client with nothing to send
// delays it, by up to 40 ms on Linux. The first session of every
// connection met exactly that: after the authentication, sshd's
// hostkeys-00@openssh.com notice (no reply wanted) was unacknowledged
// when it answered the session's open, which came 40 ms late (45 ms
// against 5, BENCHMARKS.md "The first session of a connection"). So the
// pool's TCP connections acknowledge at once (quickAck), which costs a
// system call per read and a few more acknowledgements.

// quickAckConn re-arms quick acknowledgements after every read: the
// kernel leaves that mode by itself.
type quickAckConn struct {
	*net.TCPConn
}

func (c quickAckConn) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	if n > 0 {
		quickAck(c.TCPConn)
	}
	return n, err
}

// ackAtOnce wraps a TCP connection to a host so that it acknowledges at
// once where the system can; any other conn is returned as it is.
func ackAtOnce(conn net.Conn) net.Conn {
	tc, ok := conn.(*net.TCPConn)
	if !ok || !quickAck(tc) {
		return conn
	}
	return quickAckConn{tc}
}
