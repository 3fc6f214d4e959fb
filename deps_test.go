package main

// The rooms of DESIGN.md, checked rather than hoped for: imports point
// inward, each third-party library lives in one room, and the packages
// made for tests stay out of the binary. The tables below are the rules;
// change a rule by changing its row, in the same commit as the import
// that needs it, so the reviewer sees the arrow move.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/runbook-dev/runbook"

// room is a package of the module: what it is for, and the packages of
// the module its non-test code may import (relative to the module path).
type room struct {
	pkg     string
	kind    kind
	imports []string
}

// library is a third-party import path (with everything under it) and
// the packages of the module whose non-test code may import it.
type library struct {
	path      string
	importers []string
}

// kind says what a package of the module is for.
type kind int

const (
	production kind = iota // built into the runbook binary
	testOnly               // test helpers imported by _test.go files only (like net/http/httptest), or a package of tests
	tooling                // a program for developers (benchmarks, scripts), never shipped
)

// rooms lists every package of the module, relative to the module path,
// with the packages of the module its code (not its _test.go files) may
// import. A package missing from the table fails the test: a new package
// declares its room here. A row for a package that does not exist (yet)
// is harmless.
var rooms = []room{
	// The binary: a shim around the command line.
	{".", production, []string{"runbook/cli"}},

	// The command line may import everything (but the test helpers).
	{"runbook/cli", production, []string{"runbook", "runbook/engine", "runbook/report", "secrets", "state", "state/postgres", "steps", "steps/remote"}},

	// The rooms around the domain import the domain's types and interfaces.
	{"runbook/engine", production, []string{"runbook"}},
	{"runbook/report", production, []string{"runbook"}},
	{"state", production, []string{"runbook"}},
	{"state/postgres", production, []string{"runbook"}}, // the team's store, beside SQLite's
	{"steps", production, []string{"runbook", "steps/remote"}},

	// The innermost rooms import nothing of the project.
	{"runbook", production, nil},
	{"secrets", production, nil},
	{"steps/remote", production, nil},

	// Test helpers, and the end-to-end tests (test files only).
	{"runbook/runbooktest", testOnly, []string{"runbook", "runbook/engine", "steps"}},
	{"steps/remote/remotetest", testOnly, nil},
	{"steps/remote/sshdtest", testOnly, nil},
	{"secrets/secretstest", testOnly, nil},             // age for tests outside the secrets room
	{"state/storetest", testOnly, []string{"runbook"}}, // the Store contract's conformance suite, run by every backend
	{"state/postgres/pgtest", testOnly, nil},           // a real PostgreSQL server per test package
	{"runbook/e2e", testOnly, nil},

	// Tools: the upload benchmark measures the transport against real sshd.
	{"scripts/benchupload", tooling, []string{"runbook", "steps/remote", "steps/remote/sshdtest"}}, // the checksum of record as runbook takes it
	{"scripts/benchfleet", tooling, []string{"runbook/cli", "steps/remote/sshdtest"}},
	{"scripts/walkphases", tooling, []string{"runbook", "runbook/cli", "steps/remote"}}, // where a step's time goes
	{"scripts/refwalk", tooling, nil},    // the reference for the engine on PostgreSQL
	{"scripts/floorfleet", tooling, nil}, // the floor of the hundred-host night
	{"scripts/refguard", tooling, nil},   // the reference client with a stage's guarantees
}

