package state

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// TestHolderRead: the holder is reported as holding while its process
// runs (this process, through a read-only store as `runbook logs` opens
// it), and not once it unlocked or died holding the lock.
func TestHolderRead(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ro, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, held, err := ro.Holder(ctx); held || err != nil {
		t.Fatalf("no lock taken yet: held %v, %v", held, err)
	}
	unlock, _, err := s.Lock(runbook.Holder{User: "alice", Command: "start", Version: "2.4.0"})
	if err != nil {
		t.Fatal(err)
	}
	h, held, err := ro.Holder(ctx)
	if !held || err != nil || h.User != "alice" || h.PID != os.Getpid() || h.Version != "2.4.0" {
		t.Fatalf("while locked: %+v held %v, %v", h, held, err)
	}
	unlock()
	if _, held, err := ro.Holder(ctx); held || err != nil {
		t.Fatalf("after unlock: held %v, %v", held, err)
	}

	// A holder that died with the lock left its row: not held.
	pid, start := sleeper(t)
	host, _ := os.Hostname()
	plantHolder(t, s, holderRow{Holder: runbook.Holder{User: "bob", Machine: host, PID: pid, Command: "resume", Since: t0}, BootID: bootID(), Started: start})
	if h, held, _ := ro.Holder(ctx); !held || h.User != "bob" {
		t.Fatalf("a live holder's row: %+v held %v", h, held)
	}
	plantHolder(t, s, holderRow{Holder: runbook.Holder{User: "bob", Machine: host, PID: pid, Command: "resume", Since: t0}, BootID: bootID(), Started: start + 1})
	if h, held, _ := ro.Holder(ctx); held {
		t.Fatalf("a row whose process is gone (its pid now another's): %+v held", h)
	}
}
