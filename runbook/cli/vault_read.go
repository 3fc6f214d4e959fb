package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newVaultGet(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Print the value of a secret (in plain text, by design)",
		Long: `Print the value of the secret NAME on stdout, unmasked: this is the one
command that shows a secret. A newline is added unless the value ends
with one, so ` + "`runbook vault get NAME | runbook vault set OTHER`" + ` copies it.`,
		Example: `  runbook vault get db/password
  runbook vault get ssh/deploy_key > deploy_key && chmod 600 deploy_key`,
		Args: secretName("get"),
		RunE: func(_ *cobra.Command, args []string) error {
			v, err := g.openVaultFile()
			if err != nil {
				return err
			}
			value, err := v.Get(args[0])
			if err != nil {
				return err
			}
			// Straight to stdout, past the masker: showing it is the point.
			if !strings.HasSuffix(value, "\n") {
				value += "\n"
			}
			_, err = fmt.Fprint(g.stdout, value)
			return err
		},
	}
}

func newVaultList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the names of the secrets, one per line (never their values)",
		Args:  noArgs("list"),
		RunE: func(*cobra.Command, []string) error {
			v, err := g.openVaultFile()
			if err != nil {
				return err
			}
			names := v.Names()
			if len(names) == 0 {
				// On stderr: a script reading the list gets no line for no secret.
				fmt.Fprintf(g.stderr, "the vault %s holds no secrets yet: add one with `runbook vault set NAME`\n", v.Path())
				return nil
			}
			for _, name := range names {
				fmt.Fprintln(g.stdout, name)
			}
			return nil
		},
	}
}

func newVaultRm(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a secret from the vault",
		Args:    secretName("rm"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := g.updateVaultFile(cmd.Context())
			if err != nil {
				return err
			}
			defer v.Close()
			if err := v.Remove(args[0]); err != nil {
				return err
			}
			if err := v.Save(); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "removed %s from the vault %s\n", args[0], v.Path())
			return nil
		},
	}
}
