package runbook

import (
	"cmp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// SecretRef is one place where the runbook file refers to a vault secret:
// a {{ secret "NAME" }} call in a template or a secret:NAME auth value.
type SecretRef struct {
	Name string
	Pos  Pos
}

// SecretRefPositions lists every reference to a secret in the file, sorted
// by position, so that `runbook validate` can point at each one the vault
// cannot satisfy. A reference inside a template points at its secret
// call when the source can be matched to the template text (plain and
// quoted one-line strings, literal blocks), else at the template's string.
// A Runbook not made by Load or Parse has no positions.
func (rb *Runbook) SecretRefPositions() []SecretRef {
	refs := slices.Clone(rb.secretRefs)
	slices.SortFunc(refs, func(a, b SecretRef) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col), strings.Compare(a.Name, b.Name))
	})
	// An aliased node is decoded once per use, at the anchor's position.
	return slices.Compact(refs)
}

// noteSecretRef records a reference found while loading.
func (l *loader) noteSecretRef(name string, at Pos) {
	l.rb.secretRefs = append(l.rb.secretRefs, SecretRef{Name: name, Pos: at})
}

// noteTemplateSecrets records the secret calls of the template text held
// by the scalar n. A template that does not parse has none: the loader
// reports it anyway.
func (l *loader) noteTemplateSecrets(n *yaml.Node, text string) {
	t, err := template.New("command").Funcs(templateFuncs(nil)).Parse(text)
	if err != nil {
		return
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		walkTemplate(tt.Tree.Root, func(node parse.Node) {
			name, ok := secretCall(node)
			if !ok || !secretNamePattern.MatchString(name) {
				return
			}
			call := node.(*parse.CommandNode).Args[0]
			l.noteSecretRef(name, l.templatePos(n, text, int(call.Position())))
		})
	}
}

// templatePos places the byte offset of a template, held by the scalar n,
// in the file. The candidate place is used only when the source line there
// really holds the template text up to the offset: escapes in quoted
// strings and folded blocks change the text, and then the string's own
// position is the honest answer.
func (l *loader) templatePos(n *yaml.Node, text string, offset int) Pos {
	before := text[:offset]
	lineStart := strings.LastIndexByte(before, '\n') + 1
	head := before[lineStart:] // the template line up to the call
	switch {
	case n.Style&yaml.LiteralStyle != 0:
		// A literal block keeps every line, indented, from the line after
		// its "|" indicator.
		line := n.Line + 1 + strings.Count(before, "\n")
		rest := text[lineStart:]
		if end := strings.IndexByte(rest, '\n'); end >= 0 {
			rest = rest[:end]
		}
		src, ok := l.sourceLine(line)
		if ok && strings.HasSuffix(src, rest) {
			indent := len(src) - len(rest)
			return Pos{Line: line, Col: utf8.RuneCountInString(src[:indent+len(head)]) + 1}
		}
	case n.Style&yaml.FoldedStyle == 0 && lineStart == 0:
		src, ok := l.sourceLine(n.Line)
		start := byteIndexOfColumn(src, n.Column)
		if !ok || start < 0 {
			break
		}
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
			start++ // the opening quote
		}
		if start <= len(src) && strings.HasPrefix(src[start:], head) {
			return Pos{Line: n.Line, Col: utf8.RuneCountInString(src[:start+len(head)]) + 1}
		}
	}
	return pos(n)
}

// sourceLine returns line (1-based) of the file without its line break.
func (l *loader) sourceLine(line int) (string, bool) {
	if line < 1 || line > len(l.lines) {
		return "", false
	}
	return strings.TrimSuffix(l.lines[line-1], "\r"), true
}

// byteIndexOfColumn converts the 1-based character column the YAML parser
// reports into a byte index of s; -1 when s is shorter.
func byteIndexOfColumn(s string, col int) int {
	if col < 1 {
		return -1
	}
	i := 0
	for range col - 1 {
		if i >= len(s) {
			return -1
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}
