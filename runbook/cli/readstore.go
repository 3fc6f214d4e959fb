package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state"
)

// readStore opens the state database read-only for commands that only
// look (status, history, report): they never block a running release and
// never create anything.
func (g *globals) readStore() (*runbook.Runbook, *state.Store, error) {
	rb, err := g.load()
	if err != nil {
		// status after an interruption must work even if the runbook file
		// was broken in the meantime, when --state names the database.
		if g.state == "" {
			return nil, nil, err
		}
		rb = nil
	}
	path := g.statePath(rb)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return rb, nil, runbook.WithHint(runbook.NothingToDo("nothing recorded yet", fmt.Sprintf("no release has run here (no state database at %s)", path)),
			"`runbook start --version V` starts the first release")
	}
	// The state package's errors name the database and say what to do.
	st, err := state.OpenReadOnly(path)
	if err != nil {
		return rb, nil, err
	}
	return rb, st, nil
}
