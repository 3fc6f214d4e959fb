package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
)

// Limits bound a fan-out over hosts (SPEC §3.6: parallel, serial,
// max_fail).
type Limits struct {
	// Parallel is how many run at once; below 1 means 1 (rolling).
	Parallel int
	// Serial cuts the items into rolling batches of this many (a
	// percentage is of all the items, at least 1): a batch starts only
	// once the one before it has ended, and not at all when that one
	// failed. Zero: one batch of every item.
	Serial runbook.Share
	// MaxFail is how many may fail, counted in each batch and over all
	// the items (a percentage is of the batch's items and of all the
	// items): once more failed, no new item starts and no further batch.
	// With the default 0 a rolling deploy stops at the first bad host.
	MaxFail runbook.Share
	// OnBatch, when set, is told of each batch before any of its items
	// starts: the walk announces it on the screen.
	OnBatch func(Batch)
}

// Batch is one rolling batch of a fan-out: items[From:To], the Index-th
// (from 1) of Count.
type Batch struct {
	Index, Count int
	From, To     int
}

// LimitsOf returns the limits of step s on its environment: the step's
// own parallel, serial and max_fail where it sets them, else the
// environment's.
func LimitsOf(env *runbook.Environment, s *runbook.Step) Limits {
	l := Limits{Parallel: env.Parallel, Serial: env.Serial, MaxFail: env.MaxFail}
	if s == nil {
		return l
	}
	if s.Parallel > 0 {
		l.Parallel = s.Parallel
	}
	if s.Serial != nil {
		l.Serial = *s.Serial
	}
	if s.MaxFail != nil {
		l.MaxFail = *s.MaxFail
	}
	return l
}

// Batches cuts n items into the rolling batches of l.Serial, in order.
func (l Limits) Batches(n int) []Batch {
	size := n
	if l.Serial.N > 0 {
		size = max(l.Serial.Of(n), 1)
	}
	var out []Batch
	for from := 0; from < n; from += size {
		out = append(out, Batch{From: from, To: min(from+size, n)})
	}
	for i := range out {
		out[i].Index, out[i].Count = i+1, len(out)
	}
	return out
}

// FanOutResult says how a fan-out ended.
type FanOutResult struct {
	// Failed lists the indexes of the items whose run reported a failure,
	// in the order of the items.
	Failed []int
	// NotRun lists the indexes of the items never started: more than
	// MaxFail failed, the context was cancelled, or Err stopped it.
	NotRun []int
	// Exceeded says which limit the failures went past ("" when none):
	// "max_fail 0", "batch 3/10: 2 of 10 failed, max_fail 10%: 1 of 10".
	Exceeded string
	// Err is the first error a run returned: the fan-out stops starting
	// new items once one does (a decision is needed, the operator
	// interrupted, the database refused a write).
	Err error
}

// FanOut runs run for every item, at most lim.Parallel at a time, starting
// them in the order of items (so Parallel 1 is a rolling run in the
// runbook's host order), batch after batch (lim.Serial). It stops starting
// new ones once more than lim.MaxFail have failed in the batch or in all,
// a run returned an error, or ctx is done; a batch that ended so is the
// last. It waits for every started run before it returns. run reports
// failed for a failure the fan-out counts against MaxFail, and a non-nil
// error for a reason to stop everything. It is the one fan-out of the
// engine: steps, undos, operations and ad-hoc commands all go through it.
func FanOut[T any](ctx context.Context, items []T, lim Limits, run func(ctx context.Context, item T) (failed bool, err error)) FanOutResult {
	var (
		mu       sync.Mutex
		res      FanOutResult
		failed   = make([]bool, len(items))
		started  = make([]bool, len(items))
		total    int // failures so far, of every batch
		sem      = make(chan struct{}, max(lim.Parallel, 1))
		overall  = lim.MaxFail.Of(len(items))
		stopping bool // a limit was exceeded: no new item starts
	)
	// exceeded notes a limit gone past; called with mu held.
	exceeded := func(b Batch, inBatch int) {
		n := b.To - b.From
		switch {
		case res.Exceeded != "":
		case b.Count > 1 && inBatch > lim.MaxFail.Of(n):
			res.Exceeded = fmt.Sprintf("batch %d/%d: %d of %d failed, %s", b.Index, b.Count, inBatch, n, maxFail(lim.MaxFail, n))
		case total > overall && b.Count > 1:
			res.Exceeded = fmt.Sprintf("%d of %d failed, %s", total, len(items), maxFail(lim.MaxFail, len(items)))
		case total > overall:
			res.Exceeded = maxFail(lim.MaxFail, len(items))
		default:
			return
		}
		stopping = true
	}
	stop := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stopping || res.Err != nil || ctx.Err() != nil
	}
	for _, b := range lim.Batches(len(items)) {
		if stop() {
			break
		}
		if lim.OnBatch != nil {
			lim.OnBatch(b)
		}
		var (
			wg      sync.WaitGroup
			inBatch int
		)
		for i := b.From; i < b.To; i++ {
			if stop() {
				break
			}
			sem <- struct{}{}
			// Checked again: a run may have failed while this one waited.
			if stop() {
				<-sem
				break
			}
			started[i] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				f, err := run(ctx, items[i])
				mu.Lock()
				defer mu.Unlock()
				failed[i] = f
				if f {
					inBatch++
					total++
					exceeded(b, inBatch)
				}
				if err != nil && res.Err == nil {
					res.Err = err
				}
			}()
		}
		wg.Wait()
	}
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

// maxFail names the limit max_fail sets on n items: "max_fail 2",
// "max_fail 10%: 1 of 10".
func maxFail(s runbook.Share, n int) string {
	if s.Percent {
		return fmt.Sprintf("max_fail %s: %d of %d", s, s.Of(n), n)
	}
	return "max_fail " + s.String()
}
