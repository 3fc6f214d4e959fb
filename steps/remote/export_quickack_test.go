package remote

import (
	"net"
	"sync/atomic"
)

// CountQuickAcks counts the calls of quickAck until restore, for the
// tests of package remote_test.
func CountQuickAcks() (count func() int64, restore func()) {
	var n atomic.Int64
	real := quickAck
	quickAck = func(c *net.TCPConn) bool {
		n.Add(1)
		return real(c)
	}
	return n.Load, func() { quickAck = real }
}
