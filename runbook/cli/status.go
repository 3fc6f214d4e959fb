package cli

import (
	"encoding/json"
	"time"

	"github.com/fatih/color"
	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/report"
	"github.com/spf13/cobra"
)

func newStatus(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Where the current (else the last) release stands, and what to do next",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rb, st, err := g.readStore()
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			if !asJSON {
				g.showDeployLock(ctx, st)
			}
			r, err := st.Unfinished(ctx)
			if err != nil {
				return err
			}
			if r == nil {
				rels, err := st.Releases(ctx)
				if err != nil {
					return err
				}
				if len(rels) == 0 {
					return runbook.WithHint(runbook.NothingToDo("nothing recorded yet", "no release has run here"), "`runbook start --version V` starts the first release")
				}
				r = rels[len(rels)-1]
			}
			steps, err := st.Steps(ctx, r.ID)
			if err != nil {
				return err
			}
			name := r.RunbookName
			if rb != nil {
				name = rb.Name
			}
			doc := report.BuildStatus(name, r, steps)
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			live, err := st.LiveVersions(ctx)
			if err != nil {
				return err
			}
			notes, err := st.Notes(ctx, r.ID)
			if err != nil {
				return err
			}
			return report.StatusText(g.stdout, report.StatusRecord{Release: r, Steps: steps, Notes: notes, Live: live}, terminalStyle())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (SPEC §7 shape)")
	return cmd
}

// stateColor colours a state name (status and history): green when done,
// red when failed, yellow while in between, faint before anything ran.
func stateColor(s string) string {
	switch s {
	case "succeeded", "undone", "rolled_back":
		return green.Sprint(s)
	case "failed", "undo_failed", "aborted":
		return red.Sprint(s)
	case "running", "undoing", "rolling_back", "interrupted", "paused":
		return yellow.Sprint(s)
	}
	return faint.Sprint(s)
}

// terminalStyle colours the status text like the rest of the output
// (plain when colour is off) and shows times in the operator's zone.
func terminalStyle() report.Style {
	return report.Style{Zone: time.Local, Bold: paint(bold), Faint: paint(faint), Warn: paint(yellow), State: stateColor}
}

func paint(c *color.Color) func(string) string {
	return func(s string) string { return c.Sprint(s) }
}
