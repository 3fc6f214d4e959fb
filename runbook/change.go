package runbook

// Change says what a step changes, which decides how a rollback undoes it
// (the undo policy: docs/SPEC.md "Rollback"). Each step kind says it for
// its steps (steps.Kind.Changes); the engine asks through
// Executor.Changes.
type Change int

// What steps change.
const (
	// ChangesNothing: the step only reads (confirm, diff, probe), or its
	// author declared `undo: none`. A rollback passes it over.
	ChangesNothing Change = iota
	// ChangesBuild: a command on a local environment without a deploy_dir
	// (svn up, mvn package): it changes only the operator's build
	// directory, and a rollback passes it over with a note.
	ChangesBuild
	// ChangesHosts: a command that changes hosts. A rollback runs its
	// undo; without one, the operator must say it was undone by hand.
	ChangesHosts
	// ChangesStaged: an upload. Its built-in undo removes the release.
	ChangesStaged
	// ChangesCurrent: an activate. Its built-in undo switches current
	// back, then runs the environment's ChangesRunning steps again.
	ChangesCurrent
	// ChangesRunning: an op step that runs after the activate step of its
	// environment (a restart): it acts on the running application. A
	// rollback does not undo it by itself (it takes no undo): the switch
	// back runs its operation again, against the restored release, with
	// its verify.
	ChangesRunning
)

func (c Change) String() string {
	return [...]string{"nothing", "the build directory", "hosts", "staged releases", "current", "the running application"}[c]
}

// Switch returns the activate step of s's environment that comes before s
// in the runbook (the switch whose release s acts on), or nil. A step not
// (yet) in the runbook counts as its next one: the loader asks while it
// decodes s.
func (rb *Runbook) Switch(s *Step) *Step {
	var sw *Step
	for _, x := range rb.Steps {
		if x == s {
			break
		}
		if x.Kind == KindActivate && x.On == s.On {
			sw = x
		}
	}
	return sw
}

// Restarts lists the steps that act on the running application after
// activate step sw switched its environment (the ChangesRunning steps it
// precedes), in runbook order: what a rollback runs again after
// switching that environment back.
func (rb *Runbook) Restarts(sw *Step) []*Step {
	var out []*Step
	for _, x := range rb.Steps {
		if x.Kind == KindOp && x.On == sw.On && !x.NoUndo && rb.Switch(x) == sw {
			out = append(out, x)
		}
	}
	return out
}
