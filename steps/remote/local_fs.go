package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Upload implements Conn.
func (l *Local) Upload(ctx context.Context, spec UploadSpec) (UploadResult, error) {
	return stage(ctx, localFS{}, spec)
}

// Lstat implements Conn.
func (l *Local) Lstat(_ context.Context, p string) (FileInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return FileInfo{}, err
	}
	return localInfo(fi), nil
}

func localInfo(fi fs.FileInfo) FileInfo {
	uid := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	return FileInfo{Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime(), UID: uid}
}

// Readlink implements Conn.
func (l *Local) Readlink(_ context.Context, p string) (string, error) { return os.Readlink(p) }

// Symlink implements Conn.
func (l *Local) Symlink(_ context.Context, target, link string) error {
	return os.Symlink(target, link)
}

// Rename implements Conn: the directory is synced, so the rename survives
// a power cut.
func (l *Local) Rename(ctx context.Context, from, to string) error {
	return localFS{}.rename(ctx, from, to)
}

// Mkdir implements Conn.
func (l *Local) Mkdir(_ context.Context, p string) error { return os.Mkdir(p, 0o755) }

// WriteFile implements Conn.
func (l *Local) WriteFile(_ context.Context, p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Remove implements Conn.
func (l *Local) Remove(ctx context.Context, p string) error { return localFS{}.remove(ctx, p) }

// RemoveAll implements Conn. os.RemoveAll removes a link, not its target.
func (l *Local) RemoveAll(_ context.Context, p string) error { return os.RemoveAll(p) }

// SHA256 implements Conn.
func (l *Local) SHA256(ctx context.Context, p string) (string, error) {
	return localFS{}.hashPrefix(ctx, p, -1, "")
}

// ReadFile implements Conn.
func (l *Local) ReadFile(_ context.Context, p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReadFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > maxReadFile {
		return nil, fmt.Errorf("read %s on the local machine: larger than %d MiB", p, maxReadFile>>20)
	}
	return b, nil
}

// Dial implements Conn: a local host dials from this machine.
func (l *Local) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// localFS is the operator machine's file system as a stager.
type localFS struct{}

func (localFS) where() string { return "the local machine" }

func (localFS) mkdirAll(_ context.Context, dir string) error { return os.MkdirAll(dir, 0o755) }

func (localFS) lstatAll(_ context.Context, paths ...string) []lstatResult {
	out := make([]lstatResult, len(paths))
	for i, p := range paths {
		fi, err := os.Lstat(p)
		if err == nil {
			out[i].fi = localInfo(fi)
		}
		out[i].err = err
	}
	return out
}

// hashPrefix opens p without following a link (O_NOFOLLOW), so what is
// hashed is the file the name holds, not a target swapped in.
func (localFS) hashPrefix(_ context.Context, p string, n int64, guard string) (string, error) {
	if guard != "" {
		if err := localOwned(guard); err != nil {
			return "", err
		}
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.ELOOP) {
		return "", fmt.Errorf("%s is a symbolic link: %w", p, errNotRegular)
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file: %w", p, errNotRegular)
	}
	h := sha256.New()
	var r io.Reader = f
	if n >= 0 {
		r = io.LimitReader(f, n)
	}
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// localOwned refuses a directory that is a link, or that it or its parent
// is not this process's user's.
func localOwned(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s on the local machine is a symbolic link: %w", dir, errForeign)
	}
	// dir/.. rather than filepath.Dir: the parent the kernel resolves.
	parent, err := os.Stat(dir + "/..")
	if err != nil {
		return err
	}
	uid := os.Geteuid()
	for p, fi := range map[string]fs.FileInfo{dir: fi, filepath.Dir(dir): parent} {
		if owner := localInfo(fi).UID; owner != uid {
			return fmt.Errorf("%s on the local machine belongs to uid %d, not to this user (uid %d): %w", p, owner, uid, errForeign)
		}
	}
	return nil
}

func (localFS) write(_ context.Context, p string, offset int64, r *uploadReader) (wrote, error) {
	// A fresh temp file is created exclusively (the caller removed what
	// was there): never through a link someone planted. A partial one is
	// reopened without following a link.
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if offset > 0 {
		flags = os.O_WRONLY | syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(p, flags, 0o644)
	if err != nil {
		return wrote{}, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	if err := f.Truncate(offset); err != nil {
		return wrote{}, fmt.Errorf("truncate %s: %w", p, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return wrote{}, fmt.Errorf("seek %s: %w", p, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return wrote{}, fmt.Errorf("write %s on the local machine: %w: free some space and upload again", p, errNoSpace)
		}
		return wrote{}, fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return wrote{}, fmt.Errorf("sync %s: %w", p, err)
	}
	// Hashed afterwards: reading back a local file costs what hashing
	// it along the way would.
	return wrote{synced: time.Now()}, f.Close()
}

func (localFS) rename(_ context.Context, from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return syncDir(filepath.Dir(to))
}

func (localFS) remove(_ context.Context, p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// A local partial file is written sequentially: every byte of it is data.
func (localFS) resumeMargin() int64 { return 0 }

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
