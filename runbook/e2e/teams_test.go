package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/state/postgres/pgtest"
	"github.com/runbook-dev/runbook/steps/remote"
)

// Teams (docs/SPEC.md "Teams", "Audit"): the record on PostgreSQL, the
// release lock across machines, the handover, the environment lock on
// the hosts, the audit chain. Machines are told apart by their host names:
// a "machine" is a process in a UTS namespace of its own (unshare), with
// the name given.

// pgRunbook keeps the record of the runbook in dir in a fresh database
// of the package's PostgreSQL server: its URL (without a password) in the
// state: key, the password where libpq finds it, PGPASSWORD. It returns
// the URL and the database's name.
func pgRunbook(t *testing.T, dir string) (url, db string) {
	t.Helper()
	c := pgtest.Shared(t)
	t.Setenv("PGPASSWORD", pgtest.Password)
	db, err := c.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	url = c.URL(db, false)
	p := filepath.Join(dir, "runbook.yaml")
	write(t, dir, "runbook.yaml", "state: "+url+"\n"+read(t, p))
	return url, db
}

// eachRecord runs test twice: with the record in the SQLite file beside
// the runbook (record does nothing), and on PostgreSQL (record moves the
// record of a runbook directory to a fresh database: pgRunbook). The
// test calls record once the runbook file is written.
func eachRecord(t *testing.T, test func(t *testing.T, record func(t *testing.T, dir string))) {
	t.Run("sqlite", func(t *testing.T) { test(t, func(*testing.T, string) {}) })
	t.Run("postgres", func(t *testing.T) { test(t, func(t *testing.T, dir string) { pgRunbook(t, dir) }) })
}

// onMachine runs exe with args as a process of machine name: same
// kernel, its own host name.
func onMachine(name, exe string, args ...string) (string, []string) {
	pre := []string{"--uts"}
	if os.Geteuid() != 0 {
		pre = []string{"--user", "--map-root-user", "--uts"}
	}
	return "unshare", append(append(pre, "sh", "-c", `hostname "$0" && exec "$@"`, name, exe), args...)
}

// runOn runs the plain binary as machine name and waits for it.
func runOn(t *testing.T, name, dir string, args ...string) proc {
	t.Helper()
	exe, a := onMachine(name, bin, args...)
	return runProc(t, exe, dir, nil, "", a...)
}

