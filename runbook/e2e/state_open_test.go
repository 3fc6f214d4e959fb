package e2e

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// countRunbook's step leaves a line in ran.count each time it runs.
const countRunbook = `name: count
environments:
  build: {local: true}
steps:
  - name: count
    on: build
    run: echo ran >> ran.count
`

// breakTable overwrites the page type byte of the root page of a table of
// the database at path, as a flipped bit on disk would: the page no
// longer parses, and only a query that reads it notices.
func breakTable(t *testing.T, path, table string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var root, size int64
	err = db.QueryRow("SELECT rootpage FROM sqlite_schema WHERE name = ?", table).Scan(&root)
	if err == nil {
		err = db.QueryRow("PRAGMA page_size").Scan(&size)
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0x42}, (root-1)*size); err != nil {
		t.Fatal(err)
	}
}

// A damaged state database is refused before a release starts, with how
// to restore it, and left as it is (L-2). Before, a whole release ran on
// it (the broken page is one a release does not read) and the damage
// showed later, in status or report.
func TestDamagedStateStopsBeforeTheRelease(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", countRunbook)
	if r := run(t, dir, "start", "--version", "1", "--yes"); r.code != 0 {
		t.Fatal(r)
	}
	db := filepath.Join(dir, ".runbook", "state.db")
	breakTable(t, db, "operations")
	before := read(t, db)

	r := run(t, dir, "start", "--version", "2", "--yes")
	if r.code != 1 {
		t.Fatalf("start on a damaged database: want exit 1\n%s", r)
	}
	for _, want := range []string{"runbook: error: state database " + db + " is damaged",
		"runbook: hint: move " + db + " and its -wal and -shm files aside, then restore your backup of it there"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r)
		}
	}
	if n := strings.Count(read(t, filepath.Join(dir, "ran.count")), "ran"); n != 1 {
		t.Errorf("the step ran %d times, want once (release 1 only)", n)
	}
	if read(t, db) != before {
		t.Error("the damaged database was changed")
	}
}

// nobody runs the binary as an unprivileged user: its own copy of the
// binary, in a directory that user may enter. CI runs as root, which
// reads and writes whatever the modes say.
type nobody struct {
	exe, home string
	prefix    []string
}

