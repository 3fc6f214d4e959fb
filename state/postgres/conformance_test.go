package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state/postgres/pgtest"
	"github.com/runbook-dev/runbook/state/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newDB makes an empty database on the package's cluster.
func newDB(t *testing.T) (storetest.DB, string) {
	t.Helper()
	c := pgtest.Shared(t)
	name, err := c.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	url := c.URL(name, true)
	exec := func(t *testing.T, q string) {
		t.Helper()
		if _, err := c.Psql(name, q); err != nil {
			t.Fatal(err)
		}
	}
	return storetest.DB{
		Open: func() (runbook.Store, error) {
			return Open(context.Background(), url, Options{Reconnect: 5 * time.Second})
		},
		Exec:         exec,
		FutureSchema: func(t *testing.T) { exec(t, fmt.Sprintf("UPDATE schema_version SET version = %d", schemaVersion+1)) },
	}, url
}

// TestConformance holds the PostgreSQL store to the contract of
// runbook.Store, with the suite that holds SQLite's to it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.DB {
		db, _ := newDB(t)
		return db
	})
}
