package state

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
)

// AddOperation records an operation that ran on one host.
func (s *Store) AddOperation(ctx context.Context, op runbook.Operation) error {
	return s.write(ctx, fmt.Sprintf("record operation %s on %s/%s", op.Name, op.Env, op.Host), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO operations (env, host, name, command, exit_code,
			started_at, finished_at, operator, output_tail, os_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			op.Env, op.Host, op.Name, op.Command, op.ExitCode,
			timeArg(op.StartedAt), timeArg(op.FinishedAt), op.Operator, op.OutputTail, op.OSUser)
		return err
	})
}

// Operations returns every recorded operation, oldest first.
func (s *Store) Operations(ctx context.Context) ([]runbook.Operation, error) {
	var list []runbook.Operation
	err := s.read(ctx, "read the operations", func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, env, host, name, command, exit_code,
			started_at, finished_at, operator, output_tail, os_user FROM operations ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var op runbook.Operation
			err := rows.Scan(&op.ID, &op.Env, &op.Host, &op.Name, &op.Command, &op.ExitCode,
				timeCol{&op.StartedAt}, timeCol{&op.FinishedAt}, &op.Operator, &op.OutputTail, &op.OSUser)
			if err != nil {
				return err
			}
			list = append(list, op)
		}
		return rows.Err()
	})
	return list, err
}
