//go:build !linux

package remote

import "net"

// quickAck is Linux's: elsewhere the connection keeps the system's
// delayed acknowledgements.
var quickAck = func(*net.TCPConn) bool { return false }
