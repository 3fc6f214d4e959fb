package state

import (
	"context"
	"database/sql"
	"fmt"
)

// The statements of every host run's record, prepared once on the
// writer's connection: executed as text, each would be parsed and
// planned by SQLite again at every commit. Preparing was 0.25 of the
// 0.87 CPU-s the record took in the hundred-host night's profile
// (BENCHMARKS.md, "The record's statements, prepared once").
const (
	qUpdateHost = `UPDATE host_runs SET state = ?, attempts = ?, exit_code = ?,
		token = ?, started_at = ?, finished_at = ?, duration_ms = ?, output_tail = ?, detail = ?
		WHERE id = ?`
	qUpdateStep = `UPDATE step_runs SET state = ?, attempts = ?, started_at = ?,
		finished_at = ?, reason = ? WHERE id = ?`
	qChainHead        = "SELECT id, hash FROM transitions ORDER BY id DESC LIMIT 1"
	qInsertTransition = `INSERT INTO transitions (id, at, release_id, step_run_id, host_run_id,
		scope, from_state, to_state, event, operator, os_user, machine, reason, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// prepareHot prepares the statements above on w, after the migration
// (they name its tables).
func prepareHot(ctx context.Context, w *sql.DB) (map[string]*sql.Stmt, error) {
	hot := map[string]*sql.Stmt{}
	for _, q := range []string{qUpdateHost, qUpdateStep, qChainHead, qInsertTransition} {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			closeHot(hot)
			return nil, fmt.Errorf("prepare %.40q…: %w", q, err)
		}
		hot[q] = st
	}
	return hot, nil
}

// closeHot finalizes the prepared statements: SQLite will not close a
// connection that still has some.
func closeHot(hot map[string]*sql.Stmt) error {
	var first error
	for _, st := range hot {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// exec runs q in tx, through its prepared statement when it has one. The
// transaction's copy of the statement is released with the transaction.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.hot[q]; st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// queryRow is exec for a query of one row.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.hot[q]; st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}
