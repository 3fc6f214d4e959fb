package secrets

import (
	"slices"
	"strings"
)

// minFragLen is the shortest piece of a secret, or of one of its
// encodings, that is masked on its own: a secret printed across two lines
// or between stdout and stderr, cut by a template's slice, or base64
// wrapped at any width leaves pieces that are not whole forms. Eight is
// the length WeakSecret and minLineLen already treat as the least that
// innocent text rarely holds by chance; a piece shorter than that (at most
// 7 characters at each break) stays visible.
//
// A piece is masked only if it holds a byte other than an ASCII letter or
// a space: a passphrase of words, or a password with "password" in it,
// must not blank those words wherever they appear. Such a value is masked
// whole, and its encodings piece by piece, as their pieces hold digits
// and signs.
const minFragLen = 8

// fragments recognises every substring of a set of texts: a generalised
// suffix automaton. Fed a text a byte at a time, it knows the longest
// suffix of what it has read that occurs in one of the texts. It has at
// most two states per byte of the texts, is built in time linear in them,
// and moves in amortised constant time per byte read.
//
// The texts never hold a line break (fragmentTexts splits them), so a
// piece never spans lines: a newline ends every match, which keeps the
// streaming masker's hold-back within the current line.
type fragments struct {
	states []samState
	root   [256]int32 // the initial state's transitions; 0 means none
}

type samState struct {
	link  int32 // the state of the longest shorter suffix; -1 for the initial state
	len   int32 // length of the longest string this state stands for
	edges []acEdge
	// open is the nearest state on the link chain, this one included,
	// with transitions: the longest suffix that can still grow.
	open int32
}

// newFragments returns the automaton of texts, or nil when no text is
// long enough to have a fragment worth masking.
func newFragments(texts []string) *fragments {
	f := &fragments{states: []samState{{link: -1}}}
	for _, t := range texts {
		if len(t) < minFragLen {
			continue
		}
		last := int32(0)
		for i := 0; i < len(t); i++ {
			last = f.extend(last, t[i])
		}
	}
	if len(f.states) == 1 {
		return nil
	}
	for i := range f.states {
		slices.SortFunc(f.states[i].edges, func(a, b acEdge) int { return int(a.b) - int(b.b) })
	}
	for _, e := range f.states[0].edges {
		f.root[e.b] = e.to
	}
	// A state's link is shorter, so in order of length it is done first.
	order := make([]int32, len(f.states))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return int(f.states[a].len - f.states[b].len) })
	for _, s := range order {
		if st := &f.states[s]; len(st.edges) > 0 || st.link < 0 {
			st.open = s
		} else {
			st.open = f.states[st.link].open
		}
	}
	return f
}

// growable returns how many of the last n bytes read, which put the
// automaton in state s, can still grow into a longer piece.
func (f *fragments) growable(s, n int32) int {
	if st := &f.states[s]; len(st.edges) == 0 {
		return int(f.states[st.open].len)
	}
	return int(n)
}

// fragmentTexts returns the lines of sources, folded, that are long enough
// to have fragments.
func fragmentTexts(sources []string) []string {
	var out []string
	for _, src := range sources {
		for line := range strings.FieldsFuncSeq(src, isLineBreak) {
			if len(line) >= minFragLen {
				out = append(out, foldString(line))
			}
		}
	}
	return out
}

func isLineBreak(r rune) bool { return r == '\n' || r == '\r' }

// edge returns the transition of state s on b during the build, 0 for none
// (no transition leads back to the initial state).
func (f *fragments) edge(s int32, b byte) int32 {
	for _, e := range f.states[s].edges {
		if e.b == b {
			return e.to
		}
	}
	return 0
}

func (f *fragments) setEdge(s int32, b byte, to int32) {
	edges := f.states[s].edges
	for i := range edges {
		if edges[i].b == b {
			edges[i].to = to
			return
		}
	}
	f.states[s].edges = append(edges, acEdge{b, to})
}

// extend adds byte b after the text ending in state last and returns the
// state of the longer text: the textbook construction, generalised to
// several texts by reusing a transition an earlier text already made.
func (f *fragments) extend(last int32, b byte) int32 {
	if q := f.edge(last, b); q != 0 {
		if f.states[last].len+1 == f.states[q].len {
			return q
		}
		return f.split(last, b, q)
	}
	cur := f.add(samState{len: f.states[last].len + 1})
	p := last
	for p != -1 && f.edge(p, b) == 0 {
		f.setEdge(p, b, cur)
		p = f.states[p].link
	}
	if p == -1 {
		f.states[cur].link = 0
		return cur
	}
	q := f.edge(p, b)
	if f.states[p].len+1 == f.states[q].len {
		f.states[cur].link = q
		return cur
	}
	f.states[cur].link = f.split(p, b, q)
	return cur
}

// split clones q, the target of p's transition on b, into a state for the
// strings up to len(p)+1, and redirects p and its suffixes to the clone.
func (f *fragments) split(p int32, b byte, q int32) int32 {
	clone := f.add(samState{
		len:   f.states[p].len + 1,
		link:  f.states[q].link,
		edges: slices.Clone(f.states[q].edges),
	})
	f.states[q].link = clone
	for p != -1 && f.edge(p, b) == q {
		f.setEdge(p, b, clone)
		p = f.states[p].link
	}
	return clone
}

func (f *fragments) add(s samState) int32 {
	f.states = append(f.states, s)
	return int32(len(f.states) - 1)
}

// next returns the transition of state s on b once built, 0 for none.
func (f *fragments) next(s int32, b byte) int32 {
	if s == 0 {
		return f.root[b]
	}
	edges := f.states[s].edges
	lo, hi := 0, len(edges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if edges[mid].b < b {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(edges) && edges[lo].b == b {
		return edges[lo].to
	}
	return 0
}

// step reads b in state s, where the last n bytes read occur in the texts,
// and returns the new state and length.
func (f *fragments) step(s, n int32, b byte) (int32, int32) {
	for {
		if t := f.next(s, b); t != 0 {
			return t, n + 1
		}
		if s == 0 {
			return 0, 0
		}
		s = f.states[s].link
		n = f.states[s].len
	}
}
