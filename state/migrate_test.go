package state

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// A database written by the first schema (version 1) is migrated on open,
// its live rows kept and counted as not verified (version 3), and the new
// column works: a live row is verified only for the version it holds.
func TestMigrateVersion1Live(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], "PRAGMA user_version = 1",
		`INSERT INTO live (env, host, version, previous, at) VALUES ('production', 'prod1', '1.0', '', '2026-11-30T22:00:00.000000000Z')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(p)
	if err != nil {
		t.Fatalf("open a version 1 database: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	live, err := s.LiveVersions(ctx)
	if err != nil || len(live) != 1 || live[0].Version != "1.0" || !live[0].VerifiedAt.IsZero() {
		t.Fatalf("live after the migration = %+v, %v; want 1.0, not verified", live, err)
	}
	at := time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC)
	if err := s.VerifyLive(ctx, "production", "prod1", "0.9", at); err != nil {
		t.Fatal(err)
	}
	if live, _ = s.LiveVersions(ctx); !live[0].VerifiedAt.IsZero() {
		t.Fatal("a verify of another version marked 1.0 verified")
	}
	if err := s.VerifyLive(ctx, "production", "prod1", "1.0", at); err != nil {
		t.Fatal(err)
	}
	if live, _ = s.LiveVersions(ctx); !live[0].VerifiedAt.Equal(at) {
		t.Fatalf("verified at %v, want %v", live[0].VerifiedAt, at)
	}
	if err := s.SetLive(ctx, runbook.Live{Env: "production", Host: "prod1", Version: "1.1", Previous: "1.0"}); err != nil {
		t.Fatal(err)
	}
	if live, _ = s.LiveVersions(ctx); !live[0].VerifiedAt.IsZero() {
		t.Fatal("a switch to 1.1 kept the verification of 1.0")
	}
}

// A database of schema version 3, whose operator column holds the OS
// user (there was no --operator), is migrated to version 4: every record
// that names an operator keeps it and gets it as its OS user too, and a
// sign-off's OS user becomes its operator.
func TestMigrateVersion3Operator(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	at := "'2026-11-30T22:00:00.000000000Z'"
	for _, q := range []string{migrations[0], migrations[1], migrations[2], "PRAGMA user_version = 3",
		`INSERT INTO releases (id, version, kind, state, operator, started_at) VALUES (1, '1.0', 'release', 'succeeded', 'alice', ` + at + `)`,
		`INSERT INTO transitions (at, release_id, scope, to_state, event, operator) VALUES (` + at + `, 1, 'release', 'planned', 'create', 'alice')`,
		`INSERT INTO notes (release_id, at, kind, text, operator) VALUES (1, ` + at + `, 'deviation', 'skipped', 'alice')`,
		`INSERT INTO signoffs (release_id, step, role, name, os_user, at, via) VALUES (1, 'qa', 'QA', 'Li Na', 'alice', ` + at + `, 'prompt')`,
		`INSERT INTO operations (env, host, name, exit_code, operator) VALUES ('production', 'prod1', 'restart', 0, 'alice')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(p)
	if err != nil {
		t.Fatalf("open a version 3 database: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	r, err := s.Release(ctx, 1)
	if err != nil || r.Operator != "alice" || r.OSUser != "alice" {
		t.Errorf("release after the migration: %+v, %v", r, err)
	}
	ts, err := s.Transitions(ctx, 1)
	if err != nil || len(ts) != 1 || ts[0].Operator != "alice" || ts[0].OSUser != "alice" {
		t.Errorf("transitions after the migration: %+v, %v", ts, err)
	}
	ns, err := s.Notes(ctx, 1)
	if err != nil || len(ns) != 1 || ns[0].OSUser != "alice" {
		t.Errorf("notes after the migration: %+v, %v", ns, err)
	}
	so, err := s.Signoffs(ctx, 1)
	if err != nil || len(so) != 1 || so[0].Operator != "alice" || so[0].OSUser != "alice" {
		t.Errorf("sign-offs after the migration: %+v, %v", so, err)
	}
	ops, err := s.Operations(ctx)
	if err != nil || len(ops) != 1 || ops[0].OSUser != "alice" {
		t.Errorf("operations after the migration: %+v, %v", ops, err)
	}
}

// A database of schema version 5 is migrated to version 6: its releases
// keep their artifact's checksum and get the size 0, unknown (the engine
// then hashes a new artifact before it copies it), and a size recorded
// afterwards is kept.
func TestMigrateVersion5ArtifactSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	qs := append([]string{}, migrations[:5]...)
	qs = append(qs, "PRAGMA user_version = 5",
		`INSERT INTO releases (id, version, kind, state, operator, started_at, artifact_path, artifact_sha256)
		VALUES (1, '1.0', 'release', 'succeeded', 'alice', '2026-11-30T22:00:00.000000000Z', 'app.ear', 'ab12')`)
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(p)
	if err != nil {
		t.Fatalf("open a version 5 database: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	r, err := s.Release(ctx, 1)
	if err != nil || r.ArtifactSHA256 != "ab12" || r.ArtifactSize != 0 {
		t.Fatalf("release after the migration = %+v, %v; want sha256 ab12 of unknown size", r, err)
	}
	r.ArtifactSize = 123456789
	if err := s.RecordRelease(ctx, r, nil); err != nil {
		t.Fatal(err)
	}
	if r, err = s.Release(ctx, 1); err != nil || r.ArtifactSize != 123456789 {
		t.Fatalf("size after a record = %d, %v", r.ArtifactSize, err)
	}
}
