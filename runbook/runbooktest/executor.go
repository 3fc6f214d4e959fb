package runbooktest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps"
)

// Fault is what a Script makes of one call of the fake executor.
type Fault struct {
	// Exit is the exit status of the command (0: success).
	Exit int
	// Err is returned instead of an outcome: wrap runbook.ErrInDoubt for a
	// dropped connection, runbook.ErrNeedsHuman for an unknown host key.
	Err error
	// Die kills the operator's process inside the call (see Die*).
	Die Death
	// Hang blocks the call until its context is done (the operator's
	// Ctrl-C), as a command that never ends.
	Hang bool
}

// Death is where, inside a host-side command, the operator's process dies.
type Death int

// Deaths: the command's markers tell what the host knows afterwards.
const (
	Lives Death = iota
	// DieBeforeEffect: .started is written, the process dies, the command
	// never takes effect (its shell got no script).
	DieBeforeEffect
	// DieAfterEffect: the command took effect and died with the process
	// before writing .rc: in doubt, and it did happen.
	DieAfterEffect
	// DieHostGoesOn: the operator's process dies while the command runs
	// on; it finishes later on the host and writes .rc.
	DieHostGoesOn
	// DieStillRunning: the process dies and the command is still running
	// on the host when the next process looks; Wait finishes it.
	DieStillRunning
)

// Host is what the fake executor keeps about one host.
type Host struct {
	Effects []string // "do:STEP" and "undo:STEP" in the order they took effect
	Current string   // the version current points to
	Staged  []string // staged versions
	// Lock is the environment lock on the host (envlock.go), nil for none.
	Lock    *runbook.EnvLockOwner
	sums    map[string]string
	markers map[string]*marker
}

type marker struct {
	step     string
	undo     bool
	running  bool // the command is running on the host
	finished bool
	// claimed: a Settle found no marker and claimed the token, so the
	// command never starts under it; every later Settle says so again,
	// as the real transports' claimed .started does.
	claimed bool
	rc      int
}

// Hosts is the fake world: every host of every environment, shared by the
// executors of successive processes.
type Hosts struct {
	mu    sync.Mutex
	hosts map[string]*Host
	gen   atomic.Int64
}

// NewHosts returns a world of empty hosts.
func NewHosts() *Hosts { return &Hosts{hosts: map[string]*Host{}} }

// Host returns the record of host name (created on first use). Read it
// only while no process runs.
func (w *Hosts) Host(name string) *Host {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.host(name)
}

func (w *Hosts) host(name string) *Host {
	h := w.hosts[name]
	if h == nil {
		h = &Host{markers: map[string]*marker{}, sums: map[string]string{}}
		w.hosts[name] = h
	}
	return h
}

// Count returns how often effect ("do:STEP", "undo:STEP") happened on host.
func (w *Hosts) Count(host, effect string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, e := range w.host(host).Effects {
		if e == effect {
			n++
		}
	}
	return n
}

// Names lists the hosts that were touched.
func (w *Hosts) Names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for n := range w.hosts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Executor is a fake runbook.Executor (and StagedChecker and Differ) over
// Hosts. Commands take effect as "do:STEP" on their host; upload and
// activate move Staged and Current; markers follow DESIGN's "Resume
// exactly" protocol, so Settle answers as the real transports do.
type Executor struct {
	world *Hosts
	gen   int64
	// Script decides each call; what is "do", "verify", "check" or
	// "undo". nil: everything succeeds.
	Script func(c *runbook.Call, what string) Fault
	// OnDie is called when a Script's Death kills the process (the test
	// crashes its Store there); then the call never returns.
	OnDie func()
	calls atomic.Int64
	// inflight counts the calls of this process that are acting on the
	// hosts; Process.Run waits for them after a kill (Quiesce).
	inflight sync.WaitGroup
	// HookScript decides how each hook ends (hooks.go); nil: it passes.
	HookScript func(c runbook.HookCall) Fault
	hooksMu    sync.Mutex
	hookRuns   []HookRun

	mu     sync.Mutex
	warmed []string // "STEP/HOST" for every host Warm was given, in order
}

// Warm implements runbook.Warmer: it records what it was given.
func (e *Executor) Warm(_ context.Context, s *runbook.Step, hosts []*runbook.Host) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range hosts {
		e.warmed = append(e.warmed, s.Name+"/"+h.Name)
	}
}