// libraries says which packages of the module may import each
// third-party library (an import path and everything under it) from
// their non-test code. A library missing from the table fails the test.
// Test files may import any library: a test of the command line may
// switch colour off without fatih/color leaving its room.
var libraries = []library{
	{"github.com/looplab/fsm", []string{"runbook"}}, // the state machines
	{"go.yaml.in/yaml/v3", []string{"runbook"}},     // the runbook file

	{"github.com/spf13/cobra", []string{"runbook/cli"}},
	{"github.com/spf13/pflag", []string{"runbook/cli"}},           // cobra's flags, for did-you-mean
	{"github.com/AlecAivazis/survey/v2", []string{"runbook/cli"}}, // prompts
	{"github.com/fatih/color", []string{"runbook/cli"}},
	{"github.com/vbauerster/mpb/v8", []string{"runbook/cli"}}, // progress bars
	{"golang.org/x/term", []string{"runbook/cli"}},

	{"modernc.org/sqlite", []string{"state"}},
	{"github.com/jackc/pgx/v5", []string{"state/postgres", "scripts/refwalk"}},

	{"golang.org/x/crypto/ssh", []string{"steps/remote", "steps/remote/remotetest", "scripts/floorfleet", "scripts/refguard"}},
	{"github.com/pkg/sftp", []string{"steps/remote", "steps/remote/remotetest", "scripts/floorfleet", "scripts/refguard"}},

	{"filippo.io/age", []string{"secrets", "secrets/secretstest"}},

	// Process hardening at start (core dumps, ptrace) and the lock's proof
	// that a holder is gone (boot id, process start time).
	{"golang.org/x/sys/unix", []string{".", "state"}},

	{"github.com/rogpeppe/go-internal/testscript", nil}, // tests only
}

// TestImportsFollowTheRooms lists the module's packages with the go
// command, in every build configuration the repository uses, and checks
// each import against the tables above.
func TestImportsFollowTheRooms(t *testing.T) {
	for _, tags := range []string{"", "faults"} {
		pkgs, err := goList(tags)
		if err != nil {
			t.Fatalf("go list (tags %q): %v", tags, err)
		}
		if len(pkgs) < 5 {
			t.Fatalf("go list (tags %q) found %d packages of %s; is the test run from the module root?", tags, len(pkgs), module)
		}
		for _, v := range checkImports(pkgs) {
			t.Errorf("tags %q: %s", tags, v)
		}
	}
}

// TestCheckImportsCatchesViolations feeds the checker made-up import
// lists, one broken rule each, so a checker that lets everything through
// cannot pass unnoticed.
func TestCheckImportsCatchesViolations(t *testing.T) {
	ok := []pkgImports{
		{Path: ".", Imports: []string{"context", module + "/runbook/cli"}},
		{Path: "runbook", Imports: []string{"fmt", "github.com/looplab/fsm"}},
		{Path: "runbook/report", Imports: []string{module + "/runbook"}},
		{Path: "steps/remote", Imports: []string{"golang.org/x/crypto/ssh/knownhosts"}},
		{Path: "runbook/cli", Imports: []string{module + "/runbook/engine"}},
		{Path: "runbook/runbooktest", Imports: []string{module + "/runbook/engine"}},
	}
	if v := checkImports(ok); len(v) != 0 {
		t.Fatalf("imports that follow the rules were refused: %q", v)
	}
	for _, tc := range []struct {
		name string
		pkg  pkgImports
		want string
	}{
		{"an arrow outward", pkgImports{Path: "runbook", Imports: []string{module + "/runbook/cli"}},
			"runbook imports runbook/cli"},
		{"an arrow sideways", pkgImports{Path: "runbook/report", Imports: []string{module + "/state"}},
			"runbook/report imports state"},
		{"the engine imported by a room that must not drive it", pkgImports{Path: "state", Imports: []string{module + "/runbook/engine"}},
			"state imports runbook/engine"},
		{"a library out of its room", pkgImports{Path: "state", Imports: []string{"github.com/fatih/color"}},
			"state imports github.com/fatih/color"},
		{"a library's subpackage out of its room", pkgImports{Path: "secrets", Imports: []string{"golang.org/x/crypto/ssh/agent"}},
			"secrets imports golang.org/x/crypto/ssh/agent"},
		{"a library in no row", pkgImports{Path: "runbook", Imports: []string{"github.com/sirupsen/logrus"}},
			"github.com/sirupsen/logrus, which is in no row"},
		{"a test library in the binary", pkgImports{Path: "runbook/cli", Imports: []string{"github.com/rogpeppe/go-internal/testscript"}},
			"runbook/cli imports github.com/rogpeppe/go-internal/testscript"},
		{"a test helper in the binary", pkgImports{Path: "steps", Imports: []string{module + "/steps/remote/remotetest"}},
			"production package steps imports the test-only package steps/remote/remotetest"},
		{"the engine's test helper in the command line", pkgImports{Path: "runbook/cli", Imports: []string{module + "/runbook/runbooktest"}},
			"production package runbook/cli imports the test-only package runbook/runbooktest"},
		{"a package in no room", pkgImports{Path: "runbook/extra", Imports: []string{"fmt"}},
			"runbook/extra is in no room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := checkImports(append(slices.Clone(ok), tc.pkg))
			if len(v) == 0 || !strings.Contains(strings.Join(v, "\n"), tc.want) {
				t.Fatalf("checkImports = %q, want a violation containing %q", v, tc.want)
			}
		})
	}
}

