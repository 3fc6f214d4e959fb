package runbooktest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
)

// World is what survives the operator's process: the record (Store) and
// the hosts. Each Process is one run of runbook over it; a Process can be
// killed at a crash point, and the next one resumes from what the world
// kept.
type World struct {
	t     TB
	RB    *runbook.Runbook
	Store *Store
	Hosts *Hosts
	Clock func() time.Time
}

// NewWorld returns an empty world for rb.
func NewWorld(t TB, rb *runbook.Runbook) *World {
	return &World{t: t, RB: rb, Store: NewStore(), Hosts: NewHosts(), Clock: Clock()}
}

// ProcessOptions set up one run of runbook.
type ProcessOptions struct {
	// Yes is --yes; without it and without Answers nobody can be asked.
	Yes bool
	// Answers script the operator; nil means there is no terminal.
	Answers []Answer
	// Script makes calls to hosts fail, hang or kill the process.
	Script func(c *runbook.Call, what string) Fault
	// Signoffs are --signoff ROLE=NAME.
	Signoffs map[string]string
	// AcceptDiff are --accept-diff STEP=REASON.
	AcceptDiff map[string]string
	// SameArtifact is --same-artifact.
	SameArtifact bool
	// Operator and Machine say who runs the process and where; "tester"
	// on "test" when empty.
	Operator, Machine string
	// Preflight is the cli's check before a release's first step.
	Preflight func(ctx context.Context, fresh bool, from string) error
	// HookScript makes hooks fail or hang (Executor.HookScript).
	HookScript func(c runbook.HookCall) Fault
	// Locker, when set, wraps the executor's environment locks.
	Locker func(runbook.EnvLocker) runbook.EnvLocker
}

func (o ProcessOptions) operator() string {
	if o.Operator == "" {
		return "tester"
	}
	return o.Operator
}

func (o ProcessOptions) machine() string {
	if o.Machine == "" {
		return "test"
	}
	return o.Machine
}

// Process is one run of runbook in a World.
type Process struct {
	World    *World
	Store    *Store
	Exec     *Executor
	UI       *UI
	Prompter *Prompter // nil without Answers
	Engine   *engine.Engine
}

// Process starts a run of runbook over the world.
func (w *World) Process(o ProcessOptions) *Process {
	p := &Process{World: w, Store: w.Store.Reopen(), Exec: NewExecutor(w.Hosts), UI: &UI{}}
	p.Exec.Script, p.Exec.HookScript = o.Script, o.HookScript
	var locker runbook.EnvLocker = p.Exec
	if o.Locker != nil {
		locker = o.Locker(locker)
	}
	var prompter runbook.Prompter
	if o.Answers != nil {
		p.Prompter = NewPrompter(w.t, o.Answers...)
		prompter = p.Prompter
	}
	p.Engine = engine.New(w.RB, engine.Config{
		Store: p.Store, Exec: p.Exec, Differ: p.Exec, Staged: p.Exec, Warm: p.Exec, Hooks: p.Exec, UI: p.UI, Masker: Masker{},
		Ask:      engine.NewInteraction(prompter, o.Yes),
		Operator: o.operator(), OSUser: "tester", Machine: o.machine(), PID: 1000, Locker: locker, StateLocation: "memory", Now: w.Clock,
		Signoffs: o.Signoffs, AcceptDiff: o.AcceptDiff, SameArtifact: o.SameArtifact,
		Preflight: o.Preflight,
	})
	return p
}

// Crash names where to kill a process: at the N-th hit (1-based) of one
// of runbook's crash points (runbook.Points).
type Crash struct {
	Point string
	N     int
}

// crashing is the crash armed for the process being run: runbook.Hit is a
// global, set once to consult it, so tests never write it while a killed
// process's goroutines may still read it.
var (
	crashing   atomic.Pointer[armed]
	installHit sync.Once
	oneAtATime sync.Mutex
)

type armed struct {
	point string
	n     int64
	hits  atomic.Int64
	kill  func()
}

func (a *armed) hit(point string) bool {
	return point == a.point && a.hits.Add(1) == a.n
}

// Run runs f (one command: Start, Resume, Rollback…) in the process and
// returns its error; died reports that the process was killed — at the
// crash point, or by a Script's Death — and f's error is then nil. A
// killed process is gone: its store handle writes nothing more and its
// executor reaches no host. Runs with a crash are serialised across tests,
// since crash points are global.
func (p *Process) Run(ctx context.Context, crash *Crash, f func(ctx context.Context, e *engine.Engine) error) (err error, died bool) {
	dead := make(chan struct{})
	var once sync.Once
	kill := func() {
		once.Do(func() {
			p.Store.Crash()
			p.World.Hosts.Kill()
			close(dead)
		})
	}
	p.Exec.OnDie = kill
	if crash != nil {
		oneAtATime.Lock()
		defer oneAtATime.Unlock()
		installHit.Do(func() {
			runbook.Hit = func(point string) {
				if a := crashing.Load(); a != nil && a.hit(point) {
					a.kill()
					select {} // the process dies here: nothing after this point runs
				}
			}
		})
		a := &armed{point: crash.Point, n: int64(max(crash.N, 1)), kill: kill}
		if crash.Point == runbook.PointStateTx {
			// Inside a commit the store is locked: die there without
			// blocking it, the write is lost and the store stays usable.
			p.Store.OnCommit(func() {
				if a.hit(runbook.PointStateTx) {
					p.Store.Crash()
					p.World.Hosts.Kill()
					once.Do(func() { close(dead) })
				}
			})
		} else {
			crashing.Store(a)
		}
		defer func() {
			crashing.Store(nil)
			p.Store.OnCommit(nil)
		}()
	}
	done := make(chan error, 1)
	go func() { done <- f(ctx, p.Engine) }()
	select {
	case err := <-done:
		select {
		case <-dead: // killed inside a commit: what f returned is the dead process's
			p.Exec.Quiesce()
			return nil, true
		default:
			return err, false
		}
	case <-dead:
		// The hosts as the kill left them: commands in flight have done
		// what they do, as they would on a host after a kill -9.
		p.Exec.Quiesce()
		return nil, true
	}
}

// Release returns the newest release recorded.
func (w *World) Release() *runbook.Release {
	rels, _ := w.Store.Releases(context.Background())
	if len(rels) == 0 {
		return nil
	}
	return rels[len(rels)-1]
}

// Steps returns the recorded steps of release id.
func (w *World) Steps(id int64) []*runbook.StepRun {
	steps, _ := w.Store.Steps(context.Background(), id)
	return steps
}
