package secrets

// matcher finds every occurrence of a set of patterns in one pass
// (Aho-Corasick), and says how much of the end of a text could still be the
// beginning of an occurrence: the streaming masker holds exactly that back.
// A matcher is immutable once built, so writers share it without locks.
type matcher struct {
	nodes []acNode
	root  [256]int32 // the root's children by byte; 0 means none
}

type acNode struct {
	edges []acEdge
	fail  int32 // the node of the longest proper suffix that is in the trie
	depth int32
	// match is the length of the longest pattern that ends here (a suffix
	// of this node's text); 0 when none. Shorter matches ending at the same
	// place lie inside it, so it alone decides what is covered.
	match int32
	// open is the nearest node on the fail chain, this one included, that
	// has children: the longest suffix that can still grow into a pattern.
	open int32
}

type acEdge struct {
	b  byte
	to int32
}

type span struct{ start, end int }

func newMatcher(patterns []string) *matcher {
	m := &matcher{nodes: make([]acNode, 1, 64)}
	for _, p := range patterns {
		if p == "" {
			continue
		}
		n := int32(0)
		for i := 0; i < len(p); i++ {
			next := m.child(n, p[i])
			if next == 0 {
				next = int32(len(m.nodes))
				m.nodes = append(m.nodes, acNode{depth: m.nodes[n].depth + 1})
				m.addChild(n, p[i], next)
			}
			n = next
		}
		m.nodes[n].match = int32(len(p))
	}
	m.link()
	return m
}

func (m *matcher) child(n int32, b byte) int32 {
	if n == 0 {
		return m.root[b]
	}
	for _, e := range m.nodes[n].edges {
		if e.b == b {
			return e.to
		}
	}
	return 0
}

func (m *matcher) addChild(n int32, b byte, to int32) {
	m.nodes[n].edges = append(m.nodes[n].edges, acEdge{b, to})
	if n == 0 {
		m.root[b] = to
	}
}

// link computes fail, match and open breadth first, so that a node's fail
// target (always shallower) is complete before the node itself.
func (m *matcher) link() {
	queue := make([]int32, 0, len(m.nodes))
	for _, e := range m.nodes[0].edges {
		queue = append(queue, e.to)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		nd := &m.nodes[n]
		if nd.match == 0 {
			nd.match = m.nodes[nd.fail].match
		}
		if len(nd.edges) > 0 {
			nd.open = n
		} else {
			nd.open = m.nodes[nd.fail].open
		}
		for _, e := range nd.edges {
			f := nd.fail
			for f != 0 && m.child(f, e.b) == 0 {
				f = m.nodes[f].fail
			}
			m.nodes[e.to].fail = m.child(f, e.b)
			queue = append(queue, e.to)
		}
	}
}

// cover returns the maximal runs of text covered by occurrences of the
// patterns, merging runs that overlap or touch, plus an extra covered run
// [0, prefix) (carried over by the streaming masker). held is the offset
// of the earliest byte that could begin an occurrence completed only by
// text that follows; len(text) when none could. A nil matcher covers
// nothing but the prefix.
func cover[T ~string | ~[]byte](m *matcher, text T, prefix int) (runs []span, held int) {
	if prefix > 0 {
		runs = append(runs, span{0, prefix})
	}
	if m == nil {
		return runs, len(text)
	}
	n := int32(0)
	for i := 0; i < len(text); i++ {
		b := text[i]
		for n != 0 && m.child(n, b) == 0 {
			n = m.nodes[n].fail
		}
		n = m.child(n, b)
		if l := int(m.nodes[n].match); l > 0 {
			runs = addRun(runs, span{i + 1 - l, i + 1})
		}
	}
	return runs, len(text) - int(m.nodes[m.nodes[n].open].depth)
}

// addRun appends s to runs (sorted, disjoint, not touching), merging it
// with every run it overlaps or touches.
func addRun(runs []span, s span) []span {
	for len(runs) > 0 {
		last := runs[len(runs)-1]
		if s.start > last.end {
			break
		}
		s.start = min(s.start, last.start)
		s.end = max(s.end, last.end)
		runs = runs[:len(runs)-1]
	}
	return append(runs, s)
}
