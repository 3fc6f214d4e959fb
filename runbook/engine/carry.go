package engine

import (
	"context"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// carrier is the engine's group commit. A step that succeeded on its only
// host does not commit its outcome alone: the outcome is carried into the
// next write, normally the start of the next step, so that a walk of
// quick steps pays one commit (one fsync) per step instead of two.
//
// Nothing about what is durable when changes for the work on the hosts:
// an intent is still committed before its command starts, and a carried
// outcome always goes first in the commit that carries it, so the record
// never shows a step started behind one that has not ended. What a
// killed process loses is only the carried outcome, and its host's run
// markers say it (the .rc holds the exit code): resume adopts it without
// running anything again. That is why the markers of a carried run are
// forgotten only once its outcome is committed.
//
// A carried outcome waits at most carryDelay: then it is committed on its
// own, so that a step's success is never left uncommitted while the
// operator reads a question, a hook runs or the artifact is hashed. Every
// other call of the Store commits it first, so that whatever is read or
// written after it is in the order it happened.
type carrier struct {
	s     runbook.Store
	delay time.Duration

	mu      sync.Mutex // serialises every use of s that involves carried
	carried *carried
	timer   *time.Timer
	// failed is a commit of a carried outcome that failed on its own
	// (carryDelay passed): the next call returns it.
	failed error
	// forgets are the markers being forgotten after their commit.
	forgets sync.WaitGroup
}

// carryDelay is how long an outcome waits for the next write. The next
// step of a walk under --yes starts well within it; a prompt, a hook or a
// slow preparation does not, and the outcome is committed alone.
const carryDelay = 20 * time.Millisecond

// carried is an outcome not yet committed. When its commit fails, the
// walker's records in memory stay as they are: they say what happened on
// the host, the error of the next call of the Store stops the walk, and
// resume adopts the outcome from the run's markers.
type carried struct {
	moves []runbook.RunMove
	after []func() // run once committed: forget the runs' markers
}

func newCarrier(s runbook.Store) *carrier { return &carrier{s: s, delay: carryDelay} }

// carry stages moves to be committed with the next write, or alone when
// none comes within c.delay; after runs (in the background) once they are
// committed.
func (c *carrier) carry(moves []runbook.RunMove, after func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.carried == nil {
		c.carried = &carried{}
		c.timer = time.AfterFunc(c.delay, c.flushLate)
	}
	c.carried.moves = append(c.carried.moves, moves...)
	c.carried.after = append(c.carried.after, after)
}

// flushLate commits what is carried when no write came for it in time.
func (c *carrier) flushLate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.commit(context.Background()); err != nil {
		c.failed = err
	}
}

// Flush commits what is carried, and waits until the markers of what was
// committed are forgotten. The engine calls it before a command returns.
func (c *carrier) Flush(ctx context.Context) error {
	c.mu.Lock()
	err := c.commitAfter(ctx)
	c.mu.Unlock()
	c.forgets.Wait()
	return err
}

// commitAfter returns the failure of an earlier commit of what was
// carried (once), or commits what is carried with moves.
func (c *carrier) commitAfter(ctx context.Context, moves ...runbook.RunMove) error {
	if err := c.failed; err != nil {
		c.failed = nil
		return err
	}
	return c.commit(ctx, moves...)
}

// commit commits what is carried with moves, in one transaction: the
// carried outcome first.
func (c *carrier) commit(ctx context.Context, moves ...runbook.RunMove) error {
	k := c.carried
	if k == nil {
		if len(moves) == 0 {
			return nil
		}
		return c.s.RecordRuns(ctx, moves...)
	}
	c.carried = nil
	c.timer.Stop()
	if err := c.s.RecordRuns(context.WithoutCancel(ctx), append(k.moves, moves...)...); err != nil {
		return err
	}
	for _, after := range k.after {
		c.forgets.Go(after)
	}
	return nil
}

// write runs fn, a call of the Store, after committing what is carried.
func (c *carrier) write(ctx context.Context, fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.commitAfter(ctx); err != nil {
		return err
	}
	return fn()
}

// read runs fn, a call of the Store, after committing what is carried.
func read[T any](c *carrier, ctx context.Context, fn func() (T, error)) (T, error) {
	var v T
	err := c.write(ctx, func() (err error) {
		v, err = fn()
		return err
	})
	return v, err
}

// The moves of runs take what is carried along in their commit.

func (c *carrier) RecordRuns(ctx context.Context, moves ...runbook.RunMove) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitAfter(ctx, moves...)
}

func (c *carrier) RecordStep(ctx context.Context, s *runbook.StepRun, t *runbook.Transition) error {
	return c.RecordRuns(ctx, runbook.RunMove{Step: s, StepT: t})
}

func (c *carrier) RecordHost(ctx context.Context, h *runbook.HostRun, t *runbook.Transition) error {
	return c.RecordRuns(ctx, runbook.RunMove{Host: h, HostT: t})
}

// Every other call commits what is carried first.

func (c *carrier) Lock(h runbook.Holder) (unlock func(), recovered *runbook.Holder, err error) {
	err = c.write(context.Background(), func() (err error) {
		unlock, recovered, err = c.s.Lock(h)
		return err
	})
	return unlock, recovered, err
}

