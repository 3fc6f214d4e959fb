package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
)

func newLock(g *globals) *cobra.Command {
	var message string
	cmd := &cobra.Command{
		Use:   "lock --message M",
		Short: "Lock the releases: start and resume refuse, with the message, until `runbook unlock`",
		Long: `Lock the releases recorded in the state (a freeze, a night someone else
owns): while the lock stands, start and resume refuse with exit 4 and the
message, from any machine that shares the state. status shows it;
runbook unlock lifts it.`,
		Example: `  runbook lock --message "freeze until Monday: quarter-end close"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if message == "" {
				return usagef("lock needs --message M: the reason, shown to whoever is refused")
			}
			if err := runbook.CheckText("--message", message); err != nil {
				return err
			}
			rb, err := g.load()
			if err != nil {
				return err
			}
			st, err := g.openStore(cmd.Context(), rb)
			if err != nil {
				return err
			}
			defer st.Close()
			l := runbook.DeployLock{Message: message, Operator: g.operator(), Machine: machine(), At: time.Now().UTC()}
			if err := st.LockReleases(cmd.Context(), l); err != nil {
				return runbook.WithHint(err, "`runbook unlock` lifts the lock that stands (ask its operator first)")
			}
			fmt.Fprintf(g.stdout, "releases locked: %s\nstart and resume refuse until `runbook unlock`\n", message)
			return nil
		},
	}
	cmd.Flags().StringVarP(&message, "message", "m", "", "why the releases are locked (shown to whoever is refused)")
	return cmd
}

// showDeployLock prints the deliberate lock, when one stands (status).
func (g *globals) showDeployLock(ctx context.Context, st runbook.Store) {
	l, err := st.DeployLock(ctx)
	if err != nil || l == nil {
		return
	}
	msg := (&runbook.DeployLockedError{Lock: *l}).Error()
	fmt.Fprintf(g.stdout, "%s %s\n  start and resume refuse until `runbook unlock`\n\n", yellow.Sprint("LOCKED:"), g.masker.Mask(runbook.TermSafeLine(msg)))
}
