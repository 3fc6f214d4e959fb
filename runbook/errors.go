package runbook

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FileError is one problem in a runbook file. Line and Col are 1-based; a
// zero Line means the problem concerns the whole file (it is missing, or
// unreadable) and a zero Col means the parser knew only the line.
type FileError struct {
	File      string
	Line, Col int
	Msg       string
}

// Error formats the problem as FILE:LINE:COL: message, the form editors
// and terminals turn into a link to the spot.
func (e *FileError) Error() string {
	switch {
	case e.Line <= 0:
		return e.File + ": " + e.Msg
	case e.Col <= 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// FileErrors is every problem found in one runbook file, sorted by
// position, so the operator can fix them all in one edit instead of one per
// run of runbook validate.
type FileErrors []*FileError

// Error lists the problems one per line.
func (es FileErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual *FileError values.
func (es FileErrors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// problems collects the errors of one load.
type problems struct {
	file string
	list []*FileError
}

func (p *problems) add(pos Pos, format string, args ...any) {
	p.list = append(p.list, &FileError{File: p.file, Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil, the single *FileError, or FileErrors sorted by position.
// An alias used twice reports the same problem at the same place twice:
// sorting by message too makes those duplicates adjacent, and they are
// dropped.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	list := slices.Clone(p.list)
	slices.SortStableFunc(list, func(a, b *FileError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), strings.Compare(a.Msg, b.Msg))
	})
	list = slices.CompactFunc(list, func(a, b *FileError) bool { return *a == *b })
	if len(list) == 1 {
		return list[0]
	}
	return FileErrors(list)
}
