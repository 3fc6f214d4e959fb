package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/AlecAivazis/survey/v2"
	"github.com/AlecAivazis/survey/v2/terminal"
	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
)

// surveyPrompter implements runbook.Prompter on the terminal.
type surveyPrompter struct {
	opts   []survey.AskOpt
	gate   *outputGate
	settle time.Duration // wait before drawing a prompt (pipeSettle)
}

func newPrompter(g *globals) *surveyPrompter {
	in, _ := g.stdin.(terminal.FileReader)
	out := g.promptOut
	if in == nil || out == nil {
		in, out = os.Stdin, os.Stdout
	}
	p := &surveyPrompter{opts: []survey.AskOpt{survey.WithStdio(in, out, g.stderr)}, gate: &g.gate}
	if !isTerminal(g.stdout) {
		p.settle = pipeSettle
	}
	return p
}

// pipeSettle is how long a prompt waits before it is drawn on the
// terminal while the walk's output goes through a pipe (`| tee`): the
// reader of the pipe echoes those lines to the same terminal a moment
// later, and a line that lands after a prompt is drawn breaks survey's
// redraw of it.
const pipeSettle = 100 * time.Millisecond

func promptErr(err error) error {
	if errors.Is(err, terminal.InterruptErr) {
		return runbook.ErrPromptInterrupted
	}
	return err
}

// Select implements runbook.Prompter.
func (p *surveyPrompter) Select(msg string, options []string, def string) (string, error) {
	defer p.gate.ask()()
	var ans string
	q := &survey.Select{Message: msg, Options: options, Default: def, PageSize: min(max(len(options), 7), 20)}
	time.Sleep(p.settle)
	if err := survey.AskOne(q, &ans, p.opts...); err != nil {
		return "", promptErr(err)
	}
	return ans, nil
}

// Input implements runbook.Prompter. Every answer typed here goes into
// the record (a sign-off name, a reason), so one that is not a line of
// plain text is refused and the question asked again.
func (p *surveyPrompter) Input(msg, def string) (string, error) {
	defer p.gate.ask()()
	var ans string
	plainText := survey.WithValidator(func(v any) error {
		s, _ := v.(string)
		return runbook.CheckText("the answer", s)
	})
	time.Sleep(p.settle)
	if err := survey.AskOne(&survey.Input{Message: msg, Default: def}, &ans, append(p.opts, plainText)...); err != nil {
		return "", promptErr(err)
	}
	return ans, nil
}

// Password asks for a hidden value.
func (p *surveyPrompter) Password(msg string) (string, error) {
	defer p.gate.ask()()
	var ans string
	time.Sleep(p.settle)
	if err := survey.AskOne(&survey.Password{Message: msg}, &ans, p.opts...); err != nil {
		return "", promptErr(err)
	}
	return ans, nil
}

// interaction returns the process's one interaction policy: every
// question of a command — the engine's and the host-key questions of
// parallel connections alike — goes through it, one at a time.
func (g *globals) interaction() *engine.Interaction {
	if g.ask == nil {
		var p runbook.Prompter
		if g.interactive && !g.yes {
			p = newPrompter(g)
		}
		g.ask = engine.NewInteraction(p, g.yes)
	}
	return g.ask
}

// askHostKey returns the question for an unknown host key, or nil when
// nobody can be asked (then the key is refused: exit 3).
func (g *globals) askHostKey() func(host, addr, fingerprint string) (bool, error) {
	ia := g.interaction()
	if !ia.Asks() {
		return nil
	}
	return func(host, addr, fingerprint string) (bool, error) {
		return ia.Confirm(fmt.Sprintf("The host key of %s (%s) is not known.\n  Its fingerprint is %s.\n  Compare it with the one your admin gave you. Trust it and record it in known_hosts?", host, addr, fingerprint),
			"Yes, trust the key of "+host, "No, refuse it")
	}
}
