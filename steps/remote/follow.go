package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// followAfter is how long a run without a terminal may last before its
// log is followed (follow). Its wrapper sends the log only once the run
// has ended (quietTail), which spares the host a tail process on every
// step; an operator watching a step that lasts sees its first lines this
// much after they are written, at the most.
const followAfter = 300 * time.Millisecond

// runOutput is where the log of a run without a terminal goes on its way
// to the caller, from two copies of one append-only file: the follower's
// stream of it while the run lasts, and the wrapper's whole copy after
// it. The follower's bytes are passed on until the wrapper's copy begins;
// from then on only the wrapper's are, past the length the follower
// showed, which the log's start held (it only grows). Nothing shows
// twice, and nothing is missed: the wrapper's copy is the whole log.
//
// Write takes the wrapper's copy (after trailerWriter has taken its
// trailers out); follower returns the writer for the follower's stream.
// Safe for both at once.
type runOutput struct {
	mu     sync.Mutex
	w      io.Writer
	first  func() // called once, at the first byte passed on (a crash point)
	shown  int64  // bytes the follower passed on
	inband bool   // the wrapper's copy began: the follower's is dropped
	skip   int64  // bytes of the wrapper's copy still to drop
	sealed bool   // the follower was stopped: its late bytes are dropped
}

func newRunOutput(w io.Writer, first func()) *runOutput {
	return &runOutput{w: w, first: first}
}

// Write implements io.Writer for the wrapper's copy of the log: printed
// by the wrapper, or read through SFTP after the run (fetchLog).
func (o *runOutput) Write(p []byte) (int, error) {
	n := len(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.inband {
		o.inband, o.skip = true, o.shown
	}
	if o.skip > 0 {
		k := min(o.skip, int64(len(p)))
		p, o.skip = p[k:], o.skip-k
	}
	if err := o.pass(p); err != nil {
		return 0, err
	}
	return n, nil
}

// follower is the writer of the follower's stream.
func (o *runOutput) follower() io.Writer { return followerWriter{o} }

type followerWriter struct{ o *runOutput }

func (f followerWriter) Write(p []byte) (int, error) {
	o := f.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.inband || o.sealed {
		return len(p), nil
	}
	if err := o.pass(p); err != nil {
		return 0, err
	}
	o.shown += int64(len(p))
	return len(p), nil
}

// pass writes p on; the caller holds mu.
func (o *runOutput) pass(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if o.first != nil {
		f := o.first
		o.first = nil
		f()
	}
	_, err := o.w.Write(p)
	return err
}

// seal drops whatever the follower still sends.
func (o *runOutput) seal() {
	o.mu.Lock()
	o.sealed = true
	o.mu.Unlock()
}

// runOutputs makes the writers a run's stdout goes through: trailers
// taken out, then, for a run with markers and without a terminal, the
// merge of the wrapper's copy of its log with the follower's (ro, nil
// otherwise).
func runOutputs(spec ExecSpec, nonce string) (ro *runOutput, out *trailerWriter) {
	sink := orDiscard(spec.Stdout)
	if spec.Token != "" && !spec.TTY {
		ro = newRunOutput(sink, func() { Hit(PointExecOutput) })
		sink = ro
	}
	out = newTrailerWriter(sink, nonce)
	switch {
	case spec.Token == "":
		out.header = true // plainScript names its process group first
	case spec.TTY:
		out.first = func() { Hit(PointExecOutput) }
	}
	return ro, out
}

// followPoll bounds how long the follower waits before it reads the log
// again after finding nothing new: the most a line of a lasting run
// shows after the host wrote it, beyond followAfter.
const followPoll = 200 * time.Millisecond

// follow streams the log of run token into o, once the run has lasted
// followAfter, by reading it through the connection's SFTP session:
// no session and no process of its own on the host (sshd counts no
// command session for it, and the host forks nothing). The returned
// stop ends that; the caller calls it once the run has ended, or been
// given up, before it reads what o wrote: nothing the follower reads is
// passed on after it. A follower that cannot read the log (no SFTP on
// the host, a log of another user) only means the output comes at the
// end.
func (c *sshConn) follow(ctx context.Context, cl *client, token string, o *runOutput) (stop func()) {
	quit := make(chan struct{})
	go func() {
		select {
		case <-quit:
			return
		case <-time.After(followAfter):
		}
		sc, err := c.sftpOn(ctx, cl)
		if err != nil {
			return
		}
		p := path.Join(sftpMarkerDir(c.cfg.MarkerDir), token+".log")
		var (
			f   *sftp.File
			off int64
			buf = make([]byte, 32<<10)
		)
		defer func() {
			if f != nil {
				_ = f.Close()
			}
		}()
		for {
			select {
			case <-quit: // the run ended: the wrapper's copy has the rest
				return
			default:
			}
			if f == nil {
				f, _ = sc.Open(p) // not there yet: the wrapper has not begun
			}
			if f != nil {
				cl.packetMu.RLock()
				n, err := f.ReadAt(buf, off)
				cl.packetMu.RUnlock()
				if n > 0 {
					if _, werr := o.follower().Write(buf[:n]); werr != nil {
						return
					}
					off += int64(n)
					continue
				}
				if err != nil && !errors.Is(err, io.EOF) {
					return
				}
			}
			select {
			case <-quit:
				return
			case <-time.After(followPoll):
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.seal()
			close(quit)
		})
	}
}

// fetchLog gives o run token's log as the wrapper's copy (o.Write passes
// on only what the follower did not show), once the run has ended and its
// wrapper said the log holds output (trailerLog): read through sc, or,
// when SFTP fails, printed by a shell after all (past what SFTP read).
// An error when neither could read it: the run ended, but what it
// printed is not known, so its outcome is in doubt as when the
// connection drops while the wrapper prints the log; its markers settle
// it.
func (c *sshConn) fetchLog(ctx context.Context, sc *sftp.Client, cl *client, token string, o *runOutput) error {
	w := &countingWriter{w: o}
	err := readLog(sc, cl, path.Join(sftpMarkerDir(c.cfg.MarkerDir), token+".log"), w)
	if err == nil {
		return nil
	}
	if w.err != nil {
		return nil // the destination failed: there is nowhere to show the rest
	}
	// The next runs print their logs themselves again, until a forget
	// through SFTP finds markers once more.
	cl.sftpSeesMarkers.Store(false)
	out, code, rerr := c.run(ctx, logScript(c.cfg.MarkerDir, token))
	if rerr != nil || code != 0 {
		return fmt.Errorf("read back the output of the run on %s (%v; then %v, exit %d): %w", c.name(), err, rerr, code, ErrInDoubt)
	}
	if w.n < int64(len(out)) {
		_, _ = o.Write(out[w.n:])
	}
	return nil
}

// readLog copies the file p to w through sc.
func readLog(sc *sftp.Client, cl *client, p string, w io.Writer) error {
	f, err := sc.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	cl.packetMu.RLock()
	defer cl.packetMu.RUnlock()
	_, err = f.WriteTo(w)
	return err
}

// countingWriter counts what w took, and keeps its error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}
