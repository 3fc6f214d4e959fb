package runbook

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"
)

// templateErrPos is the position text/template puts in its errors:
// "template: command:LINE:" or "template: command:LINE:COL:".
var templateErrPos = regexp.MustCompile(`template: [^:]*:\d+:`)

// FuzzTemplate feeds arbitrary command templates to what reads them: the
// validator's check (checkTemplate), the list of secrets validate checks
// the vault for (SecretRefs) and Render. None may panic; a Render error
// says whether parsing or rendering failed and where; and a template the
// validator accepts may ask the vault, at render time, only for secrets
// SecretRefs listed, or a release could stop on a secret validate never
// checked. The seed corpus is testdata/fuzz/FuzzTemplate.
func FuzzTemplate(f *testing.F) {
	f.Add(`echo {{ .Version }} {{ secret "db/password" }}`)
	f.Fuzz(func(t *testing.T, text string) {
		line, msg := checkTemplate(text)
		if msg != "" && (line < 0 || line > strings.Count(text, "\n")+1) {
			t.Fatalf("checkTemplate(%q) places %q on line %d, outside the template", text, msg, line)
		}
		refs := SecretRefs(text)
		for _, name := range refs {
			if msg == "" && !secretNamePattern.MatchString(name) {
				t.Fatalf("template %q passed the validator, but SecretRefs lists %q, not a valid secret name", text, name)
			}
		}
		if loops(text) {
			// A range runs as many times as its author asks: {{ range
			// 1000000000 }} is slow by design, not a bug of the loader.
			return
		}
		var asked []string
		out, err := Render(text, sampleData(), func(name string) (string, error) {
			asked = append(asked, name)
			return "value-of-" + name, nil
		})
		if err != nil {
			m := err.Error()
			switch {
			case strings.HasPrefix(m, "parse template: "), strings.HasPrefix(m, "render template: "):
			default:
				t.Fatalf("Render(%q): %q says neither parse nor render", text, m)
			}
			if !templateErrPos.MatchString(m) && !strings.Contains(m, "larger than") {
				t.Fatalf("Render(%q): %q has no position", text, m)
			}
			return
		}
		if len(out) > maxRendered {
			t.Fatalf("Render(%q) made %d bytes, more than its limit", text, len(out))
		}
		if msg != "" {
			return
		}
		for _, name := range asked {
			if !slices.Contains(refs, name) {
				t.Fatalf("template %q passed the validator but asked the vault for %q, which SecretRefs (%q) does not list", text, name, refs)
			}
		}
	})
}

// loops reports whether a template that parses holds a range.
func loops(text string) bool {
	t, err := template.New("command").Funcs(templateFuncs(nil)).Parse(text)
	if err != nil {
		return false
	}
	found := false
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walkTemplate(tt.Tree.Root, func(n parse.Node) {
				if _, ok := n.(*parse.RangeNode); ok {
					found = true
				}
			})
		}
	}
	return found
}
