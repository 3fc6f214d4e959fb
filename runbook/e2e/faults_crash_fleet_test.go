package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state"
	"github.com/runbook-dev/runbook/state/postgres/pgtest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// The helpers of the crash-point sweep (faults_crash_test.go): a test
// build of the binary whose crash points kill it, a fleet of real sshd
// hosts on which every case gets its own deploy directories, and the
// invariants checked after every kill.

// faultsBin is the runbook binary built with -tags faults, once, beside
// the plain one (TestMain removes both).
func faultsBin(t testing.TB) string {
	return built(t, "runbook-faults", "-tags", "faults", "github.com/runbook-dev/runbook")
}

// builds are the programs built once beside the runbook binary.
var builds sync.Map // name → func() error, the build

// built builds a program with `go build ARGS` into name beside the
// runbook binary, once per test binary, and returns its path.
func built(t testing.TB, name string, args ...string) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(bin), name)
	f, _ := builds.LoadOrStore(name, sync.OnceValue(func() error {
		out, err := exec.Command("go", append([]string{"build", "-o", path}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}))
	if err := f.(func() error)(); err != nil {
		t.Fatal(err)
	}
	return path
}

// proc is one finished run of a binary; killed says it died of SIGKILL.
type proc struct {
	result
	killed bool
	pid    int
}

// runProc runs exe in dir with the clean environment plus extra, feeding
// stdin, and waits for it, whatever way it ends.
func runProc(t testing.TB, exe, dir string, extra []string, stdin string, args ...string) proc {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = env(extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	p, err := waitProc(cmd, &out, &errb)
	if err != nil {
		t.Fatalf("wait for %v: %v", args, err)
	}
	return p
}

// waitProc waits for cmd; an exit status of any kind is not an error. It
// may run on another goroutine than the test's.
func waitProc(cmd *exec.Cmd, out, errb *bytes.Buffer) (proc, error) {
	err := cmd.Wait()
	p := proc{result: result{stdout: out.String(), stderr: errb.String()}, pid: cmd.Process.Pid}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		return p, err
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	p.killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
	p.code = cmd.ProcessState.ExitCode()
	return p, nil
}

// killedAt fails unless p died of the test build's SIGKILL at point.
func killedAt(t *testing.T, p proc, point string, n int) {
	t.Helper()
	want := fmt.Sprintf("runbook-faults: SIGKILL at %s (hit %d)", point, n)
	if !p.killed || !strings.Contains(p.stderr, want) {
		t.Fatalf("%s@%d did not kill the run (killed=%v):\n%s", point, n, p.killed, p.result)
	}
}

// crashFleet is three real sshd hosts, pre1 (prerelease) and prod1, prod2
// (production, through pre1 as jump host), plus the operator machine
// (build). Every case of a sweep lives in its own directory on the
// operator side and in its own subdirectory of each host's deploy dir.
type crashFleet struct {
	// pg, when set, keeps each case's record in a database of its own on
	// this PostgreSQL server (state: in the case's runbook file) instead
	// of the case's SQLite file.
	pg         *pgtest.Cluster
	root       string // holds one directory per case
	hosts      map[string]*sshdtest.Host
	user, key  string
	knownHosts string // the known_hosts file's content
	art        map[string][]byte
}

var crashHosts = []string{"pre1", "prod1", "prod2"}

func startCrashFleet(t *testing.T) *crashFleet {
	t.Helper()
	// Each host its own HOME: the run markers the kills leave behind are
	// counted there, and go with the test.
	pre := sshdtest.Start(t, sshdtest.Options{OwnHome: true})
	f := &crashFleet{root: t.TempDir(), hosts: map[string]*sshdtest.Host{"pre1": pre}, user: pre.User, key: pre.ClientKey, art: map[string][]byte{}}
	for _, name := range crashHosts[1:] {
		f.hosts[name] = sshdtest.Start(t, sshdtest.Options{ClientKey: pre.ClientKey, OwnHome: true})
	}
	for _, name := range crashHosts {
		f.knownHosts += f.hosts[name].KnownHostsLine() + "\n"
	}
	// 4 MiB: several SFTP windows, so that a killed upload leaves a
	// partial file long enough to be resumed from its verified prefix.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v := range []string{"1.0", "2.0"} {
		b := make([]byte, 4<<20)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.art[v] = b
	}
	return f
}

// crashRunbookYAML is a release night whose every effect can be counted
// on its host. Local steps can be left in doubt by a kill (their process
// outlives runbook, their exit code dies with it): build has a check that
// settles it, migrate has none, so it needs the operator. Remote commands
// leave markers that settle them, so they need no check: restart and
// notify append to a counter file once per run, and the sweep proves they
// ran exactly once. notify sleeps after its output so that a kill on that
// output finds it still running, and the resume reattaches to it.
const crashRunbookYAML = `name: crash-sweep
known_hosts: known_hosts
artifact: {path: billing.ear}
environments:
  build:
    local: true
  prerelease:
    user: %[1]s
    auth: {key_file: %[2]s}
    keep: 2
    hosts:
      - {name: pre1, address: "%[3]s", deploy_dir: %[4]s}
    operations:
      restart: echo "UP {{.Version}}" > {{.Host.DeployDir}}/health; echo x >> {{.Host.DeployDir}}/count-restart-{{.Version}}-r{{.Release.ID}}
  production:
    via: pre1
    user: %[1]s
    auth: {key_file: %[2]s}
    keep: 2
    parallel: 2
    hosts:
      - {name: prod1, address: "%[5]s", deploy_dir: %[6]s}
      - {name: prod2, address: "%[7]s", deploy_dir: %[8]s}
    operations:
      restart: echo "UP {{.Version}}" > {{.Host.DeployDir}}/health; echo x >> {{.Host.DeployDir}}/count-restart-{{.Version}}-r{{.Release.ID}}
steps:
  - name: build
    on: build
    run: echo x >> count-build-{{.Version}}; echo built; sleep 0.1
    check: test -s count-build-{{.Version}}
  - name: migrate
    on: build
    run: echo x >> count-migrate-{{.Version}}; echo migrated; sleep 0.1
  - {name: stage-pre, on: prerelease, upload: artifact}
  - {name: activate-pre, on: prerelease, activate: true}
  - name: restart-pre
    on: prerelease
    op: restart
    verify: grep -qx "UP {{.Version}}" {{.Host.DeployDir}}/health
  - {name: qa-signoff, confirm: QA verified the prerelease, signoff: [QA]}
  - {name: stage-prod, on: production, upload: artifact}
  - {name: activate-prod, on: production, activate: true}
  - name: restart-prod
    on: production
    op: restart
    verify: grep -qx "UP {{.Version}}" {{.Host.DeployDir}}/health
  - name: notify
    on: production
    run: echo x >> {{.Host.DeployDir}}/count-notify-{{.Version}}; echo notified; sleep 0.2
    undo: echo x >> {{.Host.DeployDir}}/count-undo-notify-{{.Version}}; echo recalled; sleep 0.2
`

// startArgs starts or resumes the release of v without a terminal, QA
// signing off.
func startArgs(v string) []string {
	return []string{"start", "--version", v, "--yes", "--signoff", "QA=Li Na"}
}

// caseDir is the operator-side directory of a case.
func (f *crashFleet) caseDir(name string) string { return filepath.Join(f.root, name) }

// deployDir is the deploy directory of a case on a host.
func (f *crashFleet) deployDir(name, host string) string {
	return filepath.Join(f.hosts[host].DeployDir, name)
}

// newCase makes an empty case: its runbook, known_hosts and deploy dirs.
func (f *crashFleet) newCase(t *testing.T, name string) string {
	t.Helper()
	dir := f.caseDir(name)
	for _, h := range crashHosts {
		if err := os.MkdirAll(f.deployDir(name, h), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, dir, "known_hosts", f.knownHosts)
	yaml := fmt.Sprintf(crashRunbookYAML, f.user, f.key,
		f.hosts["pre1"].Addr, f.deployDir(name, "pre1"),
		f.hosts["prod1"].Addr, f.deployDir(name, "prod1"),
		f.hosts["prod2"].Addr, f.deployDir(name, "prod2"))
	if f.pg != nil {
		db := caseDB(name)
		if out, err := f.pg.Psql("postgres", "SELECT 1 FROM pg_database WHERE datname = '"+db+"'"); err != nil {
			t.Fatal(err)
		} else if out == "" {
			if _, err := f.pg.Psql("postgres", "CREATE DATABASE "+db); err != nil {
				t.Fatal(err)
			}
		}
		yaml = "state: " + f.pg.URL(db, false) + "\n" + yaml
	}
	write(t, dir, "runbook.yaml", yaml)
	return dir
}

// usePostgres keeps the records of the fleet's cases on the package's
// PostgreSQL server; the binary finds the password where libpq would,
// in PGPASSWORD.
func (f *crashFleet) usePostgres(t *testing.T) {
	t.Helper()
	f.pg = pgtest.Shared(t)
	t.Setenv("PGPASSWORD", pgtest.Password)
}

// caseDB is the database of a case: its name, as PostgreSQL takes it.
func caseDB(name string) string {
	b := []byte("case_" + strings.ToLower(name))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), 63)])
}