func asNobody(t *testing.T) *nobody {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("switching to an unprivileged user needs root (CI runs as root)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	base, err := os.MkdirTemp("", "runbook-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	n := &nobody{exe: filepath.Join(base, "runbook"), home: filepath.Join(base, "home"),
		prefix: []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"}}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(n.exe, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(n.home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(n.home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return n
}

// dir returns a new directory that nobody owns, with runbook in it.
func (n *nobody) dir(t *testing.T, name, runbook string) string {
	t.Helper()
	d := filepath.Join(n.home, name)
	write(t, d, "runbook.yaml", runbook)
	for _, p := range []string{d, filepath.Join(d, "runbook.yaml")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// run runs the binary as nobody in dir.
func (n *nobody) run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(n.prefix[0], append(append(n.prefix[1:], n.exe), args...)...)
	cmd.Dir = dir
	cmd.Env = env("HOME=" + n.home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v as nobody: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// sqliteCode is SQLite's raw "(14)"-style result code at the end of a
// message: what an operator cannot act on.
var sqliteCode = regexp.MustCompile(`\(\d+\)\s*$`)

// A state database that cannot be used says what is wrong with it and
// what to do, instead of SQLite's "unable to open database file (14)"
// (L-2). Nothing is run in any case.
func TestUnusableStateSaysWhatToDo(t *testing.T) {
	type check struct {
		args        []string
		error, hint string
		asNobody    bool
		spoil       func(t *testing.T, db string)
	}
	start := []string{"start", "--version", "2", "--yes"}
	damagedHint := "and its -wal and -shm files aside, then restore your backup of it there"
	writableHint := "writable for you, or give --state a path on a writable disk"
	for _, tc := range []struct {
		name string
		check
	}{
		{"not a database", check{args: start, error: "is not a SQLite database", hint: damagedHint,
			spoil: func(t *testing.T, db string) {
				if err := os.WriteFile(db, []byte(strings.Repeat(rand.Text(), 200)), 0o600); err != nil {
					t.Fatal(err)
				}
			}}},
		{"truncated", check{args: start, error: "is damaged", hint: damagedHint,
			spoil: func(t *testing.T, db string) {
				if err := os.Truncate(db, 5000); err != nil {
					t.Fatal(err)
				}
			}}},
		{"status of a truncated database", check{args: []string{"status"}, error: "is damaged", hint: damagedHint,
			spoil: func(t *testing.T, db string) {
				if err := os.Truncate(db, 5000); err != nil {
					t.Fatal(err)
				}
			}}},
		{"a read-only database file", check{args: start, error: "cannot be written: permission denied", hint: writableHint, asNobody: true,
			spoil: func(t *testing.T, db string) { chmod(t, db, 0o444) }}},
		{"a read-only state directory", check{args: start, error: "cannot be written: permission denied", hint: writableHint, asNobody: true,
			spoil: func(t *testing.T, db string) { chmod(t, filepath.Dir(db), 0o500) }}},
		{"status of an unreadable database", check{args: []string{"status"}, error: "cannot be read: permission denied", hint: "make it readable for you", asNobody: true,
			spoil: func(t *testing.T, db string) { chmod(t, db, 0o200) }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dir string
			runIt := func(args ...string) result { return run(t, dir, args...) }
			if tc.asNobody {
				n := asNobody(t)
				dir = n.dir(t, "w", countRunbook)
				runIt = func(args ...string) result { return n.run(t, dir, args...) }
			} else {
				dir = t.TempDir()
				write(t, dir, "runbook.yaml", countRunbook)
			}
			if r := runIt("start", "--version", "1", "--yes"); r.code != 0 {
				t.Fatal(r)
			}
			db := filepath.Join(dir, ".runbook", "state.db")
			tc.spoil(t, db)
			r := runIt(tc.args...)
			if r.code != 1 {
				t.Errorf("want exit 1\n%s", r)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "runbook: error: ") || !strings.HasPrefix(lines[1], "runbook: hint: ") {
				t.Fatalf("want one error line and one hint line:\n%s", r)
			}
			if !strings.Contains(lines[0], db) || !strings.Contains(lines[0], tc.error) || sqliteCode.MatchString(lines[0]) {
				t.Errorf("error line %q: want the database, %q, and no bare SQLite code", lines[0], tc.error)
			}
			if !strings.Contains(lines[1], tc.hint) {
				t.Errorf("hint %q does not say %q", lines[1], tc.hint)
			}
			if n := strings.Count(read(t, filepath.Join(dir, "ran.count")), "ran"); n != 1 {
				t.Errorf("the step ran %d times, want once (release 1 only)", n)
			}
		})
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// The state directory on a read-only file system: a release is refused
// with what to do; status still reads it (L-2).
func TestStateOnReadOnlyFileSystem(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", countRunbook)
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=4m,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): needs root or CAP_SYS_ADMIN (CI runs as root)", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(disk, syscall.MNT_DETACH) })
	db := filepath.Join(disk, "state.db")
	if r := run(t, dir, "start", "--version", "1", "--yes", "--state", db); r.code != 0 {
		t.Fatal(r)
	}
	if err := syscall.Mount("tmpfs", disk, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
		t.Fatal(err)
	}
	r := run(t, dir, "start", "--version", "2", "--yes", "--state", db)
	want := "runbook: error: state database " + db + " cannot be written: read-only file system\n" +
		"runbook: hint: runbook records every step in " + db
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "give --state a path on a writable disk") {
		t.Errorf("start on a read-only file system: want exit 1 and %q\n%s", want, r)
	}
	if r := run(t, dir, "status", "--state", db); r.code != 0 || !strings.Contains(r.stdout, "release 1 (#1)") {
		t.Errorf("status on a read-only file system:\n%s", r)
	}
}

// Under umask 000 the state database, its -wal and -shm, and its lock file
// are still 0600 (L-12): SQLite made them 0644 less the umask, and the
// history with every step's output could be read by anyone on a shared
// --state directory.
func TestStateFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", slowRunbook)
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	chmod(t, shared, 0o1777)
	db := filepath.Join(shared, "state.db")
	startHolding(t, "/bin/sh", dir, nil, "-c", `umask 000; exec "$0" "$@"`, bin, "start", "--version", "1", "--yes", "--state", db)
	waitFor(t, "the step to run", func() bool {
		_, err := os.Stat(filepath.Join(dir, "ran.count"))
		return err == nil
	})
	// While the release runs, all four exist.
	for _, p := range []string{db, db + "-wal", db + "-shm", db + ".lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v under umask 000, want 0600", filepath.Base(p), perm)
		}
	}
}
