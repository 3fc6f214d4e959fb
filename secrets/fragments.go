package secrets

import (
	"math/bits"
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
// streaming masker's hold-back within the current line. A filter of the
// texts' windows of minFragLen bytes lets cover run the automaton only
// where a piece can be.
type fragments struct {
	states  []samState
	targets []int32 // the transitions of all states, each state's in byte order

	// filter has the bit hash(w) set for every window w of minFragLen
	// bytes of the texts (a Bloom filter with one hash): a window whose
	// bit is clear is in no text.
	filter []uint64
	shift  uint // hash(w) is the top 64-shift bits of w times a constant

	edges [][]acEdge // the transitions while building; nil once built
}

type samState struct {
	link int32 // the state of the longest shorter suffix; -1 for the initial state
	len  int32 // length of the longest string this state stands for
	// open is the nearest state on the link chain, this one included,
	// with transitions: the longest suffix that can still grow.
	open int32
	// The transitions: bit b of mask is set when there is one on byte b;
	// it is targets[base+rank[b/64]+(set bits of mask[b/64] below b)].
	mask [4]uint64
	rank [4]uint8
	base int32
}

// newFragments returns the automaton of texts, or nil when no text is
// long enough to have a fragment worth masking.
func newFragments(texts []string) *fragments {
	f := &fragments{states: []samState{{link: -1}}, edges: [][]acEdge{nil}}
	windows := 0
	for _, t := range texts {
		if len(t) < minFragLen {
			continue
		}
		last := int32(0)
		for i := 0; i < len(t); i++ {
			last = f.extend(last, t[i])
		}
		windows += len(t) - minFragLen + 1
	}
	if len(f.states) == 1 {
		return nil
	}
	// About 32 bits a window: 3% of innocent windows pass, at most 2 MiB.
	bitsLog := min(max(bits.Len(uint(windows)*32), 12), 24)
	f.filter, f.shift = make([]uint64, 1<<bitsLog/64), uint(64-bitsLog)
	for _, t := range texts {
		var win uint64
		for i := 0; i < len(t); i++ {
			win = win<<8 | uint64(t[i])
			if i >= minFragLen-1 {
				h := f.hash(win)
				f.filter[h/64] |= 1 << (h % 64)
			}
		}
	}
	// Compile the transitions into bitmaps, so that a step is a few
	// instructions whatever the number of transitions of a state.
	for s, edges := range f.edges {
		slices.SortFunc(edges, func(a, b acEdge) int { return int(a.b) - int(b.b) })
		st := &f.states[s]
		st.base = int32(len(f.targets))
		for _, e := range edges {
			st.mask[e.b>>6] |= 1 << (e.b & 63)
			f.targets = append(f.targets, e.to)
		}
		for w := 1; w < 4; w++ {
			st.rank[w] = st.rank[w-1] + uint8(bits.OnesCount64(st.mask[w-1]))
		}
	}
	f.edges = nil
	// A state's link is shorter, so in order of length it is done first.
	order := make([]int32, len(f.states))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return int(f.states[a].len - f.states[b].len) })
	for _, s := range order {
		if st := &f.states[s]; st.mask != [4]uint64{} || st.link < 0 {
			st.open = s
		} else {
			st.open = f.states[st.link].open
		}
	}
	return f
}

func (f *fragments) hash(win uint64) uint64 { return win * 0x9e3779b97f4a7c15 >> f.shift }

// maybe reports whether the window win, the last minFragLen bytes read,
// may occur in a text: false means it does not.
func (f *fragments) maybe(win uint64) bool {
	h := f.hash(win)
	return f.filter[h/64]&(1<<(h%64)) != 0
}

// growable returns how many of the last n bytes read, which put the
// automaton in state s, can still grow into a longer piece.
func (f *fragments) growable(s, n int32) int {
	if st := &f.states[s]; st.mask == [4]uint64{} {
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
	for _, e := range f.edges[s] {
		if e.b == b {
			return e.to
		}
	}
	return 0
}

func (f *fragments) setEdge(s int32, b byte, to int32) {
	edges := f.edges[s]
	for i := range edges {
		if edges[i].b == b {
			edges[i].to = to
			return
		}
	}
	f.edges[s] = append(edges, acEdge{b, to})
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
	cur := f.add(samState{len: f.states[last].len + 1}, nil)
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
	clone := f.add(samState{len: f.states[p].len + 1, link: f.states[q].link}, slices.Clone(f.edges[q]))
	f.states[q].link = clone
	for p != -1 && f.edge(p, b) == q {
		f.setEdge(p, b, clone)
		p = f.states[p].link
	}
	return clone
}

func (f *fragments) add(s samState, edges []acEdge) int32 {
	f.states = append(f.states, s)
	f.edges = append(f.edges, edges)
	return int32(len(f.states) - 1)
}

// next returns the transition of state s on b once built, 0 for none.
func (f *fragments) next(s int32, b byte) int32 {
	st := &f.states[s]
	w, bit := b>>6, uint64(1)<<(b&63)
	m := st.mask[w]
	if m&bit == 0 {
		return 0
	}
	return f.targets[st.base+int32(st.rank[w])+int32(bits.OnesCount64(m&(bit-1)))]
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
