package runbook

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FileWarning is something in a runbook file that works but invites
// trouble: `runbook validate` shows it, nothing refuses it.
type FileWarning struct {
	File      string
	Line, Col int
	Msg       string
	Hint      string // what to do about it; "" when Msg says it
}

// String formats the warning as FILE:LINE:COL: warning: message, the form
// of errors with the word warning, so editors jump to it too.
func (w FileWarning) String() string {
	return fmt.Sprintf("%s:%d:%d: warning: %s", w.File, w.Line, w.Col, w.Msg)
}

// Warnings lists the warnings of the file sorted by position, each once.
// A Runbook not made by Load or Parse has none.
func (rb *Runbook) Warnings() []FileWarning {
	ws := slices.Clone(rb.warnings)
	slices.SortStableFunc(ws, func(a, b FileWarning) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), strings.Compare(a.Msg, b.Msg))
	})
	// An aliased node is decoded once per use, at the anchor's position.
	return slices.Compact(ws)
}

// warn records a warning at a position of the file.
func (l *loader) warn(at Pos, hint, format string, args ...any) {
	l.rb.warnings = append(l.rb.warnings, FileWarning{File: l.file, Line: at.Line, Col: at.Col, Msg: fmt.Sprintf(format, args...), Hint: hint})
}
