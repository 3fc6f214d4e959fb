package runbooktest

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
)

var errNotExist = fs.ErrNotExist

// Answer is one scripted answer: the first question whose text contains
// Match gets Choose (an option of a Select, or the text of an Input).
type Answer struct {
	Match  string
	Choose string
	// Interrupt answers with Ctrl-C instead.
	Interrupt bool
}

// Prompter is a scripted runbook.Prompter. Answers are used in order; a
// question that is not the next answer's fails the test, and so does a
// question when none is left, so a test states every question the
// operator sees. Asked keeps every question, for assertions.
type Prompter struct {
	t       TB
	mu      sync.Mutex
	answers []Answer
	Asked   []string
}

// TB is the part of testing.TB the fakes use.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// NewPrompter returns a prompter that gives answers in order.
func NewPrompter(t TB, answers ...Answer) *Prompter {
	return &Prompter{t: t, answers: answers}
}

func (p *Prompter) next(kind, msg string, options []string, def string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := kind + " " + msg
	if len(options) > 0 {
		q += " [" + strings.Join(options, " / ") + "]"
	}
	if def != "" {
		q += " default " + def
	}
	p.Asked = append(p.Asked, q)
	if len(p.answers) == 0 {
		p.t.Errorf("unexpected question: %s", q)
		return "", runbook.ErrNoTerminal
	}
	a := p.answers[0]
	if !strings.Contains(msg, a.Match) {
		p.t.Errorf("question %q does not match the next answer (for %q)", q, a.Match)
		return "", runbook.ErrNoTerminal
	}
	p.answers = p.answers[1:]
	if a.Interrupt {
		return "", runbook.ErrPromptInterrupted
	}
	if len(options) > 0 {
		for _, o := range options {
			if o == a.Choose {
				return o, nil
			}
		}
		p.t.Errorf("question %q has no option %q", q, a.Choose)
		return "", runbook.ErrNoTerminal
	}
	return a.Choose, nil
}

// Default returns the preselected answer of the question that contained
// match, or "" when none did.
func (p *Prompter) Default(match string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.Asked {
		if strings.Contains(q, match) {
			if _, def, ok := strings.Cut(q, "] default "); ok {
				return def
			}
		}
	}
	return ""
}

// Select implements runbook.Prompter.
func (p *Prompter) Select(msg string, options []string, def string) (string, error) {
	return p.next("select", msg, options, def)
}

// Input implements runbook.Prompter.
func (p *Prompter) Input(msg, def string) (string, error) {
	return p.next("input", msg, nil, def)
}

// Left returns the answers not used yet (a test usually wants none).
func (p *Prompter) Left() []Answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Answer(nil), p.answers...)
}

// Options returns the options offered by the question that contained
// match, or nil when none did.
func (p *Prompter) Options(match string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.Asked {
		if strings.Contains(q, match) {
			if i := strings.LastIndex(q, " ["); i >= 0 {
				opts, _, _ := strings.Cut(q[i+2:], "]")
				return strings.Split(opts, " / ")
			}
		}
	}
	return nil
}

var _ runbook.Prompter = (*Prompter)(nil)

// String lists the questions asked, one a line.
func (p *Prompter) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprint(strings.Join(p.Asked, "\n"))
}
