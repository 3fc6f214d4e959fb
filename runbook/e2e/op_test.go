package e2e

import (
	"strings"
	"testing"
)

// TestOpAndExecOnRealHosts runs a named operation and ad-hoc commands on
// two real sshd hosts: output prefixed per host, every host's run recorded.
func TestOpAndExecOnRealHosts(t *testing.T) {
	f := newFleet(t, "prod1", "prod2")
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: ops
known_hosts: `+f.knownHosts+`
environments:
`+f.env("production", "prod1", "prod2")+`    parallel: 2
    operations:
      status: echo "{{.Host.Name}} is UP in {{.Host.DeployDir}}"; echo "on stderr" >&2
      broken: "echo cannot; exit 7"
`)
	r := run(t, dir, "op", "production", "status")
	if r.code != 0 {
		t.Fatalf("op status: %s", r)
	}
	for _, h := range []string{"prod1", "prod2"} {
		for _, want := range []string{
			h + " │ " + h + " is UP in " + f.hosts[h].DeployDir,
			h + " │ on stderr",
			"✓ " + h + " done in",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("op output lacks %q:\n%s", want, r)
			}
		}
	}

	r = run(t, dir, "exec", "production", "--host", "prod2", "--", "echo", "exec-on-$(basename", "$PWD)", ";", "exit 3")
	if r.code != 1 || !strings.Contains(r.stdout, "prod2 │ exec-on-") || strings.Contains(r.stdout, "prod1") {
		t.Fatalf("exec on one host that fails: %s", r)
	}
	if !strings.Contains(r.stderr, "runbook: error: exec failed on 1 of 1 host(s) of production: prod2") {
		t.Errorf("exec error: %s", r.stderr)
	}

	r = run(t, dir, "op", "production", "broken")
	if r.code != 1 || !strings.Contains(r.stdout, "✗ prod1 failed (exit 7)") || !strings.Contains(r.stderr, "operation broken failed on 2 of 2 host(s) of production: prod1, prod2") {
		t.Fatalf("failing op: %s", r)
	}

	ops := operations(t, dir)
	if len(ops) != 5 {
		t.Fatalf("%d operations recorded, want 5: %+v", len(ops), ops)
	}
	byHost := map[string]int{}
	for _, op := range ops[:2] {
		byHost[op.Host]++
		if op.Env != "production" || op.Name != "status" || op.ExitCode != 0 || op.Operator == "" ||
			!strings.Contains(op.OutputTail, op.Host+" is UP") || !strings.Contains(op.Command, "echo") ||
			op.StartedAt.IsZero() || op.FinishedAt.Before(op.StartedAt) {
			t.Errorf("recorded status operation: %+v", op)
		}
	}
	if byHost["prod1"] != 1 || byHost["prod2"] != 1 {
		t.Errorf("status recorded per host: %v", byHost)
	}
	if ex := ops[2]; ex.Name != "exec" || ex.Host != "prod2" || ex.ExitCode != 3 || !strings.Contains(ex.Command, "exit 3") {
		t.Errorf("recorded exec: %+v", ex)
	}
	for _, op := range ops[3:] {
		if op.Name != "broken" || op.ExitCode != 7 || !strings.Contains(op.OutputTail, "cannot") {
			t.Errorf("recorded broken operation: %+v", op)
		}
	}

	// Mistakes on the command line are usage errors that say what exists.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"op", "production", "restart"}, "it has status, broken"},
		{[]string{"op", "staging", "status"}, `no environment "staging"`},
		{[]string{"op", "production", "status", "--host", "prod9"}, "its hosts are prod1, prod2"},
		{[]string{"exec", "production"}, "exec takes ENV, then -- and the command"},
	} {
		r := run(t, dir, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %s", tc.args, r)
		}
	}
	if n := len(operations(t, dir)); n != 5 {
		t.Errorf("usage errors recorded operations: %d", n)
	}
}
