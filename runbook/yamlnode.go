package runbook

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxAliasUses bounds alias expansion: a few dozen uses of an anchor are
// normal, an exponential "billion laughs" or a mapping that merges itself
// is not, and both must end in an error rather than a hang.
const maxAliasUses = 10000

// pos is the position of a node; the zero Pos for nil.
func pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	l.add(pos(n), format, args...)
}

// deref follows aliases to the anchored node. It returns nil once the
// alias budget is spent.
func (l *loader) deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		l.aliasUses++
		if l.aliasUses > maxAliasUses {
			if !l.aliasLimitHit {
				l.aliasLimitHit = true
				l.errorf(n, "anchors are expanded more than %d times: write the repeated parts out", maxAliasUses)
			}
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && n.ShortTag() == "!!merge"
}

// describe names what a node holds, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "empty"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// field is one key: value pair of a mapping; val is already dereferenced.
type field struct{ key, val *yaml.Node }

// fields are the pairs of one mapping in file order, with the pairs
// merged in by "<<" after the explicit ones they do not override.
type fields struct {
	node *yaml.Node
	list []field
}

// get returns the value of key, or nil when the key is absent.
func (fs fields) get(key string) *yaml.Node {
	for _, f := range fs.list {
		if f.key.Value == key {
			return f.val
		}
	}
	return nil
}

// keyNode returns the key node of key, or the mapping itself when absent,
// so an error about the key always has a position.
func (fs fields) keyNode(key string) *yaml.Node {
	for _, f := range fs.list {
		if f.key.Value == key {
			return f.key
		}
	}
	return fs.node
}

// mapping reads n as a mapping. An empty value is an empty mapping;
// anything else that is not a mapping is reported as what.
func (l *loader) mapping(n *yaml.Node, what string) fields {
	n = l.deref(n)
	fs := fields{node: n}
	if isNull(n) {
		return fs
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping (key: value), not %s", what, describe(n))
		return fs
	}
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := l.deref(n.Content[i])
		switch {
		case k == nil:
			continue
		case isMergeKey(k):
			merges = append(merges, n.Content[i+1])
			continue
		case k.Kind != yaml.ScalarNode || isNull(k):
			l.errorf(k, "keys of %s must be plain names, not %s", what, describe(k))
			continue
		}
		if first := seen[k.Value]; first != nil {
			l.errorf(k, "%q is set twice in %s (first at line %d): keep one", k.Value, what, first.Line)
			continue
		}
		seen[k.Value] = k
		fs.list = append(fs.list, field{key: k, val: l.deref(n.Content[i+1])})
	}
	for _, m := range merges {
		for _, src := range l.mergeSources(m) {
			for _, f := range l.mapping(src, what).list {
				if seen[f.key.Value] == nil {
					seen[f.key.Value] = f.key
					fs.list = append(fs.list, f)
				}
			}
		}
	}
	return fs
}

// mergeSources returns the mappings a "<<" key merges: one mapping or a
// list of them, earlier ones taking precedence as YAML specifies.
func (l *loader) mergeSources(n *yaml.Node) []*yaml.Node {
	n = l.deref(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		return []*yaml.Node{n}
	}
	if n.Kind == yaml.SequenceNode {
		var srcs []*yaml.Node
		for _, item := range n.Content {
			if item = l.deref(item); item != nil && item.Kind == yaml.MappingNode {
				srcs = append(srcs, item)
			} else if item != nil {
				l.errorf(item, "<< merges mappings, not %s", describe(item))
			}
		}
		return srcs
	}
	l.errorf(n, "<< merges a mapping or a list of mappings, not %s", describe(n))
	return nil
}

// only reports every key of fs that is not in known, suggesting the
// nearest known key for a likely typo.
func (l *loader) only(fs fields, what string, known ...string) {
	for _, f := range fs.list {
		k := f.key.Value
		if slices.Contains(known, k) {
			continue
		}
		if hint := didYouMean(k, known); hint != "" {
			l.errorf(f.key, "unknown key %q in %s%s", k, what, hint)
		} else {
			l.errorf(f.key, "unknown key %q in %s (it takes %s)", k, what, strings.Join(known, ", "))
		}
	}
}

