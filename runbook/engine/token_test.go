package engine

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// Two state databases (another checkout, one recreated after a loss) both
// number their releases from 1, and their runs leave markers in the same
// directory of a host: the same release, step, attempt and host must
// still make different tokens, or a resumed run could adopt the outcome
// of the other's.
func TestTokenUniqueAcrossDatabases(t *testing.T) {
	s := &runbook.Step{Index: 8, Name: "notify"}
	a, b := token(1, s, 1, "prod2"), token(1, s, 1, "prod2")
	if a == b {
		t.Fatalf("the same run in two databases has the same token %s", a)
	}
	for _, tok := range []string{a, b} {
		if !strings.HasPrefix(tok, "r1-s09-notify-a1-prod2-") || strings.ContainsAny(tok, "/ \n") {
			t.Fatalf("token %q does not name its run as a plain file name", tok)
		}
	}
}