// TestTeamsNightOnPostgres walks the example night with its record on
// PostgreSQL: two releases, one of them resumed; the record read back
// through state:, --state and RUNBOOK_STATE; nothing written to a SQLite
// file; the audit chain verified and its head in the report.
func TestTeamsNightOnPostgres(t *testing.T) {
	dir := initDemo(t)
	url, db := pgRunbook(t, dir)
	if r := run(t, dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("start 1.0.0: %s", r)
	}
	// No sign-off: it stops at the confirm step, paused; resume finishes it.
	if r := run(t, dir, "start", "--version", "1.1.0", "--yes"); r.code != 3 {
		t.Fatalf("start 1.1.0 without sign-offs: %s", r)
	}
	if d := status(t, dir); d.Release.Version != "1.1.0" || d.Release.State != "paused" {
		t.Fatalf("status after the stop: %+v", d.Release)
	}
	if r := run(t, dir, append([]string{"resume", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	if d := status(t, dir); d.Release.Version != "1.1.0" || d.Release.State != "succeeded" {
		t.Fatalf("status after resume: %+v", d.Release)
	}
	if _, err := os.Stat(filepath.Join(dir, ".runbook", "state.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a SQLite state database was made beside the runbook (%v)", err)
	}
	for _, h := range []string{"pre1", "prod1", "prod2"} {
		if l, _ := os.Readlink(filepath.Join(dir, "hosts", h, "opt/billing/current")); l != "releases/1.1.0" {
			t.Errorf("%s: current -> %q", h, l)
		}
		if _, err := os.Lstat(filepath.Join(dir, "hosts", h, "opt/billing/.runbook-lock")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the environment lock outlived the release (%v)", h, err)
		}
	}
	// The same record from a runbook without state:, by flag and by
	// environment.
	other := initDemo(t)
	for _, r := range []result{
		run(t, other, "--state", url, "history", "--json"),
		runEnv(t, other, []string{"RUNBOOK_STATE=" + url}, "history", "--json"),
	} {
		if r.code != 0 || !strings.Contains(r.stdout, `"1.0.0"`) || !strings.Contains(r.stdout, `"1.1.0"`) {
			t.Errorf("history through --state / RUNBOOK_STATE: %s", r)
		}
	}
	r := run(t, dir, "audit", "verify")
	if r.code != 0 || !strings.Contains(r.stdout, "audit chain ok") {
		t.Fatalf("audit verify: %s", r)
	}
	head := strings.Fields(r.stdout[strings.Index(r.stdout, "head ")+5:])[0]
	if rep := run(t, dir, "report"); rep.code != 0 || !strings.Contains(rep.stdout, "audit chain head: "+head) {
		t.Errorf("the report does not print the chain head %s:\n%s", head, rep)
	}
	// An edit behind runbook's back is found, and named.
	if _, err := pgtest.Shared(t).Psql(db, "UPDATE transitions SET operator = 'mallory' WHERE id = 7"); err != nil {
		t.Fatal(err)
	}
	if r := run(t, dir, "audit", "verify"); r.code != 1 || !strings.Contains(r.stderr, "audit chain broken at transition 7") {
		t.Errorf("audit verify after an edit: %s", r)
	}
}

// TestTeamsStatePasswordFromVault: state_password: secret:NAME takes the
// password from the vault; nothing else knows it.
func TestTeamsStatePasswordFromVault(t *testing.T) {
	dir := initDemo(t)
	url, _ := pgRunbook(t, dir)
	t.Setenv("PGPASSWORD", "")
	if r := runEnv(t, dir, []string{passEnv}, "vault", "init"); r.code != 0 {
		t.Fatalf("vault init: %s", r)
	}
	if r := runStdin(t, dir, []string{passEnv}, pgtest.Password+"\n", "vault", "set", "db/runbook"); r.code != 0 {
		t.Fatalf("vault set: %s", r)
	}
	yaml := read(t, filepath.Join(dir, "runbook.yaml"))
	if r := run(t, dir, "history"); r.code == 0 {
		t.Fatalf("history without a password reached the database: %s", r)
	}
	write(t, dir, "runbook.yaml", strings.Replace(yaml, "state: "+url+"\n", "state: "+url+"\nstate_password: secret:db/runbook\n", 1))
	r := runEnv(t, dir, []string{passEnv}, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...)
	if r.code != 0 {
		t.Fatalf("start with the password from the vault: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, pgtest.Password) {
		t.Error("the password was printed")
	}
}

// TestTeamsEnvLockAcrossRecords: two operators, each with a record of
// their own, on the same hosts. The first stops at its sign-off holding
// prerelease; the second is refused before it changes anything there,
// exit 4, naming the owner; unlock --env removes the lock of the owner
// whose process is gone, recorded; then the second goes on.
func TestTeamsEnvLockAcrossRecords(t *testing.T) {
	a := initDemo(t)
	if r := run(t, a, "start", "--version", "1.0.0", "--yes"); r.code != 3 {
		t.Fatalf("a: start without sign-offs: %s", r)
	}
	owner := read(t, filepath.Join(a, "hosts/pre1/opt/billing/.runbook-lock/owner"))
	for _, want := range []string{"release: 1.0.0", "release_id: 1", "env: prerelease", "state: " + filepath.Join(a, ".runbook", "state.db")} {
		if !strings.Contains(owner, want) {
			t.Errorf("the owner file lacks %q:\n%s", want, owner)
		}
	}
	b := initDemo(t)
	write(t, b, "runbook.yaml", strings.ReplaceAll(read(t, filepath.Join(b, "runbook.yaml")), "deploy_dir: hosts/", "deploy_dir: "+a+"/hosts/"))
	r := run(t, b, append([]string{"start", "--version", "2.0.0", "--yes"}, signoffs...)...)
	if r.code != 4 || !strings.Contains(r.stderr, "environment prerelease is locked on pre1 by") ||
		!strings.Contains(r.stderr, "release 1.0.0 #1") || !strings.Contains(r.stderr, "unlock --env prerelease") {
		t.Fatalf("b on locked hosts: %s", r)
	}
	if _, err := os.Stat(filepath.Join(a, "hosts/pre1/opt/billing/releases/2.0.0")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("b staged on a locked host (%v)", err)
	}
	if d := status(t, b); d.Release.State != "paused" {
		t.Errorf("b's release is %s, want paused", d.Release.State)
	}
	if r := run(t, b, "unlock", "--env", "prerelease"); r.code != 2 || !strings.Contains(r.stderr, "--reason") {
		t.Errorf("unlock without a reason: %s", r)
	}
	if r := run(t, b, "unlock", "--env", "prerelease", "--reason", "a's night is over, checked with a"); r.code != 0 || !strings.Contains(r.stdout, "pre1: removed the environment lock of") {
		t.Fatalf("unlock --env: %s", r)
	}
	ops := operations(t, b)
	if len(ops) != 1 || ops[0].Name != "unlock" || ops[0].Host != "pre1" || ops[0].OutputTail != "a's night is over, checked with a" {
		t.Errorf("the removal is recorded as %+v", ops)
	}
	if r := run(t, b, append([]string{"resume", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("b's resume after the unlock: %s", r)
	}
}

// TestTeamsEnvLockOwnerAlive: a lock whose owner still runs on this
// machine is never removed; one of another machine only with --force.
func TestTeamsEnvLockOwnerAlive(t *testing.T) {
	dir := initDemo(t)
	lock := filepath.Join(dir, "hosts/pre1/opt/billing/.runbook-lock")
	if err := os.MkdirAll(lock, 0o700); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	owner := func(machine string, pid int) string {
		return fmt.Sprintf("operator: alice\nmachine: %s\npid: %d\nenv: prerelease\nrelease: 9.9\nrelease_id: 3\nstate: /elsewhere/state.db\nstore_id: abc\nsince: 2026-12-04T02:00:00Z\n", machine, pid)
	}
	write(t, lock, "owner", owner(host, os.Getpid()))
	if r := run(t, dir, "unlock", "--env", "prerelease", "--force", "--reason", "x"); r.code != 4 || !strings.Contains(r.stderr, "still runs here") {
		t.Errorf("unlock of a live owner: %s", r)
	}
	write(t, lock, "owner", owner("laptop-z", 1))
	if r := run(t, dir, "unlock", "--env", "prerelease", "--reason", "x"); r.code != 4 || !strings.Contains(r.stderr, "cannot check") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("unlock of another machine's owner without --force: %s", r)
	}
	if r := run(t, dir, "unlock", "--env", "prerelease", "--force", "--reason", "laptop-z is gone"); r.code != 0 {
		t.Errorf("unlock --force: %s", r)
	}
	if _, err := os.Lstat(lock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the lock is still there (%v)", err)
	}
}

// TestTeamsDeliberateLock: runbook lock refuses start and resume with
// exit 4 and the message, status shows it, unlock lifts it.
func TestTeamsDeliberateLock(t *testing.T) {
	dir := initDemo(t)
	if r := run(t, dir, "lock", "--message", "freeze until Monday"); r.code != 0 {
		t.Fatalf("lock: %s", r)
	}
	if r := run(t, dir, "lock", "--message", "again"); r.code != 4 || !strings.Contains(r.stderr, "freeze until Monday") {
		t.Errorf("a second lock: %s", r)
	}
	r := run(t, dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...)
	if r.code != 4 || !strings.Contains(r.stderr, "freeze until Monday") || strings.Contains(r.stdout, "[1/9]") {
		t.Fatalf("start under the lock: %s", r)
	}
	if r := run(t, dir, "status"); !strings.Contains(r.stdout, "LOCKED:") || !strings.Contains(r.stdout, "freeze until Monday") {
		t.Errorf("status does not show the lock: %s", r)
	}
	if r := run(t, dir, "unlock"); r.code != 0 || !strings.Contains(r.stdout, "lifted the lock") {
		t.Fatalf("unlock: %s", r)
	}
	if r := run(t, dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("start after unlock: %s", r)
	}
}

// TestTeamsHandover: a release started on machine A, whose runbook is
// killed while a command runs on a production host, is resumed on
// machine B from the shared record: B takes the lock over, settles the
// run by its markers on the host (keyed by token, so from any machine),
// takes the environment lock A left as its own release's, and finishes;
// every effect happened once, and the record says who took over from whom.
func TestTeamsHandover(t *testing.T) {
	fb := faultsBin(t)
	f := startCrashFleet(t)
	f.usePostgres(t)
	f.newCase(t, "base")
	f.release(t, "base", "1.0")
	name := "handover"
	dir := f.cloneCase(t, "base", name)
	f.setArtifact(t, name, "2.0")

	// notify is the first remote run that prints (the restarts print
	// nothing): A dies as it prints on the first host, while it still runs
	// there.
	exe, args := onMachine("machine-a", fb, startArgs("2.0")...)
	p := runProc(t, exe, dir, []string{"RUNBOOK_KILLPOINT=" + remote.PointExecOutput + "@1"}, "", args...)
	killedAt(t, p, remote.PointExecOutput, 1)
	for _, h := range []string{"prod1", "prod2"} {
		owner := read(t, filepath.Join(f.deployDir(name, h), ".runbook-lock", "owner"))
		if !strings.Contains(owner, "machine: machine-a") || !strings.Contains(owner, "release: 2.0") {
			t.Fatalf("after A died, the lock on %s says:\n%s", h, owner)
		}
	}

	r := runOn(t, "machine-b", dir, startArgs("2.0")...)
	if r.code != 0 {
		t.Fatalf("resume on machine B: %s", r.result)
	}
	if !strings.Contains(r.stderr, "took over the lock of") || !strings.Contains(r.stderr, "on machine-a") ||
		!strings.Contains(r.stderr, "whose connection to the state database ended") {
		t.Errorf("B does not say whose lock it took over:\n%s", r.result)
	}
	f.exactlyOnce(t, name, counterFiles("2.0"))
	for _, h := range crashHosts {
		if _, err := os.Lstat(filepath.Join(f.deployDir(name, h), ".runbook-lock")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the environment lock outlived the release (%v)", h, err)
		}
	}
	if runs, claims := f.leftMarkers(t); runs+claims != 0 {
		t.Errorf("markers left on the hosts: %d runs, %d claims", runs, claims)
	}
	rep := run(t, dir, "report", "--format", "json")
	if rep.code != 0 || !strings.Contains(rep.stdout, "on machine-b took over release 2.0") || !strings.Contains(rep.stdout, "on machine-a, whose last record was at") {
		t.Errorf("the report does not show the handover:\n%s", rep.stdout)
	}
	quickCheck(t, dir)
}

// TestTeamsPostgresRestartMidRelease: PostgreSQL restarts while a step
// runs (and the release's lock with it goes); runbook connects again,
// takes its lock back and finishes: nothing lost, nothing run twice.
func TestTeamsPostgresRestartMidRelease(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: restart
environments:
  build: {local: true}
steps:
  - name: wait
    on: build
    run: echo x >> count-wait; while [ ! -f go ]; do sleep 0.05; done
  - name: after
    on: build
    run: echo x >> count-after
`)
	pgRunbook(t, dir)
	cmd, out := start(t, dir, "start", "--version", "1", "--yes")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, "the step to run", func() bool { _, err := os.Stat(filepath.Join(dir, "count-wait")); return err == nil })
	c := pgtest.Shared(t)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "go", "")
	if err := <-done; err != nil {
		t.Fatalf("the release across the restart: %v\n%s", err, out)
	}
	for _, f := range []string{"count-wait", "count-after"} {
		if got := read(t, filepath.Join(dir, f)); got != "x\n" {
			t.Errorf("%s: %q, want one run", f, got)
		}
	}
	if d := status(t, dir); d.Release.State != "succeeded" {
		t.Errorf("release is %s", d.Release.State)
	}
	quickCheck(t, dir)
}
