package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
)

// The environment lock (docs/SPEC.md "Teams"): teams that do not share a
// state database still must not deploy one environment at once. Before a
// walk first changes an environment, it takes a lock on each of its hosts
// (Config.Locker; package steps makes it a directory in deploy_dir, named
// in steps/layout.go) that names the operator, the machine, the release and
// the store. The lock belongs to the release, not to the process: a release
// paused, failed or killed keeps it, and the release resumed — from any
// machine that shares its store — finds it as its own and goes on. The
// locks go when the release ends: succeeded, rolled back or aborted.
//
// This file is the whole policy; the walk calls lockEnv before a step or
// an undo changes hosts, and unlockEnvs when the release ends — just
// before its end is recorded, not after: killed in between, the release
// is still unfinished and its resume takes the locks again and gives them
// back; the other order left a finished release's lock on the hosts it
// had not yet unlocked, which nothing would ever remove
// (TestKillRandom found one).

// changesEnv reports whether step s changes the hosts of its environment
// (its build directory aside), which is what the lock guards.
func (w *night) changesEnv(s *runbook.Step) bool {
	switch w.cfg.Exec.Changes(w.rb, s) {
	case runbook.ChangesNothing, runbook.ChangesBuild:
		return false
	}
	return s.On != "" && w.rb.Envs[s.On] != nil
}

// lockOwner is this walk as the owner file of a lock names it.
func (w *night) lockOwner(ctx context.Context, env string) (runbook.EnvLockOwner, error) {
	id, err := w.cfg.Store.StoreID(ctx)
	if err != nil {
		return runbook.EnvLockOwner{}, fmt.Errorf("read the id of the state database for the lock of %s: %w", env, err)
	}
	pid := w.cfg.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	r := w.rel()
	return runbook.EnvLockOwner{Operator: w.cfg.Operator, Machine: w.cfg.Machine, PID: pid, Env: env,
		Version: r.Version, ReleaseID: r.ID, State: w.cfg.StateLocation, StoreID: id, Since: w.rec.now()}, nil
}

// lockEnv takes the lock of s's environment on each of its hosts, once
// per walk, before s changes them. Another release's lock on any of them
// stops the walk before anything changes (the locks taken by this call
// are given back), and so does a decision nobody can make (an unknown
// host key). A host that cannot be reached is left to the step itself,
// which meets the same problem and fails on its own.
func (w *night) lockEnv(ctx context.Context, s *runbook.Step) error {
	if w.cfg.Locker == nil || !w.changesEnv(s) || w.locked[s.On] {
		return nil
	}
	owner, err := w.lockOwner(ctx, s.On)
	if err != nil {
		return err
	}
	hosts := w.rb.Envs[s.On].Hosts
	errs := onAllHosts(hosts, func(h *runbook.Host) error { return w.cfg.Locker.LockHost(ctx, h, owner) })
	var stop error
	for i, err := range errs {
		var le *runbook.EnvLockedError
		switch {
		case err == nil:
		case errors.As(err, &le), errors.Is(err, runbook.ErrNeedsHuman), ctx.Err() != nil:
			stop = firstErr(stop, err)
		default:
			w.cfg.UI.Warn(fmt.Sprintf("could not lock environment %s on %s: %v", s.On, hosts[i].Name, err))
		}
	}
	if stop != nil {
		var taken []*runbook.Host
		for i, h := range hosts {
			if errs[i] == nil {
				taken = append(taken, h)
			}
		}
		onAllHosts(taken, func(h *runbook.Host) error { return w.cfg.Locker.UnlockHost(context.WithoutCancel(ctx), h, owner) })
		var le *runbook.EnvLockedError
		if errors.As(stop, &le) {
			return runbook.WithHint(stop, fmt.Sprintf("ask %s to finish or abort release %s; if that runbook is gone for good, "+
				"`runbook unlock --env %s --reason WHY` removes the lock (with --force when it ran on another machine)",
				le.Owner.Operator, le.Owner.Version, s.On))
		}
		return stop
	}
	if w.locked == nil {
		w.locked = map[string]bool{}
	}
	w.locked[s.On] = true
	return nil
}

// firstErr keeps the first error.
func firstErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// unlockEnvs gives back the locks of the release on every host of every
// environment it may have changed, when the release has ended. Only this
// release's locks go (EnvLocker.UnlockHost checks the owner), so hosts it
// never locked are safe to ask; a host that cannot be reached keeps its
// lock, which `runbook unlock --env` removes, and says so.
func (w *night) unlockEnvs(ctx context.Context) {
	if w.cfg.Locker == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	done := map[string]bool{}
	for _, s := range w.rb.Steps {
		if !w.changesEnv(s) || done[s.On] {
			continue
		}
		done[s.On] = true
		owner, err := w.lockOwner(ctx, s.On)
		if err != nil {
			w.cfg.UI.Warn(err.Error())
			return
		}
		// All hosts at once, as lockEnv takes them: one after the other,
		// a hundred hosts kept a finished release waiting a third of a
		// second (a read and a removal through SFTP each).
		hosts := w.rb.Envs[s.On].Hosts
		errs := onAllHosts(hosts, func(h *runbook.Host) error { return w.cfg.Locker.UnlockHost(ctx, h, owner) })
		for i, err := range errs {
			if err != nil {
				w.cfg.UI.Warn(fmt.Sprintf("the lock of environment %s stays on %s (%v): `runbook unlock --env %s --reason WHY` removes it", s.On, hosts[i].Name, err, s.On))
			}
		}
	}
	w.locked = nil
}

// onAllHosts calls f for every host at once (EnvLocker allows calls for
// different hosts to run concurrently) and returns their errors in the
// hosts' order.
func onAllHosts(hosts []*runbook.Host, f func(h *runbook.Host) error) []error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { errs[i] = f(h) })
	}
	wg.Wait()
	return errs
}
