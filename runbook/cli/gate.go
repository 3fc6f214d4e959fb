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
//
// It also keeps the live status line of a step on many hosts (board.go)
// at the bottom of the terminal: erased before any other line is written,
// drawn again after it, and off the screen while a question is up.
type outputGate struct {
	mu      sync.Mutex
	asking  int // questions on the terminal (nested: a reason after a choice)
	pending []heldLine

	statusW     io.Writer // where the status line is drawn
	status      string    // the status line; "" for none
	statusDrawn bool      // it is on the terminal now
}

type heldLine struct {
	w io.Writer
	s string
}

// eraseLine returns the cursor to the start of the line and clears it.
const eraseLine = "\r\x1b[2K"

// println writes s and a newline to w, or holds it while a question is up.
func (g *outputGate) println(w io.Writer, s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.asking > 0 {
		g.pending = append(g.pending, heldLine{w, s})
		return
	}
	g.eraseStatus()
	fmt.Fprintln(w, s)
	g.drawStatus()
}

// setStatus replaces the status line drawn on w ("" removes it). It is
// drawn at once unless a question is up.
func (g *outputGate) setStatus(w io.Writer, s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.asking > 0 {
		g.statusW, g.status = w, s
		return
	}
	if s == "" {
		g.eraseStatus()
	}
	g.statusW, g.status = w, s
	g.drawStatus()
}

func (g *outputGate) eraseStatus() {
	if g.statusDrawn {
		fmt.Fprint(g.statusW, eraseLine)
		g.statusDrawn = false
	}
}

func (g *outputGate) drawStatus() {
	if g.status != "" {
		fmt.Fprint(g.statusW, eraseLine+g.status)
		g.statusDrawn = true
	}
}

// ask marks a question as up until the returned function is called, which
// prints what was held meanwhile.
func (g *outputGate) ask() (done func()) {
	g.mu.Lock()
	g.asking++
	g.eraseStatus()
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
		g.drawStatus()
	}
}
