package runbook

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, ok := range []string{"Li Na", "Wang Li", "李娜", "O'Brien", "QA", "rollback: \"db\" | 5 rows", "naïve café ✓"} {
		if err := CheckText("sign-off name", ok); err != nil {
			t.Errorf("CheckText(%q) = %v", ok, err)
		}
	}
	for _, tc := range []struct{ text, problem string }{
		{"Li Na\n| forged | DBA | Mallory |", "holds a newline"},
		{"Wang\x1b[2K\rDBA signed by CEO", "holds an escape character (ESC)"},
		{"Wang\rCEO", "holds a carriage return"},
		{"Wang\tLi", "holds a tab"},
		{"Wang\bCEO", "holds the control character U+0008"},
		{"Wang\x7f", "holds the control character U+007F"},
		{"Wang\u009b2K", "holds the control character U+009B"},
		{"Wang\u202eiL", "holds the invisible character U+202E"},
		{"Wang\u2066Li", "holds the invisible character U+2066"},
		{"Wang\u2028Li", "holds the invisible character U+2028"},
		{"Wang\xffLi", "is not valid UTF-8"},
	} {
		err := CheckText("sign-off name", tc.text)
		var te *TextError
		if !errors.As(err, &te) || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("CheckText(%q) = %v, want a usage error saying %q", tc.text, err, tc.problem)
			continue
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\n\r\x1b") || !strings.HasPrefix(msg, "sign-off name ") {
			t.Errorf("CheckText(%q): message %q", tc.text, msg)
		}
	}
}
