package state

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state/storetest"
)

// TestConformance holds the SQLite store to the contract of
// runbook.Store, with the suite that holds PostgreSQL's to it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.DB {
		path := filepath.Join(t.TempDir(), ".runbook", "state.db")
		exec := func(t *testing.T, q string) {
			t.Helper()
			db, err := sql.Open("sqlite", dsn(path, writerParams))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return storetest.DB{
			Open: func() (runbook.Store, error) { return Open(path) },
			Exec: exec,
			FutureSchema: func(t *testing.T) {
				exec(t, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+1))
			},
		}
	})
}