// setArtifact puts the build of version v in a case.
func (f *crashFleet) setArtifact(t *testing.T, name, v string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.caseDir(name), "billing.ear"), f.art[v], 0o644); err != nil {
		t.Fatal(err)
	}
}

// release runs version v to the end in a case, uninterrupted.
func (f *crashFleet) release(t *testing.T, name, v string) {
	t.Helper()
	f.setArtifact(t, name, v)
	if r := run(t, f.caseDir(name), startArgs(v)...); r.code != 0 {
		t.Fatalf("release %s in %s: %s", v, name, r)
	}
}

// cloneCase copies case from (operator side and every host) to a new case
// and rewrites its runbook for its own deploy dirs.
func (f *crashFleet) cloneCase(t *testing.T, from, to string) string {
	t.Helper()
	copyTree(t, f.caseDir(from), f.caseDir(to))
	if f.pg != nil {
		if err := f.pg.CloneDatabase(caseDB(from), caseDB(to)); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range crashHosts {
		copyTree(t, f.deployDir(from, h), f.deployDir(to, h))
	}
	return f.newCase(t, to)
}

// copyTree copies regular files, directories and symbolic links.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}

// leftMarkers counts what is left in the hosts' marker directories: runs
// whose markers are still there (a run whose outcome was committed has
// them removed, unless a kill came in between), and tokens claimed by a
// resume that found their run never started (kept for good: a copy of the
// run still on its way to the host must find the claim).
func (f *crashFleet) leftMarkers(t *testing.T) (runs, claims int) {
	t.Helper()
	for _, h := range crashHosts {
		started, err := filepath.Glob(filepath.Join(f.hosts[h].Home, ".runbook", "runs", "*.started"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range started {
			if b, _ := os.ReadFile(p); strings.HasPrefix(string(b), "- ") {
				claims++
			} else {
				runs++
			}
		}
	}
	return runs, claims
}

// counterFiles are the counted effects of a release of v: file → where
// ("local" or a host name).
func counterFiles(v string) map[string][]string {
	return map[string][]string{
		"count-build-" + v:   {"local"},
		"count-migrate-" + v: {"local"},
		restartCounter(v, v): crashHosts,
		"count-notify-" + v:  {"prod1", "prod2"},
	}
}

// sweepReleaseIDs are the ids the sweeps' releases get: 1.0 is released
// first, then 2.0, in every case.
var sweepReleaseIDs = map[string]int{"1.0": 1, "2.0": 2}

// restartCounter counts the restarts on version v made by the release (or
// the rollback) of version of: a restart runs again, on the restored
// release, after a rollback switches back.
func restartCounter(v, of string) string {
	return fmt.Sprintf("count-restart-%s-r%d", v, sweepReleaseIDs[of])
}

// undoCounterFiles are the counted effects of the rollback of v: the
// notify step's undo, and the restart on 1.0 after each switch back.
func undoCounterFiles(v string) map[string][]string {
	return map[string][]string{
		restartCounter("1.0", v): crashHosts,
		"count-undo-notify-" + v: {"prod1", "prod2"},
	}
}

// count returns how many times an effect happened: the lines of its
// counter file in the case on where ("local" or a host).
func (f *crashFleet) count(t *testing.T, name, where, file string) int {
	t.Helper()
	dir := f.caseDir(name)
	if where != "local" {
		dir = f.deployDir(name, where)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// duplicates counts the effects of counters that happened more than once.
func (f *crashFleet) duplicates(t *testing.T, name string, counters map[string][]string) []string {
	t.Helper()
	var dups []string
	for file, wheres := range counters {
		for _, w := range wheres {
			if n := f.count(t, name, w, file); n > 1 {
				dups = append(dups, fmt.Sprintf("%s on %s: %d times", file, w, n))
			}
		}
	}
	sort.Strings(dups)
	return dups
}

// openState opens a case's state database read-only.
func openState(t *testing.T, dir string) *state.Store {
	t.Helper()
	st, err := state.OpenReadOnly(filepath.Join(dir, ".runbook", "state.db"))
	if err != nil {
		t.Fatalf("open the state of %s: %v", dir, err)
	}
	return st
}

// releaseOf returns the latest release of version v (kind release), nil
// when none was recorded yet.
func releaseOf(t *testing.T, st runbook.Store, v string) *runbook.Release {
	t.Helper()
	rels, err := st.Releases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := len(rels) - 1; i >= 0; i-- {
		if rels[i].Version == v && rels[i].Kind == runbook.KindRelease {
			return rels[i]
		}
	}
	return nil
}

// checkTransitions proves that no transition of release rel was lost: the
// transitions of the release, of each step and of each host run form an
// unbroken chain from the first state, every link is a move its state
// machine allows, and the chain ends in the state the record holds. It
// returns how many transitions it checked.
func checkTransitions(t *testing.T, st runbook.Store, rel *runbook.Release) int {
	t.Helper()
	ctx := context.Background()
	ts, err := st.Transitions(ctx, rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := st.Steps(ctx, rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ step, host int64 }
	chains := map[key][]runbook.Transition{}
	for _, tr := range ts {
		k := key{tr.StepRunID, tr.HostRunID}
		chains[k] = append(chains[k], tr)
	}
	follow := func(what string, k key, first, final string, machine func(string) (*runbook.Machine, error)) {
		at := first
		for _, tr := range chains[k] {
			if tr.From != at {
				t.Fatalf("%s: transition %s → %s (%s) follows state %s: a transition is missing", what, tr.From, tr.To, tr.Event, at)
			}
			if tr.From != "" {
				m, err := machine(tr.From)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if err := m.Fire(ctx, tr.Event); err != nil || m.Current() != tr.To {
					t.Fatalf("%s: %s --%s--> %s is not a move of its machine (%v)", what, tr.From, tr.Event, tr.To, err)
				}
			}
			at = tr.To
		}
		if at != final {
			t.Fatalf("%s is %s but its transitions end in %s", what, final, at)
		}
	}
	releaseMachine := func(s string) (*runbook.Machine, error) {
		return runbook.NewReleaseMachine(runbook.ReleaseState(s), nil)
	}
	runMachine := func(s string) (*runbook.Machine, error) { return runbook.NewRunMachine(runbook.RunState(s), nil) }
	follow("release "+rel.Version, key{}, "", string(rel.State), releaseMachine)
	for _, sr := range steps {
		follow("step "+sr.Name, key{sr.ID, 0}, string(runbook.RunPending), string(sr.State), runMachine)
		for _, hr := range sr.Hosts {
			follow("host run "+sr.Name+"/"+hr.Host, key{sr.ID, hr.ID}, string(runbook.RunPending), string(hr.State), runMachine)
		}
	}
	return len(ts)
}

// checkNoPhantom proves that no host run of release v is recorded as
// succeeded without its effect on the host: the moment that matters is
// right after a kill, before anything settles it.
func (f *crashFleet) checkNoPhantom(t *testing.T, name, v string) {
	t.Helper()
	st := openRecord(t, f.caseDir(name))
	defer st.Close()
	rel := releaseOf(t, st, v)
	if rel == nil {
		return
	}
	steps, err := st.Steps(context.Background(), rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, sr := range steps {
		for _, hr := range sr.Hosts {
			if hr.State != runbook.RunSucceeded {
				continue
			}
			if !f.hasEffect(t, name, v, sr.Name, hr.Host) {
				t.Fatalf("%s on %s is recorded succeeded, but its effect is not on the host", sr.Name, hr.Host)
			}
		}
	}
}

// hasEffect says whether the effect of step on host for version v is in
// place.
func (f *crashFleet) hasEffect(t *testing.T, name, v, step, host string) bool {
	t.Helper()
	dd := ""
	if host != "local" {
		dd = f.deployDir(name, host)
	}
	switch step {
	case "build", "migrate":
		return f.count(t, name, "local", "count-"+step+"-"+v) == 1
	case "stage-pre", "stage-prod":
		return fileSHA(filepath.Join(dd, "releases", v, "billing.ear")) == shaOf(f.art[v])
	case "activate-pre", "activate-prod":
		l, _ := os.Readlink(filepath.Join(dd, "current"))
		return l == "releases/"+v
	case "restart-pre", "restart-prod":
		h, _ := os.ReadFile(filepath.Join(dd, "health"))
		return strings.TrimSpace(string(h)) == "UP "+v && f.count(t, name, host, restartCounter(v, v)) == 1
	case "notify":
		return f.count(t, name, host, "count-notify-"+v) == 1
	}
	t.Fatalf("no effect known for step %s", step)
	return false
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileSHA(p string) string {
	fh, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// snapshot is what a case ended with: the files of every host's deploy
// dir, the counters on the operator side, and the database's record of
// releases, steps, host runs, live and staged versions — without times,
// attempts and tokens, which a crash legitimately changes.
func (f *crashFleet) snapshot(t *testing.T, name string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	for _, h := range crashHosts {
		root := f.deployDir(name, h)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			key := h + ":" + rel
			switch {
			case d.IsDir():
				snap[key] = "dir"
			case d.Type()&fs.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				snap[key] = "-> " + l
			default:
				snap[key] = fileSHA(p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	counters, _ := filepath.Glob(filepath.Join(f.caseDir(name), "count-*"))
	for _, c := range counters {
		snap["local:"+filepath.Base(c)] = fileSHA(c)
	}
	st := openRecord(t, f.caseDir(name))
	defer st.Close()
	ctx := context.Background()
	rels, err := st.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rels {
		rk := fmt.Sprintf("db:%s %s #%d", r.Kind, r.Version, r.ID)
		snap[rk] = string(r.State) + " artifact " + r.ArtifactSHA256
		steps, err := st.Steps(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, sr := range steps {
			snap[rk+" step "+sr.Name] = string(sr.State)
			for _, hr := range sr.Hosts {
				outcome := fmt.Sprintf("%s exit %d", hr.State, hr.ExitCode)
				if hr.State == runbook.RunSucceeded {
					// A run settled by its check or by the operator has
					// no exit code; any other success exited 0.
					if hr.ExitCode != 0 && hr.ExitCode != -1 {
						t.Fatalf("%s: %s on %s succeeded with exit %d", name, sr.Name, hr.Host, hr.ExitCode)
					}
					outcome = string(hr.State)
				}
				snap[rk+" host "+sr.Name+"/"+hr.Host] = outcome + " detail " + stableDetail(hr.Detail)
			}
		}
	}
	live, err := st.LiveVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range live {
		snap["db:live "+l.Env+"/"+l.Host] = l.Version + " previous " + l.Previous
	}
	staged, err := st.StagedVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range staged {
		snap["db:staged "+s.Env+"/"+s.Host+"/"+s.Version] = fmt.Sprintf("%s removed=%v", s.SHA256, s.Removed)
	}
	return snap
}

// stableDetail drops from a host run's detail what depends on where a
// crash cut an upload (bytes sent, resumed, skipped): the outcome is the
// same file with the same checksum.
func stableDetail(d string) string {
	a := runbook.ParseDetail(d)
	a.Bytes, a.Resumed, a.Skipped = 0, 0, false
	return a.JSON()
}

// sameSnapshot fails with the differences between two snapshots.
func sameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s (%s)", k, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: %s, want %s", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %s (%s)", k, g))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Fatalf("%s differs from the uninterrupted run:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

// hitCounts reads a hit log (RUNBOOK_HITLOG): how many times each crash
// point was hit.
func hitCounts(t *testing.T, log string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("hit log: %v", err)
	}
	n := map[string]int{}
	for _, l := range strings.Fields(string(b)) {
		n[l]++
	}
	return n
}
