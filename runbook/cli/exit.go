package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/steps/remote"
)

// Exit codes (SPEC §2). This file is the only place that decides them.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitNeedsHuman  = 3
	ExitLocked      = 4
	ExitVault       = 5
	ExitInterrupted = 130
)

// usageError marks command-line mistakes found by the cli itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitCode maps an error to the SPEC's exit code.
func exitCode(err error) int {
	var (
		fe  *runbook.FileError
		fes runbook.FileErrors
		le  *runbook.LockedError
		ue  *usageError
		hk  *remote.HostKeyError
	)
	var pe *problemsError
	if errors.As(err, &pe) {
		return pe.exitCode()
	}
	switch {
	case err == nil, errors.Is(err, runbook.ErrPaused):
		return ExitOK
	case errors.Is(err, runbook.ErrInterrupted), errors.Is(err, runbook.ErrPromptInterrupted):
		// Ctrl-C at a prompt (a host key asked during op, exec, diff)
		// ends the command as Ctrl-C anywhere else does.
		return ExitInterrupted
	case errors.As(err, &le), errors.Is(err, runbook.ErrUnfinished), errors.Is(err, runbook.ErrLocked):
		return ExitLocked
	case errors.Is(err, secrets.ErrVault):
		return ExitVault
	case errors.As(err, &hk):
		if hk.Unknown {
			return ExitNeedsHuman
		}
		return ExitFailed
	case errors.Is(err, runbook.ErrNeedsHuman):
		return ExitNeedsHuman
	case errors.As(err, &fe), errors.As(err, &fes), errors.As(err, &ue),
		errors.Is(err, runbook.ErrUsage), errors.Is(err, runbook.ErrNothingToDo),
		// A bad secret name or value, an empty passphrase, a malformed age
		// recipient: the operator's input, not the vault, is wrong.
		errors.Is(err, secrets.ErrInvalid):
		return ExitUsage
	}
	return ExitFailed
}

// printError writes "runbook: error: ..." and the hints, never a stack.
// Messages quote what the operator typed, what hosts sent and what the
// records hold: each is made terminal-safe before it is masked and shown.
func printError(w io.Writer, err error, mask func(string) string) {
	if errors.Is(err, runbook.ErrPaused) {
		return
	}
	unsafeMask := mask
	mask = func(s string) string { return unsafeMask(runbook.TermSafe(s)) }
	msg := err.Error()
	var fes runbook.FileErrors
	if errors.As(err, &fes) {
		// One position per line, as compilers do, so editors can jump.
		for _, fe := range fes {
			fmt.Fprintf(w, "%s\n", mask(fe.Error()))
		}
		// A caller that knows the fix better (validate's vault check: add
		// the secret, not edit the file) gives its own hint.
		hs := hints(err)
		if len(hs) == 0 {
			hs = []string{fmt.Sprintf("%d problem(s) in the runbook file; fix them and run `runbook validate`", len(fes))}
		}
		for _, h := range hs {
			fmt.Fprintf(w, "runbook: hint: %s\n", mask(h))
		}
		return
	}
	var pe *problemsError
	if errors.As(err, &pe) {
		// Every problem with its own hints, then what it all means.
		for _, p := range pe.problems {
			fmt.Fprintf(w, "runbook: error: %s\n", mask(problemText(p.err)))
			for _, h := range hints(p.err) {
				fmt.Fprintf(w, "runbook: hint: %s\n", mask(h))
			}
		}
		// One problem keeps to the two lines of any error when it has a
		// hint of its own; several are counted.
		if len(pe.problems) == 1 && len(hints(pe.problems[0].err)) > 0 {
			return
		}
		again := "fix it and run `runbook check` again"
		if len(pe.problems) > 1 {
			again = fmt.Sprintf("%d problems: fix them and run `runbook check` again", len(pe.problems))
		}
		if pe.start {
			again = "found before the first step, nothing was run or recorded; " + again
		}
		fmt.Fprintf(w, "runbook: hint: %s\n", again)
		return
	}
	var fe *runbook.FileError
	if errors.As(err, &fe) {
		fmt.Fprintf(w, "%s\n", mask(fe.Error()))
		hs := hints(err)
		switch {
		case len(hs) > 0:
		case fe.Line > 0:
			hs = []string{"fix the runbook file and run `runbook validate`"}
		default:
			hs = []string{"-f FILE (or RUNBOOK_FILE) names the runbook file"}
		}
		for _, h := range hs {
			fmt.Fprintf(w, "runbook: hint: %s\n", mask(h))
		}
		return
	}
	switch {
	case errors.Is(err, runbook.ErrInterrupted) && !strings.Contains(msg, ":"):
		msg = "interrupted: the release is paused and its state saved"
	case errors.Is(err, runbook.ErrAborted):
		msg = "the release was aborted"
	}
	fmt.Fprintf(w, "runbook: error: %s\n", mask(msg))
	for _, h := range hints(err) {
		fmt.Fprintf(w, "runbook: hint: %s\n", mask(h))
	}
}

func hints(err error) []string {
	var out []string
	for e := err; e != nil; {
		if he, ok := e.(*runbook.HintError); ok {
			out = append(out, he.Hint)
		}
		if u, ok := e.(interface{ Unwrap() error }); ok {
			e = u.Unwrap()
			continue
		}
		if u, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range u.Unwrap() {
				out = append(out, hints(x)...)
			}
		}
		break
	}
	var le *runbook.LockedError
	if errors.As(err, &le) && len(out) == 0 {
		out = append(out, "wait for it to finish, or ask its operator; a lock whose process died is taken over automatically")
	}
	return out
}

// isPromptInterrupted reports Ctrl-C at a prompt.
func isPromptInterrupted(err error) bool { return errors.Is(err, runbook.ErrPromptInterrupted) }
