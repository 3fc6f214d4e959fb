package steps

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestUnifiedDiff(t *testing.T) {
	httpdOn := "ServerRoot /etc/httpd\nListen 80\nTimeout 60\nKeepAlive On\nMaxKeepAliveRequests 100\nKeepAliveTimeout 5\nUser apache"
	httpdOff := strings.Replace(httpdOn, "KeepAlive On", "KeepAlive Off", 1)
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{"equal", "a\nb", "a\nb", ""},
		{"both empty", "", "", ""},
		{"one line changed in the middle", httpdOn, httpdOff, `--- A
+++ B
@@ -1,7 +1,7 @@
 ServerRoot /etc/httpd
 Listen 80
 Timeout 60
-KeepAlive On
+KeepAlive Off
 MaxKeepAliveRequests 100
 KeepAliveTimeout 5
 User apache
`},
		{"added at the end", "a\nb", "a\nb\nc", `--- A
+++ B
@@ -1,2 +1,3 @@
 a
 b
+c
`},
		{"everything added", "", "x\ny", `--- A
+++ B
@@ -0,0 +1,2 @@
+x
+y
`},
		{"single line each side", "x", "y", `--- A
+++ B
@@ -1 +1 @@
-x
+y
`},
		{"far apart changes make two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12", "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve", `--- A
+++ B
@@ -1,4 +1,4 @@
-1
+one
 2
 3
 4
@@ -9,4 +9,4 @@
 9
 10
 11
-12
+twelve
`},
		{"changes six lines apart share a hunk", "1\n2\n3\n4\n5\n6\n7\n8", "one\n2\n3\n4\n5\n6\n7\neight", `--- A
+++ B
@@ -1,8 +1,8 @@
-1
+one
 2
 3
 4
 5
 6
 7
-8
+eight
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := unifiedDiff("A", "B", lines(tc.a), lines(tc.b))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestUnifiedDiffApplies checks, on random inputs, that applying the diff
// to a gives b and that the kept lines are a longest common subsequence.
func TestUnifiedDiffApplies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"KeepAlive On", "KeepAlive Off", "Listen 80", "", "Timeout 60", "x"}
	gen := func() []string {
		n := r.IntN(25)
		out := make([]string, n)
		for i := range out {
			out[i] = words[r.IntN(len(words))]
		}
		return out
	}
	for i := range 2000 {
		a, b := gen(), gen()
		d := unifiedDiff("A", "B", a, b)
		got, err := applyUnified(a, d)
		if err != nil {
			t.Fatalf("case %d: %v\na=%q\nb=%q\ndiff:\n%s", i, err, a, b, d)
		}
		if strings.Join(got, "\n") != strings.Join(b, "\n") || len(got) != len(b) {
			t.Fatalf("case %d: applying the diff gives %q, want %q\ndiff:\n%s", i, got, b, d)
		}
		kept := 0
		for _, e := range diffLines(a, b) {
			if e.op == ' ' {
				kept++
			}
		}
		if want := lcsLen(a, b); kept != want {
			t.Fatalf("case %d: %d lines kept, the longest common subsequence has %d", i, kept, want)
		}
	}
}

func TestLCSFallbackOnHugeMiddles(t *testing.T) {
	var a, b []string
	for i := range 3000 {
		a = append(a, "a"+strconv.Itoa(i))
		b = append(b, "b"+strconv.Itoa(i))
	}
	es := lcsEdits(a, b)
	if len(es) != 6000 || es[0].op != '-' || es[5999].op != '+' {
		t.Fatalf("fallback script: %d edits, first %c, last %c", len(es), es[0].op, es[len(es)-1].op)
	}
}

func lcsLen(a, b []string) int {
	prev := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$`)

// applyUnified is a strict patch(1): every context and removed line must
// be where the hunk header says.
func applyUnified(a []string, diff string) ([]string, error) {
	if diff == "" {
		return a, nil
	}
	ls := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")
	if len(ls) < 2 || ls[0] != "--- A" || ls[1] != "+++ B" {
		return nil, fmt.Errorf("bad header %q", ls[:min(2, len(ls))])
	}
	var out []string
	next := 0 // index in a of the first line not yet copied
	for k := 2; k < len(ls); {
		m := hunkHeader.FindStringSubmatch(ls[k])
		if m == nil {
			return nil, fmt.Errorf("line %d: want a hunk header, got %q", k+1, ls[k])
		}
		start, _ := strconv.Atoi(m[1])
		n := 1
		if m[2] != "" {
			n, _ = strconv.Atoi(m[2])
		}
		bn := 1
		if m[4] != "" {
			bn, _ = strconv.Atoi(m[4])
		}
		if n > 0 {
			start-- // 1-based; an empty range names the line before
		}
		if start < next {
			return nil, fmt.Errorf("hunk %q overlaps the one before", ls[k])
		}
		out = append(out, a[next:start]...)
		pos := start
		k++
		seenA, seenB := 0, 0
		for ; k < len(ls) && !strings.HasPrefix(ls[k], "@@"); k++ {
			op, text := ls[k][0], ls[k][1:]
			switch op {
			case ' ', '-':
				if pos >= len(a) || a[pos] != text {
					return nil, fmt.Errorf("line %d: %q is not line %d of a", k+1, text, pos+1)
				}
				pos++
				seenA++
				if op == ' ' {
					out = append(out, text)
					seenB++
				}
			case '+':
				out = append(out, text)
				seenB++
			default:
				return nil, fmt.Errorf("line %d: bad op %q", k+1, op)
			}
		}
		if seenA != n || seenB != bn {
			return nil, fmt.Errorf("hunk counts %d,%d do not match its lines %d,%d", n, bn, seenA, seenB)
		}
		next = pos
	}
	return append(out, a[next:]...), nil
}