// pkgImports is one package of the module and what its non-test files
// import. What its _test.go files import is not checked: a test may use
// any helper and any library.
type pkgImports struct {
	Path    string // relative to the module path; "." for the root
	Imports []string
}

// checkImports returns one line per broken rule, naming the file to edit.
func checkImports(pkgs []pkgImports) []string {
	var out []string
	for _, p := range pkgs {
		r := roomOf(p.Path)
		if r < 0 {
			out = append(out, fmt.Sprintf("%s is in no room: add a row to rooms in deps_test.go saying what it may import", p.Path))
			continue
		}
		for _, imp := range p.Imports {
			if rel, ok := inModule(imp); ok {
				if h := roomOf(rel); h >= 0 && rooms[h].kind == testOnly && rooms[r].kind == production {
					out = append(out, fmt.Sprintf("production package %s imports the test-only package %s: test helpers stay out of the binary", p.Path, rel))
					continue
				}
				if !slices.Contains(rooms[r].imports, rel) {
					out = append(out, fmt.Sprintf("%s imports %s: its row in rooms (deps_test.go) allows only %v (DESIGN.md: imports point inward)", p.Path, rel, rooms[r].imports))
				}
				continue
			}
			if isStandard(imp) {
				continue
			}
			l := libraryOf(imp)
			switch {
			case l < 0:
				out = append(out, fmt.Sprintf("%s imports %s, which is in no row of libraries (deps_test.go): give it one room", p.Path, imp))
			case !slices.Contains(libraries[l].importers, p.Path):
				out = append(out, fmt.Sprintf("%s imports %s, which lives in %v (DESIGN.md: each library in one room)", p.Path, imp, roomsOrTests(libraries[l].importers)))
			}
		}
	}
	sort.Strings(out)
	return out
}

func roomsOrTests(importers []string) string {
	if len(importers) == 0 {
		return "tests only"
	}
	return strings.Join(importers, ", ")
}

func roomOf(rel string) int {
	return slices.IndexFunc(rooms, func(r room) bool { return r.pkg == rel })
}

// libraryOf finds the row whose path is the import path or one of its
// parents.
func libraryOf(imp string) int {
	for i, l := range libraries {
		if imp == l.path || strings.HasPrefix(imp, l.path+"/") {
			return i
		}
	}
	return -1
}

func inModule(imp string) (string, bool) {
	if imp == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(imp, module+"/")
	return rel, ok
}

// isStandard tells the standard library by its first path element, which
// has no dot (the go command's own rule for module paths).
func isStandard(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

// goList runs `go list -json ./...` with the build tags and returns the
// module's packages.
func goList(tags string) ([]pkgImports, error) {
	cmd := exec.Command("go", "list", "-json", "-tags", tags, "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, stderr.Bytes())
	}
	var pkgs []pkgImports
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		rel, ok := inModule(p.ImportPath)
		if !ok {
			return nil, fmt.Errorf("go list named %s, outside %s", p.ImportPath, module)
		}
		pkgs = append(pkgs, pkgImports{Path: rel, Imports: p.Imports})
	}
	return pkgs, nil
}
