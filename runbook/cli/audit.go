package cli

import (
	"fmt"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
)

func newAudit(g *globals) *cobra.Command {
	audit := &cobra.Command{
		Use:   "audit",
		Short: "Check the record of releases",
		Args:  cobra.NoArgs,
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain of every transition: ok, or the first row that does not match",
		Long: `Every transition row carries the hash of its fields and of the row before
it. verify recomputes the chain from the first row: exit 0 and the head
when every row matches, exit 1 naming the first row that does not (edited,
removed or slipped in behind runbook's back). Keep a head (the report
prints it): a chain that still ends in it, or passes through it, was not
rewritten since.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rb, err := g.load()
			if err != nil && g.state == "" {
				return err
			}
			st, err := g.openReadStore(cmd.Context(), rb)
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.Chain(cmd.Context())
			if err != nil {
				return err
			}
			head, err := runbook.VerifyChain(ts)
			if err != nil {
				return runbook.WithHint(err, "the record was changed behind runbook's back: compare with a backup, and with the chain heads in your reports")
			}
			if head.Rows == 0 {
				fmt.Fprintln(g.stdout, "audit chain ok: no transitions yet")
				return nil
			}
			fmt.Fprintf(g.stdout, "audit chain ok: %d transitions, head %s (transition %d, %s)\n",
				head.Rows, head.Hash, head.ID, head.At.UTC().Format(time.RFC3339))
			return nil
		},
	}
	audit.AddCommand(verify)
	return audit
}
