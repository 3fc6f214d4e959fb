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

// hotStmts are the statements above, prepared on the writer. A
// transaction uses one through Tx.StmtContext, which reuses it on the
// writer's one connection; the transaction's copy goes with it.
type hotStmts struct {
	updateHost, updateStep, chainHead, insertTransition *sql.Stmt
}

// prepareHot prepares them on w, after the migration (they name its
// tables).
func prepareHot(ctx context.Context, w *sql.DB) (*hotStmts, error) {
	h := &hotStmts{}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&h.updateHost, qUpdateHost}, {&h.updateStep, qUpdateStep}, {&h.chainHead, qChainHead}, {&h.insertTransition, qInsertTransition}} {
		st, err := w.PrepareContext(ctx, p.q)
		if err != nil {
			_ = h.close()
			return nil, fmt.Errorf("prepare %.40q…: %w", p.q, err)
		}
		*p.st = st
	}
	return h, nil
}

// close finalizes them: SQLite will not close a connection that still
// has some. A nil h (a read-only store) has none.
func (h *hotStmts) close() error {
	if h == nil {
		return nil
	}
	var first error
	for _, st := range []*sql.Stmt{h.updateHost, h.updateStep, h.chainHead, h.insertTransition} {
		if st == nil {
			continue
		}
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