// Warmed lists the hosts Warm was given so far, as "STEP/HOST".
func (e *Executor) Warmed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.warmed)
}

// NewExecutor returns the executor of one process over world.
func NewExecutor(world *Hosts) *Executor {
	return &Executor{world: world, gen: world.gen.Load()}
}

// Kill ends every executor made so far: their calls block, as the calls
// of a dead process never happen. It takes the hosts' lock, so a call
// is either in flight before the kill (and finishes what it does on its
// host, as a command goes on when the process that started it dies) or
// never starts.
func (w *Hosts) Kill() {
	w.mu.Lock()
	w.gen.Add(1)
	w.mu.Unlock()
}

// Calls counts the calls made (for tests that want none).
func (e *Executor) Calls() int { return int(e.calls.Load()) }

// alive lets a call of a live process begin, in flight until its
// returned leave is called; a call of a dead process never begins.
func (e *Executor) alive() (leave func()) {
	e.calls.Add(1)
	e.world.mu.Lock()
	if e.gen != e.world.gen.Load() {
		e.world.mu.Unlock()
		select {} // a dead process does nothing more
	}
	e.inflight.Add(1)
	e.world.mu.Unlock()
	return e.inflight.Done
}

// Quiesce waits until no call of this (killed) process is acting on the
// hosts any more: those that were in flight at the kill have done what
// they do on their hosts, and the rest never start. Without it, what a
// test reads of the hosts right after a kill would depend on how far the
// other goroutines of the dead process had come.
func (e *Executor) Quiesce() { e.inflight.Wait() }

func (e *Executor) fault(c *runbook.Call, what string) Fault {
	if e.Script == nil {
		return Fault{}
	}
	return e.Script(c, what)
}

// die kills the process from inside a call, which never returns: it
// stops counting as in flight first.
func (e *Executor) die() {
	e.inflight.Done()
	e.world.Kill()
	if e.OnDie != nil {
		e.OnDie()
	}
	select {}
}

// Do implements runbook.Executor.
func (e *Executor) Do(ctx context.Context, c *runbook.Call) (runbook.Outcome, error) {
	defer e.alive()()
	f := e.fault(c, "do")
	if f.Err != nil && f.Die == Lives {
		return runbook.Outcome{ExitCode: -1}, f.Err
	}
	switch c.Step.Kind {
	case runbook.KindUpload:
		// As the real upload does: the copy first, the sum before the rename.
		sum, err := c.ArtifactSum(ctx)
		if err != nil {
			return runbook.Outcome{ExitCode: -1}, err
		}
		e.world.mu.Lock()
		h := e.world.host(c.Host.Name)
		if !slices.Contains(h.Staged, c.Release.Version) {
			h.Staged = append(h.Staged, c.Release.Version)
		}
		h.sums[c.Release.Version] = sum
		h.Effects = append(h.Effects, "do:"+c.Step.Name)
		e.world.mu.Unlock()
		d := runbook.ActionDetail{SHA256: sum}
		return runbook.Outcome{Detail: d.JSON(), Summary: "staged"}, nil
	case runbook.KindActivate:
		e.world.mu.Lock()
		h := e.world.host(c.Host.Name)
		prev := h.Current
		if prev == c.Release.Version {
			prev = c.Data.Release.Previous
		}
		h.Current = c.Release.Version
		h.Effects = append(h.Effects, "do:"+c.Step.Name)
		e.world.mu.Unlock()
		d := runbook.ActionDetail{Version: c.Release.Version, Previous: prev}
		return runbook.Outcome{Detail: d.JSON(), Summary: "live: " + c.Release.Version}, nil
	case runbook.KindProbe:
		return runbook.Outcome{ExitCode: f.Exit}, nil
	}
	return e.command(ctx, c, c.Token, "do:"+c.Step.Name, false, f)
}

