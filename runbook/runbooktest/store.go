// Package runbooktest holds what in-process tests of the engine need: an
// in-memory Store, a scripted Prompter, a fake Executor with injectable
// failures, hangs and crash points, and a UI that keeps what it was told.
// With them the engine's decisions (the resume matrix, the undo policy,
// settling a run in doubt) are table tests that run under -race, without
// a database, a terminal or a host.
package runbooktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// ErrDead is what a Store handle answers after Crash: the process that
// held it is gone, and nothing it writes may reach the record.
var ErrDead = errors.New("runbooktest: this process was killed")

// Store is an in-memory runbook.Store. It keeps copies, never the
// caller's records, so what a later reader sees is exactly what was
// committed, as with a database. Handles made by Reopen share the data:
// Crash makes every older handle refuse to write, the way a killed
// process writes nothing more.
type Store struct {
	db  *memDB
	gen int64
}

type memDB struct {
	mu          sync.Mutex
	gen         atomic.Int64 // bumped by Crash, also from inside a commit
	nextID      int64
	releases    []*runbook.Release
	steps       map[int64][]*runbook.StepRun // release id → steps (hosts inside)
	transitions []runbook.Transition
	signoffs    []runbook.Signoff
	notes       []runbook.Note
	live        map[[2]string]runbook.Live
	staged      []runbook.Staged
	operations  []runbook.Operation
	deployLock  *runbook.DeployLock
	failWrites  error
	lockHolder  *runbook.Holder
	onCommit    func()
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{db: &memDB{steps: map[int64][]*runbook.StepRun{}, live: map[[2]string]runbook.Live{}}}
}

// Reopen returns a new handle on the same data, as the next process
// opening the database would.
func (s *Store) Reopen() *Store {
	return &Store{db: s.db, gen: s.db.gen.Load()}
}

// Crash kills every handle made so far: their writes fail with ErrDead.
// It may be called from an OnCommit hook.
func (s *Store) Crash() { s.db.gen.Add(1) }

// FailWrites makes every write fail with err (a full disk); nil ends it.
func (s *Store) FailWrites(err error) {
	s.db.mu.Lock()
	s.db.failWrites = err
	s.db.mu.Unlock()
}

// OnCommit calls f inside every write, after its changes and before they
// count as committed: a crash point between the writes and the commit.
// f runs with the store locked: it may call Crash (the write is then
// lost), and no other method of the store.
func (s *Store) OnCommit(f func()) {
	s.db.mu.Lock()
	s.db.onCommit = f
	s.db.mu.Unlock()
}

// write runs fn on a copy of the data and keeps it only when it succeeds
// and this handle is still alive after the commit point.
func (s *Store) write(fn func(db *memDB) error) error {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if s.gen != s.db.gen.Load() {
		return ErrDead
	}
	if err := s.db.failWrites; err != nil {
		return err
	}
	snap := s.db.snapshot()
	if err := fn(s.db); err != nil {
		s.db.restore(snap)
		return err
	}
	if s.db.onCommit != nil {
		s.db.onCommit()
	}
	if s.gen != s.db.gen.Load() {
		s.db.restore(snap)
		return ErrDead
	}
	return nil
}

type memSnap struct {
	nextID      int64
	releases    []*runbook.Release
	steps       map[int64][]*runbook.StepRun
	transitions int
	signoffs    int
	notes       int
	live        map[[2]string]runbook.Live
	staged      []runbook.Staged
	operations  int
	deployLock  *runbook.DeployLock
}

func (db *memDB) snapshot() memSnap {
	sn := memSnap{nextID: db.nextID, transitions: len(db.transitions), signoffs: len(db.signoffs), notes: len(db.notes),
		operations: len(db.operations), deployLock: db.deployLock,
		steps: map[int64][]*runbook.StepRun{}, live: map[[2]string]runbook.Live{}, staged: slices.Clone(db.staged)}
	for _, r := range db.releases {
		sn.releases = append(sn.releases, copyRelease(r))
	}
	for id, ss := range db.steps {
		sn.steps[id] = copySteps(ss)
	}
	for k, v := range db.live {
		sn.live[k] = v
	}
	return sn
}

