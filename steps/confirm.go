package steps

import (
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// confirmKind is `confirm: QUESTION` with its sign-offs: the engine asks
// the operator; nothing runs on a host.
type confirmKind struct{ noHostAction }

// Describe implements Kind.
func (confirmKind) Describe(_ *runbook.Runbook, s *runbook.Step, _ string) string {
	d := "confirm: " + s.Confirm
	if len(s.Signoff) > 0 {
		d += " (sign-off: " + strings.Join(s.Signoff, ", ") + ")"
	}
	return d
}

// Changes implements Kind.
func (confirmKind) Changes(*runbook.Runbook, *runbook.Step) runbook.Change {
	return runbook.ChangesNothing
}
