package runbook

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// The audit chain. Every transition row carries the SHA-256 of its fields
// and of the hash of the row committed before it, so a row edited in place,
// removed or slipped in between breaks every hash after it. Both stores
// compute it with ChainHash when they insert a row, and VerifyChain checks
// what they return from Store.Chain: one definition, so a chain written by
// one backend verifies in the same way as the other's.
//
// The hash has no key: whoever can write the database can rewrite the
// whole chain after an edit. What such a rewrite cannot keep is the head,
// which is why the report prints it: a head kept outside the database
// (in the change ticket, the report archive) pins everything before it.

// chainVersion names the encoding, so that a change of it can never pass
// for an edit of the rows.
const chainVersion = "runbook-audit-v1"

// chainTime is the one text form of a transition's time in the hash: UTC,
// nine fraction digits, so a time hashes alike whatever the store keeps.
const chainTime = "2006-01-02T15:04:05.000000000Z"

// ChainHash returns the hex hash of t (every field but Hash) chained to
// prev, the hash of the transition committed before it ("" for the first).
func ChainHash(prev string, t Transition) string {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	id := func(v int64) { field(strconv.FormatInt(v, 10)) }
	field(chainVersion)
	field(prev)
	id(t.ID)
	field(t.At.UTC().Format(chainTime))
	id(t.ReleaseID)
	id(t.StepRunID)
	id(t.HostRunID)
	for _, s := range []string{t.Scope, t.From, t.To, t.Event, t.Operator, t.OSUser, t.Machine, t.Reason} {
		field(s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ChainHead is where a verified chain ends.
type ChainHead struct {
	Rows int    // transitions in the chain
	ID   int64  // id of the last one; 0 for an empty chain
	Hash string // its hash; "" for an empty chain
	At   time.Time
}

// ChainBreakError names the first transition whose stored hash is not
// the hash of its fields and of the row before it.
type ChainBreakError struct {
	Row       int   // 1-based position in commit order
	ID        int64 // the transition's id
	ReleaseID int64
	Stored    string // the hash the row holds
	Want      string // the hash its fields and the previous row give
	Why       string // what else is wrong ("ids out of order"), "" when only the hash differs
}

func (e *ChainBreakError) Error() string {
	what := "its hash does not match its fields and the row before it"
	if e.Why != "" {
		what = e.Why
	}
	return fmt.Sprintf("audit chain broken at transition %d (row %d of the chain, release #%d): %s", e.ID, e.Row, e.ReleaseID, what)
}

// VerifyChain recomputes the hash of every transition of ts, in the order
// given (commit order, as Store.Chain returns them), and returns the head,
// or the first row that does not match as *ChainBreakError.
func VerifyChain(ts []Transition) (ChainHead, error) {
	prev := ""
	var last int64
	for i, t := range ts {
		brk := &ChainBreakError{Row: i + 1, ID: t.ID, ReleaseID: t.ReleaseID, Stored: t.Hash}
		if i > 0 && t.ID <= last {
			brk.Why = fmt.Sprintf("its id follows %d: rows are out of commit order", last)
			return ChainHead{}, brk
		}
		brk.Want = ChainHash(prev, t)
		if t.Hash != brk.Want {
			return ChainHead{}, brk
		}
		prev, last = t.Hash, t.ID
	}
	if len(ts) == 0 {
		return ChainHead{}, nil
	}
	end := ts[len(ts)-1]
	return ChainHead{Rows: len(ts), ID: end.ID, Hash: end.Hash, At: end.At}, nil
}
