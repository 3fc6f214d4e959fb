// Package e2e runs the real runbook binary: against directories of this
// machine, real OpenSSH sshd processes on 127.0.0.1, a real terminal
// (tmux), and real kill -9s.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state"
	"github.com/runbook-dev/runbook/state/postgres"
	"github.com/runbook-dev/runbook/state/postgres/pgtest"
)

// bin is the runbook binary built once for the package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runbook-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "runbook")
	build := exec.Command("go", "build", "-o", bin, "github.com/runbook-dev/runbook")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build runbook:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.RemoveShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// env is a clean environment for the binary: no colour, no vault
// passphrase leaking in from the developer's shell.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RUNBOOK_") {
			continue
		}
		out = append(out, kv)
	}
	return append(append(out, "NO_COLOR=1"), extra...)
}

// run runs the binary in dir and waits for it.
func run(t testing.TB, dir string, args ...string) result {
	t.Helper()
	return runEnv(t, dir, nil, args...)
}

func runEnv(t testing.TB, dir string, extra []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env(extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// start starts the binary in its own process group, for kill -9 tests.
func start(t testing.TB, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// write creates a file (and its directory) in dir.
func write(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// statusDoc is the SPEC §7 status shape, decoded strictly enough to fail on
// a renamed field.
type statusDoc struct {
	Runbook string `json:"runbook"`
	Release struct {
		ID         int64   `json:"id"`
		Version    string  `json:"version"`
		Kind       string  `json:"kind"`
		State      string  `json:"state"`
		Operator   string  `json:"operator"`
		OSUser     string  `json:"os_user"`
		StartedAt  string  `json:"started_at"`
		FinishedAt *string `json:"finished_at"`
		Artifact   struct {
			Path   string `json:"path"`
			SHA256 string `json:"sha256"`
		} `json:"artifact"`
	} `json:"release"`
	Steps []struct {
		Name       string  `json:"name"`
		Kind       string  `json:"kind"`
		Env        string  `json:"env"`
		State      string  `json:"state"`
		Attempts   int     `json:"attempts"`
		StartedAt  *string `json:"started_at"`
		FinishedAt *string `json:"finished_at"`
		DurationMS int64   `json:"duration_ms"`
		Hosts      []struct {
			Host       string `json:"host"`
			State      string `json:"state"`
			ExitCode   *int   `json:"exit_code"`
			Attempts   int    `json:"attempts"`
			DurationMS int64  `json:"duration_ms"`
			// FailedVerify is null unless a verify failed the run.
			FailedVerify *struct {
				Command  string `json:"command"`
				ExitCode int    `json:"exit_code"`
				Attempts int    `json:"attempts"`
			} `json:"failed_verify"`
		} `json:"hosts"`
	} `json:"steps"`
	Next *string `json:"next"`
}

func status(t testing.TB, dir string) statusDoc {
	t.Helper()
	r := run(t, dir, "status", "--json")
	if r.code != 0 {
		t.Fatalf("status --json: %s", r)
	}
	var d statusDoc
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("status --json does not decode: %v\n%s", err, r.stdout)
	}
	return d
}

func (d statusDoc) step(name string) (state string, attempts int) {
	for _, s := range d.Steps {
		if s.Name == name {
			return s.State, s.Attempts
		}
	}
	return "", 0
}

// quickCheck checks the record of a runbook directory: SQLite's own check
// of its file, when the record is one, and the audit chain on either
// backend.
func quickCheck(t testing.TB, dir string) {
	t.Helper()
	if stateURLOf(t, dir) == "" {
		st, err := state.OpenReadOnly(filepath.Join(dir, ".runbook", "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		res, err := st.QuickCheck(t.Context())
		if err != nil || res != "ok" {
			t.Fatalf("quick_check: %q %v", res, err)
		}
	}
	st := openRecord(t, dir)
	defer st.Close()
	ts, err := st.Chain(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runbook.VerifyChain(ts); err != nil {
		t.Fatalf("audit chain of %s: %v", dir, err)
	}
}

// stateURLOf returns the state: URL of the runbook file in dir, "" when
// its record is the SQLite file.
func stateURLOf(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "runbook.yaml"))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "state: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// openRecord opens the record of a runbook directory read-only, on
// whichever backend its runbook file names (the password of a
// PostgreSQL one from PGPASSWORD, as the binary finds it).
func openRecord(t testing.TB, dir string) runbook.Store {
	t.Helper()
	if u := stateURLOf(t, dir); u != "" {
		st, err := postgres.Open(context.Background(), u, postgres.Options{ReadOnly: true, Reconnect: 10 * time.Second})
		if err != nil {
			t.Fatalf("open the state of %s: %v", dir, err)
		}
		return st
	}
	st, err := state.OpenReadOnly(filepath.Join(dir, ".runbook", "state.db"))
	if err != nil {
		t.Fatalf("open the state of %s: %v", dir, err)
	}
	return st
}

// waitFor polls cond until it holds or the deadline passes; the deadline is
// generous because tests must not fail on a slow machine.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
