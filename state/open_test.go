package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

func TestOpenIsDurable(t *testing.T) {
	s := openTemp(t)
	p, err := s.Pragmas(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2",
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"user_version": fmt.Sprint(schemaVersion),
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("pragma %s = %q, want %q", k, p[k], v)
		}
	}
}

func TestOpenCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", ".runbook")
	s, err := Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("state directory has mode %v, want no access for group and others", perm)
	}
	if s.Path() != filepath.Join(dir, "state.db") {
		t.Errorf("Path() = %q", s.Path())
	}
}

func TestQuickCheck(t *testing.T) {
	s := openTemp(t)
	create(t, s, "2.4.0")
	got, err := s.QuickCheck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != "ok" {
		t.Errorf("QuickCheck = %q, want ok", got)
	}
}

func TestForeignKeysAreEnforced(t *testing.T) {
	s := openTemp(t)
	err := s.AddNote(context.Background(), &runbook.Note{ReleaseID: 42, Kind: "warning", Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Fatalf("AddNote for a missing release: err = %v, want a foreign key error", err)
	}
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "night?of#100%")
	path := filepath.Join(dir, "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, "2.4.0")
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the path given: %v", err)
	}
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if list, err := ro.Releases(context.Background()); err != nil || len(list) != 1 {
		t.Fatalf("Releases = %v, %v; want the one release", list, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := create(t, s, "2.4.0")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Release(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "2.4.0" {
		t.Errorf("version after reopen = %q", got.Version)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for name, open := range map[string]func(string) (*Store, error){"Open": Open, "OpenReadOnly": OpenReadOnly} {
		_, err := open(path)
		if err == nil || !strings.Contains(err.Error(), "upgrade runbook") {
			t.Errorf("%s of a schema 99 database: err = %v, want a hint to upgrade", name, err)
		}
	}
}

func TestOpenReadOnlyMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".runbook")
	path := filepath.Join(dir, "state.db")
	_, err := OpenReadOnly(path)
	if !errors.Is(err, runbook.ErrNotFound) {
		t.Fatalf("err = %v, want runbook.ErrNotFound", err)
	}
	want := "no state database at " + path + ": no release has run here yet"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s (stat err = %v)", dir, err)
	}
}

func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, steps := create(t, w, "2.4.0")

	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ctx := context.Background()

	// A reader opened earlier sees what the writer commits later.
	r.State = runbook.ReleaseRunning
	if err := w.RecordRelease(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	got, err := ro.Release(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != runbook.ReleaseRunning {
		t.Errorf("read-only store sees state %q, want running", got.State)
	}

	if err := ro.RecordStep(ctx, steps[0], nil); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("RecordStep on a read-only store: err = %v, want a read-only error", err)
	}
	if _, _, err := ro.Lock(runbook.Holder{}); err == nil {
		t.Error("Lock on a read-only store succeeded")
	}
	if _, err := ro.QuickCheck(ctx); err != nil {
		t.Errorf("QuickCheck on a read-only store: %v", err)
	}
	if p, err := ro.Pragmas(ctx); err != nil || p["journal_mode"] != "wal" {
		t.Errorf("Pragmas on a read-only store = %v, %v", p, err)
	}
}

func TestOpenReadOnlyEmptyDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// user_version 0 is a file that was never migrated.
	if _, err := s.w.Exec("PRAGMA user_version = 0"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = OpenReadOnly(path)
	if !errors.Is(err, runbook.ErrNotFound) || !strings.Contains(err.Error(), "no release has run here yet") {
		t.Errorf("err = %v, want a not-found error", err)
	}
}

// The writer closes last, so it checkpoints the WAL into the database and
// leaves no side files behind, also after its prepared statements ran
// (SQLite keeps a connection with unfinalized statements open).
func TestCloseCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, steps := create(t, s, "2.4.0")
	h := steps[1].Hosts[0]
	h.State = runbook.RunRunning
	if err := s.RecordHost(context.Background(), h, &runbook.Transition{From: "pending", To: "running", Event: "run"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Releases(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "state.db" {
		t.Errorf("files after Close: %v, want only state.db", names)
	}
}
