package e2e

// Hostile input (issue 13, shared/field-notes/security-review-2026-12.md):
// the versions, runbook files, sign-offs, reasons, records and host output
// of the review, each against the real binary — on directories of this
// machine, and on real sshd where that is cheap — with the exit code it
// must give and proof that nothing happened outside the test's tree.
// SECURITY.md names the test of each finding.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to forge records the way an older binary wrote them
)

// hostileTree is a test's whole world: the project in root/project, and
// beside it a victim tree that nothing may touch. Payloads name files
// root/PWNED_*: finding one means a command ran.
type hostileTree struct {
	root, dir, victim string
}

func newHostileTree(t *testing.T) *hostileTree {
	t.Helper()
	root := t.TempDir()
	h := &hostileTree{root: root, dir: filepath.Join(root, "project"), victim: filepath.Join(root, "victim")}
	write(t, h.victim, "important/db.dump", "the only copy\n")
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// payloadFile is the name of a file a payload creates.
var payloadFile = regexp.MustCompile(`^PWNED_[a-z]+$`)

// pwned is a payload that creates root/PWNED_name when a shell runs it.
func (h *hostileTree) pwned(name string) string {
	return "touch " + filepath.Join(h.root, "PWNED_"+name)
}

// intact fails the test when the victim tree changed or a payload ran:
// root may hold nothing but the project and the victim.
func (h *hostileTree) intact(t *testing.T, after string) {
	t.Helper()
	if got, err := os.ReadFile(filepath.Join(h.victim, "important/db.dump")); err != nil || string(got) != "the only copy\n" {
		t.Fatalf("after %s: the victim tree beside the project was changed: %q, %v", after, got, err)
	}
	entries, err := os.ReadDir(h.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "project" && e.Name() != "victim" {
			t.Fatalf("after %s: %s was created outside the project", after, e.Name())
		}
	}
	// A payload's file anywhere (a deploy directory may be named after a
	// payload, so only a file named exactly like one counts).
	_ = filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && payloadFile.MatchString(d.Name()) {
			t.Fatalf("after %s: a payload ran: %s exists", after, p)
		}
		return nil
	})
}

// recorded reports whether the command left a state database behind.
func (h *hostileTree) recorded() bool {
	_, err := os.Stat(filepath.Join(h.dir, ".runbook", "state.db"))
	return err == nil
}

// hostileVersions are the versions of H-1 and their relatives, for a tree:
// command substitution, a newline out of the example's shell comment, a
// command separator, traversal out of deploy_dir (to the victim), an
// option, control characters, and a length past the rule.
func (h *hostileTree) hostileVersions() []string {
	return []string{
		"$(" + h.pwned("cmdsubst") + ")",
		"1.0\n" + h.pwned("newline"),
		"1.0;" + h.pwned("semicolon"),
		"`" + h.pwned("backquote") + "`",
		"1.0 && " + h.pwned("and"),
		"../../../../../../victim",
		"1.0/../../../../../../victim",
		"..",
		"-rf",
		"1.0\x1b[2K\rforged",
		"1.0\u202e",
		" 1.0",
		strings.Repeat("9", 129),
	}
}

// TestHostileVersionsExitBeforeAnything: every hostile version exits 2 at
// start, plan and rollback --to, before a release is recorded or a
// command runs (H-1). On the old binary, start ran the payloads and
// wrote outside deploy_dir.
func TestHostileVersionsExitBeforeAnything(t *testing.T) {
	h := newHostileTree(t)
	if r := run(t, h.dir, "init", "."); r.code != 0 {
		t.Fatalf("init: %s", r)
	}
	for _, v := range h.hostileVersions() {
		for _, args := range [][]string{
			append([]string{"start", "--version", v, "--yes"}, signoffs...),
			{"plan", "--version", v},
			{"rollback", "--to", v, "--yes"},
		} {
			r := run(t, h.dir, args...)
			what := fmt.Sprintf("%s %q", args[0], v)
			if r.code != 2 || !strings.Contains(r.stderr, "runbook: error: --") || !strings.Contains(r.stderr, "a version is 1 to 128 letters") {
				t.Errorf("%s: want exit 2 naming the rule, got %s", what, r)
			}
			if strings.ContainsAny(r.stderr, "\x1b\r\u202e") || strings.Contains(r.stderr, "goroutine") {
				t.Errorf("%s: the message carries the control characters or a stack: %q", what, r.stderr)
			}
			if h.recorded() {
				t.Fatalf("%s: a state database was created", what)
			}
			h.intact(t, what)
		}
	}
}

