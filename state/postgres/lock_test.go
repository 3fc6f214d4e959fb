package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state/postgres/pgtest"
)

func openURL(t *testing.T, url string, o Options) *Store {
	t.Helper()
	if o.Reconnect == 0 {
		o.Reconnect = 20 * time.Second
	}
	s, err := Open(context.Background(), url, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRelease(t *testing.T, s *Store, version string) (*runbook.Release, []*runbook.StepRun) {
	t.Helper()
	r := &runbook.Release{Version: version, Kind: runbook.KindRelease, State: runbook.ReleasePlanned, Operator: "alice"}
	steps := []*runbook.StepRun{{Index: 0, Name: "deploy", Kind: runbook.KindRun, State: runbook.RunPending,
		Hosts: []*runbook.HostRun{{Host: "h1", State: runbook.RunPending, ExitCode: -1}}}}
	if err := s.CreateRelease(context.Background(), r, steps, runbook.Transition{To: "planned", Event: "create"}); err != nil {
		t.Fatal(err)
	}
	return r, steps
}

// TestLockDiesWithItsConnection: a holder whose connection ends (its
// process killed, its machine gone) loses the lock at once, and the next
// holder takes it over with the old row as recovered, for the record.
func TestLockDiesWithItsConnection(t *testing.T) {
	_, url := newDB(t)
	a := openURL(t, url, Options{})
	newRelease(t, a, "2.0")
	if _, _, err := a.Lock(runbook.Holder{User: "alice", Machine: "laptop-a", PID: 11, Command: "start", Version: "2.0"}); err != nil {
		t.Fatal(err)
	}
	b := openURL(t, url, Options{})
	if _, _, err := b.Lock(runbook.Holder{User: "bob", Machine: "laptop-b", PID: 22, Command: "resume"}); !errors.As(err, new(*runbook.LockedError)) {
		t.Fatalf("Lock while alice holds it = %v", err)
	}
	a.Close() // the connection ends without an unlock, as at kill -9
	// The server frees the lock as soon as it sees the connection end,
	// a moment after the close.
	var (
		unlock    func()
		recovered *runbook.Holder
		err       error
	)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		unlock, recovered, err = b.Lock(runbook.Holder{User: "bob", Machine: "laptop-b", PID: 22, Command: "resume"})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("Lock after the holder's connection ended: %v", err)
	}
	defer unlock()
	if recovered == nil || recovered.User != "alice" || recovered.Machine != "laptop-a" || recovered.PID != 11 || recovered.Version != "2.0" {
		t.Errorf("recovered = %+v, want alice's holder", recovered)
	}
}

// TestRestartMidRelease: PostgreSQL restarts while a holder is idle and
// while it writes; the holder connects again, takes its lock back, and
// every write is recorded exactly once.
func TestRestartMidRelease(t *testing.T) {
	c := pgtest.Shared(t)
	_, url := newDB(t)
	s := openURL(t, url, Options{})
	unlock, _, err := s.Lock(runbook.Holder{User: "alice", Command: "start"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	r, steps := newRelease(t, s, "2.0")
	ctx := context.Background()
	h := steps[0].Hosts[0]
	for i := range 3 {
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			h.Attempts = i + 1
			done <- s.RecordHost(ctx, h, &runbook.Transition{From: "a", To: "b", Event: "write during the restart"})
		}()
		time.Sleep(300 * time.Millisecond)
		if err := c.Restart(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("restart %d: a write while the server was down: %v", i+1, err)
		}
	}
	ts, err := s.Transitions(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 4 {
		t.Errorf("%d transitions, want the creation and 3 writes, each once: %+v", len(ts), ts)
	}
	chain, _ := s.Chain(ctx)
	if _, err := runbook.VerifyChain(chain); err != nil {
		t.Error(err)
	}
	// Still the holder: another process is refused.
	other := openURL(t, url, Options{})
	if _, _, err := other.Lock(runbook.Holder{User: "bob"}); !errors.As(err, new(*runbook.LockedError)) {
		t.Errorf("after the restarts, another Lock = %v; want it refused, alice holds it", err)
	}
}

// TestLockLostWhileCut: the holder's connection is cut and another
// process takes the lock meanwhile; the first records nothing more and
// says who holds the lock now.
func TestLockLostWhileCut(t *testing.T) {
	c := pgtest.Shared(t)
	_, url := newDB(t)
	a := openURL(t, url, Options{Reconnect: 3 * time.Second})
	a.watchEvery = time.Hour // no reconnect before the write below
	r, _ := newRelease(t, a, "2.0")
	if _, _, err := a.Lock(runbook.Holder{User: "alice", Machine: "laptop-a", Command: "start"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Psql(strings.TrimPrefix(url[strings.LastIndex(url, "/"):strings.Index(url, "?")], "/"),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'runbook' AND pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	b := openURL(t, url, Options{})
	unlock, _, err := b.Lock(runbook.Holder{User: "bob", Machine: "laptop-b", PID: 33, Command: "resume"})
	if err != nil {
		t.Fatalf("bob's Lock after alice's connection was cut: %v", err)
	}
	defer unlock()
	r.State = runbook.ReleaseRunning
	err = a.RecordRelease(context.Background(), r, &runbook.Transition{From: "planned", To: "running", Event: "start"})
	var lost *LockLostError
	var le *runbook.LockedError
	if !errors.As(err, &lost) || !errors.As(err, &le) || le.Holder.User != "bob" || le.Holder.PID != 33 {
		t.Fatalf("alice's write after losing the lock = %v; want *LockLostError naming bob", err)
	}
	if got, _ := b.Release(context.Background(), r.ID); got.State != runbook.ReleasePlanned {
		t.Errorf("alice's refused write was recorded: %+v", got)
	}
}

// TestOpenReadOnlyEmpty: status on a database runbook never wrote says
// that no release has run there yet.
func TestOpenReadOnlyEmpty(t *testing.T) {
	_, url := newDB(t)
	_, err := Open(context.Background(), url, Options{ReadOnly: true})
	if !errors.Is(err, runbook.ErrNotFound) || !strings.Contains(err.Error(), "no release has run here yet") {
		t.Fatalf("OpenReadOnly of an empty database = %v", err)
	}
	rw := openURL(t, url, Options{})
	newRelease(t, rw, "1.0")
	ro := openURL(t, url, Options{ReadOnly: true})
	if rels, err := ro.Releases(context.Background()); err != nil || len(rels) != 1 {
		t.Errorf("Releases read-only = %+v, %v", rels, err)
	}
	if err := ro.AddNote(context.Background(), &runbook.Note{ReleaseID: 1, Kind: "x", Text: "y"}); err == nil {
		t.Error("a read-only store wrote")
	}
}

// TestPasswordAndRedact: the password comes from Options (the vault), and
// no message or display of the URL shows one.
func TestPasswordAndRedact(t *testing.T) {
	c := pgtest.Shared(t)
	name, err := c.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	bare := c.URL(name, false)
	if _, err := Open(context.Background(), bare, Options{Password: "wrong", Reconnect: time.Second}); err == nil ||
		strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), Redact(bare)) {
		t.Errorf("Open with a wrong password = %v; want a refusal naming the URL, not the password", err)
	}
	s := openURL(t, bare, Options{Password: pgtest.Password})
	if strings.Contains(s.URL(), pgtest.Password) {
		t.Errorf("URL() = %q shows the password", s.URL())
	}
	if got := Redact(c.URL(name, true)); strings.Contains(got, pgtest.Password) || got != bare {
		t.Errorf("Redact = %q, want %q", got, bare)
	}
	if got := Redact("postgres://u@h/db?password=p&sslmode=disable"); strings.Contains(got, "password") {
		t.Errorf("Redact of a password parameter = %q", got)
	}
}

// TestServerDownTooLong: a server that stays away longer than Reconnect
// stops the write with an error that says what happened and what to do,
// and nothing of that write is recorded.
func TestServerDownTooLong(t *testing.T) {
	c := pgtest.Shared(t)
	_, url := newDB(t)
	s := openURL(t, url, Options{Reconnect: time.Second})
	r, _ := newRelease(t, s, "2.0")
	unlock, _, err := s.Lock(runbook.Holder{User: "alice", Command: "start"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	r.State = runbook.ReleaseRunning
	err = s.RecordRelease(context.Background(), r, &runbook.Transition{From: "planned", To: "running", Event: "start"})
	if restartErr := c.Restart(); restartErr != nil {
		t.Fatal(restartErr)
	}
	if err == nil || !strings.Contains(err.Error(), "could not connect again within 1s") {
		t.Fatalf("a write while the server is down = %v", err)
	}
	var he *runbook.HintError
	if !errors.As(err, &he) || !strings.Contains(he.Hint, "runbook resume") {
		t.Errorf("no hint saying what to do: %v", err)
	}
	other := openURL(t, url, Options{})
	if got, err := other.Release(context.Background(), r.ID); err != nil || got.State != runbook.ReleasePlanned {
		t.Errorf("after the failed write the release is %+v, %v", got, err)
	}
}
