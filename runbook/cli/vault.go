package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/spf13/cobra"
)

func newVault(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Manage the encrypted vault of credentials (init, set, get, list, rm, rekey, recipients)",
		Long: `The vault is one age-encrypted file (secrets.vault beside the runbook file,
the runbook's vault: key, or --vault) holding the credentials a release
needs. Runbooks refer to them as secret:NAME in auth fields and
{{ secret "NAME" }} in commands; every value is masked (****) in the
terminal, the logs, the database and the reports.

The key is, in this order: --identity or RUNBOOK_IDENTITY (an age identity
file, for a vault locked to recipients), --vault-pass-file,
RUNBOOK_VAULT_PASS_FILE, RUNBOOK_VAULT_PASSPHRASE, else a hidden prompt;
once read, it is masked like the secrets. A team vault is sealed to the
keys of its recipients file beside it (secrets.vault.recipients), which is
reviewed under version control: see ` + "`runbook vault recipients --help`" + `.`,
		// Without this, cobra shows the help and exits 0 for a mistyped
		// subcommand, and a script would think the vault was changed.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			err := usagef("unknown vault command %q: use init, set, get, list, rm, rekey or recipients (see `runbook vault --help`)", args[0])
			if s := suggestCommand(cmd, args[0]); s != "" {
				return runbook.WithHint(err, fmt.Sprintf("did you mean `runbook vault %s`?", s))
			}
			return err
		},
	}
	cmd.AddCommand(newVaultInit(g), newVaultSet(g), newVaultGet(g), newVaultList(g), newVaultRm(g), newVaultRekey(g), newVaultRecipients(g))
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

// openVaultFile opens the vault of the vault commands, to read it, with
// the key found the usual way (identity, pass file, environment, prompt).
func (g *globals) openVaultFile() (*secrets.Vault, error) {
	path, dec, err := g.vaultKey()
	if err != nil {
		return nil, err
	}
	v, err := secrets.Open(path, dec)
	return v, g.openedWith(dec, recipientsHint(err))
}

// updateVaultFile opens the vault of the vault commands to change it: it
// holds the vault's lock until the caller closes it, so that a concurrent
// update waits rather than loses this one's change or has its own lost.
func (g *globals) updateVaultFile(ctx context.Context) (*secrets.Vault, error) {
	path, dec, err := g.vaultKey()
	if err != nil {
		return nil, err
	}
	v, err := secrets.OpenForUpdate(ctx, path, dec, g.waitingFor(path))
	return v, g.openedWith(dec, lockWaitEnded(recipientsHint(err)))
}

// vaultKey returns the vault of the vault commands and its key, checking
// the file before asking for a passphrase that would open nothing.
func (g *globals) vaultKey() (string, secrets.Decrypter, error) {
	path, err := g.vaultFile()
	if err != nil {
		return "", nil, err
	}
	if err := secrets.CheckVaultFile(path); errors.Is(err, secrets.ErrNoVault) {
		return "", nil, &vaultError{kind: secrets.ErrNoVault, msg: fmt.Sprintf("no vault at %s: create one with `runbook vault init`, or point --vault at yours", path)}
	} else if err != nil {
		return "", nil, err
	}
	dec, err := g.decrypter(path)
	if err != nil {
		return "", nil, stoppedAtPrompt(err)
	}
	return path, dec, nil
}

// waitingFor says, once, that an update waits for another one's lock.
func (g *globals) waitingFor(path string) func() {
	return func() {
		fmt.Fprintf(g.stderr, "waiting for another runbook to finish changing the vault %s...\n", path)
	}
}

// lockWaitEnded turns Ctrl-C while waiting for the vault's lock into an
// interruption (exit 130) that changed nothing.
func lockWaitEnded(err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w while waiting for the vault's lock: nothing was changed", runbook.ErrInterrupted)
	}
	return err
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
