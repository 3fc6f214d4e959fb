package remote

import "time"

// keepaliveMisses is how many keepalive intervals in a row may pass
// without an answer before a connection is closed, as OpenSSH's
// ServerAliveCountMax.
const keepaliveMisses = 3

// keepalive sends keepalive@openssh.com every interval until the
// connection ends, and closes it once keepaliveMisses intervals have
// passed since the last answer: a silently dead network otherwise blocks
// every call on it forever, and closing turns a running Exec into
// ErrInDoubt.
//
// The limit runs from the last answer, not from the next probe: counted
// in probes (each given an interval to answer), a link that dies just
// after a probe was answered would be noticed only after the next probe
// plus three waits, 4 intervals (60 s by default; measured 60.1 s from
// the death of the link to runbook's exit). From the last answer it is
// between 2 and 3 intervals after the death of the link, as OpenSSH's
// "approximately 45 seconds" for 15 s and 3.
func keepalive(c *client, interval time.Duration) {
	limit := keepaliveMisses * interval
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.NewTimer(limit) // the handshake was the last answer
	defer deadline.Stop()
	// One probe at a time: on a dead link more would only queue behind it.
	// Buffered, so a probe answered after the connection closed, or after
	// this loop returned, never blocks its goroutine.
	answered := make(chan struct{}, 1)
	inFlight := false
	for {
		select {
		case <-c.done:
			return
		case <-deadline.C:
			_ = c.ssh.Close()
			return
		case <-answered:
			// Any reply (OpenSSH answers "failure" to the unknown
			// request) is proof of life.
			inFlight = false
			deadline.Reset(limit)
		case <-tick.C:
			if inFlight {
				continue
			}
			inFlight = true
			go func() {
				if _, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					answered <- struct{}{}
				}
			}()
		}
	}
}
