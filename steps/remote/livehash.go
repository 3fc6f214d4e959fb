package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// liveHash hashes an upload's temp file on the host while the bytes
// arrive, so that the checksum on the host is ready a moment after the
// last byte instead of costing a second pass over the file once the
// transfer is done (BENCHMARKS.md: 1.3 s of an 8-host upload of 256 MiB
// on this machine). One session runs liveHashScript; as the upload
// reads the artifact, advance tells it how far it may read the file,
// a whole MiB count at a time over its stdin, kept some way behind what
// was sent: only bytes the host has written should be read.
//
// What makes a live sum trustworthy is not that pacing but the
// checksum of record. The host reads every byte of the file once, in
// order, and the upload writes every byte once, the artifact's byte at
// its offset. A byte read before its write landed (a server that writes
// out of order leaves a hole that reads as zeros) makes the sum differ,
// unless it already held the artifact's byte, which the late write then
// writes again. So a live sum equal to the checksum of record proves the
// copy as a read-back would; one that differs proves nothing, and the
// file is hashed again (stage). Any failure of the live hash (no session,
// no dd on the host) only costs that second pass.
type liveHash struct {
	// lag is how far behind the bytes read from the artifact the host
	// reads: the writes in flight, which the host may not have done yet.
	lag    int64
	latest atomic.Int64  // bytes of the artifact read so far
	wake   chan struct{} // latest moved (buffered: advance never blocks)
	end    chan bool     // sent once: true by finish, false by abort
	result chan liveResult
}

type liveResult struct {
	sum string
	err error
}

// liveStep is how much more the host is told to read at a time: each
// step costs the host a dd process, and the steps left when the transfer
// ends are what remains to hash after it.
const liveStep = 16 << 20

// liveHashCommand starts sh on a script of n bytes read from stdin and
// leaves the rest of stdin to the script. `sh -s` will not do: dash reads
// ahead of the command it runs, in blocks, and would swallow the lines
// meant for the script. dd bs=1 reads exactly n bytes. The script still
// comes on stdin, like every other: no path of the host shows in argv.
func liveHashCommand(n int) string {
	return fmt.Sprintf(`exec sh -c 'eval "$(dd bs=1 count=%d 2>/dev/null)"'`, n)
}

// startLiveHash starts hashing p on the host of c, with the guard of
// hashPrefix. It never fails: a live hash that cannot run reports that
// from finish, and the caller hashes the file afterwards.
func (c *sshConn) startLiveHash(ctx context.Context, p, guard string, lag int64) *liveHash {
	h := &liveHash{lag: lag, wake: make(chan struct{}, 1), end: make(chan bool, 1), result: make(chan liveResult, 1)}
	go func() {
		sum, err := h.run(ctx, c, p, guard)
		h.result <- liveResult{sum, err}
	}()
	return h
}

// advance records that the upload has read done bytes of the artifact
// (the resumed prefix included). Cheap: it is called on every read.
func (h *liveHash) advance(done int64) {
	h.latest.Store(done)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// finish is called once every byte is written and synced: the host reads
// the rest of the file and finish returns its sum.
func (h *liveHash) finish(ctx context.Context) (string, error) {
	h.end <- true
	select {
	case r := <-h.result:
		return r.sum, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// abort ends the live hash of an upload that failed, without reading
// more of the file on the host.
func (h *liveHash) abort() {
	h.end <- false
}

func (h *liveHash) run(ctx context.Context, c *sshConn, p, guard string) (string, error) {
	_, sess, err := c.session(ctx)
	if err != nil {
		return "", err
	}
	defer sess.Close()
	stdin, err := sess.StdinPipe()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	sess.Stdout = &out
	script := liveHashScript(p, guard)
	if err := sess.Start(liveHashCommand(len(script))); err != nil {
		return "", fmt.Errorf("start the checksum of %s on %s: %w", p, c.name(), err)
	}
	if _, err := io.WriteString(stdin, script); err != nil {
		return "", err
	}
	var asked int64 // MiB the host was told to read
	for {
		select {
		case <-h.wake:
			n := (h.latest.Load()-h.lag)>>20 - asked
			if n<<20 < liveStep {
				continue
			}
			if _, err := fmt.Fprintf(stdin, "%d\n", n); err != nil {
				return "", err
			}
			asked += n
		case ok := <-h.end:
			if !ok {
				_, _ = io.WriteString(stdin, "x\n")
				return "", errors.New("upload failed")
			}
			if err := stdin.Close(); err != nil {
				return "", err
			}
			if err := waitCtx(ctx, sess.Wait); err != nil {
				return "", fmt.Errorf("checksum of %s on %s: %w", p, c.name(), err)
			}
			return c.parseSum(out.Bytes(), p, guard)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// waitCtx waits for wait, or returns ctx's error first (wait's goroutine
// ends when the session is closed).
func waitCtx(ctx context.Context, wait func() error) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
