//go:build linux

// TCP_QUICKACK is Linux's (quickack_other.go): the tests run where it is.

package remote

import (
	"context"
	"net"
	"testing"
)

// The pool's TCP connections acknowledge at once (quickack.go): the
// option is set when the connection is made and again after each read
// that brought bytes, or a host's second small packet waits out the
// client's delayed acknowledgement, 40 ms at the first session of every
// connection.
func TestPoolConnectionsAcknowledgeAtOnce(t *testing.T) {
	calls, restore := CountQuickAcks()
	defer restore()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("SSH-2.0-one\r\n"))
		_, _ = c.Write([]byte("two"))
		buf := make([]byte, 1)
		_, _ = c.Read(buf)
	}()
	var d net.Dialer
	raw, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn := ackAtOnce(raw)
	defer conn.Close()
	if _, ok := conn.(quickAckConn); !ok {
		t.Fatalf("a TCP connection was not wrapped: %T", conn)
	}
	if calls() != 1 {
		t.Fatalf("quick acknowledgements asked %d times at the connection, want 1", calls())
	}
	got := 0
	buf := make([]byte, 64)
	for got < len("SSH-2.0-one\r\ntwo") {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if calls() < 2 {
		t.Errorf("quick acknowledgements not asked again after a read (%d calls)", calls())
	}
	// A connection through a jump host is an SSH channel, not a socket.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := ackAtOnce(a); c != a {
		t.Errorf("a pipe was wrapped: %T", c)
	}
}
