package engine

import (
	"context"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
)

// Limits bound a fan-out over hosts (SPEC §3: parallel, max_fail).
type Limits struct {
	// Parallel is how many run at once; below 1 means 1 (rolling).
	Parallel int
	// MaxFail is how many may fail before no new one starts: with the
	// default 0 a rolling deploy stops at the first bad host.
	MaxFail int
}

// LimitsOf returns the limits of step s on its environment: the step's
// own parallel and max_fail where it sets them, else the environment's.
func LimitsOf(env *runbook.Environment, s *runbook.Step) Limits {
	l := Limits{Parallel: env.Parallel, MaxFail: env.MaxFail}
	if s != nil && s.Parallel > 0 {
		l.Parallel = s.Parallel
	}
	if s != nil && s.MaxFail >= 0 {
		l.MaxFail = s.MaxFail
	}
	return l
}

// FanOutResult says how a fan-out ended.
type FanOutResult struct {
	// Failed lists the indexes of the items whose run reported a failure,
	// in the order of the items.
	Failed []int
	// NotRun lists the indexes of the items never started: more than
	// MaxFail failed, the context was cancelled, or Err stopped it.
	NotRun []int
	// Err is the first error a run returned: the fan-out stops starting
	// new items once one does (a decision is needed, the operator
	// interrupted, the database refused a write).
	Err error
}

// FanOut runs run for every item, at most lim.Parallel at a time, starting
// them in the order of items (so Parallel 1 is a rolling run in the
// runbook's host order), and stops starting new ones once more than
// lim.MaxFail have failed, a run returned an error, or ctx is done. It
// waits for every started run before it returns. run reports failed for a
// failure the fan-out counts against MaxFail, and a non-nil error for a
// reason to stop everything. It is the one fan-out of the engine: steps,
// undos, operations and ad-hoc commands all go through it.
func FanOut[T any](ctx context.Context, items []T, lim Limits, run func(ctx context.Context, item T) (failed bool, err error)) FanOutResult {
	parallel := max(lim.Parallel, 1)
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		res     FanOutResult
		failed  = make([]bool, len(items))
		started = make([]bool, len(items))
		sem     = make(chan struct{}, parallel)
	)
	stop := func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, f := range failed {
			if f {
				n++
			}
		}
		return res.Err != nil || n > lim.MaxFail
	}
	for i, it := range items {
		if ctx.Err() != nil || stop() {
			break
		}
		sem <- struct{}{}
		// Checked again: a run may have failed while this one waited.
		if ctx.Err() != nil || stop() {
			<-sem
			break
		}
		started[i] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f, err := run(ctx, it)
			mu.Lock()
			defer mu.Unlock()
			failed[i] = f
			if err != nil && res.Err == nil {
				res.Err = err
			}
		}()
	}
	wg.Wait()
	for i := range items {
		switch {
		case !started[i]:
			res.NotRun = append(res.NotRun, i)
		case failed[i]:
			res.Failed = append(res.Failed, i)
		}
	}
	return res
}
