package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/secrets"
)

// secretsRunbook refers to three secrets: db/password twice, api/token in
// a literal block, ssh/deploy_key in an auth field.
const secretsRunbook = `name: t
environments:
  build: {local: true}
  pre:
    auth: {key: secret:ssh/deploy_key}
    hosts:
      - {name: pre1, address: 127.0.0.1}
steps:
  - name: dump
    on: build
    run: mysqldump -p{{ secret "db/password" | q }} billing
  - name: notify
    on: build
    run: |
      echo start
      curl -H "X-Token: "{{ secret "api/token" | q }} http://127.0.0.1/
    verify: test -n {{ secret "db/password" | q }}
`

func TestValidateReportsMissingSecretsAtTheirPlace(t *testing.T) {
	vt := newVaultTest(t)
	vt.write("runbook.yaml", secretsRunbook)
	vt.passVault("a passphrase", "api/token", "token-value-123456")
	t.Setenv(secrets.EnvPassphrase, "a passphrase")

	r := vt.must(2, "", "validate")
	file := vt.path("runbook.yaml")
	want := []string{
		file + ":5:17: secret ssh/deploy_key is not in the vault",
		file + ":11:25: secret db/password is not in the vault",
		file + ":17:24: secret db/password is not in the vault",
		"runbook: hint: add each to " + vt.path("secrets.vault") + " with `runbook vault set NAME`, or correct the name in the runbook",
	}
	if got := strings.Split(strings.TrimSpace(r.stderr), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("validate stderr:\n%s\nwant:\n%s", r.stderr, strings.Join(want, "\n"))
	}
	if r.stdout != "" || strings.Contains(r.stderr, "token-value-123456") {
		t.Errorf("validate printed more than the problems:\n%s", r)
	}
}

func TestValidateAllSecretsPresent(t *testing.T) {
	vt := newVaultTest(t)
	vt.write("runbook.yaml", secretsRunbook)
	vt.passVault("a passphrase", "api/token", "token-value-123456", "db/password", dbPassword, "ssh/deploy_key", deployKey)
	t.Setenv(secrets.EnvPassFile, vt.write("pass", "a passphrase\n"))
	r := vt.must(0, "", "validate")
	if !strings.Contains(r.stdout, ": ok — t: 2 steps, 2 environments, 2 hosts; all 3 secrets in the vault") || r.stderr != "" {
		t.Errorf("validate:\n%s", r)
	}
}

func TestValidateWithoutKeyOrVault(t *testing.T) {
	vt := newVaultTest(t)
	vt.write("runbook.yaml", secretsRunbook)

	r := vt.must(0, "", "validate")
	if !strings.Contains(r.stdout, ": ok — ") || !strings.Contains(r.stderr, "3 secrets not checked against the vault: there is no vault at") {
		t.Errorf("validate without a vault:\n%s", r)
	}

	vt.passVault("a passphrase")
	r = vt.must(0, "", "validate")
	if !strings.Contains(r.stdout, ": ok — ") || !strings.Contains(r.stderr, "3 secrets not checked against the vault: no vault key is given") {
		t.Errorf("validate without a key:\n%s", r)
	}

	t.Setenv(secrets.EnvPassphrase, "wrong")
	if r := vt.must(5, "", "validate"); !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("validate with a wrong passphrase:\n%s", r)
	}
}

func TestValidateNoSecretsNeedsNoVault(t *testing.T) {
	vt := newVaultTest(t)
	vt.write("runbook.yaml", "name: t\nenvironments:\n  build: {local: true}\nsteps:\n  - {name: a, on: build, run: \"true\"}\n")
	t.Setenv(secrets.EnvPassphrase, "never used")
	r := vt.must(0, "", "validate")
	if want := fmt.Sprintf("%s: ok — t: 1 step, 1 environment, 1 host\n", vt.path("runbook.yaml")); r.stdout != want || r.stderr != "" {
		t.Errorf("validate:\n%s\nwant stdout %q", r, want)
	}
}
