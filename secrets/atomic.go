package secrets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// writeFileAtomic replaces path with data, mode 0600, so that a crash at
// any moment leaves either the old file or the new one: the data goes to a
// temporary file in the same directory, is synced, renamed over path, and
// the directory is synced so the rename itself survives a power cut. With
// exclusive set, an existing file at path is never replaced and the error
// matches fs.ErrExist. A symbolic link at path is followed: its target is
// replaced and the link kept.
func writeFileAtomic(path string, data []byte, exclusive bool) (err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Chmod ignores the umask, so the mode is exactly 0600.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	Hit(PointVaultTemp)
	if exclusive {
		err = linkExclusive(tmp, path)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	Hit(PointVaultRenamed)
	if err := syncDir(dir); err != nil {
		return err
	}
	removeStrays(dir, filepath.Base(path))
	return nil
}

// removeStrays removes the temporary files that writes of path killed
// before their rename left in dir. Each is a whole vault, encrypted and
// 0600, but under the key of its day: left there, it would outlive the
// `vault rekey` that retires a leaked passphrase and still open with it.
// A concurrent writer of the same vault whose file goes this way fails
// loudly at its rename, where it would otherwise have silently replaced
// this write.
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