// command runs a command with markers under token (none when empty).
func (e *Executor) command(ctx context.Context, c *runbook.Call, token, effect string, undo bool, f Fault) (runbook.Outcome, error) {
	e.world.mu.Lock()
	h := e.world.host(c.Host.Name)
	var m *marker
	if token != "" {
		if old := h.markers[token]; old != nil && old.claimed {
			// Claimed by Settle as never started: a late copy runs nothing.
			e.world.mu.Unlock()
			return runbook.Outcome{ExitCode: -1}, fmt.Errorf("run %s was settled as never started", token)
		}
		m = &marker{step: c.Step.Name, undo: undo, running: true}
		h.markers[token] = m
	}
	e.world.mu.Unlock()
	switch f.Die {
	case DieBeforeEffect:
		e.world.mu.Lock()
		if m != nil {
			m.running = false
		}
		e.world.mu.Unlock()
		e.die()
	case DieAfterEffect, DieHostGoesOn, DieStillRunning:
		e.world.mu.Lock()
		if f.Die != DieStillRunning {
			h.Effects = append(h.Effects, effect)
		}
		if m != nil {
			switch f.Die {
			case DieAfterEffect:
				m.running = false
			case DieHostGoesOn:
				m.running, m.finished, m.rc = false, true, f.Exit
			}
		}
		e.world.mu.Unlock()
		e.die()
	}
	if f.Hang {
		// Waiting is not acting: a killed process's hanging call must
		// not hold Quiesce up. It acts again only if still alive.
		e.inflight.Done()
		<-ctx.Done()
		e.alive() // balanced by the call's deferred leave
		e.world.mu.Lock()
		if m != nil {
			m.running = false
		}
		e.world.mu.Unlock()
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("%w: %v", runbook.ErrInDoubt, ctx.Err())
	}
	e.world.mu.Lock()
	h.Effects = append(h.Effects, effect)
	if m != nil {
		m.running, m.finished, m.rc = false, true, f.Exit
	}
	e.world.mu.Unlock()
	if c.Out != nil {
		fmt.Fprintf(c.Out, "%s on %s\n", effect, c.Host.Name)
	}
	if f.Err != nil {
		return runbook.Outcome{ExitCode: -1}, f.Err
	}
	return runbook.Outcome{ExitCode: f.Exit}, nil
}

// Verify implements runbook.Executor.
func (e *Executor) Verify(ctx context.Context, c *runbook.Call) (int, error) {
	defer e.alive()()
	f := e.fault(c, "verify")
	if f.Err != nil {
		return -1, f.Err
	}
	return f.Exit, nil
}

// Check implements runbook.Executor: the effect is in place when the
// step's command took effect on the host (more often than it was undone).
func (e *Executor) Check(ctx context.Context, c *runbook.Call) (bool, error) {
	defer e.alive()()
	if e.Script != nil {
		if f := e.Script(c, "check"); f.Err != nil || f.Exit != 0 {
			return false, f.Err
		}
	}
	do := e.world.Count(c.Host.Name, "do:"+c.Step.Name)
	undo := e.world.Count(c.Host.Name, "undo:"+c.Step.Name)
	return do > undo, nil
}

// Undo implements runbook.Executor.
func (e *Executor) Undo(ctx context.Context, c *runbook.Call, detail string) (runbook.Outcome, error) {
	defer e.alive()()
	f := e.fault(c, "undo")
	if f.Err != nil && f.Die == Lives {
		return runbook.Outcome{ExitCode: -1}, f.Err
	}
	switch {
	case c.Undo != "":
		return e.command(ctx, c, c.Token, "undo:"+c.Step.Name, true, f)
	case c.Step.Kind == runbook.KindUpload:
		e.world.mu.Lock()
		defer e.world.mu.Unlock()
		h := e.world.host(c.Host.Name)
		v := c.Release.Version
		if h.Current == v || c.Data.Release.Previous == v {
			return runbook.Outcome{Summary: "kept: live or previous"}, nil
		}
		h.Staged = slices.DeleteFunc(h.Staged, func(x string) bool { return x == v })
		h.Effects = append(h.Effects, "undo:"+c.Step.Name)
		return runbook.Outcome{Summary: "removed releases/" + v}, nil
	case c.Step.Kind == runbook.KindActivate:
		d := runbook.ParseDetail(detail)
		if d.Previous == "" {
			return runbook.Outcome{Summary: "no previous release to switch back to"}, nil
		}
		e.world.mu.Lock()
		defer e.world.mu.Unlock()
		h := e.world.host(c.Host.Name)
		was := h.Current
		h.Current = d.Previous
		h.Effects = append(h.Effects, "undo:"+c.Step.Name)
		nd := runbook.ActionDetail{Version: d.Previous, Previous: was}
		return runbook.Outcome{Detail: nd.JSON(), Summary: "live again: " + d.Previous}, nil
	}
	return runbook.Outcome{ExitCode: -1}, fmt.Errorf("step %s has no undo", c.Step.Name)
}

