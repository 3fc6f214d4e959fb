package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/spf13/cobra"
)

// maxSecretSize bounds a value read from stdin or a file: a credential is
// small, and a multi-megabyte one is an artifact piped in by mistake.
const maxSecretSize = 1 << 20

func newVaultSet(g *globals) *cobra.Command {
	var fromFile string
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Add or replace a secret (value from a hidden prompt, stdin or --from-file)",
		Long: `Add the secret NAME to the vault, or replace its value. The value is read
from a hidden prompt on a terminal, else from stdin (one trailing newline
dropped, so "echo value |" stores value), or byte for byte from
--from-file. It is never taken from the command line, where the process
list would show it.`,
		Example: `  runbook vault set db/password
  printf %s "$DB_PASSWORD" | runbook vault set db/password
  runbook vault set ssh/deploy_key --from-file ~/.ssh/deploy_ed25519`,
		Args: secretName("set"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			// The value is read after the vault opens: a wrong passphrase
			// must not cost the operator typing a secret for nothing.
			v, err := g.updateVaultFile(cmd.Context())
			if err != nil {
				return err
			}
			defer v.Close()
			value, err := g.secretValue(name, fromFile)
			if err != nil {
				return err
			}
			_, getErr := v.Get(name)
			if err := v.Set(name, value); err != nil {
				return err
			}
			if err := v.Save(); err != nil {
				return err
			}
			if secrets.WeakSecret(value) {
				g.warn(fmt.Sprintf("the value of %s is shorter than 8 characters: it is easy to guess, and masking it hides those characters wherever they appear in the output", name))
			}
			verb := "stored"
			if getErr == nil {
				verb = "replaced"
			}
			fmt.Fprintf(g.stdout, "%s %s in the vault %s\n", verb, name, v.Path())
			return nil
		},
	}
	cmd.Flags().StringVar(&fromFile, "from-file", "", "read the value from FILE, byte for byte (a key file, a certificate)")
	return cmd
}

// secretValue reads the value of a secret from --from-file, a hidden
// prompt or stdin.
func (g *globals) secretValue(name, fromFile string) (string, error) {
	if fromFile != "" {
		f, err := os.Open(fromFile)
		if err != nil {
			return "", usagef("cannot read the value from --from-file: %v; check the path and its permissions", err)
		}
		defer f.Close()
		b, err := readBounded(f, "--from-file "+fromFile)
		return string(b), err
	}
	if isTerminal(g.stdin) {
		if !g.interactive {
			return "", runbook.WithHint(usagef("the value of %s would be asked on the terminal, but there is no terminal to ask on", name),
				"pipe the value on stdin, or give --from-file FILE")
		}
		value, err := newPrompter(g).Password(fmt.Sprintf("Value of %s (hidden):", name))
		if err != nil {
			return "", stoppedAtPrompt(err)
		}
		return value, nil
	}
	b, err := readBounded(g.stdin, "stdin")
	if err != nil {
		return "", err
	}
	if rest, found := bytes.CutSuffix(b, []byte("\n")); found {
		b = bytes.TrimSuffix(rest, []byte("\r"))
	}
	return string(b), nil
}

func readBounded(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the value from %s: %w", what, err)
	}
	if len(b) > maxSecretSize {
		return nil, usagef("the value from %s is larger than %d bytes: a secret is a credential, not a file to ship; nothing was stored", what, maxSecretSize)
	}
	return b, nil
}
