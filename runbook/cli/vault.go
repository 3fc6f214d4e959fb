package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/runbook-dev/runbook/secrets"
	"github.com/spf13/cobra"
)

func newVault(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Manage the encrypted vault of credentials (init, set, get, list, rm, rekey)",
		Long: `The vault is one age-encrypted file (secrets.vault beside the runbook file,
the runbook's vault: key, or --vault) holding the credentials a release
needs. Runbooks refer to them as secret:NAME in auth fields and
{{ secret "NAME" }} in commands; every value is masked (****) in the
terminal, the logs, the database and the reports.

The key is, in this order: --identity or RUNBOOK_IDENTITY (an age identity
file, for a vault locked to recipients), --vault-pass-file,
RUNBOOK_VAULT_PASS_FILE, RUNBOOK_VAULT_PASSPHRASE, else a hidden prompt.`,
		// Without this, cobra shows the help and exits 0 for a mistyped
		// subcommand, and a script would think the vault was changed.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usagef("unknown vault command %q: use init, set, get, list, rm or rekey (see `runbook vault --help`)", args[0])
		},
	}
	cmd.AddCommand(newVaultInit(g), newVaultSet(g), newVaultGet(g), newVaultList(g), newVaultRm(g), newVaultRekey(g))
	return cmd
}

// vaultFile is the vault the vault commands work on: --vault, else the one
// the runbook names. The runbook is read only without --vault, and a
// runbook file that does not exist yet is no error: the vault may come
// first, beside where it will be.
func (g *globals) vaultFile() (string, error) {
	if g.vault != "" {
		return g.vault, nil
	}
	if _, err := os.Stat(g.file); errors.Is(err, fs.ErrNotExist) {
		return g.vaultPath(nil), nil
	}
	rb, err := g.load()
	if err != nil {
		return "", err
	}
	return g.vaultPath(rb), nil
}

// openVaultFile opens the vault of the vault commands with the key found
// the usual way (identity, pass file, environment, prompt).
func (g *globals) openVaultFile() (*secrets.Vault, error) {
	path, err := g.vaultFile()
	if err != nil {
		return nil, err
	}
	// Said before asking for a passphrase that would open nothing.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, &vaultError{kind: secrets.ErrNoVault, msg: fmt.Sprintf("no vault at %s: create one with `runbook vault init`, or point --vault at yours", path)}
	}
	dec, err := g.decrypter(path)
	if err != nil {
		return nil, stoppedAtPrompt(err)
	}
	return secrets.Open(path, dec)
}

// vaultError is a vault failure the cli finds itself. Its message stands
// alone, and it matches its kind and so secrets.ErrVault (exit 5).
type vaultError struct {
	kind error
	msg  string
}

func (e *vaultError) Error() string { return e.msg }

func (e *vaultError) Unwrap() error { return e.kind }

// secretName checks the NAME argument before any passphrase is asked, so a
// typo costs no prompt and no scrypt.
func secretName(cmd string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("vault %s takes one secret NAME, like `runbook vault %s db/password`", cmd, cmd)
		}
		if !secrets.ValidName(args[0]) {
			return usagef("%q is not a valid secret name: use letters, digits and _ . / -", args[0])
		}
		return nil
	}
}

// noArgs refuses arguments with a usage error that names the command.
func noArgs(cmd string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("vault %s takes no arguments, got %q (see `runbook vault %s --help`)", cmd, args[0], cmd)
		}
		return nil
	}
}