// TestHostileVersionOnSSHHost: the version that ran `id` on an SSH host
// in the review exits 2, and nothing reaches the host.
func TestHostileVersionOnSSHHost(t *testing.T) {
	f := newFleet(t, "pre1")
	h := newHostileTree(t)
	write(t, h.dir, "app.ear", "ear")
	write(t, h.dir, "runbook.yaml", `name: ssh
known_hosts: `+f.knownHosts+`
artifact: {path: app.ear}
environments:
`+f.env("prerelease", "pre1")+`steps:
  - {name: hello, on: prerelease, run: "echo deploying {{.Version}}"}
  - {name: stage, on: prerelease, upload: artifact}
`)
	for _, v := range []string{"1.0;" + h.pwned("remote"), "../../../../../../../victim"} {
		r := run(t, h.dir, "start", "--version", v, "--yes")
		if r.code != 2 || h.recorded() {
			t.Fatalf("start %q on an SSH host: %s", v, r)
		}
		h.intact(t, "start on an SSH host")
	}
	entries, _ := os.ReadDir(f.hosts["pre1"].DeployDir)
	if len(entries) != 0 {
		t.Errorf("the host's deploy_dir was written: %v", entries)
	}
}

// forge changes the state database the way an older binary (or anyone
// who can write the file) could have left it.
func forge(t *testing.T, dir, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, ".runbook", "state.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s changed no row", query)
	}
}

// recordRunbook stages and activates on a local host, then shows the
// previous version; a last step fails when the file fail exists.
const recordRunbook = `name: records
artifact: {path: app.ear}
environments:
  pre:
    local: true
    hosts: [{name: pre1, deploy_dir: hosts/pre1}]
steps:
  - {name: stage, on: pre, upload: artifact}
  - {name: activate, on: pre, activate: true}
  - {name: show, on: pre, run: 'echo "previous={{ .Release.Previous }}"'}
  - {name: gate, on: pre, run: 'test ! -e fail'}
`

// TestHostileRecordedVersion: a release recorded with a traversal as its
// version (by a binary from before the check) is neither resumed nor
// rolled back — on the old binary, rollback removed
// releases/<version>, which was the victim tree — and abort still ends
// it (H-1, values read back from the database).
func TestHostileRecordedVersion(t *testing.T) {
	h := newHostileTree(t)
	write(t, h.dir, "runbook.yaml", recordRunbook)
	write(t, h.dir, "app.ear", "ear 1")
	write(t, h.dir, "fail", "")
	if r := run(t, h.dir, "start", "--version", "1.0", "--yes"); r.code != 1 {
		t.Fatalf("start 1.0 (failing at gate): %s", r)
	}
	bad := "../../../../victim" // hosts/pre1/releases/<it> is the victim tree
	forge(t, h.dir, "UPDATE releases SET version = ? WHERE id = 1", bad)
	os.Remove(filepath.Join(h.dir, "fail"))

	for _, args := range [][]string{{"resume", "--yes"}, {"rollback", "--yes"}} {
		r := run(t, h.dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, `version "../../../../victim" starts with '.'`) ||
			!strings.Contains(r.stderr, "`runbook abort` ends it") {
			t.Errorf("%s of a release recorded as %q: %s", args[0], bad, r)
		}
		h.intact(t, args[0])
	}
	if r := run(t, h.dir, "abort", "--yes", "--reason", "recorded with a bad version"); r.code != 0 {
		t.Fatalf("abort must still end it: %s", r)
	}
	h.intact(t, "abort")
}

