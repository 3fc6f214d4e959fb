package secrets

import (
	"slices"
	"strings"
)

// matcher finds, in one pass, every occurrence of a set of patterns
// (Aho-Corasick) and every piece of minFragLen bytes or more of them (see
// fragments), ignoring ASCII letter case; and it says how much of the end
// of a text could still grow into either: the streaming masker holds
// exactly that back. A matcher is immutable once built, so writers share
// it without locks.
//
// Case is ignored because the encodings a secret travels in do not keep
// it: hex and %XX come in either case or both, \u003D and \u003d are the
// same JavaScript, and an upper-cased secret is still the secret.
type matcher struct {
	nodes []acNode
	root  [256]int32 // the root's children by byte; 0 means none
	frag  *fragments // nil when no pattern is long enough to have pieces
}

// fold maps ASCII upper-case letters to lower case and every other byte to
// itself; patterns and text are compared folded.
var fold = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// wordByte holds the bytes of plain words: ASCII letters and the space. A
// piece made of them only is not masked as a piece (see minFragLen).
var wordByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	t[' '] = true
	return t
}()

// onlyWordBytes reports whether s is made of wordByte bytes only.
func onlyWordBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if !wordByte[s[i]] {
			return false
		}
	}
	return true
}

func foldString(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = fold[c]
	}
	return string(b)
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

// newMatcher returns the matcher of patterns, masked whole, and of the
// pieces of pieceSources, masked in pieces of minFragLen bytes or more.
func newMatcher(patterns, pieceSources []string) *matcher {
	m := &matcher{nodes: make([]acNode, 1, 64)}
	inPieces := make(map[string]bool, len(pieceSources))
	for _, p := range pieceSources {
		inPieces[p] = true
	}
	for _, p := range patterns {
		// A pattern that is itself a text masked in pieces is found as a
		// piece, whole: the trie need not hold it too.
		if p == "" || inPieces[p] && len(p) >= minFragLen && !strings.ContainsAny(p, "\r\n") && !onlyWordBytes(p) {
			continue
		}
		p = foldString(p)
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
	m.frag = newFragments(fragmentTexts(pieceSources))
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
// patterns and by their pieces of minFragLen bytes or more, merging runs
// that overlap or touch. held is the offset of the earliest byte that
// could begin an occurrence or a piece completed or lengthened only by
// text that follows; len(text) when none could. A nil matcher covers
// nothing.
//
// Pieces are looked for only where they can be: every piece is made of
// windows of minFragLen bytes that occur in the texts, so the automaton of
// pieces runs only over the stretches whose windows pass the filter, from
// the first byte of the first such window. Between them no piece can
// begin, and innocent text costs a multiplication a byte.
func cover[T ~string | ~[]byte](m *matcher, text T) (runs []span, held int) {
	if m == nil {
		return nil, len(text)
	}
	n := int32(0)
	f := m.frag
	var (
		fs, fn int32  // piece automaton state, and how many bytes it matches
		fed    int    // the automaton has read the stretch up to here
		other  = -1   // the last byte it read that is not a letter or a space
		win    uint64 // the last minFragLen bytes
	)
	for i := 0; i < len(text); i++ {
		b := fold[text[i]]
		for {
			if c := m.child(n, b); c != 0 || n == 0 {
				n = c
				break
			}
			n = m.nodes[n].fail
		}
		if l := int(m.nodes[n].match); l > 0 {
			runs = addRun(runs, span{i + 1 - l, i + 1})
		}
		if f == nil {
			continue
		}
		win = win<<8 | uint64(b)
		if i < minFragLen-1 || !f.maybe(win) {
			continue
		}
		if start := i + 1 - minFragLen; start > fed {
			fs, fn, fed = 0, 0, start // no piece spans the gap
		}
		for ; fed <= i; fed++ {
			c := fold[text[fed]]
			if !wordByte[c] {
				other = fed
			}
			fs, fn = f.step(fs, fn, c)
			if from := fed + 1 - int(fn); fn >= minFragLen && other >= from {
				runs = addRun(runs, span{from, fed + 1})
			}
		}
	}
	held = len(text) - int(m.nodes[m.nodes[n].open].depth)
	if f != nil {
		// A piece in progress may still reach minFragLen, or grow. One of
		// minFragLen bytes or more ends in a window that passed the filter,
		// so the automaton knows it; a shorter one lies in the last bytes.
		if fed < len(text) || fn < minFragLen {
			fs, fn = 0, 0
			for j := max(0, len(text)-(minFragLen-1)); j < len(text); j++ {
				fs, fn = f.step(fs, fn, fold[text[j]])
			}
		}
		held = min(held, len(text)-f.growable(fs, fn))
	}
	return runs, held
}

// addRun adds s to runs (sorted, disjoint, not touching), merging it with
// every run it overlaps or touches. s ends no more than a few bytes before
// the last run (pieces are found a window behind), so the search from the
// end is short.
func addRun(runs []span, s span) []span {
	i := len(runs)
	for i > 0 && runs[i-1].start > s.end {
		i-- // after s, apart from it
	}
	j := i
	for j > 0 && runs[j-1].end >= s.start {
		j--
		s.start = min(s.start, runs[j].start)
		s.end = max(s.end, runs[j].end)
	}
	return slices.Replace(runs, j, i, s)
}
