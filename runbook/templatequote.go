package runbook

import (
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"go.yaml.in/yaml/v3"
)

// closedFields are the template values that cannot hold a character a
// shell interprets, so they may stand unquoted in a command:
//
//	.Version            checked against VersionRule wherever it enters
//	.Release.Previous   a version too (or empty), checked the same way
//	.Release.ID         a number
//	.Release.StartedAt  RFC 3339, written by runbook
//	.Host.Name          names are letters, digits and . _ - (the loader checks)
//	.Env.Name
//	.Artifact.SHA256    hex, computed by runbook
//
// Everything else comes from text nobody checks for the shell: deploy
// directories and addresses from the runbook file (a space, a $ or a ;
// is legal there), .Release.Dir (made of a deploy_dir), the artifact's
// file name, secrets (any bytes at all), and whatever a function builds.
var closedFields = [][]string{
	{"Version"},
	{"Release", "Previous"},
	{"Release", "ID"},
	{"Release", "StartedAt"},
	{"Host", "Name"},
	{"Env", "Name"},
	{"Artifact", "SHA256"},
}

// shellCommand reads a template that runs as a shell command (run,
// verify, check, undo, an operation, a handbook check): required when its
// key is present, checked like every template, and for values spliced in
// without quoting.
func (l *loader) shellCommand(n *yaml.Node, key string) string {
	s := l.command(n, key)
	l.checkQuotingAt(n, key, s)
	return s
}

// checkQuotingAt warns about the values the shell command s, held by the
// scalar n, splices in without quoting, each at its place in the file.
func (l *loader) checkQuotingAt(n *yaml.Node, key, s string) {
	if s == "" || n == nil {
		return
	}
	for _, q := range checkQuoting(s) {
		l.warn(l.templatePos(n, s, q.offset), q.hint, "%s: %s", key, q.msg)
	}
}

// quotingProblem is a value spliced into a command where the shell may
// interpret it. offset is where its action starts in the template.
type quotingProblem struct {
	offset    int
	msg, hint string
}

// shellContext is where in a shell command a piece of text lands.
type shellContext uint8

const (
	shUnquoted shellContext = iota
	shSingle                // inside '...'
	shDouble                // inside "..."
	shComment               // after a # that starts a word, to the end of the line
)

// shellScan follows the quoting of a POSIX shell command through the
// literal text of a template, well enough to tell where each action lands.
// It does not know here-documents, $'...' or nested $(...): a template
// that uses them may get a warning it does not need, never miss one it
// does, since every context but a closed value or q outside quotes warns.
type shellScan struct {
	ctx       shellContext
	escaped   bool // the previous character was a backslash that escapes this one
	wordStart bool // an unquoted # here would start a comment
}

func (s *shellScan) text(t string) {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch s.ctx {
		case shUnquoted:
			switch {
			case s.escaped:
				s.escaped, s.wordStart = false, false
			case c == '\\':
				s.escaped, s.wordStart = true, false
			case c == '\'':
				s.ctx = shSingle
			case c == '"':
				s.ctx = shDouble
			case c == '#' && s.wordStart:
				s.ctx = shComment
			case strings.IndexByte(" \t\n;&|()<>", c) >= 0:
				s.wordStart = true
			default:
				s.wordStart = false
			}
		case shSingle:
			if c == '\'' {
				s.ctx, s.wordStart = shUnquoted, false
			}
		case shDouble:
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.ctx, s.wordStart = shUnquoted, false
			}
		case shComment:
			if c == '\n' {
				s.ctx, s.wordStart = shUnquoted, true
			}
		}
	}
}

// value is what an action's output splices in.
func (s *shellScan) value() {
	s.escaped = false
	if s.ctx == shUnquoted {
		s.wordStart = false
	}
}

// checkQuoting finds the actions of a shell command template whose output
// the shell may interpret: a value from outside the closed set that is
// not passed through q, q inside quotes (which undoes it), and any such
// value inside a comment (a newline in it ends the comment). It walks the
// template in the order of its text; a template that does not parse has
// no problems here (the loader reports it).
func checkQuoting(text string) []quotingProblem {
	t, err := template.New("command").Funcs(templateFuncs(nil)).Parse(text)
	if err != nil {
		return nil
	}
	c := &quoteChecker{text: text, scan: shellScan{wordStart: true}}
	if t.Tree != nil {
		c.list(t.Tree.Root, true)
	}
	// Defined templates: their dot is whatever the caller passes, so only
	// q or a constant makes a value safe there.
	for _, tt := range t.Templates() {
		if tt.Name() != t.Name() && tt.Tree != nil && tt.Tree.Root != nil {
			c.scan, c.inDefined = shellScan{wordStart: true}, true
			c.list(tt.Tree.Root, false)
		}
	}
	slices.SortFunc(c.problems, func(a, b quotingProblem) int { return a.offset - b.offset })
	return c.problems
}

