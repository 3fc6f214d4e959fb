package cli

import (
	"strings"
	"testing"
)

// A line printed while a question is on the terminal waits for the answer
// (survey would erase it with the question), then appears, in order.
func TestOutputGateHoldsLinesWhileAsking(t *testing.T) {
	var out strings.Builder
	var g outputGate
	g.println(&out, "before")
	done := g.ask()
	g.println(&out, "prod1 │ running")
	inner := g.ask() // a reason asked after a choice
	g.println(&out, "✓ prod1 done")
	inner()
	if got := out.String(); got != "before\n" {
		t.Fatalf("printed while a question was up: %q", got)
	}
	done()
	g.println(&out, "after")
	if got, want := out.String(), "before\nprod1 │ running\n✓ prod1 done\nafter\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
