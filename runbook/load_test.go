package runbook

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadSpecExample(t *testing.T) {
	rb, err := Load("testdata/spec.yaml")
	if err != nil {
		t.Fatalf("the SPEC example must load: %v", err)
	}
	data, err := os.ReadFile("testdata/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}

	check := func(what string, got, want any) {
		t.Helper()
		if !equal(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("File", rb.File, filepath.Join(dir, "spec.yaml"))
	check("Dir", rb.Dir, dir)
	check("Hash", rb.Hash, hex.EncodeToString(sum[:]))
	check("Summary", rb.Summary(), "billing-center: 11 steps, 3 environments, 4 hosts")
	check("EnvOrder", rb.EnvOrder, []string{"build", "prerelease", "production"})
	check("Artifact.Abs", rb.Artifact.Abs, filepath.Join(dir, "target/billing.ear"))
	check("Artifact.Path", rb.Artifact.Path, "target/billing.ear")
	check("Artifact.Name", rb.Artifact.Name, "billing.ear")
	check("KnownHosts", rb.KnownHosts, "")
	check("Vault", rb.Vault, "")

	build := rb.Envs["build"]
	check("build hosts", len(build.Hosts), 1)
	local := build.Hosts[0]
	check("implicit host name", local.Name, "local")
	check("implicit host local", local.Local, true)
	check("implicit host env", local.Env, build)
	check("implicit host workdir", local.Workdir, filepath.Join(filepath.Dir(dir), "billing"))
	check("implicit host auth", local.Auth, (*Auth)(nil))
	check("build.Workdir as written", build.Workdir, "../billing")

	pre := rb.Envs["prerelease"]
	check("prerelease defaults", []any{pre.Keep, pre.Parallel, pre.MaxFail, pre.Serial}, []any{5, 1, Share{}, Share{}})
	check("prerelease OpOrder", pre.OpOrder, []string{"restart", "status", "logs"})
	pre1 := rb.HostByName("pre1")
	check("pre1 effective", []string{pre1.Address, pre1.User, pre1.DeployDir, pre1.Auth.Key}, []string{"10.1.0.5", "deploy", "/opt/billing", "secret:ssh/deploy_key"})
	check("pre1 env", pre1.Env, pre)

	prod := rb.Envs["production"]
	check("production settings", []any{prod.Via, prod.Parallel, prod.MaxFail, prod.Keep}, []any{"pre1", 2, Share{}, 5})
	check("production hosts", []string{prod.Hosts[0].Name, prod.Hosts[1].Name}, []string{"prod1", "prod2"})

	var kinds []StepKind
	for i, s := range rb.Steps {
		check("step index", s.Index, i)
		kinds = append(kinds, s.Kind)
	}
	check("kinds", kinds, []StepKind{KindRun, KindRun, KindUpload, KindActivate, KindOp, KindConfirm, KindDiff, KindProbe, KindUpload, KindActivate, KindOp})
	restart := rb.Step("restart-prerelease")
	check("restart retries", []any{restart.Retries, restart.RetryDelay, restart.MaxFail, restart.Parallel, restart.On, restart.Op},
		[]any{20, 3 * time.Second, (*Share)(nil), 0, "prerelease", "restart"})
	check("restart command", restart.Command(pre), "sudo /opt/jboss/bin/restart.sh")
	check("signoff", rb.Step("qa-signoff").Signoff, []string{"QA", "DBA"})
	check("diff", rb.Step("environments-match").Diff, []string{"prerelease", "production"})
	probe := rb.Step("interfaces-reachable").Probe
	check("probe tcp", probe.TCP, []string{"billing-db:3306"})
	check("probe http", []any{probe.HTTP[0].URL, probe.HTTP[0].Expect, probe.HTTP[0].KeepAlive, probe.HTTP[0].Timeout},
		[]any{"http://localhost:8080/billing/health", 200, 3, 10 * time.Second})
	check("undo", rb.Step("restart-production").Undo, "sudo /opt/jboss/bin/restart.sh")
	check("step pos", rb.Step("update-source").Pos, Pos{Line: 46, Col: 5})

	check("consistency ignore", rb.Consistency.Ignore, []string{`^\s*#`, `^\s*$`})
	check("domains", rb.Handbook.Domains["production"], "billing.example.com")
	check("contact", rb.Handbook.Contacts, []Contact{{Role: "DBA", Name: "Wang Li", Phone: "+86 10 5555 0101"}})
	check("check", rb.Handbook.Checks, []Check{{Name: "service health", On: "production", Run: "curl -fsS http://localhost:8080/billing/health"}})
	check("query", rb.Handbook.Queries[0].Name, "orders since release")
	check("notes", rb.Handbook.Notes, "Free text for the night.\n")
	check("secret names", rb.SecretNames(), []string{"ssh/deploy_key"})
}

// equal compares the few shapes the tests use without reflect.DeepEqual's
// surprises on nil versus empty slices.
func equal(got, want any) bool {
	switch w := want.(type) {
	case []string:
		g, _ := got.([]string)
		return slices.Equal(g, w)
	case []int:
		g, _ := got.([]int)
		return slices.Equal(g, w)
	case []StepKind:
		g, _ := got.([]StepKind)
		return slices.Equal(g, w)
	case []any:
		g, _ := got.([]any)
		return slices.Equal(g, w)
	case []Contact:
		g, _ := got.([]Contact)
		return slices.Equal(g, w)
	case []Check:
		g, _ := got.([]Check)
		return slices.Equal(g, w)
	}
	return got == want
}

func TestLoadEffectiveValues(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := t.TempDir()
	path := filepath.Join(dir, "runbook.yaml")
	const file = `name: effective
vault: secrets/night.vault
known_hosts: ~/.ssh/known_hosts_runbook
x-auth: &ops {password: secret:ops/password}
environments:
  tools:
    local: true
    workdir: tools
  app:
    user: deploy
    deploy_dir: /opt/app
    workdir: /srv/app
    keep: 3
    auth: {key_file: keys/deploy, key_passphrase: secret:keys/pass}
    hosts:
      - {name: app1, address: 10.0.0.1}
      - {name: app2, address: "10.0.0.2:2222", user: root, auth: *ops, deploy_dir: /data/app, workdir: /tmp}
      - {name: helper, local: true, workdir: ../helper}
  bare:
    hosts: [{name: bare1, address: bare.example.com}]
  both:
    local: true
    operations: {hello: "echo {{ secret \"greeting\" }}"}
steps:
  - name: hello
    on: both
    op: hello
    env: {TOKEN: "{{ secret \"api/token\" }}", PLAIN: x}
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	rb, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Vault != filepath.Join(dir, "secrets/night.vault") {
		t.Errorf("vault = %q, want it resolved against the runbook's directory", rb.Vault)
	}
	if rb.KnownHosts != filepath.Join(home, ".ssh/known_hosts_runbook") {
		t.Errorf("known_hosts = %q, want ~ expanded", rb.KnownHosts)
	}
	tools := rb.Envs["tools"].Hosts[0]
	if tools.Name != "local" || tools.Workdir != filepath.Join(dir, "tools") {
		t.Errorf("tools host = %q in %q, want the implicit host local in %s/tools", tools.Name, tools.Workdir, dir)
	}
	if h := rb.Envs["both"].Hosts[0]; h.Name != "local" || h.Workdir != dir {
		t.Errorf("second implicit host = %q in %q, want local in the runbook's directory", h.Name, h.Workdir)
	}

	app1, app2, helper := rb.HostByName("app1"), rb.HostByName("app2"), rb.HostByName("helper")
	if app1.User != "deploy" || app1.DeployDir != "/opt/app" || app1.Workdir != "/srv/app" || app1.Local {
		t.Errorf("app1 = %+v, want the environment's settings", app1)
	}
	if app1.Auth.KeyFile != filepath.Join(dir, "keys/deploy") || app1.Auth.KeyPassphrase != "secret:keys/pass" {
		t.Errorf("app1 auth = %+v, want key_file resolved against the runbook's directory", app1.Auth)
	}
	if app2.User != "root" || app2.DeployDir != "/data/app" || app2.Workdir != "/tmp" || app2.Auth.Password != "secret:ops/password" || app2.Auth.KeyFile != "" {
		t.Errorf("app2 = %+v auth %+v, want its own overrides, the auth block replacing the environment's", app2, app2.Auth)
	}
	if !helper.Local || helper.Workdir != filepath.Join(filepath.Dir(dir), "helper") || helper.Address != "" {
		t.Errorf("helper = %+v, want a local host with its workdir resolved", helper)
	}
	if rb.Envs["app"].Keep != 3 {
		t.Errorf("keep = %d, want 3", rb.Envs["app"].Keep)
	}
	if a := rb.HostByName("bare1").Auth; a == nil || !a.Agent {
		t.Errorf("a remote host without auth has %+v, want the SSH agent", a)
	}
	step := rb.Step("hello")
	if !slices.Equal(step.EnvOrder, []string{"TOKEN", "PLAIN"}) || step.Env["PLAIN"] != "x" {
		t.Errorf("env = %v in order %v", step.Env, step.EnvOrder)
	}
	want := []string{"api/token", "greeting", "keys/pass", "ops/password"}
	if got := rb.SecretNames(); !slices.Equal(got, want) {
		t.Errorf("SecretNames() = %v, want %v", got, want)
	}
	if got := rb.Summary(); got != "effective: 1 step, 4 environments, 6 hosts" {
		t.Errorf("Summary() = %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runbook.yaml")
	_, err := Load(path)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Line != 0 {
		t.Fatalf("err = %#v, want a *FileError without a position", err)
	}
	want := path + ": runbook file not found"
	if err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestFileErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  *FileError
		want string
	}{
		{&FileError{File: "rb.yaml", Line: 3, Col: 7, Msg: "bad"}, "rb.yaml:3:7: bad"},
		{&FileError{File: "rb.yaml", Line: 3, Msg: "bad"}, "rb.yaml:3: bad"},
		{&FileError{File: "rb.yaml", Msg: "bad"}, "rb.yaml: bad"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestParseReportsEveryProblemSorted(t *testing.T) {
	const file = `name: many
steps:
  - name: b
    on: nowhere
    run: echo
  - name: a
    confirm: ready?
    timeout: soon
flavour: vanilla
`
	_, err := Parse("rb.yaml", []byte(file))
	var fes FileErrors
	if !errors.As(err, &fes) {
		t.Fatalf("err = %#v, want FileErrors", err)
	}
	var got []string
	for _, fe := range fes {
		got = append(got, strings.SplitN(fe.Error(), ": ", 2)[0])
	}
	want := []string{"rb.yaml:4:9", "rb.yaml:8:14", "rb.yaml:9:1"}
	if !slices.Equal(got, want) {
		t.Errorf("positions = %v, want %v (sorted)\n%v", got, want, err)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[2], `rb.yaml:9:1: unknown key "flavour"`) {
		t.Errorf("Error() = %q, want one problem per line", err)
	}
	var fe *FileError
	if !errors.As(err, &fe) || fe.Line != 4 {
		t.Errorf("errors.As(*FileError) = %v, want the first problem", fe)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"name", "on", "op", "run", "relay", "retries", "retry_delay", "deploy_dir", "environments"}
	for word, want := range map[string]string{
		"retry":       "retries",
		"deploydir":   "deploy_dir",
		"enviroments": "environments",
		"nmae":        "name",
		"xyz":         "",
		"rely":        "relay",
		"color":       "",
	} {
		if got := Suggest(word, keys); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", word, got, want)
		}
	}
}
