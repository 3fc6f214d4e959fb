package runbook

import (
	"strings"
	"testing"
)

// relayEnv is a prerelease host and a production environment behind it
// (lines 2-12), with an artifact; relay cases start at line 13.
const relayEnv = `name: t
artifact: {path: app.ear}
environments:
  build: {local: true}
  pre:
    deploy_dir: /opt/app
    hosts: [{name: pre1, address: 10.0.0.1}, {name: pre2, address: 10.0.0.3}]
  bare: {hosts: [{name: bare1, address: 10.0.0.4}]}
  prod:
    deploy_dir: /opt/app
    hosts: [{name: prod1, address: 10.0.0.2}]
steps:
`

// A relay is read in both forms onto the step.
func TestParseRelay(t *testing.T) {
	rb, err := Parse("rb.yaml", []byte(relayEnv+
		"  - {name: a, on: prod, upload: artifact, relay: pre1}\n"+
		"  - {name: b, on: prod, upload: artifact, relay: {host: pre2, key_file: /home/deploy/.ssh/prod}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := rb.Steps[0].Relay; r == nil || r.Host != "pre1" || r.KeyFile != "" || r.Pos != (Pos{13, 50}) {
		t.Errorf("relay: pre1 read as %+v", r)
	}
	if r := rb.Steps[1].Relay; r == nil || r.Host != "pre2" || r.KeyFile != "/home/deploy/.ssh/prod" {
		t.Errorf("relay mapping read as %+v", r)
	}
}

// Every bad relay is reported where it is written, saying what to do.
func TestParseRelayErrors(t *testing.T) {
	cases := []struct{ name, step, pos, msg string }{
		{"not on upload", "{name: a, on: prod, run: x, relay: pre1}", "13:33", "relay belongs to upload steps: step \"a\" is a run step"},
		{"unknown host", "{name: a, on: prod, upload: artifact, relay: pre3}", "13:50", `relay "pre3" names no host of another environment; did you mean "pre1"?`},
		{"own environment", "{name: a, on: prod, upload: artifact, relay: prod1}", "13:50", `relay "prod1" is a host of environment "prod" itself`},
		{"local host", "{name: a, on: prod, upload: artifact, relay: local}", "13:50", `relay "local" is a local host`},
		{"no deploy_dir", "{name: a, on: prod, upload: artifact, relay: bare1}", "13:50", `relay "bare1" has no deploy_dir`},
		{"empty", "{name: a, on: prod, upload: artifact, relay: \"\"}", "13:50", "relay is empty"},
		{"list", "{name: a, on: prod, upload: artifact, relay: [pre1, pre2]}", "13:50", "relay must be a host name, or {host: HOST, key_file: PATH}, not a list"},
		{"mapping without host", "{name: a, on: prod, upload: artifact, relay: {key_file: /k}}", "13:50", "relay of step \"a\" has no host"},
		{"mapping unknown key", "{name: a, on: prod, upload: artifact, relay: {host: pre1, keyfile: /k}}", "13:63", `unknown key "keyfile" in relay of step "a"; did you mean "key_file"?`},
		{"empty key_file", "{name: a, on: prod, upload: artifact, relay: {host: pre1, key_file: \"\"}}", "13:73", "relay key_file is empty"},
		{"nothing to lend", "{name: a, on: agentprod, upload: artifact, relay: pre1}", "13:55", `relay "pre1" would be lent the key of ap1, which log in with a password and have no key`},
	}
	extra := "  agentprod: {deploy_dir: /x, auth: {password: hunter2}, hosts: [{name: ap1, address: 10.0.0.5}]}\n"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := strings.Replace(relayEnv, "steps:\n", extra+"steps:\n", 1) + "  - " + tc.step + "\n"
			_, err := Parse("rb.yaml", []byte(file))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error at %s containing %q", tc.pos, tc.msg)
			}
			// The extra environment takes line 13: the step is on line 14.
			line, col, _ := strings.Cut(tc.pos, ":")
			prefix := "rb.yaml:" + map[string]string{"13": "14"}[line] + ":" + col + ": "
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, tc.msg) {
					return
				}
			}
			t.Errorf("want a line starting %q containing %q, got:\n%v", prefix, tc.msg, err)
		})
	}
}
