package runbook

import "fmt"

// The checks of versions read back from the state database (H-1). Every
// version entering a record now passes CheckVersion, but a record written
// before that — or by a copied or edited database — may hold anything,
// and a version becomes a path that undo removes and a word in commands.
// The engine calls CheckRecorded where it reads a recorded release.

// CheckRecorded refuses to walk, undo or roll back a release whose
// recorded version is not a version: nothing on any host is touched.
// Ending it with `runbook abort` (which runs nothing) stays possible.
func CheckRecorded(r *Release) error {
	if err := CheckVersion(r.Version); err != nil {
		return WithHint(fmt.Errorf("the %s recorded as #%d: %w; runbook runs nothing for it", r.Kind, r.ID, err),
			"`runbook abort` ends it without touching any host; clean up what it did by hand")
	}
	return nil
}
