package cli

import (
	"fmt"
	"os"

	"github.com/runbook-dev/runbook/secrets"
	"github.com/spf13/cobra"
)

func newVaultInit(g *globals) *cobra.Command {
	var recipients []string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create an empty vault, locked with a passphrase or to the age keys of a team",
		Long: `Create an empty vault (mode 0600). It is locked with a passphrase, taken
from --vault-pass-file, RUNBOOK_VAULT_PASS_FILE or RUNBOOK_VAULT_PASSPHRASE,
else asked twice; or, with --recipient, to the age public keys of a team:
whoever holds a matching identity opens it (--identity, RUNBOOK_IDENTITY).
The keys are also written to the recipients file beside the vault
(secrets.vault.recipients), the reviewed list every save seals to: commit
both. An existing vault is never replaced.`,
		Example: `  runbook vault init
  RUNBOOK_VAULT_PASS_FILE=~/.config/runbook/pass runbook vault init
  runbook vault init --recipient age1alice... --recipient age1bob...`,
		Args: noArgs("init"),
		RunE: func(*cobra.Command, []string) error {
			if len(recipients) > 0 && g.passFile != "" {
				return usagef("--recipient and --vault-pass-file exclude each other: a vault is locked either to age recipients or with a passphrase")
			}
			path, err := g.vaultFile()
			if err != nil {
				return err
			}
			// Checked before asking for a passphrase twice; Create checks
			// again, atomically.
			if _, err := os.Lstat(path); err == nil {
				return &vaultError{kind: secrets.ErrExists,
					msg: fmt.Sprintf("a vault already exists at %s: nothing was changed; `runbook vault rekey` changes its key", path)}
			}
			fromEnv := func() ([]byte, string, bool, error) { return secrets.PassphraseFromEnv(g.passFile, g.getenv) }
			enc, err := g.newLock(path, recipients, fromEnv,
				"set RUNBOOK_VAULT_PASS_FILE (or --vault-pass-file, RUNBOOK_VAULT_PASSPHRASE), or lock it to age keys with --recipient")
			if err != nil {
				return err
			}
			v, err := secrets.Create(path, enc)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "created the vault %s, locked with %s\n", v.Path(), v.Protection())
			if len(recipients) > 0 {
				fmt.Fprintf(g.stdout, "its recipients are listed in %s: commit it with the vault; every save seals to exactly that list\n", secrets.RecipientsFile(v.Path()))
				fmt.Fprintf(g.stdout, "open it with --identity FILE or RUNBOOK_IDENTITY; add secrets with `runbook vault set NAME`\n")
			} else {
				fmt.Fprintf(g.stdout, "add secrets with `runbook vault set NAME`\n")
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&recipients, "recipient", nil, "age public key (age1...) of a teammate who may open the vault (repeatable)")
	return cmd
}
