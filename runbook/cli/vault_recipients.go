package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/runbook-dev/runbook/secrets"
	"github.com/spf13/cobra"
)

func newVaultRecipients(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recipients [list|add KEY...|rm KEY...|seal]",
		Short: "List or change the age keys a team vault is sealed to",
		Long: `A team vault is sealed to the age public keys listed in its recipients file,
beside it: secrets.vault.recipients (for --vault V, V.recipients). One key
a line; lines starting with # are comments, such as whose key it is; the
format is that of age -R. Every save seals the vault to exactly that
list, and the vault records the list it was sealed to: when the two
differ (someone wrote the vault, or edited the file without re-sealing),
every command refuses the vault (exit 5) and names the keys. Keep the
file under version control beside the vault and review its changes like
code: the vault itself cannot be reviewed, and age does not say who wrote
it.

  list (the default)  print the keys of the recipients file
  add KEY...          add keys to the file and re-seal the vault to it
  rm KEY...           remove keys from the file and re-seal the vault
  seal                re-seal the vault to exactly the file, after a
                      reviewed edit of it, or to adopt a file written for
                      a team vault that had none; prints what changed

A passphrase vault has no recipients: ` + "`runbook vault rekey --recipient KEY`" + `
makes it a team vault.`,
		Example: `  runbook vault recipients
  runbook vault recipients add age1carol... --identity ~/.config/age/key.txt
  runbook vault recipients rm age1bob...
  git pull && runbook vault recipients seal`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cobra.FixedCompletions([]string{"list", "add", "rm", "seal"}, cobra.ShellCompDirectiveNoFileComp),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return g.listRecipients()
			}
			switch verb, keys := args[0], args[1:]; verb {
			case "list", "seal":
				if len(keys) > 0 {
					return usagef("vault recipients %s takes no keys, got %q", verb, keys[0])
				}
				if verb == "list" {
					return g.listRecipients()
				}
				return g.sealRecipients(cmd)
			case "add", "rm", "remove":
				return g.changeRecipients(cmd, verb == "add", keys)
			default:
				return usagef("unknown vault recipients command %q: use list, add, rm or seal (see `runbook vault recipients --help`)", verb)
			}
		},
	}
	return cmd
}

// listRecipients prints the keys of the recipients file, one a line: the
// reviewed list, which needs no key to read.
func (g *globals) listRecipients() error {
	path, err := g.vaultFile()
	if err != nil {
		return err
	}
	file := secrets.RecipientsFile(path)
	keys, err := secrets.ReadRecipientsFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return &vaultError{kind: secrets.ErrRecipients, msg: fmt.Sprintf(
			"no recipients file at %s: the vault is locked with a passphrase, or its team has not listed its keys yet (see `runbook vault recipients --help`)", file)}
	}
	if err != nil {
		return err
	}
	for _, k := range keys {
		fmt.Fprintln(g.stdout, k)
	}
	return nil
}

// changeRecipients adds or removes keys: the recipients file is rewritten
// and the vault re-sealed to it, under the vault's lock.
func (g *globals) changeRecipients(cmd *cobra.Command, add bool, keys []string) error {
	verb := map[bool]string{true: "add", false: "rm"}[add]
	if len(keys) == 0 {
		return usagef("vault recipients %s takes one or more age public keys (age1...)", verb)
	}
	// Checked before any passphrase is asked.
	for _, k := range keys {
		if _, err := secrets.RecipientsEncrypter([]string{k}); err != nil {
			return err
		}
	}
	v, err := g.updateVaultFile(cmd.Context())
	if err != nil {
		return err
	}
	defer v.Close()
	file := secrets.RecipientsFile(v.Path())
	list := v.Recipients()
	if len(list) == 0 {
		return usagef("the vault %s is locked with a passphrase: `runbook vault rekey --recipient KEY` makes it a team vault", v.Path())
	}
	var changed []string
	for _, k := range keys {
		k = strings.TrimSpace(k)
		switch i := slices.Index(list, k); {
		case add && i < 0:
			list = append(list, k)
			changed = append(changed, k)
		case !add && i >= 0:
			list = slices.Delete(list, i, i+1)
			changed = append(changed, k)
		case !add:
			return usagef("%s is not a recipient of the vault %s: nothing was changed (`runbook vault recipients` lists them)", k, v.Path())
		}
	}
	if len(changed) == 0 {
		fmt.Fprintf(g.stdout, "the vault %s is already sealed to these keys: nothing was changed\n", v.Path())
		return nil
	}
	if len(list) == 0 {
		return usagef("that would leave the vault %s with no recipient: nothing was changed; `runbook vault rekey` locks it with a passphrase instead", v.Path())
	}
	enc, err := secrets.RecipientsEncrypter(list)
	if err != nil {
		return err
	}
	if err := v.Rekey(enc); err != nil {
		return err
	}
	done := map[bool]string{true: "added", false: "removed"}[add]
	fmt.Fprintf(g.stdout, "%s %s: the vault %s is sealed to %s, listed in %s; commit both\n",
		done, strings.Join(changed, ", "), v.Path(), v.Protection(), file)
	if !add {
		fmt.Fprintf(g.stdout, "a removed key still opens older copies of the vault (version control keeps them): rotate the secrets it could read\n")
	}
	return nil
}

// sealRecipients re-seals the vault to exactly its recipients file.
func (g *globals) sealRecipients(cmd *cobra.Command) error {
	path, dec, err := g.vaultKey()
	if err != nil {
		return err
	}
	removed, added, err := secrets.Reseal(cmd.Context(), path, dec, g.waitingFor(path))
	if err := g.openedWith(dec, lockWaitEnded(recipientsHint(err))); err != nil {
		return err
	}
	file := secrets.RecipientsFile(path)
	if len(removed)+len(added) == 0 {
		fmt.Fprintf(g.stdout, "the vault %s is sealed to exactly the keys of %s: nothing was changed\n", path, file)
		return nil
	}
	fmt.Fprintf(g.stdout, "sealed the vault %s to the keys of %s\n", path, file)
	if len(added) > 0 {
		fmt.Fprintf(g.stdout, "  added:   %s\n", strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		fmt.Fprintf(g.stdout, "  removed: %s (they still open older copies of the vault)\n", strings.Join(removed, ", "))
	}
	return nil
}
