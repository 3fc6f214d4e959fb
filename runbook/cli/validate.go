package cli

import (
	"fmt"
	"slices"

	"github.com/runbook-dev/runbook/runbook"
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
file (exit 2). Otherwise validate says how many secrets it did not check.

Warnings do not fail validate (exit 0), but each names a risk at its place
in the file: a value spliced into a shell command without q (see "Quoting
values in commands" in the README), or a credential written in the file in
plain text instead of secret:NAME.`,
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
			if ws := rb.Warnings(); len(ws) > 0 {
				printWarnings(g, ws)
				summary += "; " + plural(len(ws), "warning")
			}
			fmt.Fprintf(g.stdout, "%s: ok — %s\n", g.file, summary)
			if vc.unchecked != "" {
				g.warn(fmt.Sprintf("%s not checked against the vault: %s", secretCount(vc.names, ""), vc.unchecked))
			}
			return nil
		},
	}
}

// printWarnings shows the warnings of a runbook file on stderr, each as
// FILE:LINE:COL: warning: message, then each distinct hint once.
func printWarnings(g *globals, ws []runbook.FileWarning) {
	var hints []string
	for _, w := range ws {
		fmt.Fprintln(g.stderr, g.masker.Mask(runbook.TermSafe(w.String())))
		if w.Hint != "" && !slices.Contains(hints, w.Hint) {
			hints = append(hints, w.Hint)
		}
	}
	for _, h := range hints {
		fmt.Fprintf(g.stderr, "runbook: hint: %s\n", g.masker.Mask(runbook.TermSafe(h)))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
