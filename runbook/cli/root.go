// Package cli is the command line of runbook: one file per command, the
// exit-code mapping in exit.go, the survey Prompter and the colour Printer.
package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/fatih/color"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Build information, set with -ldflags by the Makefile.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// globals are the flags every command takes.
type globals struct {
	file        string
	state       string
	vault       string
	passFile    string
	identity    string
	noColor     bool
	yes         bool
	acceptNew   bool
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	getenv      func(string) string
	interactive bool // stdin and stdout are terminals
	// masker hides every secret resolved by this process from everything
	// it prints, error messages included.
	masker *secrets.Masker
	// ask is the interaction policy, made on first use (interaction()).
	ask *engine.Interaction

	// takeOverLock is --take-over-lock of the commands that take the
	// release lock (takeOverFlag).
	takeOverLock bool
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, masker: secrets.NewMasker()}
	g.interactive = isTerminal(stdin) && isTerminal(stdout)
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = usagef("%v", err)
	}
	if err != nil {
		printError(stderr, err, g.masker.Mask)
	}
	return exitCode(err)
}

func isTerminal(x any) bool {
	f, ok := x.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "runbook",
		Short: "Walk a release night step by step, and resume exactly where it stopped",
		Long: `runbook walks the steps of runbook.yaml — build, stage, verify, sign off,
distribute, switch — asking before each one, recording every transition so a
crashed, killed or repeated release resumes exactly where it stopped.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.file == "" {
				g.file = g.getenv("RUNBOOK_FILE")
			}
			if g.file == "" {
				g.file = "runbook.yaml"
			}
			if g.state == "" {
				g.state = g.getenv("RUNBOOK_STATE")
			}
			if g.noColor || g.getenv("NO_COLOR") != "" || !isTerminal(g.stdout) {
				color.NoColor = true
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.file, "file", "f", "", "runbook file (env RUNBOOK_FILE; default ./runbook.yaml)")
	pf.StringVar(&g.state, "state", "", "state database (env RUNBOOK_STATE; default .runbook/state.db beside the runbook file)")
	pf.StringVar(&g.vault, "vault", "", "vault file (default: the runbook's vault key, else secrets.vault beside it)")
	pf.StringVar(&g.passFile, "vault-pass-file", "", "file holding the vault passphrase (env RUNBOOK_VAULT_PASS_FILE)")
	pf.StringVar(&g.identity, "identity", "", "age identity file for a recipient vault (env RUNBOOK_IDENTITY)")
	pf.BoolVar(&g.noColor, "no-color", false, "no colour (also NO_COLOR)")
	pf.BoolVarP(&g.yes, "yes", "y", false, "non-interactive: take the default \"go on\" at every prompt that has one")
	pf.BoolVar(&g.acceptNew, "accept-new-host-keys", false, "trust and record keys of hosts not yet in known_hosts (never a changed key)")

	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	root.AddCommand(
		newInit(g), newValidate(g), newPlan(g), newStart(g), newResume(g), newStatus(g),
		newHistory(g), newAbort(g), newVersion(g), newRollback(g),
		newVault(g),
		newDiff(g), newInfo(g), newOp(g), newExec(g), newPanel(g),
		newReport(g),
		newLock(g), newUnlock(g), newAudit(g),
	)
	for _, c := range root.Commands() {
		c.Args = wrapArgs(c.Args)
	}
	return root
}

// wrapArgs turns cobra's argument errors into usage errors (exit 2).
func wrapArgs(a cobra.PositionalArgs) cobra.PositionalArgs {
	if a == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := a(cmd, args); err != nil {
			return usagef("%s: %v (see `runbook %s --help`)", cmd.Name(), err, cmd.Name())
		}
		return nil
	}
}

// splitKV parses ROLE=NAME.
func splitKV(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !ok || k == "" || v == "" {
		return "", "", errors.New("want ROLE=NAME")
	}
	return k, v, nil
}
