package runbook

import (
	"strings"
	"testing"
)

func TestCheckQuoting(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string // a fragment of each problem's message, in order
	}{
		// Safe: closed values anywhere but where they could not be; q outside quotes.
		{`echo {{ .Version }} {{ .Release.ID }} {{ $.Host.Name }} {{ .Env.Name }} {{ .Artifact.SHA256 }} {{ .Release.StartedAt }} {{ .Release.Previous }}`, nil},
		{`printf 'billing %s\n' "{{ .Version }}" '{{ .Release.ID }}'`, nil},
		{`cd {{ .Host.DeployDir | q }} && ls {{ q .Release.Dir }}/x {{ secret "db/pw" | q }}`, nil},
		{"# a real night: svn up -r {{ .Version }}\necho ok", nil},
		{`echo {{ 42 }} {{ true }}`, nil},
		{`{{ $d := .Host.DeployDir }}echo {{ $d | q }}`, nil},
		{`{{ if .Release.Previous }}echo {{ .Release.Previous }}{{ end }}`, nil},
		{`echo a#{{ .Host.DeployDir | q }}`, nil}, // # inside a word starts no comment

		// Unsafe.
		{`sh app.sh restart {{.Host.DeployDir}}`, []string{"{{.Host.DeployDir}} is spliced into the command unquoted: a space, ;, $(...) or a newline in the value would be read by the shell; write {{ .Host.DeployDir | q }}"}},
		{`mysql -p{{ secret "db/pw" }}`, []string{`{{secret "db/pw"}} is spliced into the command unquoted`}},
		{`echo "{{ .Release.Dir }}"`, []string{"spliced into double quotes, where $(...)"}},
		{`echo '{{ .Host.Address }}'`, []string{"spliced into single quotes, which a ' in the value closes"}},
		{`echo '{{ .Host.DeployDir | q }}'`, []string{"inside single quotes, which its own quotes close"}},
		{`echo "{{ q .Host.DeployDir }}"`, []string{"inside double quotes, so its single quotes become part of the value"}},
		{"echo hi # deploying to {{ .Host.DeployDir | q }}\necho {{ .Env.DeployDir }}", []string{"inside a shell comment", "{{.Env.DeployDir}} is spliced into the command unquoted"}},
		{`echo {{ printf "%s" .Version }}`, []string{`{{printf "%s" .Version}} is spliced`}},
		{`{{ range .Host.DeployDir }}{{ . }}{{ end }}`, []string{"{{.}} is spliced"}},
		{`{{ with .Artifact }}cp {{ .Name }} /tmp{{ end }}`, []string{"{{.Name}} is spliced"}},
		{`{{ define "d" }}rm -rf {{ . }}{{ end }}{{ template "d" .Host.DeployDir }}`, []string{"{{.}} is spliced"}},
		{`echo \"{{ .Host.DeployDir }}`, []string{"unquoted"}}, // the escaped quote opens nothing
		{`echo "it\"s {{ .Host.DeployDir }}"`, []string{"double quotes"}},
	} {
		got := checkQuoting(tc.text)
		if len(got) != len(tc.want) {
			t.Errorf("checkQuoting(%q): %d problems, want %d: %+v", tc.text, len(got), len(tc.want), got)
			continue
		}
		for i, p := range got {
			if !strings.Contains(p.msg, tc.want[i]) {
				t.Errorf("checkQuoting(%q) problem %d: %q, want it to say %q", tc.text, i, p.msg, tc.want[i])
			}
			if !strings.HasPrefix(tc.text[p.offset:], "{{") {
				t.Errorf("checkQuoting(%q) problem %d at offset %d, not at an action", tc.text, i, p.offset)
			}
		}
	}
}

// The warnings come out of Load at their place in the file, for every
// key that is a shell command, and not for values that are not (env
// values are exported quoted, SQL is not shell).
func TestLoadWarnsAboutUnquotedValues(t *testing.T) {
	rb, err := Parse("w.yaml", []byte(`name: t
environments:
  pre:
    auth: {password: hunter2-inline}
    hosts: [{name: pre1, address: 10.0.0.1, deploy_dir: /opt/a}]
    operations:
      restart: sh restart.sh {{ .Host.DeployDir }}
steps:
  - name: a
    on: pre
    run: |
      echo {{ .Version }}
      cp x {{ .Release.Dir }}/
    verify: test -d "{{ .Release.Dir }}"
    env: {DIR: "{{ .Host.DeployDir }}"}
handbook:
  queries: [{name: q, sql: "SELECT '{{ .Host.DeployDir }}'"}]
  checks: [{name: c, on: pre, run: "ls {{ .Host.DeployDir | q }}"}]
consistency:
  files: ["{{ .Host.DeployDir }}/conf/httpd.conf"]
  commands: ["grep -c KeepAlive {{ .Host.DeployDir }}/conf/httpd.conf"]
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range rb.Warnings() {
		got = append(got, w.String())
	}
	want := []string{
		"w.yaml:4:22: warning: password is written in the runbook file in plain text: whoever can read the file, or its history, has it",
		"w.yaml:7:30: warning: operation restart: {{.Host.DeployDir}} is spliced into the command unquoted",
		"w.yaml:13:12: warning: run: {{.Release.Dir}} is spliced into the command unquoted",
		`w.yaml:14:22: warning: verify: {{.Release.Dir}} is spliced into double quotes`,
		`w.yaml:21:33: warning: consistency command: {{.Host.DeployDir}} is spliced into the command unquoted`,
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d:\n%s\nwant it to start\n%s", i, got[i], want[i])
		}
	}
	if w := rb.Warnings()[0]; !strings.Contains(w.Hint, "password: secret:NAME") {
		t.Errorf("the plain-text password hint: %q", w.Hint)
	}
	if s := rb.InlineSecrets(); len(s) != 1 || s[0] != "hunter2-inline" {
		t.Errorf("InlineSecrets = %q", s)
	}
}

func TestInlineSecretsEveryCredential(t *testing.T) {
	rb, err := Parse("w.yaml", []byte(`name: t
environments:
  a:
    auth: {key: "-----BEGIN KEY-----", key_passphrase: unlock-it}
    hosts:
      - {name: a1, address: 10.0.0.1}
      - {name: a2, address: 10.0.0.2, auth: {password: pw-of-a2}}
  b:
    auth: {password: secret:b/password}
    hosts: [{name: b1, address: 10.0.0.3}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rb.InlineSecrets(), ","); got != "-----BEGIN KEY-----,pw-of-a2,unlock-it" {
		t.Errorf("InlineSecrets = %s", got)
	}
	if n := len(rb.Warnings()); n != 3 {
		t.Errorf("%d warnings, want 3 (key, key_passphrase, password): %v", n, rb.Warnings())
	}
}
