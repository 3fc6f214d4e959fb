package engine_test

import (
	"context"
	"testing"

	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

// TestOperatorBesideOSUser: who is at the keyboard (--operator) and the
// OS account runbook runs as are both recorded on the release, on every
// transition and note, and on every sign-off.
func TestOperatorBesideOSUser(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, `
name: t
environments:
  build: {local: true}
steps:
  - {name: build, on: build, run: make}
  - {name: qa, confirm: QA checked it, signoff: [QA]}
`))
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Operator: "bob", Signoffs: map[string]string{"QA": "Li Na"}}, start("1.0"), nil)
	rel := w.Release()
	if rel.Operator != "bob" || rel.OSUser != "tester" {
		t.Errorf("release recorded by %q as OS user %q", rel.Operator, rel.OSUser)
	}
	for _, tr := range transitions(t, w) {
		if tr.Operator != "bob" || tr.OSUser != "tester" {
			t.Errorf("transition %s %s→%s recorded by %q as OS user %q", tr.Scope, tr.From, tr.To, tr.Operator, tr.OSUser)
		}
	}
	ctx := context.Background()
	sos, err := w.Store.Signoffs(ctx, rel.ID)
	if err != nil || len(sos) != 1 || sos[0].Operator != "bob" || sos[0].OSUser != "tester" || sos[0].Name != "Li Na" {
		t.Errorf("sign-offs %+v, %v", sos, err)
	}
	notes, err := w.Store.Notes(ctx, rel.ID)
	if err != nil || len(notes) == 0 {
		t.Fatalf("notes %+v, %v", notes, err)
	}
	for _, n := range notes {
		if n.Operator != "bob" || n.OSUser != "tester" {
			t.Errorf("note %q recorded by %q as OS user %q", n.Text, n.Operator, n.OSUser)
		}
	}
	if notes[0].Kind != "confirm" || notes[0].Text != "confirmed by --yes (operator bob, OS user tester): QA checked it" {
		t.Errorf("confirmation note: %+v", notes[0])
	}
}
