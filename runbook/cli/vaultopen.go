package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
)

// vaultPath is --vault, else the runbook's vault key, else secrets.vault
// beside the runbook file.
func (g *globals) vaultPath(rb *runbook.Runbook) string {
	switch {
	case g.vault != "":
		return g.vault
	case rb != nil && rb.Vault != "":
		return rb.Vault
	case rb != nil:
		return filepath.Join(rb.Dir, "secrets.vault")
	}
	abs, err := filepath.Abs(g.file)
	if err != nil {
		return "secrets.vault"
	}
	return filepath.Join(filepath.Dir(abs), "secrets.vault")
}

// decrypter finds the key to the vault: an age identity, a passphrase from
// a file or the environment, or a hidden prompt — in that order. Once it
// opens the vault, openedWith registers it with the masker.
func (g *globals) decrypter(path string) (secrets.Decrypter, error) {
	id := g.identity
	if id == "" {
		id = g.getenv("RUNBOOK_IDENTITY")
	}
	if id != "" {
		return secrets.IdentityDecrypter(id)
	}
	pass, _, ok, err := secrets.PassphraseFromEnv(g.passFile, g.getenv)
	if err != nil {
		return nil, err
	}
	if !ok {
		if !g.interactive {
			return nil, runbook.WithHint(fmt.Errorf("%w: the vault %s needs its passphrase and there is no terminal to ask", secrets.ErrVault, path),
				"set RUNBOOK_VAULT_PASS_FILE (or --vault-pass-file, RUNBOOK_VAULT_PASSPHRASE, --identity)")
		}
		p, err := newPrompter(g).Password(fmt.Sprintf("Passphrase of %s:", filepath.Base(path)))
		if err != nil {
			if errors.Is(err, runbook.ErrPromptInterrupted) {
				return nil, runbook.ErrInterrupted
			}
			return nil, err
		}
		pass = []byte(p)
	}
	return secrets.PassphraseDecrypter(pass)
}

// openVault opens the vault of a runbook for reading its secrets.
func (g *globals) openVault(rb *runbook.Runbook) (*secrets.Vault, error) {
	path := g.vaultPath(rb)
	if err := secrets.CheckVaultFile(path); err != nil {
		return nil, err
	}
	dec, err := g.decrypter(path)
	if err != nil {
		return nil, err
	}
	v, err := secrets.Open(path, dec)
	return v, g.openedWith(dec, recipientsHint(err))
}

// openedWith registers the key of a vault that opened with it (err is
// nil) with the masker: the passphrase or the identity's secret key, once
// read, is masked like the secrets, so a step or host that prints it,
// wherever it found it, shows ****. A key that opened nothing protects
// nothing, and masking it (a mistyped word) would only blank output.
func (g *globals) openedWith(dec secrets.Decrypter, err error) error {
	if err == nil {
		g.masker.AddKey(dec)
	}
	return err
}

// recipientsHint says what to do about a team vault that does not match
// its reviewed recipients file.
func recipientsHint(err error) error {
	var re *secrets.RecipientsError
	if !errors.As(err, &re) {
		return err
	}
	file := filepath.Base(re.File)
	if re.NoFile {
		return runbook.WithHint(err, fmt.Sprintf("write the team's age public keys in %s, one a line, commit it with the vault, then run `runbook vault recipients seal`", file))
	}
	return runbook.WithHint(err, fmt.Sprintf("review %s and the vault's history: if the list is right, `runbook vault recipients seal` re-seals the vault to it; if someone you do not know changed the vault, restore it from version control (its values may be forged)", file))
}

// preloadSecrets resolves every secret the runbook names before anything
// runs: a wrong passphrase or a missing secret stops the night at the
// start (exit 5), not halfway through it.
func preloadSecrets(rb *runbook.Runbook, r *secrets.Resolver) error {
	for _, name := range rb.SecretNames() {
		if _, err := r.Secret(name); err != nil {
			var me *secrets.MissingError
			if errors.As(err, &me) {
				return runbook.WithHint(err, fmt.Sprintf("`runbook vault set %s` adds it", name))
			}
			return err
		}
	}
	return nil
}
