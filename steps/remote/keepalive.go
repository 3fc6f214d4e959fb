package remote

import "time"

// keepaliveMisses is how many unanswered keepalives in a row close a
// connection, as OpenSSH's ServerAliveCountMax.
const keepaliveMisses = 3

// keepalive sends keepalive@openssh.com every interval until the
// connection ends, and closes it after keepaliveMisses unanswered in a row:
// a silently dead network otherwise blocks every call on it forever, and
// closing turns a running Exec into ErrInDoubt.
func keepalive(c *client, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	misses := 0
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		// The reply (OpenSSH answers "failure" to the unknown request) is
		// proof of life; waiting for it must not outlast the interval.
		replied := make(chan error, 1)
		go func() {
			_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		ok := false
		select {
		case err := <-replied:
			ok = err == nil
		case <-time.After(interval):
		case <-c.done:
			return
		}
		if ok {
			misses = 0
			continue
		}
		if misses++; misses >= keepaliveMisses {
			_ = c.ssh.Close()
			return
		}
	}
}
