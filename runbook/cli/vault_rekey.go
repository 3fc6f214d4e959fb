package cli

import (
	"fmt"

	"github.com/runbook-dev/runbook/secrets"
	"github.com/spf13/cobra"
)

func newVaultRekey(g *globals) *cobra.Command {
	var newPassFile string
	var recipients []string
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Lock the vault with a new passphrase, or to a new set of age keys",
		Long: `Open the vault with its current key, then lock it with a new passphrase,
taken from --new-pass-file or RUNBOOK_NEW_VAULT_PASSPHRASE, else asked
twice; or, with --recipient, to the age public keys of a team (which also
turns a passphrase vault into a team vault; the recipients file beside the
vault is rewritten to list them). The file is replaced atomically: a crash
leaves the old vault or the new one.`,
		Example: `  runbook vault rekey
  RUNBOOK_VAULT_PASS_FILE=old.pass runbook vault rekey --new-pass-file new.pass
  runbook vault rekey --identity ~/.config/age/key.txt --recipient age1alice... --recipient age1carol...`,
		Args: noArgs("rekey"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(recipients) > 0 && newPassFile != "" {
				return usagef("--recipient and --new-pass-file exclude each other: a vault is locked either to age recipients or with a passphrase")
			}
			v, err := g.updateVaultFile(cmd.Context())
			if err != nil {
				return err
			}
			defer v.Close()
			fromEnv := func() ([]byte, string, bool, error) { return secrets.NewPassphraseFromEnv(newPassFile, g.getenv) }
			enc, err := g.newLock(v.Path(), recipients, fromEnv,
				"set RUNBOOK_NEW_VAULT_PASSPHRASE (or --new-pass-file), or lock it to age keys with --recipient")
			if err != nil {
				return err
			}
			before, team := v.Protection(), len(v.Recipients()) > 0
			if err := v.Rekey(enc); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "rekeyed the vault %s: now locked with %s (was %s)\n", v.Path(), v.Protection(), before)
			file := secrets.RecipientsFile(v.Path())
			switch {
			case len(recipients) > 0:
				fmt.Fprintf(g.stdout, "its recipients are listed in %s: commit it with the vault\n", file)
				// The vault cannot tell whether the caller's own key is
				// among the recipients: say it while the old copy may
				// still be at hand.
				fmt.Fprintf(g.stdout, "open it with --identity FILE or RUNBOOK_IDENTITY; a holder of none of these keys can no longer open it\n")
			case team:
				fmt.Fprintf(g.stdout, "removed %s: a passphrase vault has no recipients\n", file)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&newPassFile, "new-pass-file", "", "file holding the new passphrase (env RUNBOOK_NEW_VAULT_PASSPHRASE)")
	cmd.Flags().StringArrayVar(&recipients, "recipient", nil, "age public key (age1...) to lock the vault to from now on (repeatable)")
	return cmd
}
