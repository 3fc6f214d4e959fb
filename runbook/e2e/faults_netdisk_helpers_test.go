package e2e

// Helpers of the network, disk and secrets fault tests (issue 8 part B,
// `make faults-net`). Named apart from the crash sweep's helpers, which
// live in the same package.

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state"
)

// ndFull reports whether the long runs were asked for (make faults-net).
func ndFull() bool { return os.Getenv("RUNBOOK_FAULTS") == "full" }

// ndRounds is quick rounds in `make test`, full ones in `make faults-net`.
func ndRounds(quick, full int) int {
	if ndFull() {
		return full
	}
	return quick
}

// ndRand returns a generator seeded from RUNBOOK_FAULTS_SEED, else from the
// clock; the seed is logged so a failing run can be replayed.
func ndRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RUNBOOK_FAULTS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("RUNBOOK_FAULTS_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (RUNBOOK_FAULTS_SEED=%d replays it)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}

// ndFigure logs a measured figure; `make faults-net` collects the lines.
// The figure of a test that failed says so first, since its "0 ..."
// claims do not hold.
func ndFigure(t *testing.T, format string, args ...any) {
	t.Helper()
	if t.Failed() {
		format = "FAILED: " + format
	}
	t.Logf("figure: "+format, args...)
}

// recorded is every transition of every release in a state database, in
// commit order, or nil when there is no database yet.
func recorded(t *testing.T, dir string) []runbook.Transition {
	t.Helper()
	db := filepath.Join(dir, ".runbook", "state.db")
	if _, err := os.Stat(db); err != nil {
		return nil
	}
	st, err := state.OpenReadOnly(db)
	if err != nil {
		// A database the failed run created but gave no schema: nothing
		// was recorded in it.
		return nil
	}
	defer st.Close()
	rels, err := st.Releases(t.Context())
	if err != nil {
		t.Fatalf("read the releases: %v", err)
	}
	var all []runbook.Transition
	for _, r := range rels {
		ts, err := st.Transitions(t.Context(), r.ID)
		if err != nil {
			t.Fatalf("read the transitions of release %d: %v", r.ID, err)
		}
		all = append(all, ts...)
	}
	return all
}

// keptAll reports the first transition of before that after lost or
// changed: what was committed must survive whatever happens next.
func keptAll(before, after []runbook.Transition) (runbook.Transition, bool) {
	byID := map[int64]runbook.Transition{}
	for _, tr := range after {
		byID[tr.ID] = tr
	}
	for _, tr := range before {
		got, ok := byID[tr.ID]
		if !ok || !got.At.Equal(tr.At) || got.Scope != tr.Scope || got.From != tr.From || got.To != tr.To || got.Event != tr.Event || got.Reason != tr.Reason {
			return tr, false
		}
	}
	return runbook.Transition{}, true
}

// ndPercentile returns the p-th percentile (nearest rank) of xs.
func ndPercentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