// TestHostileLiveVersion: the live record holds what a host's `current`
// link said; a crafted one neither reaches .Release.Previous in a command
// (the review ran `id` this way) nor becomes rollback --to's version or
// hint (H-1, M-3 on the records' side).
func TestHostileLiveVersion(t *testing.T) {
	h := newHostileTree(t)
	write(t, h.dir, "runbook.yaml", recordRunbook)
	write(t, h.dir, "app.ear", "ear 1")
	if r := run(t, h.dir, "start", "--version", "1.0", "--yes"); r.code != 0 {
		t.Fatalf("start 1.0: %s", r)
	}
	forge(t, h.dir, "UPDATE live SET version = ?", `x"; `+h.pwned("previous")+`; echo "`)
	write(t, h.dir, "app.ear", "ear 2")
	r := run(t, h.dir, "start", "--version", "2.0", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "pre1 │ previous=\n") ||
		!strings.Contains(r.stderr, "is not a version") {
		t.Fatalf("start 2.0 after a crafted live version: %s", r)
	}
	h.intact(t, "start 2.0")

	forge(t, h.dir, "UPDATE live SET previous = ?", "../../../../victim")
	r = run(t, h.dir, "rollback", "--env", "pre", "--yes")
	if r.code != 2 || strings.Contains(r.stderr, "--version ../") || !strings.Contains(r.stderr, "rollback --to V") {
		t.Fatalf("rollback --env to a crafted previous version: %s", r)
	}
	h.intact(t, "rollback --env")
}

// forgedName is the review's forged sign-off (L-7): a line break that adds
// a row to the report's table, and ESC [2K with a carriage return that
// rewrote the name on screen.
const forgedName = "Wang\x1b[2K\rDBA signed by CEO\n| forged | DBA | Mallory |"

// TestHostileOperatorText: sign-off roles and names, --reason and
// --accept-diff reasons with control characters or line breaks exit 2
// before anything is recorded (L-7).
func TestHostileOperatorText(t *testing.T) {
	h := newHostileTree(t)
	if r := run(t, h.dir, "init", "."); r.code != 0 {
		t.Fatalf("init: %s", r)
	}
	for _, args := range [][]string{
		{"start", "--version", "1.0", "--yes", "--signoff", "QA=" + forgedName, "--signoff", "DBA=Li"},
		{"start", "--version", "1.0", "--yes", "--signoff", "QA=Li Na\n| forged | DBA | Mallory |", "--signoff", "DBA=Li"},
		{"start", "--version", "1.0", "--yes", "--signoff", "QA\x1b[8m=Li", "--signoff", "DBA=Li"},
		{"start", "--version", "1.0", "--yes", "--signoff", "QA=Li\u202eaN", "--signoff", "DBA=Li"},
		{"resume", "--yes", "--signoff", "QA=Li\rCEO"},
		{"abort", "--reason", "done\n| forged |"},
		{"start", "--version", "1.0", "--yes", "--accept-diff", "x=ok\x1b]52;c;ZXZpbA==\x07"},
	} {
		r := run(t, h.dir, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "recorded as one line of plain text") {
			t.Errorf("%q: want exit 2, got %s", args, r)
		}
		if h.recorded() {
			t.Fatalf("%q: a state database was created", args)
		}
		h.intact(t, args[0])
	}
}

