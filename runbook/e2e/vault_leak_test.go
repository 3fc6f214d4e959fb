package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// leakRunbook uses the secret in every way a step can show it: on stdout
// and stderr, base64 and hex encoded, split across two writes, through
// an environment variable, in the effect's file, and in the output of a
// step that fails (so the failure is recorded too).
const leakRunbook = `name: leak
environments:
  build: {local: true}
steps:
  - name: show
    on: build
    run: |
      S='{{ secret "db/password" }}'
      echo "stdout: $S"
      echo "stderr: $S" >&2
      printf %s "$S" | base64
      printf %s "$S" | od -An -tx1 | tr -d ' \n'; echo
      printf 'split: %s' "$(printf %s "$S" | head -c 9)"; sleep 0.05; printf '%s\n' "$(printf %s "$S" | tail -c +10)"
      echo "env: $DB_PASSWORD"
    env:
      DB_PASSWORD: '{{ secret "db/password" }}'
  - name: effect
    on: build
    run: mkdir -p out && printf %s '{{ secret "db/password" }}' > out/secret.txt
    verify: test "$(cat out/secret.txt)" = '{{ secret "db/password" }}'
  - name: fail
    on: build
    run: |
      echo "giving up on {{ secret "db/password" }}" >&2
      exit 3
`

// TestSecretNeverLeaks runs a release whose steps print the secret every
// way they can, then looks for any trace of it in the terminal output,
// every file under .runbook (database, WAL, logs, markers) and every
// command that shows the record.
func TestSecretNeverLeaks(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", leakRunbook)
	writeVault(t, dir, fixtureVault(t))

	r := runEnv(t, dir, []string{passEnv}, "start", "--version", "1.0.0", "--yes")
	if r.code != 1 {
		t.Fatalf("start: want exit 1 (the fail step), got %s", r)
	}
	// The steps really ran and printed, masked.
	for _, want := range []string{"stdout: ****", "stderr: ****", "env: ****", "split: ****", "giving up on ****"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("the output lacks %q:\n%s", want, r)
		}
	}
	// The effect had the real secret.
	if got := read(t, filepath.Join(dir, "out/secret.txt")); got != testSecret {
		t.Fatalf("the effect wrote %q, want the secret itself", got)
	}
	if tr := leakIn([]byte(r.stdout + r.stderr)); tr != "" {
		t.Errorf("the terminal output of start shows %q:\n%s", tr, r)
	}

	outputs := map[string]result{
		"status --json":  runEnv(t, dir, []string{passEnv}, "status", "--json"),
		"status":         runEnv(t, dir, []string{passEnv}, "status"),
		"history --json": runEnv(t, dir, []string{passEnv}, "history", "--json"),
		"plan":           runEnv(t, dir, []string{passEnv}, "plan", "--version", "1.0.0"),
	}
	if run(t, dir, "report", "--help").code == 0 {
		outputs["report"] = runEnv(t, dir, []string{passEnv}, "report")
		outputs["report --format json"] = runEnv(t, dir, []string{passEnv}, "report", "--format", "json")
	}
	for name, o := range outputs {
		if o.code != 0 {
			t.Errorf("%s: %s", name, o)
		}
		if tr := leakIn([]byte(o.stdout + o.stderr)); tr != "" {
			t.Errorf("%s shows %q:\n%s", name, tr, o)
		}
	}
	if st, _ := status(t, dir).step("fail"); st != "failed" {
		t.Errorf("the fail step is %q, want failed", st)
	}

	files := 0
	err := filepath.WalkDir(filepath.Join(dir, ".runbook"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if tr := leakIn(b); tr != "" {
			t.Errorf("%s holds %q", p, tr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, ".runbook/logs/*/01-show/local.log"))
	if files < 2 || len(logs) != 1 || !strings.Contains(read(t, logs[0]), "stdout: ****") {
		t.Errorf("scanned %d files; the log of show: %v", files, logs)
	}
	quickCheck(t, dir)
}

// holdRunbook keeps a step that holds the secret in a shell variable
// running until the test says go, without passing it to any program's
// arguments or environment.
const holdRunbook = `name: hold
environments:
  build: {local: true}
steps:
  - name: hold
    on: build
    run: |
      S='{{ secret "db/password" }}'
      printf %s "$S" > held.txt
      touch ready
      while [ ! -e go ]; do sleep 0.05; done
      echo "released $S"
`

// TestSecretNotInProcessList scans the command line of every process on
// the machine, and the environment of runbook and its children, while a
// step that uses the secret runs.
func TestSecretNotInProcessList(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", holdRunbook)
	writeVault(t, dir, fixtureVault(t))

	cmd := exec.Command(bin, "start", "--version", "1.0.0", "--yes")
	cmd.Dir = dir
	cmd.Env = env(passEnv)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	t.Cleanup(func() {
		// Only the process group this test started, and only if the test
		// stopped before it ended.
		if !exited {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	waitFor(t, "the step to hold the secret", func() bool {
		_, err := os.Stat(filepath.Join(dir, "ready"))
		return err == nil
	})
	if got := read(t, filepath.Join(dir, "held.txt")); got != testSecret {
		t.Fatalf("the step holds %q, want the secret", got)
	}

	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	tree := descendants(procs, cmd.Process.Pid)
	stepShell := false
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		// A process may end while we look: what cannot be read is gone.
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err == nil && leakIn(cmdline) != "" {
			t.Errorf("pid %d has the secret in its command line: %q", pid, cmdline)
		}
		if !tree[pid] {
			continue
		}
		if string(cmdline) == "/bin/sh\x00-s\x00" {
			stepShell = true
		}
		if environ, err := os.ReadFile(filepath.Join(p, "environ")); err == nil && leakIn(environ) != "" {
			t.Errorf("pid %d (%q) has the secret in its environment", pid, cmdline)
		}
	}
	if len(tree) < 2 || !stepShell {
		t.Fatalf("the scan saw %d processes of runbook and no step shell: it checked nothing", len(tree))
	}

	write(t, dir, "go", "")
	err = <-done
	exited = true
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "released ****") || leakIn([]byte(out.String())) != "" {
		t.Errorf("start output:\n%s", out.String())
	}
}

// descendants returns root and every process below it, from the parent
// pids in /proc/PID/stat.
func descendants(procs []string, root int) map[int]bool {
	parent := map[int]int{}
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join(p, "stat"))
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: the fields
		// after it are "state ppid ...".
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(p))
		ppid, _ := strconv.Atoi(fields[1])
		parent[pid] = ppid
	}
	tree := map[int]bool{root: true}
	for grew := true; grew; {
		grew = false
		for pid, ppid := range parent {
			if tree[ppid] && !tree[pid] {
				tree[pid] = true
				grew = true
			}
		}
	}
	return tree
}
