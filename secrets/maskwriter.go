package secrets

import (
	"errors"
	"io"
	"sync"
)

// Writer returns a writer that masks everything written to it before
// passing it to w, even when a secret is split across Write calls: the
// tail of each write that could be the beginning of a secret (never more
// than the longest registered form minus one byte, and usually nothing) is
// held back until later writes or Close show what it is. Everything before
// it goes out at once, so output stays line-timely. Unless values are
// added meanwhile, the bytes written to w are exactly Mask of everything
// written, whatever the chunking.
//
// Close flushes what is held back; it does not close w. After an error
// from w, every later call returns that error. The writer is safe for
// concurrent use.
func (m *Masker) Writer(w io.Writer) io.WriteCloser {
	return &maskWriter{masker: m, w: w}
}

var errWriterClosed = errors.New("write to a closed masking writer")

type maskWriter struct {
	masker *Masker
	w      io.Writer

	mu  sync.Mutex
	buf []byte // held back: may begin a secret
	out []byte // reused output buffer
	// prefix bytes at the start of buf are covered by an occurrence that
	// began before buf and was already emitted as Redacted.
	prefix int
	// inRun: the output so far ends with Redacted, so a run starting at the
	// beginning of buf continues it and must not print a second one.
	inRun  bool
	err    error
	closed bool
}

// Write masks p and passes on everything that can no longer be part of a
// secret. It reports len(p) on success: held-back bytes count as written.
func (mw *maskWriter) Write(p []byte) (int, error) {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.err != nil {
		return 0, mw.err
	}
	if mw.closed {
		return 0, errWriterClosed
	}
	mw.buf = append(mw.buf, p...)
	runs, held := cover(mw.masker.cur.Load(), mw.buf, mw.prefix)
	if err := mw.emit(runs, held); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes out everything held back. It does not close the
// underlying writer; closing twice is harmless.
func (mw *maskWriter) Close() error {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.closed || mw.err != nil {
		return mw.err
	}
	mw.closed = true
	runs, _ := cover(mw.masker.cur.Load(), mw.buf, mw.prefix)
	return mw.emit(runs, len(mw.buf))
}

// emit writes buf[:cut] masked by runs, keeps buf[cut:] and records how
// the output ends, so the next call continues a run rather than repeat it.
func (mw *maskWriter) emit(runs []span, cut int) error {
	if cut == 0 {
		return nil
	}
	out := mw.out[:0]
	prev := 0
	inRun, prefix := false, 0
	for _, r := range runs {
		if r.start >= cut {
			break
		}
		out = append(out, mw.buf[prev:r.start]...)
		if r.start > 0 || !mw.inRun {
			out = append(out, Redacted...)
		}
		prev = min(r.end, cut)
		if r.end >= cut {
			// The run reaches the cut: what follows in it is already masked.
			inRun, prefix = true, r.end-cut
		}
	}
	out = append(out, mw.buf[prev:cut]...)
	n := copy(mw.buf, mw.buf[cut:])
	mw.buf = shrink(mw.buf[:n])
	mw.inRun, mw.prefix = inRun, prefix
	var err error
	if len(out) > 0 {
		if _, err = mw.w.Write(out); err != nil {
			mw.err = err
		}
	}
	mw.out = shrink(out[:0])
	return err
}

// keepCap is the buffer capacity a writer keeps between writes; one huge
// write must not pin its size for the life of the writer.
const keepCap = 64 << 10

func shrink(b []byte) []byte {
	if cap(b) <= keepCap {
		return b
	}
	return append(make([]byte, 0, max(len(b), 512)), b...)
}