func (db *memDB) restore(sn memSnap) {
	db.nextID, db.releases, db.steps, db.live, db.staged = sn.nextID, sn.releases, sn.steps, sn.live, sn.staged
	db.transitions, db.signoffs, db.notes = db.transitions[:sn.transitions], db.signoffs[:sn.signoffs], db.notes[:sn.notes]
	db.operations, db.deployLock = db.operations[:sn.operations], sn.deployLock
}

func (db *memDB) id() int64 { db.nextID++; return db.nextID }

func copyRelease(r *runbook.Release) *runbook.Release {
	c := *r
	c.Envs = slices.Clone(r.Envs)
	return &c
}

func copySteps(ss []*runbook.StepRun) []*runbook.StepRun {
	out := make([]*runbook.StepRun, len(ss))
	for i, s := range ss {
		c := *s
		c.Hosts = make([]*runbook.HostRun, len(s.Hosts))
		for j, h := range s.Hosts {
			hc := *h
			c.Hosts[j] = &hc
		}
		out[i] = &c
	}
	return out
}

func (db *memDB) findStep(id int64) *runbook.StepRun {
	for _, ss := range db.steps {
		for _, s := range ss {
			if s.ID == id {
				return s
			}
		}
	}
	return nil
}

func (db *memDB) findHost(id int64) (*runbook.StepRun, *runbook.HostRun) {
	for _, ss := range db.steps {
		for _, s := range ss {
			for _, h := range s.Hosts {
				if h.ID == id {
					return s, h
				}
			}
		}
	}
	return nil, nil
}

func (db *memDB) addTransition(t *runbook.Transition) {
	if t == nil {
		return
	}
	t.ID = db.id()
	prev := ""
	if n := len(db.transitions); n > 0 {
		prev = db.transitions[n-1].Hash
	}
	t.Hash = runbook.ChainHash(prev, *t)
	db.transitions = append(db.transitions, *t)
}

// Lock implements runbook.Store: one holder at a time in this process.
func (s *Store) Lock(h runbook.Holder) (func(), *runbook.Holder, error) {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if s.db.lockHolder != nil {
		return nil, nil, &runbook.LockedError{Holder: *s.db.lockHolder}
	}
	s.db.lockHolder = &h
	var once sync.Once
	return func() {
		once.Do(func() {
			s.db.mu.Lock()
			s.db.lockHolder = nil
			s.db.mu.Unlock()
		})
	}, nil, nil
}

// Holder implements runbook.Store: the holder while it holds the lock.
func (s *Store) Holder(context.Context) (runbook.Holder, bool, error) {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if s.db.lockHolder == nil {
		return runbook.Holder{}, false, nil
	}
	return *s.db.lockHolder, true, nil
}

// CreateRelease implements runbook.Store.
func (s *Store) CreateRelease(_ context.Context, r *runbook.Release, steps []*runbook.StepRun, t runbook.Transition) error {
	return s.write(func(db *memDB) error {
		r.ID = db.id()
		for _, st := range steps {
			st.ID, st.ReleaseID = db.id(), r.ID
			for _, h := range st.Hosts {
				h.ID, h.StepRunID = db.id(), st.ID
			}
		}
		db.releases = append(db.releases, copyRelease(r))
		db.steps[r.ID] = copySteps(steps)
		t.ReleaseID = r.ID
		db.addTransition(&t)
		return nil
	})
}

// RecordRelease implements runbook.Store.
func (s *Store) RecordRelease(_ context.Context, r *runbook.Release, t *runbook.Transition) error {
	return s.write(func(db *memDB) error {
		for i, x := range db.releases {
			if x.ID == r.ID {
				db.releases[i] = copyRelease(r)
				db.addTransition(t)
				return nil
			}
		}
		return runbook.ErrNotFound
	})
}

func setStep(db *memDB, st *runbook.StepRun, t *runbook.Transition) error {
	x := db.findStep(st.ID)
	if x == nil {
		return runbook.ErrNotFound
	}
	x.State, x.Attempts, x.StartedAt, x.FinishedAt, x.Reason = st.State, st.Attempts, st.StartedAt, st.FinishedAt, st.Reason
	db.addTransition(t)
	return nil
}

func setHost(db *memDB, h *runbook.HostRun, t *runbook.Transition) error {
	_, x := db.findHost(h.ID)
	if x == nil {
		return runbook.ErrNotFound
	}
	id, step := x.ID, x.StepRunID
	*x = *h
	x.ID, x.StepRunID = id, step
	db.addTransition(t)
	return nil
}

// RecordStep implements runbook.Store.
func (s *Store) RecordStep(_ context.Context, st *runbook.StepRun, t *runbook.Transition) error {
	return s.write(func(db *memDB) error { return setStep(db, st, t) })
}

// RecordHost implements runbook.Store.
func (s *Store) RecordHost(_ context.Context, h *runbook.HostRun, t *runbook.Transition) error {
	return s.write(func(db *memDB) error { return setHost(db, h, t) })
}

// RecordRuns implements runbook.Store: all of moves or none (write
// restores the data when one fails).
func (s *Store) RecordRuns(_ context.Context, moves ...runbook.RunMove) error {
	return s.write(func(db *memDB) error {
		for _, m := range moves {
			if m.Step != nil {
				if err := setStep(db, m.Step, m.StepT); err != nil {
					return err
				}
			}
			if m.Host != nil {
				if err := setHost(db, m.Host, m.HostT); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// AddSignoff implements runbook.Store.
func (s *Store) AddSignoff(_ context.Context, so runbook.Signoff) error {
	return s.write(func(db *memDB) error { db.signoffs = append(db.signoffs, so); return nil })
}

// AddNote implements runbook.Store.
func (s *Store) AddNote(_ context.Context, n *runbook.Note) error {
	return s.write(func(db *memDB) error {
		n.ID = db.id()
		db.notes = append(db.notes, *n)
		return nil
	})
}

// SetLive implements runbook.Store.
func (s *Store) SetLive(_ context.Context, l runbook.Live) error {
	l.VerifiedAt = time.Time{}
	return s.write(func(db *memDB) error { db.live[[2]string{l.Env, l.Host}] = l; return nil })
}

// VerifyLive implements runbook.Store.
func (s *Store) VerifyLive(_ context.Context, env, host, version string, at time.Time) error {
	return s.write(func(db *memDB) error {
		k := [2]string{env, host}
		if l, ok := db.live[k]; ok && l.Version == version {
			l.VerifiedAt = at
			db.live[k] = l
		}
		return nil
	})
}

// AddStaged implements runbook.Store.
func (s *Store) AddStaged(_ context.Context, st runbook.Staged) error {
	return s.write(func(db *memDB) error {
		db.staged = slices.DeleteFunc(db.staged, func(x runbook.Staged) bool {
			return x.Env == st.Env && x.Host == st.Host && x.Version == st.Version
		})
		db.staged = append(db.staged, st)
		return nil
	})
}

func (s *Store) read() func() {
	s.db.mu.Lock()
	return s.db.mu.Unlock
}

// Release implements runbook.Store.
func (s *Store) Release(_ context.Context, id int64) (*runbook.Release, error) {
	defer s.read()()
	for _, r := range s.db.releases {
		if r.ID == id {
			return copyRelease(r), nil
		}
	}
	return nil, runbook.ErrNotFound
}

// Releases implements runbook.Store.
func (s *Store) Releases(context.Context) ([]*runbook.Release, error) {
	defer s.read()()
	var out []*runbook.Release
	for _, r := range s.db.releases {
		out = append(out, copyRelease(r))
	}
	return out, nil
}

// Unfinished implements runbook.Store.
func (s *Store) Unfinished(context.Context) (*runbook.Release, error) {
	defer s.read()()
	for i := len(s.db.releases) - 1; i >= 0; i-- {
		if r := s.db.releases[i]; !r.State.Finished() {
			return copyRelease(r), nil
		}
	}
	return nil, nil
}

// Steps implements runbook.Store.
func (s *Store) Steps(_ context.Context, releaseID int64) ([]*runbook.StepRun, error) {
	defer s.read()()
	return copySteps(s.db.steps[releaseID]), nil
}

// Transitions implements runbook.Store.
func (s *Store) Transitions(_ context.Context, releaseID int64) ([]runbook.Transition, error) {
	defer s.read()()
	var out []runbook.Transition
	for _, t := range s.db.transitions {
		if t.ReleaseID == releaseID {
			out = append(out, t)
		}
	}
	return out, nil
}

// Signoffs implements runbook.Store.
func (s *Store) Signoffs(_ context.Context, releaseID int64) ([]runbook.Signoff, error) {
	defer s.read()()
	var out []runbook.Signoff
	for _, so := range s.db.signoffs {
		if so.ReleaseID == releaseID {
			out = append(out, so)
		}
	}
	return out, nil
}

// Notes implements runbook.Store.
func (s *Store) Notes(_ context.Context, releaseID int64) ([]runbook.Note, error) {
	defer s.read()()
	var out []runbook.Note
	for _, n := range s.db.notes {
		if n.ReleaseID == releaseID {
			out = append(out, n)
		}
	}
	return out, nil
}

// LiveVersions implements runbook.Store.
func (s *Store) LiveVersions(context.Context) ([]runbook.Live, error) {
	defer s.read()()
	var out []runbook.Live
	for _, l := range s.db.live {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Env != out[j].Env {
			return out[i].Env < out[j].Env
		}
		return out[i].Host < out[j].Host
	})
	return out, nil
}

// StagedVersions implements runbook.Store: newest first.
func (s *Store) StagedVersions(context.Context) ([]runbook.Staged, error) {
	defer s.read()()
	out := slices.Clone(s.db.staged)
	slices.Reverse(out)
	return out, nil
}

// StoreID implements runbook.Store: one id for every handle of the data.
func (s *Store) StoreID(context.Context) (string, error) {
	return fmt.Sprintf("mem-%p", s.db), nil
}

// AddOperation implements runbook.Store.
func (s *Store) AddOperation(_ context.Context, op runbook.Operation) error {
	return s.write(func(db *memDB) error {
		op.ID = db.id()
		db.operations = append(db.operations, op)
		return nil
	})
}

// Operations implements runbook.Store.
func (s *Store) Operations(context.Context) ([]runbook.Operation, error) {
	defer s.read()()
	return slices.Clone(s.db.operations), nil
}

// LockReleases implements runbook.Store.
func (s *Store) LockReleases(_ context.Context, l runbook.DeployLock) error {
	return s.write(func(db *memDB) error {
		if db.deployLock != nil {
			return &runbook.DeployLockedError{Lock: *db.deployLock}
		}
		if l.At.IsZero() {
			l.At = time.Now().UTC()
		}
		db.deployLock = &l
		return nil
	})
}

// DeployLock implements runbook.Store.
func (s *Store) DeployLock(context.Context) (*runbook.DeployLock, error) {
	defer s.read()()
	if s.db.deployLock == nil {
		return nil, nil
	}
	l := *s.db.deployLock
	return &l, nil
}

// UnlockReleases implements runbook.Store.
func (s *Store) UnlockReleases(context.Context) (*runbook.DeployLock, error) {
	var old *runbook.DeployLock
	err := s.write(func(db *memDB) error {
		old, db.deployLock = db.deployLock, nil
		return nil
	})
	return old, err
}

// Chain implements runbook.Store.
func (s *Store) Chain(context.Context) ([]runbook.Transition, error) {
	defer s.read()()
	return slices.Clone(s.db.transitions), nil
}

// Close implements runbook.Store.
func (s *Store) Close() error { return nil }

var _ runbook.Store = (*Store)(nil)

// clock is a deterministic clock for tests: every reading is a
// millisecond after the last, so records order as they happened.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// Clock returns a clock that starts at a fixed time and ticks on every reading.
func Clock() func() time.Time {
	c := &clock{t: time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)}
	return func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.t = c.t.Add(time.Millisecond)
		return c.t
	}
}
