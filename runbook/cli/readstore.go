package cli

import (
	"context"

	"github.com/runbook-dev/runbook/runbook"
)

// readStore opens the state database read-only for commands that only
// look (status, history, report): they never block a running release and
// never create anything.
func (g *globals) readStore() (*runbook.Runbook, runbook.Store, error) {
	rb, err := g.load()
	if err != nil {
		// status after an interruption must work even if the runbook file
		// was broken in the meantime, when --state names the database.
		if g.state == "" {
			return nil, nil, err
		}
		rb = nil
	}
	st, err := g.openReadStore(context.Background(), rb)
	if err != nil {
		return rb, nil, err
	}
	return rb, st, nil
}
