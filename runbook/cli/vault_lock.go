package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
)

// passSource finds a passphrase without asking; ok is false when none is
// set. secrets.PassphraseFromEnv and NewPassphraseFromEnv are two.
type passSource func() (pass []byte, source string, ok bool, err error)

// newLock returns what a vault being created or rekeyed is locked with:
// the age recipients given, else the passphrase of fromEnv, else one
// asked twice on the terminal. envHint names the ways to give a
// passphrase without a terminal, for the message when there is none.
func (g *globals) newLock(path string, recipients []string, fromEnv passSource, envHint string) (secrets.Encrypter, error) {
	if len(recipients) > 0 {
		return secrets.RecipientsEncrypter(recipients)
	}
	enc, err := g.newPassphrase(path, fromEnv, envHint)
	if err == nil {
		// A new passphrase is masked as soon as it is known, as the key is.
		g.masker.AddKey(enc)
	}
	return enc, err
}

func (g *globals) newPassphrase(path string, fromEnv passSource, envHint string) (secrets.Encrypter, error) {
	pass, _, ok, err := fromEnv()
	if err != nil {
		return nil, err
	}
	if !ok {
		if pass, err = g.askNewPassphrase(path, envHint); err != nil {
			return nil, err
		}
	}
	if len(pass) > 0 && secrets.WeakSecret(string(pass)) {
		g.warn("the new passphrase is shorter than 8 characters: anyone holding a copy of the vault can guess it; prefer a long passphrase")
	}
	return secrets.PassphraseEncrypter(pass)
}

// askNewPassphrase asks twice, hidden, so a typo cannot lock the vault
// with a passphrase nobody knows.
func (g *globals) askNewPassphrase(path, envHint string) ([]byte, error) {
	if !g.interactive {
		return nil, runbook.WithHint(&vaultError{kind: secrets.ErrVault,
			msg: fmt.Sprintf("a new passphrase for the vault %s is needed and there is no terminal to ask", path)}, envHint)
	}
	p := newPrompter(g)
	first, err := p.Password(fmt.Sprintf("New passphrase for %s:", filepath.Base(path)))
	if err != nil {
		return nil, stoppedAtPrompt(err)
	}
	if first == "" {
		return nil, usagef("the passphrase is empty: nothing was changed; run the command again and type a passphrase")
	}
	second, err := p.Password("Type it again:")
	if err != nil {
		return nil, stoppedAtPrompt(err)
	}
	if first != second {
		return nil, usagef("the two passphrases differ: nothing was changed; run the command again")
	}
	return []byte(first), nil
}

// stoppedAtPrompt turns Ctrl-C at a vault prompt into exit 130 with a
// message that fits: no release is paused by a vault command.
func stoppedAtPrompt(err error) error {
	if errors.Is(err, runbook.ErrPromptInterrupted) || errors.Is(err, runbook.ErrInterrupted) {
		return fmt.Errorf("%w at the prompt: nothing was changed", runbook.ErrInterrupted)
	}
	return err
}

// warn prints a warning on stderr, masked like everything else printed.
func (g *globals) warn(msg string) {
	newPrinter(&g.gate, g.stdout, g.stderr, g.masker).Warn(msg)
}
