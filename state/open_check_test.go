package state

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// sealed returns a database with one release, closed.
func sealed(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, "2.4.0")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// breakPage overwrites the page type byte of the root page of table, as a
// flipped bit on disk would: the page no longer parses, and only a query
// that reads it notices.
func breakPage(t *testing.T, path, table string) {
	t.Helper()
	spoilPage(t, path, table, 0, 0x42)
}

// spoilPage overwrites bytes at offset off of the root page of table.
func spoilPage(t *testing.T, path, table string, off int64, b ...byte) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, "mode=ro"))
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
	if _, err := f.WriteAt(b, (root-1)*size+off); err != nil {
		t.Fatal(err)
	}
}

// hintOf returns the hint err carries, "" for none.
func hintOf(err error) string {
	var he *runbook.HintError
	if errors.As(err, &he) {
		return he.Hint
	}
	return ""
}

// A damaged database is refused at open, with what to do, and left as it
// was (L-2): before, a release walked on it and the damage showed only
// when a query happened to read the broken page.
func TestOpenRefusesDamagedDatabase(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, path string)
		want  string
	}{
		{"a broken page that opening does not read", func(t *testing.T, path string) { breakPage(t, path, "operations") }, "is damaged"},
		// The first cell pointer of a leaf page (its header is 8 bytes)
		// points past the page: quick_check reports it as a finding.
		{"a cell out of its page", func(t *testing.T, path string) { spoilPage(t, path, "transitions", 8, 0xff, 0xff) },
			"is damaged (quick_check: "},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 5000); err != nil {
				t.Fatal(err)
			}
		}, "is damaged"},
		{"not a database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(rand.Text()+rand.Text()), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is not a SQLite database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sealed(t)
			tc.spoil(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open of a damaged database succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, "state database "+path+" "+tc.want) || strings.Contains(msg, "***") {
				t.Errorf("message %q, want it to say the database %s, and what is wrong", msg, tc.want)
			}
			if h := hintOf(err); !strings.Contains(h, "move "+path+" and its -wal and -shm files aside") || !strings.Contains(h, "restore your backup") {
				t.Errorf("hint %q, want how to move it aside and restore a backup", h)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("the damaged database was changed")
			}
		})
	}
}

// roDisk returns a directory on a read-only file system holding a copy of
// the database at src ("" for none). It needs root (CI runs as root).
func roDisk(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1m,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): the read-only file system test needs root or CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if src != "" {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "state.db"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
	return dir
}

// A database that cannot be written is refused with its path and what to
// do, not with SQLite's "unable to open database file (14)" (L-2).
func TestOpenOnReadOnlyFileSystem(t *testing.T) {
	for name, src := range map[string]string{"a new database": "", "an existing database": sealed(t)} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(roDisk(t, src), "state.db")
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open on a read-only file system succeeded")
			}
			if want := "state database " + path + " cannot be written: read-only file system"; err.Error() != want {
				t.Errorf("message %q, want %q", err, want)
			}
			if h := hintOf(err); !strings.Contains(h, "--state") || !strings.Contains(h, "writable disk") {
				t.Errorf("hint %q, want --state on a writable disk", h)
			}
			if src != "" {
				ro, err := OpenReadOnly(path)
				if err != nil {
					t.Fatalf("OpenReadOnly on a read-only file system: %v", err)
				}
				ro.Close()
			}
		})
	}
}

// The database, its -wal and -shm, and its lock file are private to their
// owner whatever the umask (L-12): SQLite creates them 0644 less the umask.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unlock, _, err := s.Lock(runbook.Holder{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	create(t, s, "2.4.0")
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v under umask 000, want 0600", filepath.Base(p), perm)
		}
	}
}
