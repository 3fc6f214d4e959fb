package cli

import (
	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/spf13/cobra"
)

func newRollback(g *globals) *cobra.Command {
	var to string
	var envs []string
	cmd := &cobra.Command{
		Use:   "rollback [--to V [--env E]...]",
		Short: "Undo the latest release step by step, or switch environments back to a staged release",
		Long: `Without --to: undo the latest release — its completed steps in reverse
order, each through its undo (built in for upload and activate). Switching an
environment back is followed, on each host, by its restart steps run again on
the restored release, with their verify; the rollback is done only when they
pass. A step that changed hosts and has no undo is never assumed undone: the
operator says what was done by hand (with --yes it stops, exit 3).
Interrupted, it continues where it stopped when run again.

With --to V: check that V is staged and intact on every host of the
environments (default: every environment with a deploy_dir), then switch
each host's current to it and run the environment's restart operation.
--env E without --to takes each environment back to the release live
before its current one. Recorded as a release of kind rollback.`,
		Example: `  runbook rollback --yes
  runbook rollback --to 2.3.1 --env production`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to != "" {
				if err := runbook.CheckVersion(to); err != nil {
					return badVersion("--to", err)
				}
			}
			if err := g.needTerminal("rollback"); err != nil {
				return err
			}
			s, err := g.open(cmd.Context(), "rollback", to)
			if err != nil {
				return err
			}
			defer s.Close()
			e := g.engine(s, nil, nil, false)
			// --env alone means --to the previous release of those environments.
			if cmd.Flags().Changed("to") || len(envs) > 0 {
				err = e.RollbackTo(cmd.Context(), engine.RollbackToOptions{Version: to, Envs: envs})
			} else {
				err = e.Rollback(cmd.Context())
			}
			return g.afterWalk(cmd.Context(), s, e, err)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "switch back to this already staged version (empty: the previous one)")
	cmd.Flags().StringArrayVar(&envs, "env", nil, "environment to switch (repeatable; default: all with a deploy_dir)")
	g.takeOverFlag(cmd)
	return cmd
}
