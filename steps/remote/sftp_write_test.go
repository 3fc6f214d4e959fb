package remote

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
)

// recorder is an SFTP server's file that records every write it gets and
// how many were being served at once; it fails those at or past failAt.
type recorder struct {
	mu       sync.Mutex
	data     []byte
	writes   [][2]int64 // offset, length
	busy     int
	maxBusy  int
	failAt   int64
	failures int
}

func (r *recorder) WriteAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	r.busy++
	r.maxBusy = max(r.maxBusy, r.busy)
	r.writes = append(r.writes, [2]int64{off, int64(len(p))})
	fail := r.failAt > 0 && off >= r.failAt
	if fail {
		r.failures++
	}
	r.mu.Unlock()
	// Served slowly, so that the writes a client keeps in flight pile up.
	time.Sleep(time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.busy--
	if fail {
		return 0, errors.New("disk on fire")
	}
	if end := off + int64(len(p)); end > int64(len(r.data)) {
		r.data = append(r.data, make([]byte, end-int64(len(r.data)))...)
	}
	copy(r.data[off:], p)
	return len(p), nil
}

func (r *recorder) Filewrite(*sftp.Request) (io.WriterAt, error) { return r, nil }

// recordingFile opens a file on an in-memory SFTP server whose writes go
// to rec.
func recordingFile(t *testing.T, rec *recorder) *sftp.File {
	t.Helper()
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	h := sftp.InMemHandler()
	h.FilePut = rec
	srv := sftp.NewRequestServer(struct {
		io.Reader
		io.WriteCloser
	}{sr, sw}, h)
	go srv.Serve()
	client, err := sftp.NewClientPipe(cr, cw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); client.Close() })
	f, err := client.OpenFile("/app.ear", os.O_WRONLY|os.O_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// A ramped copy goes in small writes first, then large ones, from the
// offset it resumes at, with never more in flight than the plan says.
func TestPipeWritesRampsAndKeepsItsBound(t *testing.T) {
	rec := &recorder{}
	f := recordingFile(t, rec)
	data := randomBytes(t, 300<<10)
	const off = 1000
	plan := writePlan{inflight: 2, size: func(n int64) int {
		if n < 64<<10 {
			return 8 << 10
		}
		return 32 << 10
	}}
	if err := pipeWrites(f, bytes.NewReader(data), off, plan); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.data[off:], data) {
		t.Fatal("the file's bytes past the offset are not what was read")
	}
	sort.Slice(rec.writes, func(i, j int) bool { return rec.writes[i][0] < rec.writes[j][0] })
	at := int64(off)
	for _, w := range rec.writes {
		want := int64(32 << 10)
		if w[0]-off < 64<<10 {
			want = 8 << 10
		}
		if w[0] != at || (w[1] != want && w[0]+w[1] != off+int64(len(data))) {
			t.Fatalf("write of %d bytes at %d, want %d at %d (writes %v)", w[1], w[0], want, at, rec.writes)
		}
		at += w[1]
	}
	if rec.maxBusy > plan.inflight+1 {
		t.Fatalf("%d writes in flight at once, want at most %d", rec.maxBusy, plan.inflight+1)
	}
}

// A write that fails stops the copy: the rest is not read, and the
// error is the write's.
func TestPipeWritesStopsAtAFailedWrite(t *testing.T) {
	rec := &recorder{failAt: 64 << 10}
	f := recordingFile(t, rec)
	src := &countingReader{r: bytes.NewReader(randomBytes(t, 4<<20))}
	plan := writePlan{inflight: 2, size: func(int64) int { return 16 << 10 }}
	err := pipeWrites(f, src, 0, plan)
	if err == nil {
		t.Fatal("a failed write went unreported")
	}
	// What was read before the failure was known: the writes before it,
	// the failed one and those sent beside it.
	if limit := int64(64<<10 + 4*16<<10); src.n > limit {
		t.Fatalf("read %d bytes after a write failed, want at most %d", src.n, limit)
	}
	if rec.failures > plan.inflight+1 {
		t.Fatalf("%d writes sent past the failed one's answer", rec.failures)
	}
}

// A reader that fails ends the copy with its error.
func TestPipeWritesReportsTheReadersError(t *testing.T) {
	f := recordingFile(t, &recorder{})
	errBroken := errors.New("artifact truncated under us")
	r := io.MultiReader(bytes.NewReader(randomBytes(t, 100<<10)), &failingReader{errBroken})
	plan := writePlan{inflight: 2, size: func(int64) int { return 16 << 10 }}
	if err := pipeWrites(f, r, 0, plan); !errors.Is(err, errBroken) {
		t.Fatalf("got %v, want the reader's error", err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }
