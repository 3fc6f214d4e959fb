package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// exampleOnSSHD is the night `runbook init` writes, with prerelease and
// production on real sshd hosts (production through pre1), its
// application server script reached by the hosts at its absolute path.
// The script refuses to start where a file FAIL sits in the deploy dir.
type exampleOnSSHD struct {
	dir         string
	pre, p1, p2 *sshdtest.Host
}

func startExampleOnSSHD(t *testing.T) *exampleOnSSHD {
	t.Helper()
	pre := sshdtest.Start(t, sshdtest.Options{})
	p1 := sshdtest.Start(t, sshdtest.Options{ClientKey: pre.ClientKey})
	p2 := sshdtest.Start(t, sshdtest.Options{ClientKey: pre.ClientKey})
	x := &exampleOnSSHD{dir: initDemo(t), pre: pre, p1: p1, p2: p2}
	rb := read(t, filepath.Join(x.dir, "runbook.yaml"))
	a, b := strings.Index(rb, "  prerelease:\n"), strings.Index(rb, "\nhandbook:")
	if a < 0 || b < a {
		t.Fatalf("the example runbook has no prerelease...handbook section:\n%s", rb)
	}
	app := filepath.Join(x.dir, "app", "appserver.sh")
	envs := fmt.Sprintf(`  prerelease:
    user: %[1]s
    auth: {key_file: %[2]s}
    keep: 3
    hosts:
      - {name: pre1, address: "%[3]s", deploy_dir: %[4]s}
    operations:
      restart: sh APP restart {{.Host.DeployDir}}
      status: sh APP status {{.Host.DeployDir}}
  production:
    via: pre1
    user: %[1]s
    auth: {key_file: %[2]s}
    parallel: 2
    hosts:
      - {name: prod1, address: "%[5]s", deploy_dir: %[6]s}
      - {name: prod2, address: "%[7]s", deploy_dir: %[8]s}
    operations:
      restart: sh APP restart {{.Host.DeployDir}}
      status: sh APP status {{.Host.DeployDir}}
`, pre.User, pre.ClientKey, pre.Addr, pre.DeployDir, p1.Addr, p1.DeployDir, p2.Addr, p2.DeployDir)
	rb = rb[:a] + strings.ReplaceAll(envs, "APP", app) + rb[b:]
	rb = strings.ReplaceAll(rb, "sh app/appserver.sh", "sh "+app)
	rb = strings.Replace(rb, "name: billing-center\n", "name: billing-center\nknown_hosts: known_hosts\n", 1)
	write(t, x.dir, "runbook.yaml", rb)
	write(t, x.dir, "known_hosts", pre.KnownHostsLine()+"\n"+p1.KnownHostsLine()+"\n"+p2.KnownHostsLine()+"\n")
	script := read(t, app)
	script = strings.Replace(script, "restart)\n", "restart)\n\tif [ -e \"$dir/FAIL\" ]; then echo \"billing refuses to start\" >&2; exit 1; fi\n", 1)
	if err := os.WriteFile(app, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := run(t, x.dir, "validate"); r.code != 0 {
		t.Fatalf("validate the example on sshd: %s", r)
	}
	return x
}

func (x *exampleOnSSHD) hosts() map[string]*sshdtest.Host {
	return map[string]*sshdtest.Host{"pre1": x.pre, "prod1": x.p1, "prod2": x.p2}
}

// health is what the application on a host says about itself.
func health(t *testing.T, h *sshdtest.Host) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(h.DeployDir, "run", "health"))
	return strings.TrimSpace(string(b))
}

