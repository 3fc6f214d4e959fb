package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/report"
	"github.com/spf13/cobra"
)

func newHistory(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Every release and rollback: id, version, state, operator, start, end, kind",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rels []*runbook.Release
			_, st, err := g.readStore()
			switch {
			case errors.Is(err, runbook.ErrNothingToDo):
				// No database yet: an empty history, not an error, so
				// that a script's `history --json | jq` works from the
				// first night on.
			case err != nil:
				return err
			default:
				defer st.Close()
				if rels, err = st.Releases(cmd.Context()); err != nil {
					return err
				}
			}
			if asJSON {
				docs := make([]*report.ReleaseDoc, 0, len(rels))
				for _, r := range rels {
					docs = append(docs, report.Release(r))
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(docs)
			}
			if len(rels) == 0 {
				fmt.Fprintln(g.stdout, "no release recorded yet; `runbook start --version V` starts the first")
				return nil
			}
			fmt.Fprintf(g.stdout, "%4s  %-12s %-9s %-13s %-10s %-25s %s\n", "ID", "VERSION", "KIND", "STATE", "OPERATOR", "STARTED", "ENDED")
			for _, r := range rels {
				end := "-"
				if !r.FinishedAt.IsZero() {
					end = r.FinishedAt.Local().Format(report.StampLayout)
				}
				// Recorded text is shown terminal-safe: a version or name
				// written before they were checked may hold anything.
				fmt.Fprintf(g.stdout, "%4d  %-12s %-9s %-13s %-10s %-25s %s\n", r.ID, runbook.TermSafeLine(r.Version), r.Kind, stateColor(string(r.State)), runbook.TermSafeLine(r.Operator), r.StartedAt.Local().Format(report.StampLayout), end)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: a list of release objects (SPEC §7)")
	return cmd
}
