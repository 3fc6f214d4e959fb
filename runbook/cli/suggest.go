package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// cobra says "unknown command "X" for "runbook vault"" and, left to
// itself, appends a "Did you mean this?" block of its own shape. Its
// suggestions are turned off (newRoot) and made here instead, as the one
// hint line every other mistake gets.
var unknownCommand = regexp.MustCompile(`^unknown command "(.*)" for "(.*)"$`)

// commandError turns cobra's unknown-command error into a usage error
// with a did-you-mean hint when a command is close to what was typed.
func commandError(root *cobra.Command, err error) error {
	m := unknownCommand.FindStringSubmatch(err.Error())
	if m == nil {
		return usagef("%v", err)
	}
	typed, path := m[1], strings.Fields(m[2])
	parent := root
	if len(path) > 1 {
		if c, _, ferr := root.Find(path[1:]); ferr == nil {
			parent = c
		}
	}
	use := usagef("%v", err)
	if s := suggestCommand(parent, typed); s != "" {
		return runbook.WithHint(use, fmt.Sprintf("did you mean `%s %s`?", parent.CommandPath(), s))
	}
	return runbook.WithHint(use, fmt.Sprintf("`%s --help` lists the commands", parent.CommandPath()))
}

// suggestCommand is the subcommand of parent closest to typed: cobra's
// own rule (a prefix, or two edits) first, then runbook's (a
// transposition is one edit), so "staus" and "statsu" both find status.
func suggestCommand(parent *cobra.Command, typed string) string {
	if s := parent.SuggestionsFor(typed); len(s) > 0 {
		return s[0]
	}
	var names []string
	for _, c := range parent.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
			names = append(names, c.Aliases...)
		}
	}
	return runbook.Suggest(typed, names)
}

// flagError is the error of a flag cobra could not parse, as a usage
// error; an unknown flag gets a did-you-mean hint when one of the
// command's flags is close to it.
func flagError(cmd *cobra.Command, err error) error {
	use := usagef("%v", err)
	var nf *pflag.NotExistError
	if !errors.As(err, &nf) {
		return use
	}
	typed := nf.GetSpecifiedName()
	if nf.GetSpecifiedShortnames() != "" {
		return runbook.WithHint(use, fmt.Sprintf("`%s --help` lists its flags", cmd.CommandPath()))
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	if s := runbook.Suggest(typed, names); s != "" {
		return runbook.WithHint(use, fmt.Sprintf("did you mean --%s?", s))
	}
	return runbook.WithHint(use, fmt.Sprintf("`%s --help` lists its flags", cmd.CommandPath()))
}
