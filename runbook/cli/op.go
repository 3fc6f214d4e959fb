package cli

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
)

func newOp(g *globals) *cobra.Command {
	var host string
	cmd := &cobra.Command{
		Use:   "op ENV NAME",
		Short: "Run a named operation (restart, status, logs, ...) on the hosts of an environment",
		Long: `Run one of an environment's operations on its hosts (or on one with --host),
the environment's parallel at a time, with each line of output prefixed by
its host. It takes no release lock, so it works while a release runs; each
host's run is recorded in the state database as an operation.`,
		Example: `  runbook op production status
  runbook op production restart --host prod2`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeEnvOp,
		RunE: func(cmd *cobra.Command, args []string) error {
			rb, err := g.load()
			if err != nil {
				return err
			}
			r, err := g.reach(rb)
			if err != nil {
				return err
			}
			defer r.Close()
			return g.runOp(cmd.Context(), r, args[0], args[1], host)
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "run on this host of the environment only")
	return cmd
}

// runOp runs the operation name of an environment on its hosts.
func (g *globals) runOp(ctx context.Context, r *reach, envName, name, host string) error {
	env, hosts, err := selectHosts(r.rb, envName, host)
	if err != nil {
		return err
	}
	tmpl, ok := env.Operations[name]
	if !ok {
		if len(env.OpOrder) == 0 {
			return usagef("environment %s has no operations: add operations: {%s: COMMAND} to it in %s", env.Name, name, filepath.Base(r.rb.File))
		}
		return usagef("environment %s has no operation %q: it has %s", env.Name, name, strings.Join(env.OpOrder, ", "))
	}
	return g.runOnHosts(ctx, r, hostJob{
		env: env, hosts: hosts, name: name, title: "operation " + name,
		command: func(h *runbook.Host) (string, error) { return r.render("operation "+name, tmpl, h) },
	})
}

// completeEnvOp completes ENV, then the operations of that environment.
func (g *globals) completeEnvOp(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	rb := g.completionRunbook()
	switch {
	case rb == nil:
	case len(args) == 0:
		return rb.EnvOrder, cobra.ShellCompDirectiveNoFileComp
	case len(args) == 1 && rb.Envs[args[0]] != nil:
		return rb.Envs[args[0]].OpOrder, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}
