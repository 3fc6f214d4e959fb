package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/runbook-dev/runbook/runbook"
)

// defaultFile is the runbook file's name when -f and RUNBOOK_FILE name none.
const defaultFile = "runbook.yaml"

// findRunbook looks for runbook.yaml in dir and then in each directory
// above it, as git looks for .git, so that a command typed in a
// subdirectory of a project (billing/app) finds the project's runbook.
// The path is relative to dir when it can be ("../runbook.yaml"), as the
// operator would type it; ok is false when no directory up to the root
// holds one.
func findRunbook(dir string) (path string, ok bool) {
	for d := dir; ; {
		p := filepath.Join(d, defaultFile)
		if _, err := os.Stat(p); err == nil {
			if rel, err := filepath.Rel(dir, p); err == nil {
				return rel, true
			}
			return p, true
		}
		up := filepath.Dir(d)
		if up == d {
			return "", false
		}
		d = up
	}
}

// resolveFile sets g.file: -f, else RUNBOOK_FILE, else the runbook.yaml
// found in the working directory or above it.
func (g *globals) resolveFile() {
	if g.file != "" {
		g.fileFrom = "-f/--file"
		return
	}
	if g.file = g.getenv("RUNBOOK_FILE"); g.file != "" {
		g.fileFrom = "RUNBOOK_FILE"
		return
	}
	g.file = defaultFile
	if wd, err := os.Getwd(); err == nil {
		if p, ok := findRunbook(wd); ok {
			g.file = p
		}
	}
}

// missingFile is the error for a runbook file that is not there, with the
// hint that fits where the operator stands: the flag or variable that
// named it; the place of a project whose runbook.yaml went missing (never
// `runbook init`, which would start a second project inside it); the top
// of the git repository; or, in a directory of nothing, `runbook init`.
func (g *globals) missingFile() error {
	if g.fileFrom != "" {
		return runbook.WithHint(&runbook.FileError{File: g.file, Msg: "runbook file not found"},
			fmt.Sprintf("check the path given with %s", g.fileFrom))
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = "."
	}
	e := &runbook.FileError{File: defaultFile, Msg: fmt.Sprintf("runbook file not found in %s or any directory above it", wd)}
	if d, ok := above(wd, ".runbook", "secrets.vault"); ok {
		return runbook.WithHint(e, fmt.Sprintf("%s holds runbook's records but no runbook.yaml: restore it there (from version control), or name the runbook file with -f FILE", d))
	}
	if d, ok := above(wd, ".git"); ok && d != wd {
		return runbook.WithHint(e, fmt.Sprintf("`runbook init %s` writes an example at the top of this repository; -f FILE names a runbook file elsewhere", d))
	}
	return runbook.WithHint(e, "`runbook init` writes an example runbook.yaml here; -f FILE names a runbook file elsewhere")
}

// above returns the first of dir and the directories above it that holds
// an entry named one of names.
func above(dir string, names ...string) (string, bool) {
	for d := dir; ; {
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(d, n)); err == nil {
				return d, true
			}
		}
		up := filepath.Dir(d)
		if up == d {
			return "", false
		}
		d = up
	}
}

// isMissing reports whether the runbook file is not there at all.
func (g *globals) isMissing() bool {
	_, err := os.Stat(g.file)
	return errors.Is(err, fs.ErrNotExist)
}
