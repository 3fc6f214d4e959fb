package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
)

// Interaction is the one place that decides, for every question the
// engine has for the operator, whether to ask it, to take the answer that
// --yes stands for, or to stop because nobody can answer it. It also
// serialises the questions: hosts run in parallel, and two prompts drawn
// at once on one terminal corrupt each other (the host-key questions of
// two new hosts once did), so every question — host keys included, which
// the cli routes through Ask — waits for the one before it.
type Interaction struct {
	prompter runbook.Prompter // nil: nobody can be asked
	yes      bool
	mu       sync.Mutex
	// interrupted: the operator pressed Ctrl-C at a prompt. The questions
	// still queued behind it (other hosts') are not asked: they end the
	// same way, so one Ctrl-C stops the command.
	interrupted bool
}

// NewInteraction returns the policy for a process: p asks the operator (nil
// when there is no terminal), yes is --yes.
func NewInteraction(p runbook.Prompter, yes bool) *Interaction {
	return &Interaction{prompter: p, yes: yes}
}

// Asks reports whether questions reach a human (a terminal and no --yes).
func (ia *Interaction) Asks() bool { return ia.prompter != nil && !ia.yes }

// Yes reports whether --yes answers the questions that have a default "go on".
func (ia *Interaction) Yes() bool { return ia.yes }

// Question is one decision for the operator.
type Question struct {
	Msg     string
	Options []string
	// Default is preselected when the question is asked.
	Default string
	// Assume is the answer --yes stands for. Empty: --yes cannot answer
	// it, and the walk stops for a human.
	Assume string
	// Refuse says why the walk stops when nobody can answer: it is
	// wrapped in runbook.ErrNeedsHuman (exit 3), with Hint.
	Refuse, Hint string
}

// Choose decides q: the operator's choice, the assumed answer under --yes,
// or an error wrapping runbook.ErrNeedsHuman when nobody can answer it.
// runbook.ErrPromptInterrupted means Ctrl-C at the prompt.
func (ia *Interaction) Choose(q Question) (string, error) {
	if ia.yes && q.Assume != "" {
		return q.Assume, nil
	}
	if !ia.Asks() {
		return "", ia.refusal(q.Refuse, q.Hint)
	}
	ia.mu.Lock()
	defer ia.mu.Unlock()
	if ia.interrupted {
		return "", runbook.ErrPromptInterrupted
	}
	choice, err := ia.prompter.Select(q.Msg, q.Options, q.Default)
	if errors.Is(err, runbook.ErrNoTerminal) {
		return "", ia.refusal(q.Refuse, q.Hint)
	}
	return choice, ia.note(err)
}

// note remembers a Ctrl-C at a prompt; it returns err.
func (ia *Interaction) note(err error) error {
	if errors.Is(err, runbook.ErrPromptInterrupted) {
		ia.interrupted = true
	}
	return err
}

// Text asks for a non-empty line of text that goes into the record (a
// reason, a name), asking again while it is empty or holds control
// characters. Without a human it fails like Choose.
func (ia *Interaction) Text(msg, refuse, hint string) (string, error) {
	if !ia.Asks() {
		return "", ia.refusal(refuse, hint)
	}
	ia.mu.Lock()
	defer ia.mu.Unlock()
	for {
		if ia.interrupted {
			return "", runbook.ErrPromptInterrupted
		}
		r, err := ia.prompter.Input(msg, "")
		if errors.Is(err, runbook.ErrNoTerminal) {
			return "", ia.refusal(refuse, hint)
		}
		if err != nil {
			return "", ia.note(err)
		}
		r = strings.TrimSpace(r)
		switch {
		case r == "":
			msg = "It goes into the report and cannot be empty. " + trimPrefix(msg)
		case strings.ContainsFunc(r, isControl):
			msg = "Control characters cannot go into the record. " + trimPrefix(msg)
		default:
			return r, nil
		}
	}
}

// Confirm asks a yes/no question whose safe answer is no (trust a host key,
// run an operation on production). Without a human the answer is no.
func (ia *Interaction) Confirm(msg, yes, no string) (bool, error) {
	if !ia.Asks() {
		return false, nil
	}
	ia.mu.Lock()
	defer ia.mu.Unlock()
	if ia.interrupted {
		return false, runbook.ErrPromptInterrupted
	}
	choice, err := ia.prompter.Select(msg, []string{no, yes}, no)
	if errors.Is(err, runbook.ErrNoTerminal) {
		return false, nil
	}
	return err == nil && choice == yes, ia.note(err)
}

func (ia *Interaction) refusal(refuse, hint string) error {
	if refuse == "" {
		refuse = "the operator must decide"
	}
	if hint == "" {
		hint = "run it in a terminal to decide"
	}
	return runbook.WithHint(fmt.Errorf("%w: %s", runbook.ErrNeedsHuman, refuse), hint)
}

// trimPrefix drops an earlier "ask again" sentence so a question asked
// three times does not grow three prefixes.
func trimPrefix(msg string) string {
	for _, p := range []string{"It goes into the report and cannot be empty. ", "Control characters cannot go into the record. "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// isControl reports C0 and C1 control characters (and DEL): text with them
// can forge lines or rewrite the terminal of whoever reads the record.
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f)
}
