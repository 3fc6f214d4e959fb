package remote

import (
	"errors"
	"io"
	"sync"

	"github.com/pkg/sftp"
)

// A copy to a host that shares the operator's CPU (UploadSpec.ReadBack)
// starts with smaller writes. With OpenSSH's 255 KiB writes, two in
// flight, each copy's first MiBs cost its sshd more than the same bytes
// later on; half-size writes avoid most of that at the start, and full
// ones are faster past it. Measured on 100 sshd of one machine
// (BENCHMARKS.md, issue 18): the 16 MiB stage took 0.8 times as long,
// and 256 MiB copies to 8 hosts as long as before. A host with a machine
// of its own keeps the full writes from the first byte: there the round
// trips, not the host's CPU, decide how much must be in flight.
const (
	rampPacket = 128 << 10
	rampBytes  = 32 << 20
)

// writePlan says how a copy is cut into SFTP writes: the one at offset n
// is size(n) bytes, and inflight answers are awaited while one more
// write is sent (as pkg/sftp's ReadFromWithConcurrency does, which the
// figures of BENCHMARKS.md were first measured with).
type writePlan struct {
	inflight int
	size     func(n int64) int
}

// plan returns the writes for a copy on this connection: the server's
// largest with a few in flight where it says how large that is
// (limits@openssh.com), otherwise the 32 KiB every server accepts with
// more of them; ramp starts with rampPacket up to rampBytes.
func (f *sftpFS) plan(ramp bool) writePlan {
	if _, ok := f.sc.HasExtension("limits@openssh.com"); !ok {
		return writePlan{inflight: smallConcurrency, size: func(int64) int { return smallPacket }}
	}
	if !ramp {
		return writePlan{inflight: bigConcurrency, size: func(int64) int { return bigPacket }}
	}
	return writePlan{inflight: bigConcurrency, size: func(n int64) int {
		if n < rampBytes {
			return rampPacket
		}
		return bigPacket
	}}
}

// pipeWrites writes what r holds into file from off, keeping up to
// plan.inflight+1 writes in flight, and returns once every write has been
// answered: the first error met (reading r or writing), or nil when r
// ended and all of it was written. It stops reading at the first failed
// write; writes land in any order, so after an error the file may have
// holes past the last byte written in order (the upload's resume cuts
// it to a verified prefix). At most inflight writes are in flight while
// r is read (resumeMargin covers them and the one read).
func pipeWrites(file *sftp.File, r io.Reader, off int64, plan writePlan) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		werr error
	)
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return werr
	}
	// A free buffer is a free slot: a write gives its buffer back when
	// it is answered.
	free := make(chan []byte, plan.inflight+1)
	for range plan.inflight + 1 {
		free <- nil
	}
	var n int64
	for {
		buf := <-free
		if err := failed(); err != nil {
			break
		}
		size := plan.size(n)
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			at := off + n
			wg.Go(func() {
				if _, err := file.WriteAt(buf[:k], at); err != nil {
					mu.Lock()
					if werr == nil {
						werr = err
					}
					mu.Unlock()
				}
				free <- buf
			})
			n += int64(k)
		} else {
			free <- buf
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			wg.Wait()
			return rerr
		}
	}
	wg.Wait()
	return failed()
}