// liveJSON is the live part of `report --format json`.
func liveJSON(t *testing.T, dir string) map[string]string {
	t.Helper()
	r := run(t, dir, "report", "--format", "json")
	if r.code != 0 {
		t.Fatalf("report: %s", r)
	}
	var d struct {
		Live []struct {
			Host       string  `json:"host"`
			Version    string  `json:"version"`
			VerifiedAt *string `json:"verified_at"`
		} `json:"live"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("report json: %v", err)
	}
	out := map[string]string{}
	for _, l := range d.Live {
		v := l.Version
		if l.VerifiedAt == nil {
			v += " (not verified)"
		}
		out[l.Host] = v
	}
	return out
}

// The trial's finding 1, against real hosts: the example night released
// twice and rolled back leaves every application server running the
// previous release — by its own health output, not only the links — and
// the record says so only once a verify showed it. Then rollback --to,
// and a restart that fails during a rollback.
func TestExampleNightRollbackOnSSHD(t *testing.T) {
	x := startExampleOnSSHD(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if r := run(t, x.dir, append([]string{"start", "--version", v, "--yes"}, signoffs...)...); r.code != 0 {
			t.Fatalf("release %s: %s", v, r)
		}
		for name, h := range x.hosts() {
			if got := health(t, h); got != "UP "+v {
				t.Fatalf("%s after releasing %s: health %q", name, v, got)
			}
		}
	}
	r := run(t, x.dir, "rollback", "--yes")
	if r.code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	for name, h := range x.hosts() {
		if got := health(t, h); got != "UP 1.0.0" {
			t.Errorf("%s after the rollback: the application says %q, want UP 1.0.0", name, got)
		}
		if got := currentOf(t, h); got != "1.0.0" {
			t.Errorf("%s: current -> %s", name, got)
		}
	}
	if !strings.Contains(r.stdout, "live now: prerelease 1.0.0 (verified on pre1); production 1.0.0 (verified on prod1, prod2)") {
		t.Errorf("the rollback does not say what runs, verified:\n%s", r.stdout)
	}
	// The restart ran after the switch, not before it: in each server's
	// log the last start is of 1.0.0.
	for name, h := range x.hosts() {
		log := read(t, filepath.Join(h.DeployDir, "run", "server.log"))
		starts := regexp.MustCompile(`starting billing (\S+)`).FindAllStringSubmatch(log, -1)
		if len(starts) == 0 || starts[len(starts)-1][1] != "1.0.0" {
			t.Errorf("%s: the last start in the server log is not of 1.0.0:\n%s", name, log)
		}
	}
	for host, v := range liveJSON(t, x.dir) {
		if v != "1.0.0" {
			t.Errorf("report: %s live %s, want 1.0.0 verified", host, v)
		}
	}
	if st := run(t, x.dir, "status"); !strings.Contains(st.stdout, "prod2=1.0.0") || strings.Contains(st.stdout, "not verified") {
		t.Errorf("status after the rollback:\n%s", st.stdout)
	}

	// rollback --to: 1.1.0 again, then production alone back to 1.0.0.
	if r := run(t, x.dir, append([]string{"start", "--version", "1.1.0", "--yes", "--again"}, signoffs...)...); r.code != 0 {
		t.Fatalf("release 1.1.0 again: %s", r)
	}
	if r := run(t, x.dir, "rollback", "--to", "1.0.0", "--env", "production", "--yes"); r.code != 0 {
		t.Fatalf("rollback --to: %s", r)
	}
	for name, want := range map[string]string{"pre1": "UP 1.1.0", "prod1": "UP 1.0.0", "prod2": "UP 1.0.0"} {
		if got := health(t, x.hosts()[name]); got != want {
			t.Errorf("%s after rollback --to 1.0.0 --env production: %q, want %q", name, got, want)
		}
	}

	// A restart that fails after the switch back: rollback failed, naming
	// the host and what to type; fixed, the rollback finishes.
	if r := run(t, x.dir, append([]string{"start", "--version", "1.2.0", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("release 1.2.0: %s", r)
	}
	write(t, x.p2.DeployDir, "FAIL", "")
	r = run(t, x.dir, "rollback", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "rollback failed") || !strings.Contains(r.stderr, "prod2") || !strings.Contains(r.stderr, "`runbook rollback` retries") {
		t.Fatalf("rollback with prod2 refusing to start: %s", r)
	}
	if d := status(t, x.dir); d.Release.State != "rollback_failed" {
		t.Fatalf("release is %s, want rollback_failed", d.Release.State)
	}
	if got := liveJSON(t, x.dir)["prod2"]; !strings.HasSuffix(got, "(not verified)") {
		t.Errorf("prod2 is reported %q although its restart failed", got)
	}
	if st := run(t, x.dir, "status"); !strings.Contains(st.stdout, "next: the rollback failed") {
		t.Errorf("status does not say what to do after a failed rollback:\n%s", st.stdout)
	}
	os.Remove(filepath.Join(x.p2.DeployDir, "FAIL"))
	if r := run(t, x.dir, "rollback", "--yes"); r.code != 0 {
		t.Fatalf("rollback retried: %s", r)
	}
	for name, h := range x.hosts() {
		want := "UP 1.1.0"
		if name != "pre1" {
			want = "UP 1.0.0"
		}
		if got := health(t, h); got != want {
			t.Errorf("%s after the retried rollback: %q, want %q", name, got, want)
		}
	}
}
