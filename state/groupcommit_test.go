package state

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// Writes that arrive while another commits share one transaction (one
// fsync); each is still durable when it returns, and one that fails rolls
// back its own changes only.
func TestGroupCommit(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	if _, err := s.w.ExecContext(ctx, "CREATE TABLE g (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	insert := func(n int) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO g VALUES (?)", n)
			return err
		}
	}
	batches := func() int {
		s.commits.mu.Lock()
		defer s.commits.mu.Unlock()
		return s.commits.batches
	}
	queued := func() int {
		s.commits.mu.Lock()
		defer s.commits.mu.Unlock()
		return len(s.commits.queue)
	}
	before := batches()

	// The first write holds its transaction open until eight more wait.
	const waiting = 8
	errs := make([]error, waiting+1)
	var wg sync.WaitGroup
	wg.Go(func() {
		errs[0] = s.write(ctx, "first", func(ctx context.Context, tx *sql.Tx) error {
			deadline := time.Now().Add(30 * time.Second)
			for queued() < waiting && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			return insert(0)(ctx, tx)
		})
	})
	for !s.commits.leadingNow() {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= waiting; i++ {
		wg.Go(func() {
			fn := insert(i)
			if i == 3 {
				// Inserts, then fails: its row must not survive.
				fn = func(ctx context.Context, tx *sql.Tx) error {
					if err := insert(i)(ctx, tx); err != nil {
						return err
					}
					return errors.New("refused")
				}
			}
			errs[i] = s.write(ctx, "write", fn)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 3) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := batches() - before; got != 2 {
		t.Errorf("%d commits for %d writes, want 2 (the first alone, then the %d that waited together)", got, waiting+1, waiting)
	}
	rows, err := s.r.QueryContext(ctx, "SELECT n FROM g ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if want := []int{0, 1, 2, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

// leadingNow reports whether a write is committing.
func (q *commitQueue) leadingNow() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.leading
}
