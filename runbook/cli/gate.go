package cli

import (
	"fmt"
	"io"
	"sync"
)

// outputGate keeps the walk's lines off the terminal while a question is
// on it. survey draws a question over the lines below the cursor and
// erases them when it is answered: a line another host printed meanwhile
// (a parallel host run, whose host-key question was answered first) would
// be erased with them, or break the question's layout. Lines written while
// a question is up are held, and printed in order once it is answered.
type outputGate struct {
	mu      sync.Mutex
	asking  int // questions on the terminal (nested: a reason after a choice)
	pending []heldLine
}

type heldLine struct {
	w io.Writer
	s string
}

// println writes s and a newline to w, or holds it while a question is up.
func (g *outputGate) println(w io.Writer, s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.asking > 0 {
		g.pending = append(g.pending, heldLine{w, s})
		return
	}
	fmt.Fprintln(w, s)
}

// ask marks a question as up until the returned function is called, which
// prints what was held meanwhile.
func (g *outputGate) ask() (done func()) {
	g.mu.Lock()
	g.asking++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.asking--; g.asking > 0 {
			return
		}
		for _, l := range g.pending {
			fmt.Fprintln(l.w, l.s)
		}
		g.pending = nil
	}
}
