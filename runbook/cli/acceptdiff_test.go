package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

func loadTestRunbook(t *testing.T, yaml string) *runbook.Runbook {
	t.Helper()
	p := filepath.Join(t.TempDir(), "runbook.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

const pairsRunbook = `name: t
environments:
  a: {local: true}
  b: {local: true}
  c: {local: true}
consistency: {commands: [uname]}
steps:
  - {name: match-ab, diff: [a, b]}
  - {name: again, diff: [a, b]}
  - {name: match-bc, diff: [b, c]}
  - {name: run, on: a, run: "true"}
`

func TestParseAcceptDiff(t *testing.T) {
	rb := loadTestRunbook(t, pairsRunbook)
	got, err := parseAcceptDiff([]string{"match-ab=KeepAlive Off is intended", "match-bc = known"}, rb)
	if err != nil || !reflect.DeepEqual(got, map[string]string{"match-ab": "KeepAlive Off is intended", "match-bc": "known"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"match-ab", "match-ab=", "=reason", "run=reason", "nothing=reason"} {
		_, err := parseAcceptDiff([]string{bad}, rb)
		if exitCode(err) != ExitUsage || !strings.Contains(err.Error(), bad) {
			t.Errorf("--accept-diff %q: %v", bad, err)
		}
	}
}

func TestDiffPairs(t *testing.T) {
	got := diffPairs(loadTestRunbook(t, pairsRunbook))
	if want := [][2]string{{"a", "b"}, {"b", "c"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("pairs of the diff steps: %v, want %v", got, want)
	}
	noSteps := strings.Split(pairsRunbook, "steps:")[0] + "steps:\n  - {name: run, on: a, run: \"true\"}\n"
	if got, want := diffPairs(loadTestRunbook(t, noSteps)), [][2]string{{"a", "b"}, {"a", "c"}, {"b", "c"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("pairs without diff steps: %v, want %v", got, want)
	}
	noFacts := strings.Replace(noSteps, "consistency: {commands: [uname]}\n", "", 1)
	if got := diffPairs(loadTestRunbook(t, noFacts)); len(got) != 0 {
		t.Errorf("pairs without facts: %v", got)
	}
}
