package secrets

import (
	"errors"
	"io"
	"slices"
	"sync"
)

// Writer returns a writer that masks everything written to it before
// passing it to w, even when a secret is split across Write calls: the
// tail of each write that could still grow into a secret, a form or a
// masked piece (never more than the longest registered form minus one
// byte, within the current line unless a multi-line value's form spans
// lines, and usually nothing) is held back until later writes or Close
// show what it is. Everything before it goes out at once, so output stays
// line-timely. Unless values are added meanwhile, the bytes written to w
// are exactly Mask of everything written, whatever the chunking.
//
// Close flushes what is held back; it does not close w. After an error
// from w, every later call returns that error. The writer is safe for
// concurrent use.
func (m *Masker) Writer(w io.Writer) io.WriteCloser {
	return m.Writers(w)[0]
}

// Writers returns one masking writer for each of ws, for the streams of one
// command (its stdout and stderr), so that a secret whose pieces go to
// different streams is masked in each. Each stream is masked as Writer
// masks it, and also as part of the one text that the writes of all
// streams make in the order they arrive; a byte covered either way is
// masked. Each writer passes on to its own w only the bytes written to it,
// every maximal run of masked ones replaced by one Redacted. What one
// writer holds back can hold back the others' bytes written after it, but
// never more than the longest registered form.
//
// Closing a writer ends its stream, but what the group still holds back,
// of any stream, is passed on only when the last of them is closed: until
// then a stream still open could complete a secret begun in a closed one.
// Errors are per writer, as for Writer. The writers are safe for
// concurrent use.
func (m *Masker) Writers(ws ...io.Writer) []io.WriteCloser {
	if len(ws) > 1<<8 {
		panic("secrets: Writers takes at most 256 writers")
	}
	g := &maskGroup{masker: m, open: len(ws)}
	out := make([]io.WriteCloser, len(ws))
	for i, w := range ws {
		s := &maskStream{group: g, id: uint8(i), w: w}
		g.streams = append(g.streams, s)
		out[i] = s
	}
	return out
}

var errWriterClosed = errors.New("write to a closed masking writer")

// maskGroup is the text shared by the writers of one Writers call.
type maskGroup struct {
	masker *Masker

	mu  sync.Mutex
	buf []byte // held back: may be part of a secret
	// owner[i] is the stream buf[i] was written to; nil for one stream.
	owner []uint8
	// covered[i]: buf[i] is inside an occurrence found so far, possibly
	// one that began in bytes already passed on.
	covered []bool
	streams []*maskStream
	open    int // streams not closed yet

	idx []int  // scratch: positions in buf of one stream's bytes
	sub []byte // scratch: those bytes
}

type maskStream struct {
	group *maskGroup
	id    uint8
	w     io.Writer

	// Guarded by group.mu.
	out []byte // reused output buffer
	// inRun: this stream's output so far ends with Redacted, so a masked
	// byte next continues that run and prints nothing more.
	inRun  bool
	err    error
	closed bool
}

// Write masks p and passes on everything that can no longer be part of a
// secret. It reports len(p) on success: held-back bytes count as written.
func (s *maskStream) Write(p []byte) (int, error) {
	g := s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if s.closed {
		return 0, errWriterClosed
	}
	g.buf = append(g.buf, p...)
	n := len(g.covered)
	g.covered = slices.Grow(g.covered, len(p))[:n+len(p)]
	clear(g.covered[n:])
	if len(g.streams) > 1 {
		for range p {
			g.owner = append(g.owner, s.id)
		}
	}
	g.emit(g.scan(false))
	if s.err != nil {
		return 0, s.err
	}
	return len(p), nil
}

// Close ends the stream; the last Close of a group writes out everything
// held back. It does not close the underlying writer; closing twice is
// harmless.
func (s *maskStream) Close() error {
	g := s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.closed {
		return s.err
	}
	s.closed = true
	g.open--
	if g.open == 0 {
		g.emit(g.scan(true))
	}
	return s.err
}

// scan marks what the occurrences in buf cover and returns how much of buf
// is final: everything before the earliest byte that could begin an
// occurrence completed by text still to come; all of it when final.
// Occurrences found before and reaching into buf are in covered already;
// a rescan cannot find them again, because held back is only what could
// begin an occurrence, and one that is found never begins there.
func (g *maskGroup) scan(final bool) int {
	m := g.masker.cur.Load()
	runs, cut := cover(m, g.buf)
	for _, r := range runs {
		for i := r.start; i < r.end; i++ {
			g.covered[i] = true
		}
	}
	if len(g.streams) > 1 {
		// Each stream alone: a secret written to one stream in pieces,
		// with the other's output in between, is whole in its own text.
		for _, s := range g.streams {
			g.idx, g.sub = g.idx[:0], g.sub[:0]
			for i, o := range g.owner {
				if o == s.id {
					g.idx = append(g.idx, i)
					g.sub = append(g.sub, g.buf[i])
				}
			}
			if len(g.idx) == 0 {
				continue
			}
			runs, held := cover(m, g.sub)
			for _, r := range runs {
				for k := r.start; k < r.end; k++ {
					g.covered[g.idx[k]] = true
				}
			}
			if held < len(g.idx) {
				cut = min(cut, g.idx[held])
			}
		}
		g.idx, g.sub = shrink(g.idx), shrink(g.sub)
	}
	if final {
		return len(g.buf)
	}
	return cut
}

// emit passes buf[:cut] on to the streams it came from, each maximal run
// of covered bytes of a stream as one Redacted, and keeps buf[cut:]. A
// stream whose writer fails keeps the error and gets nothing more.
func (g *maskGroup) emit(cut int) {
	if cut == 0 {
		return
	}
	if g.owner == nil {
		g.streams[0].add(g.buf[:cut], g.covered[:cut])
	} else {
		for i := 0; i < cut; {
			j := i + 1
			for j < cut && g.owner[j] == g.owner[i] {
				j++
			}
			g.streams[g.owner[i]].add(g.buf[i:j], g.covered[i:j])
			i = j
		}
	}
	n := copy(g.buf, g.buf[cut:])
	g.buf = shrink(g.buf[:n])
	copy(g.covered, g.covered[cut:])
	g.covered = shrink(g.covered[:n])
	if g.owner != nil {
		copy(g.owner, g.owner[cut:])
		g.owner = shrink(g.owner[:n])
	}
	for _, s := range g.streams {
		if len(s.out) > 0 && s.err == nil {
			if _, err := s.w.Write(s.out); err != nil {
				s.err = err
			}
		}
		s.out = shrink(s.out[:0])
	}
}

// add appends text to the stream's output, with each run of covered bytes
// as one Redacted, or none when it continues the run the output ends with.
func (s *maskStream) add(text []byte, covered []bool) {
	for i := 0; i < len(text); {
		j := i
		for j < len(text) && !covered[j] {
			j++
		}
		if j > i {
			s.out = append(s.out, text[i:j]...)
			s.inRun = false
		}
		i = j
		for j < len(text) && covered[j] {
			j++
		}
		if j > i {
			if !s.inRun {
				s.out = append(s.out, Redacted...)
			}
			s.inRun = true
		}
		i = j
	}
}

// keepCap is the buffer capacity a writer keeps between writes; one huge
// write must not pin its size for the life of the writer.
const keepCap = 64 << 10

func shrink[T any](b []T) []T {
	if cap(b) <= keepCap {
		return b
	}
	return append(make([]T, 0, max(len(b), 512)), b...)
}
