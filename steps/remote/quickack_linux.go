package remote

import (
	"net"
	"syscall"
)

// quickAck asks the kernel to acknowledge what arrives on c at once
// rather than delay it; false when it cannot (which only costs time).
// A variable so that a test can count the calls.
var quickAck = func(c *net.TCPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}
