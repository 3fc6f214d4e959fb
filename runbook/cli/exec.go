package cli

import (
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
)

func newExec(g *globals) *cobra.Command {
	var host string
	cmd := &cobra.Command{
		Use:   "exec ENV [--host H] -- CMD...",
		Short: "Run an ad-hoc command on the hosts of an environment",
		Long: `Run a shell command on the hosts of an environment (or on one with --host),
the environment's parallel at a time, with each line of output prefixed by
its host. The command is run as typed, not as a template. It takes no
release lock; each host's run is recorded in the state database.`,
		Example: `  runbook exec production -- uptime
  runbook exec production --host prod1 -- 'tail -n 50 /opt/jboss/server/default/log/server.log'`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeEnvs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Everything after -- is the command; before it only ENV.
			if dash := cmd.ArgsLenAtDash(); dash > 1 || len(args) < 2 {
				return runbook.WithHint(usagef("exec takes ENV, then -- and the command"), "runbook exec ENV -- CMD, e.g. runbook exec production -- uptime")
			}
			// Joined with spaces, as ssh does: a pipe or redirection
			// quoted as one word reaches the host's shell intact.
			script := strings.Join(args[1:], " ")
			rb, err := g.load()
			if err != nil {
				return err
			}
			env, hosts, err := selectHosts(rb, args[0], host)
			if err != nil {
				return err
			}
			r, err := g.reach(rb)
			if err != nil {
				return err
			}
			defer r.Close()
			return g.runOnHosts(cmd.Context(), r, hostJob{
				env: env, hosts: hosts, name: "exec", title: "exec",
				command: func(*runbook.Host) (string, error) { return script, nil },
			})
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "run on this host of the environment only")
	return cmd
}
