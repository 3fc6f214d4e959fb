package e2e

// Helpers of the network, disk and secrets fault tests (issue 8 part B,
// `make faults-net`). Named apart from the crash sweep's helpers, which
// live in the same package.

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state"
)

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
