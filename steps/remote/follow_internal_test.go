package remote

import (
	"bytes"
	"testing"
)

// The follower's stream and the wrapper's copy of one log make one
// output: what the follower showed is not shown again, and the rest of
// the wrapper's copy is, however both come cut.
func TestRunOutputShowsTheLogOnce(t *testing.T) {
	for _, c := range []struct {
		name     string
		follower []string // before the wrapper's copy begins
		inband   []string
		late     []string // the follower's, after the wrapper's copy began
		want     string
	}{
		{"quick run: no follower", nil, []string{"ab", "cdef"}, nil, "abcdef"},
		{"follower showed a prefix", []string{"ab", "c"}, []string{"a", "bcd", "ef"}, []string{"def"}, "abcdef"},
		{"follower showed it all", []string{"abc"}, []string{"abc"}, nil, "abc"},
		{"log grew after the wrapper's copy", []string{"abcd"}, []string{"ab"}, nil, "abcd"},
		{"no output", nil, nil, nil, ""},
	} {
		var out bytes.Buffer
		firsts := 0
		o := newRunOutput(&out, func() { firsts++ })
		for _, p := range c.follower {
			_, _ = o.follower().Write([]byte(p))
		}
		for i, p := range c.inband {
			if n, err := o.Write([]byte(p)); n != len(p) || err != nil {
				t.Fatalf("%s: in-band write %d: %d %v", c.name, i, n, err)
			}
			if i == 0 {
				for _, l := range c.late {
					_, _ = o.follower().Write([]byte(l))
				}
			}
		}
		if out.String() != c.want {
			t.Errorf("%s: output %q, want %q", c.name, out.String(), c.want)
		}
		if want := min(len(c.want), 1); firsts != want {
			t.Errorf("%s: the first-output hook ran %d times, want %d", c.name, firsts, want)
		}
	}
}

// Once the follower is stopped, nothing it still sends reaches the
// output: the caller may read it.
func TestRunOutputSealed(t *testing.T) {
	var out bytes.Buffer
	o := newRunOutput(&out, nil)
	_, _ = o.follower().Write([]byte("a"))
	o.seal()
	_, _ = o.follower().Write([]byte("b"))
	if out.String() != "a" {
		t.Errorf("output %q, want %q", out.String(), "a")
	}
}
