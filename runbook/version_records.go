package runbook

import "fmt"

// The checks of versions read back from the state database (H-1). Every
// version entering a record now passes CheckVersion, but a record written
// before that — or by a copied or edited database — may hold anything,
// and a version becomes a path that undo removes and a word in commands.
// The engine calls these where it reads a recorded version; they live
// here so that the engine's own files change by a line each.

// checkRecordedVersion refuses to walk, undo or roll back a release whose
// recorded version is not a version: nothing on any host is touched.
// Ending it with `runbook abort` (which runs nothing) stays possible.
func checkRecordedVersion(r *Release) error {
	if err := CheckVersion(r.Version); err != nil {
		return WithHint(fmt.Errorf("the %s recorded as #%d: %w; runbook runs nothing for it", r.Kind, r.ID, err),
			"`runbook abort` ends it without touching any host; clean up what it did by hand")
	}
	return nil
}

// recordedPrevious is the version live before this release on l's host
// as the record says, or "" (unknown) when the record holds something that
// is not a version — a host's `current` link is read into this record,
// and a crafted link must not reach .Release.Previous in a command.
func (w *Walker) recordedPrevious(l Live, v string) string {
	if v == "" || CheckVersion(v) == nil {
		return v
	}
	w.UI.Warn(fmt.Sprintf("the version recorded as live before on %s/%s is not a version (%v): .Release.Previous is empty for it", l.Env, l.Host, CheckVersion(v)))
	return ""
}
