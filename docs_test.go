package main

// The parts of the docs that the code can check: docs/SPEC.md's tables of
// the state machines and of the exit codes, and the links of every
// markdown file of the repository (they must stay inside it: users have
// the repository, nothing beside it).

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/cli"
)

const specFile = "docs/SPEC.md"

// TestSpecStateMachines compares the transition tables of SPEC §4.1 and
// §4.2 with the machines runbook builds, both ways.
func TestSpecStateMachines(t *testing.T) {
	spec := readSpec(t)
	var release, run []string
	for _, s := range runbook.ReleaseStates {
		release = append(release, transitions(t, string(s), func() (*runbook.Machine, error) { return runbook.NewReleaseMachine(s, nil) })...)
	}
	for _, s := range runbook.RunStates {
		run = append(run, transitions(t, string(s), func() (*runbook.Machine, error) { return runbook.NewRunMachine(s, nil) })...)
	}
	for _, tc := range []struct {
		section string
		code    []string
	}{
		{"### 4.1 Release states", release},
		{"### 4.2 Step and host-run states", run},
	} {
		rows := tableRows(t, spec, tc.section, regexp.MustCompile("^\\| `([a-z_]+)` \\| `([a-z_]+)` \\| `([a-z_]+)` \\|$"))
		var doc []string
		for _, r := range rows {
			doc = append(doc, r[0]+" --"+r[1]+"--> "+r[2])
		}
		compareSets(t, tc.section, doc, tc.code, "runbook/fsm.go")
	}
}

// transitions lists every transition out of state as "from --event--> to",
// firing each available event on a fresh machine.
func transitions(t *testing.T, state string, restore func() (*runbook.Machine, error)) []string {
	t.Helper()
	m, err := restore()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range m.Available() {
		m, err := restore()
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Fire(context.Background(), ev); err != nil {
			t.Fatalf("%s --%s-->: %v", state, ev, err)
		}
		out = append(out, state+" --"+ev+"--> "+m.Current())
	}
	return out
}

// TestSpecExitCodes compares the table of SPEC §2.4 with the codes the
// command line returns.
func TestSpecExitCodes(t *testing.T) {
	rows := tableRows(t, readSpec(t), "### 2.4 Exit codes", regexp.MustCompile(`^\| (\d+) \| .+ \|$`))
	var doc []string
	for _, r := range rows {
		doc = append(doc, r[0])
	}
	var code []string
	for _, c := range []int{cli.ExitOK, cli.ExitFailed, cli.ExitUsage, cli.ExitNeedsHuman, cli.ExitLocked, cli.ExitVault, cli.ExitInterrupted} {
		code = append(code, strconv.Itoa(c))
	}
	compareSets(t, "### 2.4 Exit codes", doc, code, "runbook/cli/exit.go")
}

// TestDocLinksStayInTheRepository follows every relative link of every
// markdown file: it must name a file of the repository.
func TestDocLinksStayInTheRepository(t *testing.T) {
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	if !slices.Contains(files, "README.md") || !slices.Contains(files, specFile) {
		t.Fatalf("found %v; is the test run from the module root?", files)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			if problem := checkLink(root, f, m[1]); problem != "" {
				t.Errorf("%s: link %s %s", f, m[1], problem)
			}
		}
	}
}

// checkLink says what is wrong with a link of a markdown file, or "".
func checkLink(root, from, target string) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
		return ""
	}
	path, _, _ := strings.Cut(target, "#")
	abs, err := filepath.Abs(filepath.Join(filepath.Dir(from), path))
	if err != nil {
		return err.Error()
	}
	if rel, err := filepath.Rel(root, abs); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "points outside the repository: users have only the repository"
	}
	if _, err := os.Stat(abs); err != nil {
		return "names no file of the repository"
	}
	return ""
}

func TestCheckLink(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"README.md", "docs/SPEC.md"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	for _, tc := range []struct {
		from, target string
		ok           bool
	}{
		{"README.md", "docs/SPEC.md", true},
		{"README.md", "docs/SPEC.md#7-json-shapes", true},
		{"docs/SPEC.md", "../README.md", true},
		{"README.md", "#exit-codes", true},
		{"README.md", "https://age-encryption.org", true},
		{"README.md", "../shared/SPEC.md", false},
		{"docs/SPEC.md", "../../shared/SPEC.md", false},
		{"README.md", "docs/ARCH.md", false},
	} {
		if got := checkLink(root, tc.from, tc.target) == ""; got != tc.ok {
			t.Errorf("checkLink(%s, %s) ok = %v, want %v", tc.from, tc.target, got, tc.ok)
		}
	}
}

func readSpec(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// tableRows returns the submatches of the rows of the first table under
// the heading (up to the next heading), failing when there are none.
func tableRows(t *testing.T, lines []string, heading string, row *regexp.Regexp) [][]string {
	t.Helper()
	i := slices.Index(lines, heading)
	if i < 0 {
		t.Fatalf("%s has no heading %q", specFile, heading)
	}
	var rows [][]string
	for _, l := range lines[i+1:] {
		if strings.HasPrefix(l, "#") {
			break
		}
		if m := row.FindStringSubmatch(l); m != nil {
			rows = append(rows, m[1:])
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table rows under %q", specFile, heading)
	}
	return rows
}

// compareSets reports what the doc lists and the code lacks, and the
// other way round.
func compareSets(t *testing.T, section string, doc, code []string, codeFile string) {
	t.Helper()
	for _, d := range doc {
		if !slices.Contains(code, d) {
			t.Errorf("%s %s lists %s, which %s does not have", specFile, section, d, codeFile)
		}
	}
	for _, c := range code {
		if !slices.Contains(doc, c) {
			t.Errorf("%s has %s, which %s %s does not list", codeFile, c, specFile, section)
		}
	}
	if len(doc) != len(code) {
		t.Errorf("%s %s: %d rows, %s: %d", specFile, section, len(doc), codeFile, len(code))
	}
}
