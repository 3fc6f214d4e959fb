package state

import (
	"context"
	"database/sql"
	"errors"

	"github.com/runbook-dev/runbook/runbook"
)

// Holder names the holder of the release lock as its row records it, and
// says whether its process may still be walking a release: it runs on
// this machine, or ran on another one, which nothing here can look into.
// held is false when no row is left or its process is provably gone (it
// died holding the lock). Read-only, and it takes no lock: `runbook logs`
// asks it to tell a release that is being walked from one whose process
// died, and works on a database opened with OpenReadOnly.
func (s *Store) Holder(ctx context.Context) (h runbook.Holder, held bool, err error) {
	var row holderRow
	err = s.read(ctx, "read the lock holder", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		row, err = scanHolder(tx.QueryRowContext(ctx, holderQuery))
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return runbook.Holder{}, false, nil
	case err != nil:
		return runbook.Holder{}, false, err
	}
	return row.Holder, thisMachine().judge(row) != holderGone, nil
}
