package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/AlecAivazis/survey/v2"
	"github.com/AlecAivazis/survey/v2/terminal"
	"github.com/runbook-dev/runbook/runbook"
)

// surveyPrompter implements runbook.Prompter on the terminal.
type surveyPrompter struct {
	opts []survey.AskOpt
}

func newPrompter(g *globals) *surveyPrompter {
	in, _ := g.stdin.(terminal.FileReader)
	out, _ := g.stdout.(terminal.FileWriter)
	if in == nil || out == nil {
		in, out = os.Stdin, os.Stdout
	}
	return &surveyPrompter{opts: []survey.AskOpt{survey.WithStdio(in, out, g.stderr)}}
}

func promptErr(err error) error {
	if errors.Is(err, terminal.InterruptErr) {
		return runbook.ErrPromptInterrupted
	}
	return err
}

// Select implements runbook.Prompter.
func (p *surveyPrompter) Select(msg string, options []string, def string) (string, error) {
	var ans string
	q := &survey.Select{Message: msg, Options: options, Default: def}
	if err := survey.AskOne(q, &ans, p.opts...); err != nil {
		return "", promptErr(err)
	}
	return ans, nil
}

// Input implements runbook.Prompter. Every answer typed here goes into
// the record (a sign-off name, a reason), so one that is not a line of
// plain text is refused and the question asked again.
func (p *surveyPrompter) Input(msg, def string) (string, error) {
	var ans string
	plainText := survey.WithValidator(func(v any) error {
		s, _ := v.(string)
		return runbook.CheckText("the answer", s)
	})
	if err := survey.AskOne(&survey.Input{Message: msg, Default: def}, &ans, append(p.opts, plainText)...); err != nil {
		return "", promptErr(err)
	}
	return ans, nil
}

// Password asks for a hidden value.
func (p *surveyPrompter) Password(msg string) (string, error) {
	var ans string
	if err := survey.AskOne(&survey.Password{Message: msg}, &ans, p.opts...); err != nil {
		return "", promptErr(err)
	}
	return ans, nil
}

// askHostKey returns the question for an unknown host key, or nil when
// nobody can be asked (then the key is refused: exit 3).
func (g *globals) askHostKey() func(host, addr, fingerprint string) (bool, error) {
	if !g.interactive || g.yes {
		return nil
	}
	p := newPrompter(g)
	return func(host, addr, fingerprint string) (bool, error) {
		var ok bool
		q := &survey.Confirm{
			Message: fmt.Sprintf("The host key of %s (%s) is not known.\n  Its fingerprint is %s.\n  Compare it with the one your admin gave you. Trust it and record it in known_hosts?", host, addr, fingerprint),
			Default: false,
		}
		if err := survey.AskOne(q, &ok, p.opts...); err != nil {
			return false, promptErr(err)
		}
		return ok, nil
	}
}
