package cli

import (
	"strings"
	"testing"

	"github.com/fatih/color"
)

func TestMarkdownKeepsCellsAndCodeIntact(t *testing.T) {
	var b strings.Builder
	d, err := newHandbookDoc("md", &b)
	if err != nil {
		t.Fatal(err)
	}
	d.section("Checks")
	d.field("vault", "/v")
	d.table([]string{"check", "run"}, [][]string{{"health", "curl -s x | grep UP\nsecond line"}})
	d.code("echo ```")
	want := "## Checks\n\n- **vault:** /v\n\n| check | run |\n|---|---|\n| health | curl -s x \\| grep UP<br>second line |\n\n````\necho ```\n````\n\n"
	if b.String() != want {
		t.Errorf("markdown:\n%q\nwant\n%q", b.String(), want)
	}
	if _, err := newHandbookDoc("pdf", &b); exitCode(err) != ExitUsage {
		t.Errorf("an unknown format is a usage error: %v", err)
	}
}

func TestTextTablesAlign(t *testing.T) {
	old := color.NoColor
	color.NoColor = true
	t.Cleanup(func() { color.NoColor = old })
	var b strings.Builder
	d := &textDoc{w: &b}
	d.section("Contacts")
	d.table([]string{"role", "name"}, [][]string{{"DBA", "Wang Li"}, {"QA lead", "Li Na"}})
	want := "\nCONTACTS\n  ROLE     NAME\n  DBA      Wang Li\n  QA lead  Li Na\n"
	if b.String() != want {
		t.Errorf("text:\n%q\nwant\n%q", b.String(), want)
	}
}
