package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// The environment lock on one host, in its deploy_dir (layout.go names
// the files). The engine decides when (runbook/engine/envlock.go); this
// is how.

var _ runbook.EnvLocker = (*Executor)(nil)

// ownerWaits bounds how long a lock found without an owner file is
// waited for; it cannot be, since the directory arrives with it, unless
// someone made it by hand or a disk lost the file.
const (
	ownerWaits     = 10
	ownerWaitDelay = 50 * time.Millisecond
)

func (l layout) lockPath() string { return l.path(lockDir) }

// writeOwner writes the lock's owner file in dir, through SFTP: no
// process starts on the host (the lock is taken on every host at the
// start of a release). With create it makes dir first, which must not
// exist, and writes the owner straight into it: nobody looks in the
// directory before it is renamed into place. Otherwise the owner file of
// an existing lock is replaced through a temporary name.
func (l layout) writeOwner(ctx context.Context, dir string, o runbook.EnvLockOwner, create bool) error {
	if err := l.putOwner(ctx, dir, []byte(runbook.FormatOwner(o)), create); err != nil {
		return fmt.Errorf("write the owner of the environment lock %s on %s: %w", dir, l.host, err)
	}
	return nil
}

// putOwner is writeOwner without the context of its error.
func (l layout) putOwner(ctx context.Context, dir string, owner []byte, create bool) error {
	if create {
		if err := l.conn.Mkdir(ctx, dir); err != nil {
			return err
		}
		return l.conn.WriteFile(ctx, path.Join(dir, lockOwner), owner)
	}
	tmp := path.Join(dir, lockOwner+".tmp")
	if err := l.conn.Remove(ctx, tmp); err != nil {
		return err
	}
	if err := l.conn.WriteFile(ctx, tmp, owner); err != nil {
		return err
	}
	return l.conn.Rename(ctx, tmp, path.Join(dir, lockOwner))
}

// ensureDir makes deploy_dir, with its missing parents, as mkdir -p would:
// a first release finds none.
func (l layout) ensureDir(ctx context.Context) error {
	var missing []string
	for p := l.dir; p != "/" && p != "." && p != ""; p = path.Dir(p) {
		if _, err := l.conn.Lstat(ctx, p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("look at %s on %s: %w", p, l.host, err)
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := l.conn.Mkdir(ctx, missing[i]); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s on %s: %w", missing[i], l.host, err)
		}
	}
	return nil
}

// readLock reads the lock's owner; nil when there is no lock, and
// *runbook.EnvLockedError with Unknown when its owner file says nothing
// readable.
func (l layout) readLock(ctx context.Context, env string) (*runbook.EnvLockOwner, error) {
	for i := 0; ; i++ {
		if _, err := l.realDir(ctx, l.lockPath()); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		b, err := l.conn.ReadFile(ctx, path.Join(l.lockPath(), lockOwner))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read the owner of the environment lock on %s: %w", l.host, err)
		}
		if o, ok := runbook.ParseOwner(string(b)); ok {
			return &o, nil
		}
		if i == ownerWaits {
			return nil, &runbook.EnvLockedError{Env: env, Host: l.host, Unknown: true}
		}
		time.Sleep(ownerWaitDelay)
	}
}

func (e *Executor) lockLayout(ctx context.Context, h *runbook.Host) (layout, bool, error) {
	if h.DeployDir == "" {
		return layout{}, false, nil
	}
	conn, err := e.conn(ctx, h)
	if err != nil {
		return layout{}, false, err
	}
	return layout{conn: conn, dir: h.DeployDir, host: h.Name}, true, nil
}

// LockHost implements runbook.EnvLocker: a directory made under a name
// of its own with the owner file in it, then renamed to .runbook-lock.
func (e *Executor) LockHost(ctx context.Context, h *runbook.Host, owner runbook.EnvLockOwner) error {
	l, ok, err := e.lockLayout(ctx, h)
	if err != nil || !ok {
		return err
	}
	if err := l.ensureDir(ctx); err != nil {
		return err
	}
	// The release's own name for the directory on its way: a try cut
	// short (a kill) leaves it, and the next try of the release, from
	// whichever machine, clears it before it begins.
	tmp := l.lockPath() + "." + tmpName(owner)
	if err := l.conn.RemoveAll(ctx, tmp); err != nil {
		return fmt.Errorf("clear %s on %s: %w", tmp, h.Name, err)
	}
	if err := l.writeOwner(ctx, tmp, owner, true); err != nil {
		_ = l.conn.RemoveAll(ctx, tmp)
		return err
	}
	err = l.conn.Rename(ctx, tmp, l.lockPath())
	if err == nil {
		return nil
	}
	_ = l.conn.RemoveAll(ctx, tmp)
	held, rerr := l.readLock(ctx, owner.Env)
	switch {
	case rerr != nil:
		return rerr
	case held == nil:
		return fmt.Errorf("lock environment %s on %s: %w", owner.Env, h.Name, err)
	case held.Same(owner):
		// This release's own lock (a resume, maybe from another machine
		// sharing the store): it is taken again, naming who holds it now.
		return l.writeOwner(ctx, l.lockPath(), owner, false)
	}
	return &runbook.EnvLockedError{Env: owner.Env, Host: h.Name, Owner: *held}
}

// tmpName names the directory a release makes on its way to the lock:
// its store and release, in characters any file system takes.
func tmpName(o runbook.EnvLockOwner) string {
	id := []byte(o.StoreID)
	for i, c := range id {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			id[i] = '_'
		}
	}
	return fmt.Sprintf("%.16s-r%d", id, o.ReleaseID)
}

// UnlockHost implements runbook.EnvLocker.
func (e *Executor) UnlockHost(ctx context.Context, h *runbook.Host, owner runbook.EnvLockOwner) error {
	l, ok, err := e.lockLayout(ctx, h)
	if err != nil || !ok {
		return err
	}
	held, err := l.readLock(ctx, owner.Env)
	var le *runbook.EnvLockedError
	switch {
	case errors.As(err, &le):
		return nil // no owner: nobody's to give back
	case err != nil:
		return err
	case held == nil || !held.Same(owner):
		return nil // none, or someone else's
	}
	return l.conn.RemoveAll(ctx, l.lockPath())
}

// HostLock implements runbook.EnvLocker.
func (e *Executor) HostLock(ctx context.Context, h *runbook.Host) (*runbook.EnvLockOwner, error) {
	l, ok, err := e.lockLayout(ctx, h)
	if err != nil || !ok {
		return nil, err
	}
	return l.readLock(ctx, h.Env.Name)
}

// BreakHostLock implements runbook.EnvLocker.
func (e *Executor) BreakHostLock(ctx context.Context, h *runbook.Host) error {
	l, ok, err := e.lockLayout(ctx, h)
	if err != nil || !ok {
		return err
	}
	if _, err := l.realDir(ctx, l.lockPath()); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	return l.conn.RemoveAll(ctx, l.lockPath())
}
