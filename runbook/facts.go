package runbook

import "strconv"

// The release facts runbook adds to the environment of every command it
// runs for a release: a step's command, verify, check and undo, on any
// host (SPEC §8 "Step environment"), and the hooks. A step's own env
// cannot set them: the loader refuses their names.
const (
	FactVersion   = "RUNBOOK_VERSION"    // the version the command acts for
	FactReleaseID = "RUNBOOK_RELEASE_ID" // the release's record id
	FactStep      = "RUNBOOK_STEP"       // the step's name
	FactHost      = "RUNBOOK_HOST"       // the host's name in the runbook
	FactOperator  = "RUNBOOK_OPERATOR"   // who runs runbook
)

// StepFacts are the release facts of a command of step on the host d
// names, for the release and version d names (a restart after a switch
// back runs for the restored version).
func StepFacts(d TemplateData, step, operator string) map[string]string {
	return map[string]string{
		FactVersion:   d.Version,
		FactReleaseID: strconv.FormatInt(d.Release.ID, 10),
		FactStep:      step,
		FactHost:      d.Host.Name,
		FactOperator:  operator,
	}
}

// The facts a hook gets beyond a step's (SPEC §3.7).
const (
	FactHook         = "RUNBOOK_HOOK"          // on_start, on_success, on_failure or on_rollback
	FactRunbook      = "RUNBOOK_NAME"          // the runbook's name:
	FactReleaseKind  = "RUNBOOK_RELEASE_KIND"  // release, or rollback (rollback --to)
	FactReleaseState = "RUNBOOK_RELEASE_STATE" // the state the release just reached
	FactMachine      = "RUNBOOK_MACHINE"       // the operator's machine
	FactReason       = "RUNBOOK_REASON"        // why it got there, as recorded ("" for none)
)

// HookFacts are the environment of hook name, run when release r reached
// its state for reason; step is the failed step of on_failure, else "".
func HookFacts(name string, rb *Runbook, r *Release, step, operator, machine, reason string) map[string]string {
	return map[string]string{
		FactHook:         name,
		FactRunbook:      rb.Name,
		FactVersion:      r.Version,
		FactReleaseID:    strconv.FormatInt(r.ID, 10),
		FactReleaseKind:  r.Kind,
		FactReleaseState: string(r.State),
		FactStep:         step,
		FactOperator:     operator,
		FactMachine:      machine,
		FactReason:       reason,
	}
}

// isFact reports a variable name runbook sets itself.
func isFact(name string) bool {
	switch name {
	case FactVersion, FactReleaseID, FactStep, FactHost, FactOperator:
		return true
	}
	return false
}
