package runbook

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"go.yaml.in/yaml/v3"
)

// templateParseErr matches text/template's "template: NAME:LINE: MSG".
var templateParseErr = regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)? ?(.*)$`)

// checkTemplate finds the first problem of a command template that would
// otherwise only show on the release night: a syntax error, a field
// TemplateData lacks, or a secret call whose name is not a literal (the
// vault must be checked for every secret before a release starts). line
// is 1-based within the template; msg is "" when the template is fine.
func checkTemplate(text string) (line int, msg string) {
	t, err := template.New("command").Funcs(templateFuncs(nil)).Parse(text)
	if err != nil {
		if m := templateParseErr.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			return line, "template does not parse: " + m[2]
		}
		return 0, "template does not parse: " + err.Error()
	}
	c := &templateChecker{text: text}
	if t.Tree != nil {
		c.node(t.Tree.Root, true)
	}
	// Templates the text defines ({{ define }}, {{ block }}) run too, so
	// their secret calls must name a literal secret as well: otherwise
	// {{ define "x" }}{{ secret . }}{{ end }}{{ template "x" "db/pw" }}
	// would pass validate and ask the vault, on the release night, for a
	// secret nobody checked. Their dot and $ are whatever the caller
	// passes, so their fields are not checked. In the order they appear,
	// so the first problem reported is the first in the text.
	var defined []*template.Template
	for _, tt := range t.Templates() {
		if tt.Name() != t.Name() && tt.Tree != nil && tt.Tree.Root != nil {
			defined = append(defined, tt)
		}
	}
	slices.SortFunc(defined, func(a, b *template.Template) int {
		return cmp.Compare(a.Tree.Root.Position(), b.Tree.Root.Position())
	})
	c.inDefined = true
	for _, tt := range defined {
		c.node(tt.Tree.Root, false)
	}
	return c.line, c.msg
}

// templateChecker walks the templates of a command. dot is TemplateData
// in the main template except inside range and with, where the walk stops
// checking dot's fields, and unknown in defined templates.
type templateChecker struct {
	text      string
	line      int
	msg       string
	inDefined bool // walking a {{ define }}d template: $ is not TemplateData
}

func (c *templateChecker) fail(n parse.Node, format string, args ...any) {
	if c.msg != "" {
		return
	}
	c.line = 1 + strings.Count(c.text[:min(int(n.Position()), len(c.text))], "\n")
	c.msg = fmt.Sprintf(format, args...)
}

func (c *templateChecker) node(n parse.Node, dotIsData bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		for _, x := range n.Nodes {
			c.node(x, dotIsData)
		}
	case *parse.ActionNode:
		c.node(n.Pipe, dotIsData)
	case *parse.PipeNode:
		for _, cmd := range n.Cmds {
			c.node(cmd, dotIsData)
		}
	case *parse.CommandNode:
		c.command(n, dotIsData)
	case *parse.ChainNode:
		c.node(n.Node, dotIsData)
	case *parse.FieldNode:
		if dotIsData {
			c.fields(n, n.Ident)
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && !c.inDefined {
			c.fields(n, n.Ident[1:])
		}
	case *parse.IfNode:
		c.branch(&n.BranchNode, dotIsData, dotIsData)
	case *parse.RangeNode:
		c.branch(&n.BranchNode, dotIsData, false)
	case *parse.WithNode:
		c.branch(&n.BranchNode, dotIsData, false)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			c.node(n.Pipe, dotIsData)
		}
	}
}

func (c *templateChecker) branch(b *parse.BranchNode, dotIsData, inside bool) {
	c.node(b.Pipe, dotIsData)
	c.node(b.List, inside)
	if b.ElseList != nil {
		c.node(b.ElseList, dotIsData)
	}
}

func (c *templateChecker) command(cmd *parse.CommandNode, dotIsData bool) {
	for i, arg := range cmd.Args {
		if id, ok := arg.(*parse.IdentifierNode); ok && id.Ident == "secret" {
			name, ok := secretCall(cmd)
			switch {
			case i != 0 || !ok:
				c.fail(arg, `secret takes one quoted name, like {{ secret "db/password" }}`)
			case !secretNamePattern.MatchString(name):
				c.fail(arg, "secret name %q may use only letters, digits and _ . / -", name)
			}
		}
		c.node(arg, dotIsData)
	}
}

// fields checks a chain of field names against TemplateData.
func (c *templateChecker) fields(n parse.Node, idents []string) {
	t := reflect.TypeFor[TemplateData]()
	path := ""
	for _, id := range idents {
		if t.Kind() != reflect.Struct {
			c.fail(n, "%s has no field %s: it is a %s", path, id, t.Kind())
			return
		}
		f, ok := t.FieldByName(id)
		if !ok {
			var names []string
			for i := range t.NumField() {
				names = append(names, t.Field(i).Name)
			}
			hint := ""
			if s := Suggest(id, names); s != "" {
				hint = fmt.Sprintf("; did you mean %s.%s?", path, s)
			}
			c.fail(n, "template uses %s.%s, which does not exist%s (there are %s)", path, id, hint, dotted(path, names))
			return
		}
		path += "." + id
		t = f.Type
	}
}

func dotted(path string, names []string) string {
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = path + "." + name
	}
	return strings.Join(out, ", ")
}

// command reads a command template: required when its key is present.
func (l *loader) command(n *yaml.Node, key string) string {
	if n == nil {
		return ""
	}
	s := l.nonEmpty(n, key)
	l.checkTemplateAt(n, key, s)
	return s
}

// template reads a template that may be empty.
func (l *loader) template(n *yaml.Node, key string) string {
	s := l.str(n, key)
	l.checkTemplateAt(n, key, s)
	return s
}

// checkTemplateAt reports a template problem at its place in the file:
// the exact line inside a literal block (|), else the string itself.
func (l *loader) checkTemplateAt(n *yaml.Node, key, text string) {
	if text == "" {
		return
	}
	// Every template passes here: the one place to learn where secrets are
	// referenced, for validate's vault check.
	l.noteTemplateSecrets(n, text)
	line, msg := checkTemplate(text)
	if msg == "" {
		return
	}
	at, where := pos(n), ""
	switch {
	case n.Style&yaml.LiteralStyle != 0 && line > 0 && n.Line+line <= len(l.lines):
		at.Line = n.Line + line
		content := l.lines[at.Line-1]
		at.Col = len(content) - len(strings.TrimLeft(content, " ")) + 1
	case strings.Contains(text, "\n") && line > 0:
		where = fmt.Sprintf(" (line %d of the template)", line)
	}
	l.add(at, "%s: %s%s", key, msg, where)
}
