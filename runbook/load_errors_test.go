package runbook

import (
	"errors"
	"strings"
	"testing"
)

// env is a valid environments section (lines 2-9) that error cases
// build on, so their own lines start at 10.
const env = `name: t
environments:
  build: {local: true}
  pre:
    deploy_dir: /opt/app
    user: deploy
    hosts: [{name: pre1, address: 10.0.0.1}]
    operations: {restart: ./restart.sh}
  prod: {via: pre1, hosts: [{name: prod1, address: 10.0.0.2}]}
`

// parseErrorCases are bad files, each with the position (LINE:COL) and a
// part of the message of the problem it must report.
var parseErrorCases = []struct {
	name, file, pos, msg string
}{
	{"yaml syntax", "name: t\nsteps:\n  - name: a\n    run: [oops\n", "4:5", "invalid YAML: did not find expected ',' or ']'"},
	{"yaml bad indentation", "name: t\nenvironments:\n  build:\n    local: true\n   workdir: x\n", "5:4", "invalid YAML: did not find expected key"},
	{"yaml tab", "name: t\nsteps:\n\t- name: a\n", "3:1", "YAML does not allow tabs"},
	{"yaml unknown anchor", "name: t\nsteps: *nope\n", "2:8", "alias *nope names no anchor"},
	{"two documents", "name: t\n---\nname: u\n", "2:1", "a second YAML document starts here"},
	{"empty file", "# nothing\n", "1:1", "the runbook file is empty"},
	{"not a mapping", "- a\n", "1:1", "must be a mapping with name:"},
	{"no name", "steps: []\n", "1:1", "the runbook has no name"},
	{"unknown top-level key", "name: t\nenviroments: {}\n", "2:1", `unknown key "enviroments" in the runbook file; did you mean "environments"?`},
	{"unknown key without suggestion", "name: t\nflavour: x\n", "2:1", "(it takes name, artifact,"},
	{"duplicate key", "name: t\nname: u\n", "2:1", `"name" is set twice in the runbook file (first at line 1)`},
	{"duplicate environment", env + "  pre: {local: true}\n", "10:3", `"pre" is set twice in environments (first at line 4)`},
	{"unknown step key", env + "steps:\n  - name: a\n    on: build\n    run: x\n    retry: 3\n", "14:5", `unknown key "retry" in step "a"; did you mean "retries"?`},
	{"unknown environment key", "name: t\nenvironments:\n  e: {local: true, deploydir: /x}\n", "3:20", `unknown key "deploydir" in environment "e"; did you mean "deploy_dir"?`},
	{"unknown host key", "name: t\nenvironments:\n  e: {hosts: [{name: h, adress: x}]}\n", "3:25", `did you mean "address"?`},
	{"unknown environment in on", env + "steps:\n  - {name: a, on: prd, run: x}\n", "11:19", `runs on unknown environment "prd"; did you mean "pre"?`},
	{"on missing", env + "steps:\n  - {name: a, run: x}\n", "11:15", `runs on hosts but has no on`},
	{"on with confirm", env + "steps:\n  - {name: a, on: pre, confirm: ready}\n", "11:15", "runs on no environment: remove on"},
	{"unknown op", env + "steps:\n  - {name: a, on: pre, op: restrat}\n", "11:28", `environment "pre" has no operation "restrat" (it has "restart"); did you mean "restart"?`},
	{"op on environment without operations", env + "steps:\n  - {name: a, on: prod, op: restart}\n", "11:29", `environment "prod" has no operations: add operations: {restart: COMMAND} to it`},
	{"unknown via host", "name: t\nenvironments:\n  a: {hosts: [{name: a1, address: x}]}\n  b: {via: a2, hosts: [{name: b1, address: y}]}\n", "4:12", `via "a2" names no host of another environment: name one, or write user@host:port; did you mean "a1"?`},
	{"via in own environment", "name: t\nenvironments:\n  a: {via: a1, hosts: [{name: a1, address: x}]}\n", "3:12", "is a host of environment \"a\" itself"},
	{"via without user", "name: t\nenvironments:\n  a: {via: \"@x:22\", hosts: [{name: a1, address: x}]}\n", "3:12", "has no user before @"},
	{"via loop", "name: t\nenvironments:\n  a: {via: b1, hosts: [{name: a1, address: x}]}\n  b: {via: a1, hosts: [{name: b1, address: y}]}\n", "3:12", "via goes round in a loop (a → b → a)"},
	{"duplicate step name", env + "steps:\n  - {name: a, confirm: one}\n  - {name: a, confirm: two}\n", "12:5", `step name "a" is already used at line 11`},
	{"duplicate host name", env + "  more: {hosts: [{name: pre1, address: 10.0.0.9}]}\n", "10:18", `host name "pre1" is already used in environment "pre" (line 7)`},
	{"host named like an implicit host", "name: t\nenvironments:\n  a: {local: true}\n  b: {hosts: [{name: local, address: x}]}\n", "4:15", `taken by the implicit host of local environment "a"`},
	{"bad step name", env + "steps:\n  - {name: qa signoff, confirm: ready}\n", "11:12", `step name "qa signoff" may use only letters, digits`},
	{"step with zero actions", env + "steps:\n  - name: a\n    on: pre\n", "11:5", `step "a" has no action: give it one of run, op, upload`},
	{"step with two actions", env + "steps:\n  - name: a\n    on: pre\n    run: x\n    op: restart\n", "14:5", `step "a" has both run and op`},
	{"step not a mapping", env + "steps:\n  - just run it\n", "11:5", "step 1 must be a mapping"},
	{"step without name", env + "steps:\n  - {confirm: ready}\n", "11:5", "step 1 has no name"},
	{"empty run", env + "steps:\n  - {name: a, on: pre, run: \"\"}\n", "11:29", "run is empty"},
	{"release fact in a step's env", env + "steps:\n  - name: a\n    on: pre\n    run: x\n    env: {RUNBOOK_VERSION: \"1\"}\n", "14:11", "env variable RUNBOOK_VERSION is set by runbook itself"},
	{"bad duration", env + "steps:\n  - {name: a, on: pre, run: x, timeout: 5}\n", "11:41", `timeout must be a duration like 30s, 5m or 1h30m, not "5"`},
	{"zero duration", env + "steps:\n  - {name: a, on: pre, run: x, verify: y, retry_delay: 0s}\n", "11:56", `retry_delay must be longer than 0, not "0s"`},
	{"negative retries", env + "steps:\n  - {name: a, on: pre, run: x, verify: y, retries: -1}\n", "11:52", "retries must be at least 0, not -1"},
	{"retries without verify", env + "steps:\n  - {name: a, on: pre, run: x, retries: 2}\n", "11:32", "sets retries, which repeats verify, but has no verify"},
	{"retries not a number", env + "steps:\n  - {name: a, on: pre, run: x, verify: y, retries: many}\n", "11:52", `retries must be a whole number, not "many"`},
	{"parallel zero", "name: t\nenvironments:\n  e: {local: true, parallel: 0}\n", "3:30", "parallel must be at least 1, not 0"},
	{"negative max_fail", env + "steps:\n  - {name: a, on: pre, run: x, max_fail: -2}\n", "11:42", "max_fail must be at least 0, not -2"},
	{"bool expected", "name: t\nenvironments:\n  e: {local: yes}\n", "3:14", `local must be true or false, not "yes"`},
	{"upload without artifact path", env + "steps:\n  - {name: a, on: pre, upload: artifact}\n", "11:32", "uploads the artifact, but no artifact path is set"},
	{"upload of something else", "name: t\nartifact: {path: a.ear}\n" + env[len("name: t\n"):] + "steps:\n  - {name: a, on: pre, upload: a.ear}\n", "12:32", "upload must be artifact"},
	{"artifact without path", "name: t\nartifact: {}\n", "2:11", "artifact has no path"},
	{"activate without deploy_dir", env + "steps:\n  - {name: a, on: prod, activate: true}\n", "11:25", `needs a deploy_dir on every host of environment "prod", and "prod1" has none`},
	{"activate false", env + "steps:\n  - {name: a, on: pre, activate: false}\n", "11:34", "activate must be true"},
	{"undo on activate", env + "steps:\n  - {name: a, on: pre, activate: true, undo: x}\n", "11:40", "with a built-in undo: remove undo"},
	{"verify on confirm", env + "steps:\n  - {name: a, confirm: ready, verify: x}\n", "11:31", "runs on no hosts, so verify does not apply"},
	{"auto on confirm", env + "steps:\n  - {name: a, confirm: ready, auto: true}\n", "11:31", "asks the operator by nature"},
	{"diff with one environment", "name: t\nconsistency: {files: [/etc/hosts]}\n" + env[len("name: t\n"):] + "steps:\n  - {name: a, diff: [pre]}\n", "12:21", "diff compares exactly two environments"},
	{"diff with itself", "name: t\nconsistency: {files: [/etc/hosts]}\n" + env[len("name: t\n"):] + "steps:\n  - {name: a, diff: [pre, pre]}\n", "12:21", `not "pre" with itself`},
	{"diff of unknown environment", "name: t\nconsistency: {files: [/etc/hosts]}\n" + env[len("name: t\n"):] + "steps:\n  - {name: a, diff: [pre, prd]}\n", "12:27", `diff names unknown environment "prd"`},
	{"diff without consistency", env + "steps:\n  - {name: a, diff: [pre, prod]}\n", "11:21", "consistency lists no files or commands"},
	{"bad regexp in ignore", "name: t\nconsistency:\n  ignore: ['^#', '(']\n", "3:18", `ignore pattern "(" is not a valid regular expression: missing closing )`},
	{"signoff without confirm", env + "steps:\n  - {name: a, on: pre, run: x, signoff: [QA]}\n", "11:32", "signoff belongs to confirm steps"},
	{"duplicate role", env + "steps:\n  - {name: a, confirm: ready, signoff: [QA, DBA, QA]}\n", "11:50", `signoff names role "QA" twice`},
	{"empty role", env + "steps:\n  - {name: a, confirm: ready, signoff: [QA, \"\"]}\n", "11:45", "signoff has an empty role"},
	{"bad probe tcp address", env + "steps:\n  - {name: a, on: pre, probe: {tcp: [db]}}\n", "11:38", `tcp target "db" must be HOST:PORT with a numeric port`},
	{"probe tcp port not a number", env + "steps:\n  - {name: a, on: pre, probe: {tcp: [\"db:mysql\"]}}\n", "11:38", `tcp target "db:mysql" has port "mysql"`},
	{"bad http url", env + "steps:\n  - {name: a, on: pre, probe: {http: [{url: \"ftp://x/\"}]}}\n", "11:45", `url "ftp://x/" must start with http:// or https://`},
	{"http url that does not parse", env + "steps:\n  - {name: a, on: pre, probe: {http: [\"http://a b:x/\"]}}\n", "11:39", `url "http://a b:x/" does not parse`},
	{"http expect out of range", env + "steps:\n  - {name: a, on: pre, probe: {http: [{url: \"http://x/\", expect: 700}]}}\n", "11:66", "expect must be an HTTP status from 100 to 599, not 700"},
	{"http keepalive zero", env + "steps:\n  - {name: a, on: pre, probe: {http: [{url: \"http://x/\", keepalive: 0}]}}\n", "11:69", "keepalive must be at least 1, not 0"},
	{"empty probe", env + "steps:\n  - {name: a, on: pre, probe: {}}\n", "11:31", "probe checks nothing"},
	{"bad template syntax", env + "steps:\n  - {name: a, on: pre, run: \"echo {{ .Version\"}\n", "11:29", "run: template does not parse: unclosed action"},
	{"unknown template field", env + "steps:\n  - {name: a, on: pre, run: \"echo {{ .Release.Dri }}\"}\n", "11:29", "run: template uses .Release.Dri, which does not exist; did you mean .Release.Dir?"},
	{"unknown template function", "name: t\nenvironments:\n  e: {local: true, operations: {x: \"{{ secrte \\\"a\\\" }}\"}}\n", "3:36", `operation x: template does not parse: function "secrte" not defined`},
	{"template error inside a literal block", env + "steps:\n  - name: a\n    on: pre\n    run: |\n      echo one\n      echo {{ .Nope }}\n", "15:7", "run: template uses .Nope, which does not exist"},
	{"template error inside a folded string", env + "steps:\n  - name: a\n    on: pre\n    run: \"echo one\\n{{ .Nope }}\"\n", "13:10", "(line 2 of the template)"},
	{"secret with a variable name", env + "steps:\n  - {name: a, on: pre, run: \"{{ secret .Version }}\"}\n", "11:29", `secret takes one quoted name`},
	{"secret name malformed in template", env + "steps:\n  - {name: a, on: pre, run: \"{{ secret \\\"a b\\\" }}\"}\n", "11:29", `secret name "a b" may use only`},
	{"secret ref malformed", "name: t\nenvironments:\n  e: {auth: {password: \"secret:\"}, hosts: [{name: h, address: x}]}\n", "3:24", `password: malformed secret reference "secret:"`},
	{"secret ref with a bad character", "name: t\nenvironments:\n  e: {auth: {key: \"secret:a b\"}, hosts: [{name: h, address: x}]}\n", "3:19", `key: malformed secret reference "secret:a b"`},
	{"two auth methods", "name: t\nenvironments:\n  e: {auth: {agent: true, password: secret:p}, hosts: [{name: h, address: x}]}\n", "3:27", "not both agent and password"},
	{"no auth method", "name: t\nenvironments:\n  e: {auth: {agent: false}, hosts: [{name: h, address: x}]}\n", "3:13", "auth names no way to log in"},
	{"key_passphrase without key", "name: t\nenvironments:\n  e: {auth: {agent: true, key_passphrase: secret:p}, hosts: [{name: h, address: x}]}\n", "3:27", "key_passphrase unlocks a key"},
	{"key_file from the vault", "name: t\nenvironments:\n  e: {auth: {key_file: secret:k}, hosts: [{name: h, address: x}]}\n", "3:24", "key_file is a path on this machine"},
	{"remote host without address", "name: t\nenvironments:\n  e: {hosts: [{name: h}]}\n", "3:15", `host "h" has no address`},
	{"remote environment without hosts", "name: t\nenvironments:\n  e: {user: deploy}\n", "3:3", `environment "e" has no hosts`},
	{"local host with address", "name: t\nenvironments:\n  e: {local: true, hosts: [{name: h, address: x}]}\n", "3:38", "runs on this machine, so it takes no address"},
	{"address with a user", "name: t\nenvironments:\n  e: {hosts: [{name: h, address: root@x}]}\n", "3:34", "must not hold a user"},
	{"address with a bad port", "name: t\nenvironments:\n  e: {hosts: [{name: h, address: \"x:0\"}]}\n", "3:34", `has port "0": use a number from 1 to 65535`},
	{"address with a stray bracket", "name: t\nenvironments:\n  e: {hosts: [{name: h, address: \"]0\"}]}\n", "3:34", `address "]0" of host "h" must be HOST or HOST:PORT`},
	{"host without name", "name: t\nenvironments:\n  e: {hosts: [{address: x}]}\n", "3:15", "has no name"},
	{"check on unknown environment", "name: t\nenvironments: {e: {local: true}}\nhandbook:\n  checks: [{name: c, on: f, run: x}]\n", "4:26", `check runs on unknown environment "f"`},
	{"duplicate check name", "name: t\nenvironments: {e: {local: true}}\nhandbook:\n  checks:\n    - {name: c, on: e, run: x}\n    - {name: c, on: e, run: y}\n", "6:14", `check name "c" is already used at line 5`},
	{"query template", "name: t\nhandbook:\n  queries: [{name: q, sql: \"{{ .Release.Started }}\"}]\n", "3:28", "sql: template uses .Release.Started, which does not exist; did you mean .Release.StartedAt?"},
	{"domain of unknown environment", "name: t\nenvironments: {e: {local: true}}\nhandbook:\n  domains: {f: f.example.com}\n", "4:13", `domains names unknown environment "f"`},
	{"unknown contact key", "name: t\nhandbook:\n  contacts: [{name: A, mail: a@example.com}]\n", "3:24", `unknown key "mail" in a contact; did you mean "email"?`},
	{"env variable name", env + "steps:\n  - {name: a, on: pre, run: x, env: {1X: y}}\n", "11:38", `env variable name "1X"`},
	{"list expected", env + "steps:\n  - {name: a, confirm: ready, signoff: QA}\n", "11:40", "signoff must be a list like [a, b], not \"QA\""},
	{"mapping expected", "name: t\nenvironments: [a, b]\n", "2:15", "environments must be a mapping (key: value), not a list"},
	{"merge of a scalar", "name: t\nenvironments:\n  e: {<<: x, local: true}\n", "3:11", "<< merges a mapping or a list of mappings"},
	{"self merge", "name: t\nenvironments:\n  e: &e\n    <<: *e\n", "4:9", "anchors are expanded more than"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range parseErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("rb.yaml", []byte(tc.file))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error at %s containing %q", tc.pos, tc.msg)
			}
			prefix := "rb.yaml:" + tc.pos + ": "
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, prefix) && strings.Contains(line, tc.msg) {
					return
				}
			}
			t.Errorf("want a line starting %q containing %q, got:\n%v", prefix, tc.msg, err)
		})
	}
}

func TestParseErrorTypes(t *testing.T) {
	_, err := Parse("rb.yaml", []byte("name: t\nflavour: x\n"))
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("one problem: err = %#v, want *FileError", err)
	}
	if fe.File != "rb.yaml" || fe.Line != 2 || fe.Col != 1 {
		t.Errorf("FileError = %+v, want rb.yaml line 2 col 1", fe)
	}
}
