package remote

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// sends records what a joinedConn hands the connection, call by call.
type sends struct {
	mu    sync.Mutex
	calls [][]byte
	fail  error // returned by every call from now on
}

func (s *sends) send(b net.Buffers) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	var one []byte
	for _, p := range b {
		one = append(one, p...)
	}
	s.calls = append(s.calls, one)
	return int64(len(one)), nil
}

func (s *sends) snapshot() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.calls...)
}

func newJoined(t *testing.T, hold time.Duration) (*joinedConn, *sends) {
	t.Helper()
	old := holdFor
	holdFor = hold
	t.Cleanup(func() { holdFor = old })
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	s := &sends{}
	return &joinedConn{Conn: a, send: s.send}, s
}

// gcmPacket is what x/crypto/ssh's AES-GCM cipher writes for a packet of
// n bytes on the wire: the clear length, then the rest in a second write.
func gcmPacket(w *bufio.Writer, n int) []byte {
	p := make([]byte, n)
	binary.BigEndian.PutUint32(p, uint32(n-4-gcmTagSize))
	for i := 4; i < n; i++ {
		p[i] = byte(i)
	}
	_, _ = w.Write(p[:4])
	_, _ = w.Write(p[4:])
	_ = w.Flush()
	return p
}

// A packet larger than the library's buffer leaves in one call, not in
// the buffer's 4096 bytes and then the rest; nothing waits for a timer.
func TestJoinedConnSendsAPacketInOneCall(t *testing.T) {
	c, s := newJoined(t, time.Hour)
	w := bufio.NewWriter(c) // as x/crypto/ssh writes: 4096 bytes
	for _, n := range []int{32768 + 4 + 9 + 16, 4097, 8192, 8200, 70000} {
		before := len(s.snapshot())
		p := gcmPacket(w, n)
		calls := s.snapshot()[before:]
		if len(calls) != 1 || !bytes.Equal(calls[0], p) {
			t.Fatalf("a packet of %d bytes left in %d calls, want one holding it all", n, len(calls))
		}
	}
}

// A packet that fills the buffer exactly is whole (its clear length says
// so under AES-GCM), so it is sent at once, not held for a rest that will
// not come.
func TestJoinedConnSendsAWholePacketAtOnce(t *testing.T) {
	c, s := newJoined(t, time.Hour)
	p := gcmPacket(bufio.NewWriter(c), sshBufSize)
	if calls := s.snapshot(); len(calls) != 1 || !bytes.Equal(calls[0], p) {
		t.Fatalf("a whole packet of the buffer's size left in %d calls, want one at once", len(calls))
	}
}

// Under a cipher that hides the length, a whole packet of the buffer's
// size is held, and goes out alone when nothing follows it in time.
func TestJoinedConnSendsAHeldWriteInTime(t *testing.T) {
	c, s := newJoined(t, 10*time.Millisecond)
	p := bytes.Repeat([]byte{0xff}, sshBufSize) // the length reads as 4 GiB
	if n, err := c.Write(p); n != len(p) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(s.snapshot()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held write never left")
		}
	}
	if calls := s.snapshot(); len(calls) != 1 || !bytes.Equal(calls[0], p) {
		t.Fatalf("the held write left as %d calls", len(calls))
	}
}

// Whatever the sizes and however the timer falls, the bytes leave in
// the order they were written, each once.
func TestJoinedConnKeepsTheOrder(t *testing.T) {
	c, s := newJoined(t, time.Microsecond)
	rng := rand.New(rand.NewPCG(1, 2))
	var want []byte
	for i := range 2000 {
		n := sshBufSize
		if rng.IntN(3) == 0 {
			n = 1 + rng.IntN(3*sshBufSize)
		}
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i + j)
		}
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
		if rng.IntN(50) == 0 {
			time.Sleep(50 * time.Microsecond) // let a timer fire now and then
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Join(s.snapshot(), nil); !bytes.Equal(got, want) {
		t.Fatalf("%d bytes left, want the %d written in order", len(got), len(want))
	}
}

// A held write that fails when it finally goes out fails the next Write:
// it was reported written, so its loss must not pass unseen.
func TestJoinedConnReportsAHeldWriteFailure(t *testing.T) {
	c, s := newJoined(t, time.Millisecond)
	broken := errors.New("connection reset")
	if _, err := c.Write(make([]byte, sshBufSize)); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.fail = broken
	s.mu.Unlock()
	time.Sleep(50 * time.Millisecond) // the timer sends it, and fails
	if _, err := c.Write([]byte("next")); !errors.Is(err, broken) {
		t.Fatalf("write after a held write failed: %v, want %v", err, broken)
	}
}

// Close sends a held write before it closes: it may be a whole packet.
func TestJoinedConnCloseSendsAHeldWrite(t *testing.T) {
	c, s := newJoined(t, time.Hour)
	p := bytes.Repeat([]byte{0xff}, sshBufSize)
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if calls := s.snapshot(); len(calls) != 1 || !bytes.Equal(calls[0], p) {
		t.Fatalf("after Close, %d calls, want the held write", len(calls))
	}
}
