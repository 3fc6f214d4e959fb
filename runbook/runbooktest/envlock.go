package runbooktest

import (
	"context"

	"github.com/runbook-dev/runbook/runbook"
)

// The fake executor keeps the environment locks on its hosts (Host.Lock),
// with the semantics of package steps: hosts without a deploy_dir have
// none. Lock calls are not counted by Calls: they change nothing a step
// does.

var _ runbook.EnvLocker = (*Executor)(nil)

func (e *Executor) lockable(h *runbook.Host) bool {
	if e.gen != e.world.gen.Load() {
		select {} // a dead process does nothing more
	}
	return h.DeployDir != ""
}

// LockHost implements runbook.EnvLocker.
func (e *Executor) LockHost(_ context.Context, h *runbook.Host, owner runbook.EnvLockOwner) error {
	if !e.lockable(h) {
		return nil
	}
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	host := e.world.host(h.Name)
	if l := host.Lock; l != nil && !l.Same(owner) {
		return &runbook.EnvLockedError{Env: owner.Env, Host: h.Name, Owner: *l}
	}
	host.Lock = &owner
	return nil
}

// UnlockHost implements runbook.EnvLocker.
func (e *Executor) UnlockHost(_ context.Context, h *runbook.Host, owner runbook.EnvLockOwner) error {
	if !e.lockable(h) {
		return nil
	}
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	if host := e.world.host(h.Name); host.Lock != nil && host.Lock.Same(owner) {
		host.Lock = nil
	}
	return nil
}

// HostLock implements runbook.EnvLocker.
func (e *Executor) HostLock(_ context.Context, h *runbook.Host) (*runbook.EnvLockOwner, error) {
	if !e.lockable(h) {
		return nil, nil
	}
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	if l := e.world.host(h.Name).Lock; l != nil {
		c := *l
		return &c, nil
	}
	return nil, nil
}

// BreakHostLock implements runbook.EnvLocker.
func (e *Executor) BreakHostLock(_ context.Context, h *runbook.Host) error {
	if !e.lockable(h) {
		return nil
	}
	e.world.mu.Lock()
	defer e.world.mu.Unlock()
	e.world.host(h.Name).Lock = nil
	return nil
}

// Locks returns the owner of the environment lock of every host that has
// one, by host name. Read it only while no process runs.
func (w *Hosts) Locks() map[string]runbook.EnvLockOwner {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]runbook.EnvLockOwner{}
	for n, h := range w.hosts {
		if h.Lock != nil {
			out[n] = *h.Lock
		}
	}
	return out
}
