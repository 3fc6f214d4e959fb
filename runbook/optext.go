package runbook

import (
	"fmt"
	"unicode/utf8"
)

// TextError says why text the operator typed cannot go into the record.
// It is a usage error (exit 2); at a prompt the question is asked again.
type TextError struct {
	What    string // what the text is: "sign-off name", "--reason"
	Text    string
	Problem string
}

func (e *TextError) Error() string {
	return fmt.Sprintf("%s %s %s: it is recorded as one line of plain text", e.What, quoteVersion(e.Text), e.Problem)
}

// Unwrap makes a TextError a usage error for errors.Is.
func (e *TextError) Unwrap() error { return ErrUsage }

// CheckText checks one line of text the operator typed that the record
// keeps and the reports show: a sign-off role or name, a reason. Reports
// are evidence, so the text must read the same everywhere it is shown:
// no line break (it would add a row to a table), no control character
// (ESC [2K and a carriage return rewrote a sign-off name on screen), no
// character that reorders or hides text (bidirectional overrides and
// isolates, line and paragraph separators), and valid UTF-8.
func CheckText(what, s string) error {
	if !utf8.ValidString(s) {
		return &TextError{What: what, Text: s, Problem: "is not valid UTF-8"}
	}
	for _, r := range s {
		if !textRune(r) {
			return &TextError{What: what, Text: s, Problem: "holds " + describeRune(r)}
		}
	}
	return nil
}

// textRune reports whether r may appear in recorded operator text.
func textRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return false // C0, DEL, C1
	case r == 0x2028, r == 0x2029:
		return false // line and paragraph separators
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return false // bidirectional embeddings, overrides, isolates and marks
	}
	return true
}
