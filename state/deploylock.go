package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
)

// StoreID returns the id drawn when the database was created
// (store_identity); copies of the file share it.
func (s *Store) StoreID(ctx context.Context) (string, error) {
	var id string
	err := s.read(ctx, "read the database id", func(ctx context.Context, tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT db_id FROM store_identity WHERE id = 1").Scan(&id)
	})
	return id, err
}

// LockReleases records the deliberate lock l, unless one stands already:
// then *runbook.DeployLockedError names that one.
func (s *Store) LockReleases(ctx context.Context, l runbook.DeployLock) error {
	if l.At.IsZero() {
		l.At = s.now()
	}
	var held *runbook.DeployLock
	err := s.write(ctx, "record the lock of the releases", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if held, err = readDeployLock(ctx, tx); err != nil || held != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO deploy_lock (id, message, operator, machine, at) VALUES (1, ?, ?, ?, ?)",
			l.Message, l.Operator, l.Machine, timeArg(l.At))
		return err
	})
	if err == nil && held != nil {
		return &runbook.DeployLockedError{Lock: *held}
	}
	return err
}

// DeployLock returns the deliberate lock, nil when there is none.
func (s *Store) DeployLock(ctx context.Context) (*runbook.DeployLock, error) {
	var l *runbook.DeployLock
	err := s.read(ctx, "read the lock of the releases", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		l, err = readDeployLock(ctx, tx)
		return err
	})
	return l, err
}

// UnlockReleases removes the deliberate lock and returns it, nil when
// there was none.
func (s *Store) UnlockReleases(ctx context.Context) (*runbook.DeployLock, error) {
	var l *runbook.DeployLock
	err := s.write(ctx, "remove the lock of the releases", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if l, err = readDeployLock(ctx, tx); err != nil || l == nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM deploy_lock WHERE id = 1")
		return err
	})
	return l, err
}

func readDeployLock(ctx context.Context, tx *sql.Tx) (*runbook.DeployLock, error) {
	var l runbook.DeployLock
	err := tx.QueryRowContext(ctx, "SELECT message, operator, machine, at FROM deploy_lock WHERE id = 1").
		Scan(&l.Message, &l.Operator, &l.Machine, timeCol{&l.At})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the lock of the releases: %w", err)
	}
	return &l, nil
}