// TestHostileRecordsInReports: text recorded before it was checked — a
// forged sign-off name, a version with an OSC 52 clipboard write, a note
// with escape codes — reaches the reports, status and history
// neutralised: no control character, no extra table row (L-7, L-8).
func TestHostileRecordsInReports(t *testing.T) {
	h := newHostileTree(t)
	if r := run(t, h.dir, "init", "."); r.code != 0 {
		t.Fatalf("init: %s", r)
	}
	if r := run(t, h.dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	plain := map[string]string{}
	for _, args := range [][]string{{"report"}, {"report", "--format", "md"}, {"history"}, {"status"}} {
		plain[strings.Join(args, " ")] = run(t, h.dir, args...).stdout
	}
	forge(t, h.dir, "UPDATE signoffs SET name = ? WHERE role = 'QA'", forgedName)
	forge(t, h.dir, "UPDATE releases SET version = ?, operator = ?", "1.0.0\x1b]52;c;ZXZpbA==\x07", "alice\x1b[1A\x1b[2K")
	forge(t, h.dir, "UPDATE notes SET text = text || ?", "\x1b[31m\u009b2J\r\nFORGED-NOTE: none")
	for _, args := range [][]string{{"report"}, {"report", "--format", "md"}, {"history"}, {"status"}} {
		what := strings.Join(args, " ")
		r := run(t, h.dir, args...)
		if r.code != 0 {
			t.Fatalf("%s: %s", what, r)
		}
		for _, c := range r.stdout {
			if c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f && c <= 0x9f {
				t.Fatalf("%s prints U+%04X:\n%q", what, c, r.stdout)
			}
		}
		if got, want := strings.Count(r.stdout, "\n"), strings.Count(plain[what], "\n"); got != want {
			t.Errorf("%s: %d lines with forged records, %d before:\n%s", what, got, want, r.stdout)
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "| forged") || strings.HasPrefix(strings.TrimSpace(l), "FORGED-NOTE") {
				t.Errorf("%s: a forged line: %q", what, l)
			}
		}
	}
	if r := run(t, h.dir, "report"); !strings.Contains(r.stdout, "Wang DBA signed by CEO | forged | DBA | Mallory |") {
		t.Errorf("the forged name is not shown for what it is:\n%s", r.stdout)
	}
}

// TestHostileRunbookFiles: -f naming a FIFO, /dev/zero, a directory or a
// file over 4 MiB (the review's 4.3 MB YAML took 346 MB) exits 2 at once
// with a message and no stack (L-1), in little memory.
func TestHostileRunbookFiles(t *testing.T) {
	h := newHostileTree(t)
	fifo := filepath.Join(h.dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var huge strings.Builder
	huge.WriteString("name: huge\nx-pad:\n")
	for huge.Len() < 4_300_000 {
		fmt.Fprintf(&huge, "  - {k%d: [a, b, c, d, e, f, g, h]}\n", huge.Len())
	}
	write(t, h.dir, "huge.yaml", huge.String())
	if err := os.Symlink("/dev/zero", filepath.Join(h.dir, "zero.yaml")); err != nil {
		t.Fatal(err)
	}
	// A child's peak RSS, as wait4 reports it, starts at the test process's
	// own (Linux carries the old memory's high-water mark across exec, and
	// Go starts children sharing it): measure against a command that reads
	// nothing.
	base := exec.Command(bin, "version")
	base.Env = env()
	if err := base.Run(); err != nil {
		t.Fatal(err)
	}
	baseRSS := base.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	for _, tc := range []struct{ file, want string }{
		{"fifo.yaml", "not a regular file (it is a named pipe (FIFO))"},
		{"/dev/zero", "not a regular file (it is a character device)"},
		{"zero.yaml", "not a regular file (it is a character device)"},
		{".", "is a directory"},
		{"huge.yaml", "more than the 4 MiB a runbook file may have"},
	} {
		for _, cmd := range []string{"validate", "plan", "status"} {
			c := exec.Command(bin, "-f", tc.file, cmd)
			c.Dir, c.Env = h.dir, env()
			var out strings.Builder
			c.Stdout, c.Stderr = &out, &out
			start := time.Now()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = c.Process.Kill()
				<-done
				t.Fatalf("%s -f %s still running after 20s", cmd, tc.file)
			}
			code := c.ProcessState.ExitCode()
			rss := c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss - baseRSS // KiB
			if code != 2 || !strings.Contains(out.String(), tc.want) || strings.Contains(out.String(), "goroutine") {
				t.Errorf("%s -f %s: exit %d:\n%s", cmd, tc.file, code, out.String())
			}
			if rss > 100<<10 || time.Since(start) > 5*time.Second {
				t.Errorf("%s -f %s: %d MiB, %s", cmd, tc.file, rss>>10, time.Since(start))
			}
		}
	}
	h.intact(t, "the runbook files")
}