// str reads a scalar as text; numbers and booleans keep their spelling.
func (l *loader) str(n *yaml.Node, key string) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		l.errorf(n, "%s must be a string, not %s", key, describe(n))
		return ""
	}
	return n.Value
}

// nonEmpty reads a string that must have a value when its key is present.
func (l *loader) nonEmpty(n *yaml.Node, key string) string {
	s := l.str(n, key)
	if n != nil && n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode && strings.TrimSpace(s) == "" {
		l.errorf(n, "%s is empty: give it a value or remove it", key)
	}
	return s
}

func (l *loader) boolean(n *yaml.Node, key string) bool {
	if n == nil {
		return false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil {
			return b
		}
	}
	l.errorf(n, "%s must be true or false, not %s", key, describe(n))
	return false
}

// integer reads a whole number of at least least; ok is false when the key
// is absent or wrong, so the caller keeps its default.
func (l *loader) integer(n *yaml.Node, key string, least int) (v int, ok bool) {
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		l.errorf(n, "%s must be a whole number, not %s", key, describe(n))
		return 0, false
	}
	if v < least {
		l.errorf(n, "%s must be at least %d, not %d", key, least, v)
		return 0, false
	}
	return v, true
}

// share reads a count of hosts of at least least, or a percentage of
// least% to 100% ("25%"); ok as for integer.
func (l *loader) share(n *yaml.Node, key string, least int) (s Share, ok bool) {
	if n == nil {
		return Share{}, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		if num, cut := strings.CutSuffix(strings.TrimSpace(n.Value), "%"); cut {
			v, err := strconv.Atoi(num)
			switch {
			case err != nil || strings.HasPrefix(num, "+"):
			case v < least || v > 100:
				l.errorf(n, "%s must be a percentage from %d%% to 100%%, not %s", key, least, n.Value)
				return Share{}, false
			default:
				return Share{N: v, Percent: true}, true
			}
		}
		l.errorf(n, "%s must be a whole number of hosts or a percentage like 25%%, not %s", key, describe(n))
		return Share{}, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		l.errorf(n, "%s must be a whole number of hosts or a percentage like 25%%, not %s", key, describe(n))
		return Share{}, false
	}
	v, ok := l.integer(n, key, least)
	return Share{N: v}, ok
}

// duration reads a positive Go duration; ok as for integer.
func (l *loader) duration(n *yaml.Node, key string) (d time.Duration, ok bool) {
	if n == nil {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		d, err := time.ParseDuration(n.Value)
		if err == nil && d > 0 {
			return d, true
		}
		if err == nil {
			l.errorf(n, "%s must be longer than 0, not %q", key, n.Value)
			return 0, false
		}
	}
	l.errorf(n, "%s must be a duration like 30s, 5m or 1h30m, not %s", key, describe(n))
	return 0, false
}

// list reads a sequence; an empty value is an empty list.
func (l *loader) list(n *yaml.Node, key string) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "%s must be a list like [a, b], not %s", key, describe(n))
		return nil
	}
	items := make([]*yaml.Node, 0, len(n.Content))
	for _, item := range n.Content {
		if item = l.deref(item); item != nil {
			items = append(items, item)
		}
	}
	return items
}

// strItems reads a list of non-empty strings and returns their nodes, for
// callers that check each entry at its own position.
func (l *loader) strItems(n *yaml.Node, key string) []*yaml.Node {
	var out []*yaml.Node
	for _, item := range l.list(n, key) {
		if item.Kind != yaml.ScalarNode || strings.TrimSpace(item.Value) == "" {
			l.errorf(item, "entries of %s must be non-empty strings, not %s", key, describe(item))
			continue
		}
		out = append(out, item)
	}
	return out
}

func values(nodes []*yaml.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Value
	}
	return out
}

// namePattern keeps names usable as command-line arguments and as the
// file and directory names of the logs.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// name reads the name of a step, environment, host or operation.
func (l *loader) name(n *yaml.Node, what string) string {
	s := l.str(n, what+" name")
	if s != "" && !namePattern.MatchString(s) {
		l.errorf(n, "%s name %q may use only letters, digits, '.', '_' and '-', and must start with a letter or digit", what, s)
	}
	return s
}

// quoteList formats names for messages: "a", "b" and "c" (or "or").
func quoteList(names []string, conj string) string {
	q := make([]string, len(names))
	for i, s := range names {
		q[i] = strconv.Quote(s)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
