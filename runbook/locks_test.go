package runbook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOwnerFileRoundTrip(t *testing.T) {
	o := EnvLockOwner{Operator: "alice", Machine: "laptop-a", PID: 4242, Env: "production", Version: "2.4.0", ReleaseID: 17,
		State: "postgres://runbook@db:5432/releases", StoreID: "9f3a", Since: time.Date(2026, 12, 4, 2, 0, 0, 123, time.UTC)}
	got, ok := ParseOwner(FormatOwner(o))
	if !ok || got != o {
		t.Fatalf("ParseOwner(FormatOwner(o)) = %+v, %v; want %+v", got, ok, o)
	}
	o.Operator = "mallory\nstore_id: forged"
	if got, _ := ParseOwner(FormatOwner(o)); got.StoreID != "9f3a" {
		t.Errorf("a newline in a value forged the store id: %+v", got)
	}
	for _, bad := range []string{"", "operator: alice\n", "garbage"} {
		if _, ok := ParseOwner(bad); ok {
			t.Errorf("ParseOwner(%q) accepted it", bad)
		}
	}
	if !o.Same(EnvLockOwner{StoreID: "9f3a", ReleaseID: 17}) || o.Same(EnvLockOwner{StoreID: "9f3a", ReleaseID: 18}) || (EnvLockOwner{}).Same(EnvLockOwner{}) {
		t.Error("Same is not store and release")
	}
}

func TestVerifyChain(t *testing.T) {
	if head, err := VerifyChain(nil); err != nil || head.Rows != 0 {
		t.Fatalf("empty chain: %+v, %v", head, err)
	}
	var ts []Transition
	prev := ""
	for i := range 3 {
		tr := Transition{ID: int64(i + 1), At: time.Unix(int64(i), 0), ReleaseID: 1, Scope: "release", To: "running", Operator: "a"}
		tr.Hash = ChainHash(prev, tr)
		prev = tr.Hash
		ts = append(ts, tr)
	}
	head, err := VerifyChain(ts)
	if err != nil || head.ID != 3 || head.Hash != ts[2].Hash || head.Rows != 3 {
		t.Fatalf("VerifyChain = %+v, %v", head, err)
	}
	swapped := []Transition{ts[0], ts[2], ts[1]}
	var brk *ChainBreakError
	if _, err := VerifyChain(swapped); !errors.As(err, &brk) || brk.ID != 3 || brk.Row != 2 {
		t.Errorf("rows out of order: %v", err)
	}
	// A field a hash could confuse with its neighbour: "ab"+"c" vs "a"+"bc".
	a, b := ts[0], ts[0]
	a.Event, a.Operator = "ab", "c"
	b.Event, b.Operator = "a", "bc"
	if ChainHash("", a) == ChainHash("", b) {
		t.Error("the hash does not keep fields apart")
	}
	ts[1].Reason = "edited"
	if _, err := VerifyChain(ts); !errors.As(err, &brk) || brk.ID != 2 || !strings.Contains(err.Error(), "transition 2") {
		t.Errorf("an edited row: %v", err)
	}
}
