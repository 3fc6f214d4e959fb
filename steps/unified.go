package steps

import (
	"fmt"
	"strings"
)

// diffContext is how many unchanged lines surround a change in a hunk, as
// in diff -u.
const diffContext = 3

// maxLCSCells bounds the table of the line matching. Consistency facts are
// config files and command outputs whose differing middle is small once
// the common head and tail are cut off; beyond this the middle is shown as
// removed and added wholesale rather than spending memory on it.
const maxLCSCells = 4 << 20

// edit is one line of an edit script: ' ' kept, '-' removed, '+' added.
type edit struct {
	op   byte
	line string
}

// unifiedDiff returns the unified diff (diff -u format, 3 lines of context)
// that turns a into b, with nameA and nameB in its header; "" when a and b
// are equal.
func unifiedDiff(nameA, nameB string, a, b []string) string {
	es := diffLines(a, b)
	var out strings.Builder
	// aPos[k] and bPos[k] count the lines of a and b before es[k].
	aPos, bPos := make([]int, len(es)+1), make([]int, len(es)+1)
	for k, e := range es {
		aPos[k+1], bPos[k+1] = aPos[k], bPos[k]
		if e.op != '+' {
			aPos[k+1]++
		}
		if e.op != '-' {
			bPos[k+1]++
		}
	}
	for k := 0; k < len(es); {
		first := nextChange(es, k)
		if first < 0 {
			break
		}
		end := hunkEnd(es, first)
		from, to := max(first-diffContext, k), min(end+diffContext, len(es))
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aPos[from], aPos[to]-aPos[from]), hunkRange(bPos[from], bPos[to]-bPos[from]))
		for _, e := range es[from:to] {
			out.WriteByte(e.op)
			out.WriteString(e.line)
			out.WriteByte('\n')
		}
		k = to
	}
	return out.String()
}

// nextChange returns the index of the first change at or after k, or -1.
func nextChange(es []edit, k int) int {
	for ; k < len(es); k++ {
		if es[k].op != ' ' {
			return k
		}
	}
	return -1
}

// hunkEnd returns the index after the last change of the hunk that starts
// with the change at first: changes closer than twice the context share a
// hunk, as diff -u does.
func hunkEnd(es []edit, first int) int {
	end := first + 1
	for k := first + 1; k < len(es); k++ {
		if es[k].op != ' ' {
			end = k + 1
			continue
		}
		if k-end+1 > 2*diffContext {
			break
		}
	}
	return end
}

// hunkRange writes one side of a hunk header the way GNU diff does: an
// empty range names the line before it, a single line omits its length.
func hunkRange(before, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, n)
}

// diffLines is the edit script from a to b: the common head and tail kept,
// the middle matched by longest common subsequence.
func diffLines(a, b []string) []edit {
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	es := make([]edit, 0, len(a)+len(b)-head-tail)
	for _, l := range a[:head] {
		es = append(es, edit{' ', l})
	}
	es = append(es, lcsEdits(a[head:len(a)-tail], b[head:len(b)-tail])...)
	for _, l := range a[len(a)-tail:] {
		es = append(es, edit{' ', l})
	}
	return es
}

// lcsEdits matches a and b by longest common subsequence; where both a
// removal and an addition fit, the removal comes first ("-old" above
// "+new"), as readers expect.
func lcsEdits(a, b []string) []edit {
	n, m := len(a), len(b)
	var es []edit
	if n*m > maxLCSCells {
		for _, l := range a {
			es = append(es, edit{'-', l})
		}
		for _, l := range b {
			es = append(es, edit{'+', l})
		}
		return es
	}
	// lcs[i*(m+1)+j] is the length of the LCS of a[i:] and b[j:].
	w := m + 1
	lcs := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			es = append(es, edit{' ', a[i]})
			i++
			j++
		case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			es = append(es, edit{'-', a[i]})
			i++
		default:
			es = append(es, edit{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		es = append(es, edit{'-', a[i]})
	}
	for ; j < m; j++ {
		es = append(es, edit{'+', b[j]})
	}
	return es
}