// Settle implements runbook.Executor: the markers of c.Token. Never
// started claims the token, as the SSH transport does.
func (e *Executor) Settle(ctx context.Context, c *runbook.Call) (runbook.Settlement, error) {
	defer e.alive()()
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	h := e.world.host(c.Host.Name)
	m := h.markers[c.Token]
	switch {
	case m == nil:
		h.markers[c.Token] = &marker{step: c.Step.Name, claimed: true}
		return runbook.Settlement{State: runbook.SettleNeverStarted}, nil
	case m.claimed:
		return runbook.Settlement{State: runbook.SettleNeverStarted}, nil
	case m.finished:
		return runbook.Settlement{State: runbook.SettleFinished, ExitCode: m.rc}, nil
	case m.running:
		return runbook.Settlement{State: runbook.SettleRunning}, nil
	}
	return runbook.Settlement{State: runbook.SettleInDoubt}, nil
}

// Wait implements runbook.Executor: a command still running finishes now,
// successfully, and takes effect.
func (e *Executor) Wait(ctx context.Context, c *runbook.Call) (runbook.Outcome, error) {
	defer e.alive()()
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	h := e.world.host(c.Host.Name)
	m := h.markers[c.Token]
	if m == nil || (!m.running && !m.finished) {
		return runbook.Outcome{ExitCode: -1}, fmt.Errorf("%w: %s died without an exit status", runbook.ErrInDoubt, c.Token)
	}
	if m.running {
		kind := "do:"
		if m.undo {
			kind = "undo:"
		}
		h.Effects = append(h.Effects, kind+m.step)
		m.running, m.finished, m.rc = false, true, 0
	}
	return runbook.Outcome{ExitCode: m.rc}, nil
}

// Forget implements runbook.Executor.
func (e *Executor) Forget(ctx context.Context, c *runbook.Call) {
	defer e.alive()()
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	delete(e.world.host(c.Host.Name).markers, c.Token)
}

// Close implements runbook.Executor.
func (e *Executor) Close() error { return nil }

// Describe implements runbook.Executor with the real kinds' descriptions.
func (e *Executor) Describe(rb *runbook.Runbook, s *runbook.Step, version string) string {
	return steps.Describe(rb, s, version)
}

// Changes implements runbook.Executor with the real kinds' answers, so the
// engine's undo policy is tested on what the kinds really say.
func (e *Executor) Changes(rb *runbook.Runbook, s *runbook.Step) runbook.Change {
	return steps.Changes(rb, s)
}

// StagedSHA256 implements runbook.StagedChecker: the checksum the
// version was staged with.
func (e *Executor) StagedSHA256(ctx context.Context, h *runbook.Host, version string) (string, error) {
	defer e.alive()()
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	if host := e.world.host(h.Name); slices.Contains(host.Staged, version) {
		return host.sums[version], nil
	}
	return "", fmt.Errorf("releases/%s: %w", version, errNotExist)
}

// Diff implements runbook.Differ: environments agree unless DiffFacts says.
func (e *Executor) Diff(ctx context.Context, envA, envB string, out io.Writer) (*runbook.DiffReport, error) {
	defer e.alive()()
	return &runbook.DiffReport{EnvA: envA, EnvB: envB, Facts: []runbook.FactDiff{{Kind: "command", Fact: "true", Agree: true}}}, nil
}

var (
	_ runbook.Executor      = (*Executor)(nil)
	_ runbook.StagedChecker = (*Executor)(nil)
	_ runbook.Differ        = (*Executor)(nil)
)

// Effects returns every host's effects, "host: e1 e2 …" a line, sorted.
func (w *Hosts) Effects() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines []string
	for n, h := range w.hosts {
		lines = append(lines, n+": "+strings.Join(h.Effects, " "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// MarkerState says what the markers of token on host show, without
// touching them: "none", "claimed" (settled as never started), "running",
// "finished" or "in doubt".
func (w *Hosts) MarkerState(host, token string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.host(host).markers[token]
	switch {
	case m == nil:
		return "none"
	case m.claimed:
		return "claimed"
	case m.finished:
		return "finished"
	case m.running:
		return "running"
	}
	return "in doubt"
}

// MarkerCount says how many runs have markers on host: what Forget has
// not removed.
func (w *Hosts) MarkerCount(host string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.host(host).markers)
}
