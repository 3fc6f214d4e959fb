// Package cli is the command line of runbook: one file per command, the
// exit-code mapping in exit.go, the survey Prompter and the colour Printer.
package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/AlecAivazis/survey/v2/terminal"
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
	fileFrom    string // "-f/--file" or "RUNBOOK_FILE" when one named the file
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
	interactive bool // prompts can be asked: stdin is a terminal, and promptOut is set
	// promptOut is where prompts are drawn: stdout when it is a terminal,
	// else the controlling terminal (/dev/tty), so that `runbook start |
	// tee night.log` asks on the terminal while the walk goes through the
	// pipe. nil when nobody can be asked.
	promptOut terminal.FileWriter
	// masker hides every secret resolved by this process from everything
	// it prints, error messages included.
	masker *secrets.Masker
	// ask is the interaction policy, made on first use (interaction()).
	ask *engine.Interaction
	// gate holds the printers' lines while a question is on the terminal.
	gate outputGate

	// takeOverLock is --take-over-lock of the commands that take the
	// release lock (takeOverFlag).
	takeOverLock bool

	// operatorName is --operator (or RUNBOOK_OPERATOR), checked by
	// checkOperator; "" when neither names anyone.
	operatorName string
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, masker: secrets.NewMasker()}
	var closeTTY func()
	g.promptOut, closeTTY = promptOutput(stdin, stdout)
	defer closeTTY()
	g.interactive = g.promptOut != nil
	root := newRoot(g)
	root.SetArgs(followShorthand(root, args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = commandError(root, err)
	}
	if err != nil {
		printError(stderr, err, g.masker.Mask)
	}
	return exitCode(err)
}

// promptOutput finds where prompts are drawn: nowhere when stdin is not
// a terminal (nobody can answer); stdout when it is one; else the
// process's controlling terminal, opened for writing, which done closes.
// Colours and progress bars follow stdout, not this: a piped walk stays
// plain text.
func promptOutput(stdin io.Reader, stdout io.Writer) (out terminal.FileWriter, done func()) {
	done = func() {}
	if !isTerminal(stdin) {
		return nil, done
	}
	if w, ok := stdout.(terminal.FileWriter); ok && isTerminal(w) {
		return w, done
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return nil, done // no controlling terminal: nobody to ask
	}
	if !isTerminal(tty) {
		tty.Close()
		return nil, done
	}
	return tty, func() { tty.Close() }
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
		SilenceUsage:  true,
		SilenceErrors: true,
		// Suggestions come as a hint line (suggest.go), not cobra's block.
		DisableSuggestions: true,
		Version:            Version,
		CompletionOptions:  cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.resolveFile()
			if err := g.checkOperator(); err != nil {
				return err
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
	pf.StringVarP(&g.file, "file", "f", "", "runbook file (env RUNBOOK_FILE; default runbook.yaml in this directory or the nearest one above)")
	pf.StringVar(&g.state, "state", "", "state database (env RUNBOOK_STATE; default .runbook/state.db beside the runbook file)")
	pf.StringVar(&g.vault, "vault", "", "vault file (default: the runbook's vault key, else secrets.vault beside it)")
	pf.StringVar(&g.passFile, "vault-pass-file", "", "file holding the vault passphrase (env RUNBOOK_VAULT_PASS_FILE)")
	pf.StringVar(&g.identity, "identity", "", "age identity file for a recipient vault (env RUNBOOK_IDENTITY)")
	pf.BoolVar(&g.noColor, "no-color", false, "no colour (also NO_COLOR)")
	pf.BoolVarP(&g.yes, "yes", "y", false, "non-interactive: take the default \"go on\" at every prompt that has one")
	pf.BoolVar(&g.acceptNew, "accept-new-host-keys", false, "trust and record keys of hosts not yet in known_hosts (never a changed key)")
	pf.StringVar(&g.operatorName, "operator", "", "who is at the keyboard, recorded beside the OS user (env RUNBOOK_OPERATOR; default: the OS user)")

	root.SetFlagErrorFunc(flagError)
	root.SetVersionTemplate(versionLine() + "\n")
	root.AddCommand(
		newInit(g), newValidate(g), newPlan(g), newStart(g), newResume(g), newStatus(g),
		newHistory(g), newAbort(g), newVersion(g), newRollback(g),
		newVault(g),
		newDiff(g), newInfo(g), newOp(g), newExec(g), newPanel(g),
		newReport(g), newLogs(g), newCheck(g),
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
