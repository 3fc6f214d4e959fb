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
)

// Upload implements Conn.
func (l *Local) Upload(ctx context.Context, spec UploadSpec) (UploadResult, error) {
	return stage(ctx, localFS{}, spec)
}

// Activate implements Conn.
func (l *Local) Activate(ctx context.Context, spec ActivateSpec) (ActivateResult, error) {
	return activate(ctx, localFS{}, spec)
}

// Current implements Conn.
func (l *Local) Current(ctx context.Context, deployDir string) (string, error) {
	return current(ctx, localFS{}, deployDir)
}

// StagedSHA256 implements Conn.
func (l *Local) StagedSHA256(ctx context.Context, deployDir, version, name string) (string, error) {
	if err := checkVersion(version); err != nil {
		return "", err
	}
	return localFS{}.hashPrefix(ctx, filepath.Join(deployDir, releasesDir, version, name), -1)
}

// ReadFile implements Conn.
func (l *Local) ReadFile(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(path)
}

// Dial implements Conn: a local host dials from this machine.
func (l *Local) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// localFS is the operator machine's file system as a stager and releaseFS.
type localFS struct{}

func (localFS) where() string { return "the local machine" }

func (localFS) mkdirAll(_ context.Context, dir string) error { return os.MkdirAll(dir, 0o755) }

func (localFS) size(_ context.Context, p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (localFS) hashPrefix(_ context.Context, p string, n int64) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
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

func (localFS) write(_ context.Context, p string, offset int64, r *uploadReader) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	if err := f.Truncate(offset); err != nil {
		return fmt.Errorf("truncate %s: %w", p, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", p, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("write %s on the local machine: %w: free some space and upload again", p, errNoSpace)
		}
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return f.Close()
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

func (localFS) isDir(_ context.Context, p string) (bool, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

func (localFS) readlink(_ context.Context, p string) (string, error) {
	t, err := os.Readlink(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return t, err
}

func (localFS) replaceLink(_ context.Context, target, link string) error {
	tmp := link + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		return err
	}
	return syncDir(filepath.Dir(link))
}

func (localFS) releases(_ context.Context, dir string) ([]stagedRelease, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []stagedRelease
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, stagedRelease{Version: e.Name(), ModTime: fi.ModTime()})
	}
	return out, nil
}

func (localFS) removeAll(_ context.Context, p string) error { return os.RemoveAll(p) }

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
