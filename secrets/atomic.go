package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// writeFileAtomic replaces path with data, of exactly o.mode (the umask
// does not apply), so that a crash at any moment leaves either the old
// file or the new one: the data goes to a temporary file in the same
// directory, is synced, renamed over path, and the directory is synced so
// the rename itself survives a power cut. A symbolic link at path is
// followed: its target is replaced and the link kept. With o.lock, the new
// file is locked (flock) before it takes path's place and returned open,
// holding the lock: see OpenForUpdate.
func writeFileAtomic(path string, data []byte, o atomicOptions) (locked *os.File, err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if o.lock {
		// Locked before it is in place: between the rename and this
		// writer's Close, another update opening the new vault waits.
		if err := flockWait(context.Background(), f, new(func())); err != nil {
			return nil, err
		}
	}
	// Chmod ignores the umask, so the mode is exactly o.mode.
	if err := f.Chmod(o.mode); err != nil {
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if !o.lock {
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	if o.vault {
		Hit(PointVaultTemp)
	}
	if o.check != nil {
		if err := o.check(); err != nil {
			return nil, err
		}
	}
	if o.exclusive {
		err = linkExclusive(tmp, path)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return nil, err
	}
	if o.vault {
		Hit(PointVaultRenamed)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	removeStrays(dir, filepath.Base(path))
	if o.lock {
		return f, nil
	}
	return nil, nil
}

// atomicOptions are the ways writes of writeFileAtomic differ.
type atomicOptions struct {
	mode fs.FileMode
	// exclusive: an existing file at path is never replaced; the error
	// matches fs.ErrExist.
	exclusive bool
	// check, when not nil, is called just before the rename: its error
	// leaves path as it was.
	check func() error
	// vault: the write passes the crash points of a vault rewrite (Hit).
	vault bool
	// lock: the new file is locked before the rename, and returned open.
	lock bool
}

// removeStrays removes the temporary files that writes of path killed
// before their rename left in dir. Each is a whole vault, encrypted and
// 0600, but under the key of its day: left there, it would outlive the
// `vault rekey` that retires a leaked passphrase and still open with it.
// Updates hold the vault's lock (OpenForUpdate), so no other write of it
// is in progress; one that does not (a Save after a plain Open) and whose
// file goes this way fails loudly at its rename.
func removeStrays(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // best effort: the vault itself is written
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+base+".tmp-") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// linkExclusive puts tmp at path only if nothing is there. A hard link
// fails atomically when path exists; on file systems without hard links it
// falls back to a check then a rename, which only a concurrent creator of
// the same file could race.
func linkExclusive(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		// The vault is in place; a stray temporary name is only clutter.
		_ = os.Remove(tmp)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, statErr := os.Lstat(path); statErr == nil {
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
