package secrets

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// lockRetry is how often an update waiting for another one's lock tries
// again: flock is polled, so that ctx (Ctrl-C) ends the wait.
const lockRetry = 25 * time.Millisecond

// lockVault opens the vault at path and takes an exclusive lock (flock) on
// it, waiting while another runbook holds one; waiting, when not nil, is
// called once when the wait begins. The lock is on the file itself, so no
// lock file is left beside the vault, and the kernel drops it when the
// process dies, however it dies. The file returned is at offset 0.
func lockVault(ctx context.Context, path string, waiting func()) (*os.File, error) {
	for {
		f, fi, err := openFile(path, false)
		if err != nil {
			return nil, err
		}
		if err := flockWait(ctx, f, &waiting); err != nil {
			f.Close()
			return nil, err
		}
		// Whoever held the lock may have renamed a new vault into place
		// while this one waited on the old file: then it locks the new one.
		now, err := os.Stat(path)
		if err == nil && os.SameFile(fi, now) {
			return f, nil
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
}

// flockWait takes an exclusive flock on f, polling until it is free or ctx
// is done. On a file system without flock (some network and FUSE mounts)
// it returns at once: Save's check that the file did not change since it
// was read still stands there.
func flockWait(ctx context.Context, f *os.File, waiting *func()) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var ferr error
		if err := raw.Control(func(fd uintptr) { ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB) }); err != nil {
			return err
		}
		switch {
		case ferr == nil:
			return nil
		case errors.Is(ferr, syscall.ENOLCK), errors.Is(ferr, syscall.EOPNOTSUPP), errors.Is(ferr, syscall.ENOSYS):
			return nil
		case !errors.Is(ferr, syscall.EWOULDBLOCK):
			return &fs.PathError{Op: "lock", Path: f.Name(), Err: ferr}
		}
		if *waiting != nil {
			(*waiting)()
			*waiting = nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(lockRetry):
		}
	}
}