func (c *carrier) Holder(ctx context.Context) (h runbook.Holder, held bool, err error) {
	err = c.write(ctx, func() (err error) {
		h, held, err = c.s.Holder(ctx)
		return err
	})
	return h, held, err
}

func (c *carrier) StoreID(ctx context.Context) (string, error) {
	return read(c, ctx, func() (string, error) { return c.s.StoreID(ctx) })
}

func (c *carrier) CreateRelease(ctx context.Context, r *runbook.Release, steps []*runbook.StepRun, t runbook.Transition) error {
	return c.write(ctx, func() error { return c.s.CreateRelease(ctx, r, steps, t) })
}

func (c *carrier) RecordRelease(ctx context.Context, r *runbook.Release, t *runbook.Transition) error {
	return c.write(ctx, func() error { return c.s.RecordRelease(ctx, r, t) })
}

func (c *carrier) AddSignoff(ctx context.Context, so runbook.Signoff) error {
	return c.write(ctx, func() error { return c.s.AddSignoff(ctx, so) })
}

func (c *carrier) AddNote(ctx context.Context, n *runbook.Note) error {
	return c.write(ctx, func() error { return c.s.AddNote(ctx, n) })
}

func (c *carrier) SetLive(ctx context.Context, l runbook.Live) error {
	return c.write(ctx, func() error { return c.s.SetLive(ctx, l) })
}

func (c *carrier) VerifyLive(ctx context.Context, env, host, version string, at time.Time) error {
	return c.write(ctx, func() error { return c.s.VerifyLive(ctx, env, host, version, at) })
}

func (c *carrier) AddStaged(ctx context.Context, st runbook.Staged) error {
	return c.write(ctx, func() error { return c.s.AddStaged(ctx, st) })
}

func (c *carrier) AddOperation(ctx context.Context, op runbook.Operation) error {
	return c.write(ctx, func() error { return c.s.AddOperation(ctx, op) })
}

func (c *carrier) LockReleases(ctx context.Context, l runbook.DeployLock) error {
	return c.write(ctx, func() error { return c.s.LockReleases(ctx, l) })
}

func (c *carrier) DeployLock(ctx context.Context) (*runbook.DeployLock, error) {
	return read(c, ctx, func() (*runbook.DeployLock, error) { return c.s.DeployLock(ctx) })
}

func (c *carrier) UnlockReleases(ctx context.Context) (*runbook.DeployLock, error) {
	return read(c, ctx, func() (*runbook.DeployLock, error) { return c.s.UnlockReleases(ctx) })
}

func (c *carrier) Release(ctx context.Context, id int64) (*runbook.Release, error) {
	return read(c, ctx, func() (*runbook.Release, error) { return c.s.Release(ctx, id) })
}

func (c *carrier) Releases(ctx context.Context) ([]*runbook.Release, error) {
	return read(c, ctx, func() ([]*runbook.Release, error) { return c.s.Releases(ctx) })
}

func (c *carrier) Unfinished(ctx context.Context) (*runbook.Release, error) {
	return read(c, ctx, func() (*runbook.Release, error) { return c.s.Unfinished(ctx) })
}

func (c *carrier) Steps(ctx context.Context, releaseID int64) ([]*runbook.StepRun, error) {
	return read(c, ctx, func() ([]*runbook.StepRun, error) { return c.s.Steps(ctx, releaseID) })
}

func (c *carrier) Transitions(ctx context.Context, releaseID int64) ([]runbook.Transition, error) {
	return read(c, ctx, func() ([]runbook.Transition, error) { return c.s.Transitions(ctx, releaseID) })
}

func (c *carrier) Signoffs(ctx context.Context, releaseID int64) ([]runbook.Signoff, error) {
	return read(c, ctx, func() ([]runbook.Signoff, error) { return c.s.Signoffs(ctx, releaseID) })
}

func (c *carrier) Notes(ctx context.Context, releaseID int64) ([]runbook.Note, error) {
	return read(c, ctx, func() ([]runbook.Note, error) { return c.s.Notes(ctx, releaseID) })
}

func (c *carrier) LiveVersions(ctx context.Context) ([]runbook.Live, error) {
	return read(c, ctx, func() ([]runbook.Live, error) { return c.s.LiveVersions(ctx) })
}

func (c *carrier) StagedVersions(ctx context.Context) ([]runbook.Staged, error) {
	return read(c, ctx, func() ([]runbook.Staged, error) { return c.s.StagedVersions(ctx) })
}

func (c *carrier) Operations(ctx context.Context) ([]runbook.Operation, error) {
	return read(c, ctx, func() ([]runbook.Operation, error) { return c.s.Operations(ctx) })
}

func (c *carrier) Chain(ctx context.Context) ([]runbook.Transition, error) {
	return read(c, ctx, func() ([]runbook.Transition, error) { return c.s.Chain(ctx) })
}

// Close commits what is carried and closes the Store.
func (c *carrier) Close() error {
	err := c.Flush(context.Background())
	if cerr := c.s.Close(); err == nil {
		err = cerr
	}
	return err
}
