package runbook

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func sampleData() TemplateData {
	return TemplateData{
		Version: "2.4.0",
		Release: TemplateRelease{ID: 7, StartedAt: "2026-11-26T21:00:00Z", Dir: "/opt/billing/releases/2.4.0", Previous: "2.3.9"},
		Host:    TemplateHost{Name: "prod1", Address: "10.2.0.11", DeployDir: "/opt/billing"},
		Env:     TemplateEnv{Name: "production", DeployDir: "/srv/billing"},
		Artifact: TemplateArtifact{Name: "billing.ear",
			SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
	}
}

func TestRenderEveryField(t *testing.T) {
	const text = `{{.Version}} {{.Release.ID}} {{.Release.StartedAt}} {{.Release.Dir}} {{.Release.Previous}} ` +
		`{{.Host.Name}} {{.Host.Address}} {{.Host.DeployDir}} {{.Env.Name}} {{.Env.DeployDir}} ` +
		`{{.Artifact.Name}} {{.Artifact.SHA256}} {{ secret "db/password" }}`
	secret := func(name string) (string, error) { return "value-of-" + name, nil }
	got, err := Render(text, sampleData(), secret)
	if err != nil {
		t.Fatal(err)
	}
	want := "2.4.0 7 2026-11-26T21:00:00Z /opt/billing/releases/2.4.0 2.3.9 prod1 10.2.0.11 /opt/billing production /srv/billing " +
		"billing.ear 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 value-of-db/password"
	if got != want {
		t.Errorf("Render() =\n%q\nwant\n%q", got, want)
	}
}

func TestRenderUnknownFieldFails(t *testing.T) {
	_, err := Render("echo {{ .Relase.ID }}", sampleData(), nil)
	if err == nil || !strings.Contains(err.Error(), "Relase") {
		t.Errorf("err = %v, want it to name the unknown field", err)
	}
}

func TestRenderSecretWithoutVault(t *testing.T) {
	_, err := Render(`mysql -p{{ secret "db/password" }}`, sampleData(), nil)
	if !errors.Is(err, ErrNoVault) {
		t.Fatalf("err = %v, want ErrNoVault", err)
	}
	if !strings.Contains(err.Error(), `secret "db/password" is needed`) {
		t.Errorf("err = %v, want it to name the secret", err)
	}
	if got, err := Render("echo {{ .Version }}", sampleData(), nil); err != nil || got != "echo 2.4.0" {
		t.Errorf("a template without secrets needs no vault: got %q, %v", got, err)
	}
}

func TestRenderKeepsSecretErrors(t *testing.T) {
	missing := errors.New("vault holds no secret db/password")
	_, err := Render(`{{ secret "db/password" }}`, sampleData(), func(string) (string, error) { return "", missing })
	if !errors.Is(err, missing) {
		t.Errorf("err = %v, want the secret function's error reachable with errors.Is", err)
	}
}

// A template that asks for more than any script (nested template calls
// double the text ten times over here) stops at the limit, in memory
// bounded by it, instead of rendering gigabytes on the release night.
func TestRenderRefusesARunawayTemplate(t *testing.T) {
	text := `{{define "t0"}}` + strings.Repeat("x", 64<<10) + `{{end}}`
	for i := 1; i <= 10; i++ {
		text += fmt.Sprintf(`{{define "t%d"}}{{template "t%d"}}{{template "t%d"}}{{end}}`, i, i-1, i-1)
	}
	text += `{{template "t10"}}`
	if _, err := Render(text, sampleData(), nil); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Fatalf("a 64 MiB command rendered: %v", err)
	}
	if out, err := Render(`{{define "a"}}ab{{end}}{{template "a"}}{{template "a"}}`, sampleData(), nil); err != nil || out != "abab" {
		t.Errorf("a small template: %q %v", out, err)
	}
}

func TestRenderSyntaxError(t *testing.T) {
	if _, err := Render("{{ .Version", sampleData(), nil); err == nil || !strings.HasPrefix(err.Error(), "parse template:") {
		t.Errorf("err = %v, want a parse error", err)
	}
}

func TestSecretRefs(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"echo hi", nil},
		{`{{ secret "a" }}`, []string{"a"}},
		{`{{ secret "b" }} {{ secret "a" }} {{ secret "b" }}`, []string{"b", "a"}},
		{`{{ if .Release.Previous }}{{ secret "in/if" }}{{ else }}{{ secret "in/else" }}{{ end }}`, []string{"in/if", "in/else"}},
		{`{{ with .Host }}{{ secret "in/with" }}{{ end }}{{ range $i := "x" }}{{ end }}`, []string{"in/with"}},
		{`{{ printf "%s:%s" (secret "user") (secret "pass") }}`, []string{"user", "pass"}},
		{`{{ define "x" }}{{ secret "defined" }}{{ end }}{{ template "x" . }}`, []string{"defined"}},
		{`{{ secret .Version }}`, nil},
		{`{{ broken`, nil},
	} {
		if got := SecretRefs(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("SecretRefs(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestParseSecretRef(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		ok   bool
	}{
		{"secret:ssh/deploy_key", "ssh/deploy_key", true},
		{"secret:db.prod-1/pw", "db.prod-1/pw", true},
		{"secret:", "", false},
		{"secret:a b", "", false},
		{"secret:a$b", "", false},
		{"hunter2", "", false},
		{"Secret:a", "", false},
	} {
		name, ok := ParseSecretRef(tc.in)
		if name != tc.name || ok != tc.ok {
			t.Errorf("ParseSecretRef(%q) = %q, %v; want %q, %v", tc.in, name, ok, tc.name, tc.ok)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	for _, tc := range []struct {
		text, msg string
		line      int
	}{
		{"echo {{ .Version }}", "", 0},
		{"{{ range .Release.ID }}{{ .Anything }}{{ end }}", "", 0},
		{"{{ with .Host }}{{ .Name }}{{ else }}{{ .Nope }}{{ end }}", "template uses .Nope", 1},
		{"{{ with .Host }}{{ $.Host.Nme }}{{ end }}", "did you mean .Host.Name?", 1},
		{"{{ $h := .Host }}{{ $h.Anything }}", "", 0},
		{"{{ .Version.Major }}", ".Version has no field Major", 1},
		{"one\ntwo\n{{ .Nope }}", "template uses .Nope", 3},
		{"one\n{{ if }}", "template does not parse: missing value for if", 2},
		{`{{ "a" | secret }}`, "secret takes one quoted name", 1},
		{`{{ printf "%s" secret }}`, "secret takes one quoted name", 1},
		{`{{ secret "a" "b" }}`, "secret takes one quoted name", 1},
		// Defined templates run too: their secret calls are checked, their
		// fields are not (their dot is what the caller passes).
		{`{{ define "x" }}{{ secret . }}{{ end }}{{ template "x" "db/pw" }}`, "secret takes one quoted name", 1},
		{"one\n{{ define \"x\" }}\n{{ secret \"\" }}{{ end }}", `secret name ""`, 3},
		{`{{ define "x" }}{{ .Anything }}{{ $.Else }}{{ end }}{{ template "x" 1 }}`, "", 0},
		{`{{ block "b" . }}{{ secret .Version }}{{ end }}`, "secret takes one quoted name", 1},
	} {
		line, msg := checkTemplate(tc.text)
		if tc.msg == "" && msg != "" || !strings.Contains(msg, tc.msg) || line != tc.line {
			t.Errorf("checkTemplate(%q) = %d, %q; want %d, %q", tc.text, line, msg, tc.line, tc.msg)
		}
	}
}
