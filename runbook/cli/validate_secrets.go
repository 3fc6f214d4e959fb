package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
)

// vaultCheck is what validate learned about the secrets of a runbook.
type vaultCheck struct {
	names     int    // distinct secrets the runbook refers to
	unchecked string // why they were not looked up; "" when they were
}

// checkSecretRefs looks every secret the runbook refers to up in the
// vault, when that needs no prompt or a terminal can ask, so a typo in a
// secret name shows at validate rather than at the start of the night.
// References to absent secrets come back as FileErrors at their place in
// the file; a vault that does not open is a vault error (exit 5).
func (g *globals) checkSecretRefs(rb *runbook.Runbook) (vaultCheck, error) {
	c := vaultCheck{names: len(rb.SecretNames())}
	if c.names == 0 {
		return c, nil
	}
	path := g.vaultPath(rb)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		c.unchecked = fmt.Sprintf("there is no vault at %s (`runbook vault init` creates it)", path)
		return c, nil
	}
	if !g.interactive && !g.vaultKeyWithoutPrompt() {
		c.unchecked = "no vault key is given and there is no terminal to ask; set RUNBOOK_VAULT_PASS_FILE (or --vault-pass-file, RUNBOOK_VAULT_PASSPHRASE, --identity) to check them"
		return c, nil
	}
	v, err := g.openVault(rb)
	if err != nil {
		return c, stoppedAtPrompt(err)
	}
	var missing runbook.FileErrors
	for _, ref := range rb.SecretRefPositions() {
		if _, err := v.Get(ref.Name); errors.Is(err, secrets.ErrMissing) {
			missing = append(missing, &runbook.FileError{File: g.file, Line: ref.Pos.Line, Col: ref.Pos.Col,
				Msg: fmt.Sprintf("secret %s is not in the vault", ref.Name)})
		}
	}
	if len(missing) > 0 {
		return c, runbook.WithHint(missing, fmt.Sprintf("add each to %s with `runbook vault set NAME`, or correct the name in the runbook", path))
	}
	return c, nil
}

// vaultKeyWithoutPrompt reports whether decrypter would find a key
// without asking: an identity, a pass file or a passphrase in the
// environment.
func (g *globals) vaultKeyWithoutPrompt() bool {
	for _, v := range []string{g.identity, g.getenv("RUNBOOK_IDENTITY"), g.passFile, g.getenv(secrets.EnvPassFile), g.getenv(secrets.EnvPassphrase)} {
		if v != "" {
			return true
		}
	}
	return false
}

// secretCount counts secrets for a message: "1 secret", else prefix and
// the number ("all 3 secrets").
func secretCount(n int, prefix string) string {
	if n == 1 {
		return "1 secret"
	}
	return fmt.Sprintf("%s%d secrets", prefix, n)
}