// escapes is what a host printed in the review and what the operator's
// terminal, the logs, the database and the reports must show of it:
// OSC 52 (clipboard), CSI erase and colours, a C1 CSI in UTF-8, a DCS,
// a carriage return.
const (
	escapesScript = `printf 'clip\033]52;c;ZXZpbA==\007board \033[2J\033[31mred\033[0m c1\302\2332Jx dcs\033P1$r\033\\ end\r\n'`
	escapesShown  = "clipboard red c1x dcs end"
)

func noControls(t *testing.T, what, s string) {
	t.Helper()
	for _, c := range s {
		if c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f && c <= 0x9f {
			t.Errorf("%s holds U+%04X: %q", what, c, s)
			return
		}
	}
}

// TestHostOutputNeutralised: escape sequences from a step, from exec and
// from an SSH host reach neither the terminal nor the log, the database
// or a report (L-8).
func TestHostOutputNeutralised(t *testing.T) {
	f := newFleet(t, "pre1")
	h := newHostileTree(t)
	write(t, h.dir, "runbook.yaml", `name: esc
known_hosts: `+f.knownHosts+`
environments:
  build: {local: true}
`+f.env("prerelease", "pre1")+`steps:
  - name: noisy
    on: build
    run: |
      `+escapesScript+`
  - name: noisy-remote
    on: prerelease
    run: |
      `+escapesScript+`
`)
	r := run(t, h.dir, "start", "--version", "1.0", "--yes")
	if r.code != 0 || strings.Count(r.stdout, "│ "+escapesShown+"\n") != 2 {
		t.Fatalf("start: %s", r)
	}
	noControls(t, "start's output", r.stdout+r.stderr)
	logs := 0
	_ = filepath.WalkDir(filepath.Join(h.dir, ".runbook", "logs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			logs++
			noControls(t, p, read(t, p))
		}
		return nil
	})
	if logs != 2 {
		t.Errorf("%d logs, want 2", logs)
	}
	for _, format := range []string{"text", "md", "html"} {
		r := run(t, h.dir, "report", "--format", format)
		noControls(t, "report --format "+format, r.stdout)
		if !strings.Contains(r.stdout, escapesShown) {
			t.Errorf("report --format %s lacks the output:\n%s", format, r.stdout)
		}
	}
	var doc struct {
		Steps []struct {
			Hosts []struct {
				OutputTail string `json:"output_tail"`
			} `json:"hosts"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(run(t, h.dir, "report", "--format", "json").stdout), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Steps {
		for _, hr := range s.Hosts {
			noControls(t, "the recorded tail", hr.OutputTail)
		}
	}

	for _, envName := range []string{"build", "prerelease"} {
		r = run(t, h.dir, "exec", envName, "--", escapesScript)
		if r.code != 0 || !strings.Contains(r.stdout, "│ "+escapesShown+"\n") {
			t.Fatalf("exec on %s: %s", envName, r)
		}
		noControls(t, "exec's output on "+envName, r.stdout+r.stderr)
	}
	for _, op := range operations(t, h.dir) {
		noControls(t, "the operations table", op.OutputTail)
	}
}

// TestHostCommandsMaskVaultSecrets: a host printing a vault secret the
// runbook refers to shows **** with exec, op, diff and through SSH, on
// the terminal and in the operations table (M-4): these commands now
// resolve every secret before the first byte of host output, as start
// does.
func TestHostCommandsMaskVaultSecrets(t *testing.T) {
	f := newFleet(t, "pre1")
	h := newHostileTree(t)
	write(t, h.dir, "runbook.yaml", `name: m4
known_hosts: `+f.knownHosts+`
environments:
  a:
    local: true
    hosts: [{name: a1, deploy_dir: a1}]
    operations: {show: cat a1/app.conf}
  b:
    local: true
    hosts: [{name: b1, deploy_dir: b1}]
`+f.env("prerelease", "pre1")+`consistency:
  files: ["{{ .Host.DeployDir }}/app.conf"]
steps:
  - {name: use, on: a, run: 'test -n "$PW"', env: {PW: '{{ secret "db/password" }}'}}
`)
	writeVault(t, h.dir, fixtureVault(t))
	for _, d := range []string{filepath.Join(h.dir, "a1"), f.hosts["pre1"].DeployDir} {
		write(t, d, "app.conf", "db_password="+testSecret+"\n")
	}
	write(t, h.dir, "b1/app.conf", "db_password=other\n")

	pre1conf := filepath.Join(f.hosts["pre1"].DeployDir, "app.conf")
	for _, args := range [][]string{
		{"exec", "a", "--", "cat a1/app.conf"},
		{"op", "a", "show"},
		{"diff", "a", "b"},
		{"exec", "prerelease", "--", "cat " + pre1conf},
	} {
		r := runEnv(t, h.dir, []string{passEnv}, args...)
		if r.code > 1 || !strings.Contains(r.stdout, "db_password=****") {
			t.Errorf("%s: %s", args[0], r)
		}
		if strings.Contains(r.stdout+r.stderr, testSecret) {
			t.Errorf("%s shows the secret:\n%s", args[0], r)
		}
	}
	ops := operations(t, h.dir)
	if len(ops) != 3 {
		t.Fatalf("%d operations recorded, want 3", len(ops))
	}
	for _, op := range ops {
		if strings.Contains(op.OutputTail+op.Command, testSecret) || !strings.Contains(op.OutputTail, "****") {
			t.Errorf("recorded operation %s on %s: %q", op.Name, op.Host, op.OutputTail)
		}
	}
}

// TestInlinePasswordWarnedAndMasked: a password written in the runbook
// file passes validate with a warning at its place and the hint to use
// secret:NAME, and is masked in host output (L-13).
func TestInlinePasswordWarnedAndMasked(t *testing.T) {
	h := newHostileTree(t)
	const inline = "Pl41n-T3xt-P4ssw0rd"
	write(t, h.dir, "runbook.yaml", `name: l13
environments:
  build: {local: true}
  db:
    user: deploy
    auth: {password: `+inline+`}
    hosts: [{name: db1, address: 127.0.0.1}]
steps:
  - {name: a, on: build, run: "true"}
`)
	r := run(t, h.dir, "validate")
	if r.code != 0 || !strings.Contains(r.stderr, "runbook.yaml:6:22: warning: password is written in the runbook file in plain text") ||
		!strings.Contains(r.stderr, "password: secret:NAME") || strings.Contains(r.stdout+r.stderr, inline) {
		t.Fatalf("validate: %s", r)
	}
	r = run(t, h.dir, "exec", "build", "--", "echo pw="+inline)
	if r.code != 0 || !strings.Contains(r.stdout, "pw=****") || strings.Contains(r.stdout+r.stderr, inline) {
		t.Fatalf("exec: %s", r)
	}
	for _, op := range operations(t, h.dir) {
		if strings.Contains(op.OutputTail+op.Command, inline) {
			t.Errorf("recorded in clear: %+v", op)
		}
	}
}

// TestReportFileIsPrivate: report -o writes 0600 under umask 022 (it was
// 0644) and keeps a stricter mode of the file it replaces (L-12).
func TestReportFileIsPrivate(t *testing.T) {
	dir := initDemo(t)
	if r := run(t, dir, append([]string{"start", "--version", "1.0.0", "--yes"}, signoffs...)...); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	mode := func(name string) os.FileMode {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	for _, name := range []string{"r.html", "r.md", "r.json", "r.txt"} {
		if r := run(t, dir, "report", "-o", name); r.code != 0 {
			t.Fatalf("report -o %s: %s", name, r)
		}
		if m := mode(name); m != 0o600 {
			t.Errorf("report -o %s: mode %v, want 0600", name, m)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "r.html"), 0o400); err != nil {
		t.Fatal(err)
	}
	if r := run(t, dir, "report", "-o", "r.html"); r.code != 0 || mode("r.html") != 0o400 {
		t.Errorf("report -o over a 0400 file: mode %v, %s", mode("r.html"), r)
	}
}

// TestHostileNamesAndPaths: names that could be commands are refused by
// validate (exit 2); a deploy directory full of shell metacharacters is
// staged into, activated and used by commands that quote it with q, and
// runs nothing — and validate warns where it is spliced unquoted.
func TestHostileNamesAndPaths(t *testing.T) {
	h := newHostileTree(t)
	for _, tc := range []struct{ what, yaml string }{
		{"environment", "environments:\n  \"pre;id\": {local: true}\n"},
		{"host", "environments:\n  pre: {local: true, hosts: [{name: \"pre1$(id)\", deploy_dir: d}]}\n"},
		{"step", "environments:\n  pre: {local: true}\nsteps:\n  - {name: \"a\\nb\", on: pre, run: \"true\"}\n"},
		{"operation", "environments:\n  pre: {local: true, operations: {\"re start\": \"true\"}}\n"},
	} {
		write(t, h.dir, "runbook.yaml", "name: n\n"+tc.yaml)
		if r := run(t, h.dir, "validate"); r.code != 2 || !strings.Contains(r.stderr, "may use only letters, digits") {
			t.Errorf("a hostile %s name: %s", tc.what, r)
		}
	}

	deploy := "hosts/it's $(" + h.pwned("deploydir") + ") `x`;\n"
	write(t, h.dir, "app.ear", "ear")
	write(t, h.dir, "runbook.yaml", fmt.Sprintf(`name: paths
artifact: {path: app.ear}
environments:
  pre:
    local: true
    hosts: [{name: pre1, deploy_dir: %q}]
    operations: {restart: 'ls {{ .Host.DeployDir | q }}/current/ > {{ .Host.DeployDir | q }}/restarted'}
steps:
  - {name: stage, on: pre, upload: artifact}
  - {name: activate, on: pre, activate: true}
  - {name: restart, on: pre, op: restart, verify: 'grep -q app.ear {{ .Release.Dir | q }}/../../restarted'}
`, deploy))
	if r := run(t, h.dir, "validate"); r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Fatalf("validate of a quoted runbook: %s", r)
	}
	r := run(t, h.dir, "start", "--version", "1.0", "--yes")
	if r.code != 0 {
		t.Fatalf("start with a hostile deploy_dir: %s", r)
	}
	if got := read(t, filepath.Join(h.dir, deploy, "releases", "1.0", "app.ear")); got != "ear" {
		t.Errorf("staged: %q", got)
	}
	h.intact(t, "a release into a hostile deploy_dir")

	write(t, h.dir, "runbook.yaml", strings.Replace(read(t, filepath.Join(h.dir, "runbook.yaml")), "ls {{ .Host.DeployDir | q }}", "ls {{ .Host.DeployDir }}", 1))
	if r := run(t, h.dir, "validate"); r.code != 0 || !strings.Contains(r.stderr, "runbook.yaml:7:31: warning: operation restart: {{.Host.DeployDir}} is spliced into the command unquoted") {
		t.Errorf("validate of an unquoted deploy_dir: %s", r)
	}
}
