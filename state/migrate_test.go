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