type quoteChecker struct {
	text      string
	scan      shellScan
	problems  []quotingProblem
	inDefined bool // walking a {{ define }}d template: $ is not TemplateData
}

func (c *quoteChecker) list(n *parse.ListNode, dotIsData bool) {
	if n == nil {
		return
	}
	for _, x := range n.Nodes {
		switch x := x.(type) {
		case *parse.TextNode:
			c.scan.text(string(x.Text))
		case *parse.ActionNode:
			if len(x.Pipe.Decl) == 0 {
				c.action(x, x.Pipe, dotIsData)
				c.scan.value()
			}
		case *parse.IfNode:
			c.list(x.List, dotIsData)
			c.list(x.ElseList, dotIsData)
		case *parse.RangeNode:
			c.list(x.List, false)
			c.list(x.ElseList, dotIsData)
		case *parse.WithNode:
			c.list(x.List, false)
			c.list(x.ElseList, dotIsData)
		case *parse.TemplateNode:
			c.scan.value() // its own actions are checked with the defined template
		}
	}
}

// action checks one action that writes its value into the command.
func (c *quoteChecker) action(a *parse.ActionNode, pipe *parse.PipeNode, dotIsData bool) {
	quoted := isQuoteCall(pipe)
	closed := !quoted && closedValue(pipe, dotIsData, !c.inDefined)
	src := a.String()
	if closed {
		return // nothing it can hold means anything to a shell
	}
	at := strings.LastIndex(c.text[:min(int(a.Position()), len(c.text))], "{{")
	if at < 0 {
		at = int(a.Position())
	}
	add := func(format string, a ...any) {
		c.problems = append(c.problems, quotingProblem{offset: at, msg: fmt.Sprintf(format, a...), hint: quoteHint})
	}
	withQ := "{{ " + pipe.String() + " | q }}"
	if quoted {
		withQ = src
	}
	switch c.scan.ctx {
	case shComment:
		add("%s is inside a shell comment, which a newline in the value ends: the rest would run as a command; move it out of the comment (to show it: v=%s; echo \"$v\")", src, withQ)
	case shSingle:
		if quoted {
			add("%s is inside single quotes, which its own quotes close, so the value ends up unquoted; remove the ' around it", src)
		} else {
			add("%s is spliced into single quotes, which a ' in the value closes; remove the ' around it and write %s", src, withQ)
		}
	case shDouble:
		if quoted {
			add("%s is inside double quotes, so its single quotes become part of the value; remove the \" around it", src)
		} else {
			add("%s is spliced into double quotes, where $(...), `...` and $ in the value still run; remove the \" around it and write %s", src, withQ)
		}
	default:
		if !quoted {
			add("%s is spliced into the command unquoted: a space, ;, $(...) or a newline in the value would be read by the shell; write %s", src, withQ)
		}
	}
}

// quoteHint is the hint of every quoting warning.
const quoteHint = "q quotes a value for the shell, whatever it holds; only .Version, .Release.ID, .Release.StartedAt, .Release.Previous, .Host.Name, .Env.Name and .Artifact.SHA256 are safe without it"

// isQuoteCall reports whether a pipeline's output is q's: q is its last
// command, as in {{ .X | q }} or {{ q .X }}.
func isQuoteCall(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == "q"
}

// closedValue reports whether a pipeline is one value of the closed set,
// or a constant number or boolean.
func closedValue(p *parse.PipeNode, dotIsData, dollarIsData bool) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	var idents []string
	switch n := p.Cmds[0].Args[0].(type) {
	case *parse.NumberNode, *parse.BoolNode:
		return true
	case *parse.FieldNode:
		if !dotIsData {
			return false
		}
		idents = n.Ident
	case *parse.VariableNode:
		if n.Ident[0] != "$" || !dollarIsData {
			return false
		}
		idents = n.Ident[1:]
	default:
		return false
	}
	return slices.ContainsFunc(closedFields, func(f []string) bool { return slices.Equal(f, idents) })
}
