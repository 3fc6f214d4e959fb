package main

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated parts of the docs")

const architectureFile = "docs/ARCHITECTURE.md"

// TestArchitectureDiagrams keeps the state diagrams of docs/ARCHITECTURE.md
// generated from the machines runbook builds (looplab/fsm's own mermaid
// drawing), so the picture cannot drift from the code: a change to
// runbook/fsm.go fails this test until `go test -run
// TestArchitectureDiagrams -update .` redraws them.
func TestArchitectureDiagrams(t *testing.T) {
	release, err := runbook.NewReleaseMachine(runbook.ReleasePlanned, nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := runbook.NewRunMachine(runbook.RunPending, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(architectureFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, m := range map[string]*runbook.Machine{"release": release, "run": run} {
		diagram, err := m.Mermaid()
		if err != nil {
			t.Fatal(err)
		}
		block := "<!-- generated: " + name + " machine -->\n```mermaid\n" + diagram + "```\n<!-- end -->"
		re := regexp.MustCompile("(?s)<!-- generated: " + name + " machine -->\n.*?<!-- end -->")
		if !re.MatchString(doc) {
			t.Fatalf("%s has no generated block for the %s machine", architectureFile, name)
		}
		if got := re.FindString(doc); got != block {
			if !*updateDocs {
				t.Errorf("%s: the %s machine's diagram is not the one runbook/fsm.go builds; run go test -run TestArchitectureDiagrams -update . and review", architectureFile, name)
				continue
			}
			doc = strings.Replace(doc, got, block, 1)
		}
	}
	if *updateDocs {
		if err := os.WriteFile(architectureFile, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
