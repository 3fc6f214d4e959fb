package cli

import (
	"context"
	"time"

	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/report"
)

// recap prints the end-of-run recap (report.Recap) of the release a
// start, resume or rollback walked, whichever way it ended; nothing when
// the command found nothing to do. The record is read back from the
// store, as committed: what the recap says is what status will say.
func (g *globals) recap(ctx context.Context, s *session, e *engine.Engine) {
	r := e.Release()
	if r == nil || !e.Walked() {
		return
	}
	// Read after a Ctrl-C too: the walk's context may be done.
	steps, err := s.store.Steps(context.WithoutCancel(ctx), r.ID)
	if err != nil {
		s.ui.Warn("no recap: " + err.Error())
		return
	}
	_ = report.Recap(g.stdout, report.RecapRecord{Release: r, Steps: steps, Now: time.Now()}, terminalStyle())
}
