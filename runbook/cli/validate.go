package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidate(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Load and check the runbook file, and that the vault holds its secrets",
		Long: `Load and check the runbook file. Problems are printed as FILE:LINE:COL: message, one per line.

When the runbook refers to secrets and the vault exists, every reference is
looked up in it if a key is at hand without a prompt (--identity,
--vault-pass-file, RUNBOOK_VAULT_PASS_FILE, RUNBOOK_VAULT_PASSPHRASE) or a
terminal can ask; a secret the vault lacks is a problem at its place in the
file (exit 2). Otherwise validate says how many secrets it did not check.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			rb, err := g.load()
			if err != nil {
				return err
			}
			vc, err := g.checkSecretRefs(rb)
			if err != nil {
				return err
			}
			summary := rb.Summary()
			if vc.names > 0 && vc.unchecked == "" {
				summary += fmt.Sprintf("; %s in the vault", secretCount(vc.names, "all "))
			}
			fmt.Fprintf(g.stdout, "%s: ok — %s\n", g.file, summary)
			if vc.unchecked != "" {
				g.warn(fmt.Sprintf("%s not checked against the vault: %s", secretCount(vc.names, ""), vc.unchecked))
			}
			return nil
		},
	}
}
