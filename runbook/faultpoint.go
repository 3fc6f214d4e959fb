package runbook

// Hit is called at the named crash points of the engine and the store
// below. It does nothing in a normal build; a test build (-tags faults)
// replaces it to kill the process there with SIGKILL, so that the
// crash-point sweep can prove that a release killed at any of these
// moments resumes exactly (RELIABILITY.md). It must stay cheap: it runs on
// every host run.
var Hit = func(point string) {}

// Crash points of the engine and the store: the moments of a release where
// what is on disk and what happened on a host can disagree.
const (
	// PointIntentBefore: a host run is about to commit `running`; nothing
	// of this attempt is recorded or done yet.
	PointIntentBefore = "walk.intent.before"
	// PointIntentAfter: `running` and the run's token are committed; the
	// action has not started on the host.
	PointIntentAfter = "walk.intent.after"
	// PointOutcomeBefore: the action ended (exit code known, verified)
	// and its outcome is not committed yet.
	PointOutcomeBefore = "walk.outcome.before"
	// PointOutcomeAfter: the outcome is committed; the host's run markers
	// are not removed yet.
	PointOutcomeAfter = "walk.outcome.after"
	// PointUndoBefore: a host run's `undoing` is committed; its undo has
	// not started.
	PointUndoBefore = "rollback.undo.before"
	// PointUndoAfter: an undo ended and its outcome is not committed yet.
	PointUndoAfter = "rollback.undo.after"
	// PointStateTx: a write transaction of the state database has done
	// its writes and is not committed yet.
	PointStateTx = "state.tx"
	// PointLockBefore: a process is about to take the release lock.
	PointLockBefore = "lock.before"
	// PointLockAfter: the release lock is taken and its holder recorded.
	PointLockAfter = "lock.after"
)

// Points lists the crash points of this package and of the store, in the
// order a release meets them, for the test build to check a requested
// name against.
var Points = []string{
	PointLockBefore, PointLockAfter,
	PointIntentBefore, PointIntentAfter, PointOutcomeBefore, PointOutcomeAfter,
	PointUndoBefore, PointUndoAfter, PointStateTx,
}
