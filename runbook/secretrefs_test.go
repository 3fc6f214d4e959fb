package runbook

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// secretRefsYAML places secret references in every form the loader reads;
// the comment after each names the position SecretRefPositions must give.
const secretRefsYAML = `name: refs
x-auth: &team {password: secret:team/password}
environments:
  build:
    local: true
    operations:
      dump: "mysqldump -p{{ secret \"db/password\" }} billing"
  prerelease:
    auth: {key: secret:ssh/deploy_key}
    hosts:
      - {name: pre1, address: 10.1.0.5, auth: *team}
      - {name: pre2, address: 10.1.0.6, auth: *team}
steps:
  - name: plain
    on: build
    run: echo {{secret "plain/one"}} and {{ secret "plain/two" }}
  - name: literal
    on: build
    run: |
      echo start
        curl -u admin:{{ secret "api/token" }} http://localhost
      echo {{ secret "api/other" }}
  - name: escaped
    on: build
    run: "printf '\t%s' x {{ secret \"escaped/one\" }}"
  - name: folded
    on: build
    run: >
      echo one
      {{ secret "folded/one" }}
    env:
      TOKEN: '{{ secret "env/token" }}'
`

func TestSecretRefPositions(t *testing.T) {
	rb, err := Parse("refs.yaml", []byte(secretRefsYAML))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	lines := strings.Split(secretRefsYAML, "\n")
	// at finds the 1-based position of the n-th occurrence (0-based) of
	// needle on the line that holds marker.
	at := func(marker, needle string, n int) Pos {
		t.Helper()
		for i, l := range lines {
			if !strings.Contains(l, marker) {
				continue
			}
			col := 0
			for range n + 1 {
				j := strings.Index(l[col:], needle)
				if j < 0 {
					t.Fatalf("line %q has no %d-th %q", l, n, needle)
				}
				col += j + len(needle)
			}
			return Pos{Line: i + 1, Col: col - len(needle) + 1}
		}
		t.Fatalf("no line holds %q", marker)
		return Pos{}
	}
	want := []SecretRef{
		// An alias is one node: both hosts share the anchor's position.
		{"team/password", at("x-auth", "secret:", 0)},
		// Double-quoted without escapes before the call: exact.
		{"db/password", at("mysqldump", "secret", 0)},
		{"ssh/deploy_key", at("deploy_key", "secret:", 0)},
		{"plain/one", at(`"plain/one"`, "secret", 0)},
		{"plain/two", at(`"plain/two"`, "secret", 1)},
		// Literal block: the line inside the block, extra indentation kept.
		{"api/token", at("api/token", "secret", 0)},
		{"api/other", at("api/other", "secret", 0)},
		// An escape before the call changes the text: the string itself.
		{"escaped/one", at("escaped/one", `"printf`, 0)},
		// A folded block joins lines: the block indicator.
		{"folded/one", at("run: >", ">", 0)},
		{"env/token", at("env/token", "secret", 0)},
	}
	slices.SortFunc(want, func(a, b SecretRef) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Col - b.Pos.Col
	})
	got := rb.SecretRefPositions()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SecretRefPositions:\n got %v\nwant %v", got, want)
	}

	// Every name SecretNames lists has a position, and nothing else.
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	if names = slices.Compact(names); !slices.Equal(names, rb.SecretNames()) {
		t.Errorf("names with positions %v, SecretNames %v", names, rb.SecretNames())
	}
}

func TestSecretRefPositionsSpecExample(t *testing.T) {
	rb, err := Load("testdata/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []SecretRef{{"ssh/deploy_key", Pos{12, 17}}, {"ssh/deploy_key", Pos{25, 17}}}
	if got := rb.SecretRefPositions(); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSecretRefPositionsNoneWithoutLoad(t *testing.T) {
	rb := &Runbook{Steps: []*Step{{Name: "x", Kind: KindRun, Run: `{{ secret "a" }}`}}}
	if got := rb.SecretRefPositions(); len(got) != 0 {
		t.Errorf("a hand-made runbook has positions %v", got)
	}
}
