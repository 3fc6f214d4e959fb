package remote_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

// filePrimitives checks the file primitives' contracts on any Conn: none
// of them follows a symbolic link at the path it is given. dir must not
// exist yet.
func filePrimitives(t *testing.T, c remote.Conn, dir string) {
	t.Helper()
	ctx := context.Background()
	outside := t.TempDir()
	secret := filepath.Join(outside, "authorized_keys")
	if err := os.WriteFile(secret, []byte("ssh-ed25519 AAAA keep-me\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := c.Mkdir(ctx, dir); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	if err := c.Mkdir(ctx, dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Mkdir of an existing directory: %v, want fs.ErrExist", err)
	}
	fi, err := c.Lstat(ctx, dir)
	if err != nil || !fi.IsDir() || fi.IsLink() || fi.UID != os.Geteuid() {
		t.Errorf("Lstat of a directory: %+v %v, want a directory owned by uid %d", fi, err, os.Geteuid())
	}
	if _, err := c.Lstat(ctx, filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat of nothing: %v, want fs.ErrNotExist", err)
	}

	link := filepath.Join(dir, "link")
	if err := c.Symlink(ctx, outside, link); err != nil {
		t.Fatalf("Symlink: %v", err)
	}
	if err := c.Symlink(ctx, outside, link); err == nil {
		t.Error("Symlink over an existing entry succeeded")
	}
	if fi, err := c.Lstat(ctx, link); err != nil || !fi.IsLink() || fi.IsDir() {
		t.Errorf("Lstat of a link to a directory: %+v %v, want the link itself", fi, err)
	}
	if target, err := c.Readlink(ctx, link); err != nil || target != outside {
		t.Errorf("Readlink: %q %v, want %q", target, err, outside)
	}
	if _, err := c.Readlink(ctx, filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Readlink of nothing: %v, want fs.ErrNotExist", err)
	}

	// A link to a file is hashed as a link: refused, never followed.
	fileLink := filepath.Join(dir, "file-link")
	if err := c.Symlink(ctx, secret, fileLink); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SHA256(ctx, fileLink); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SHA256 through a link: %v, want a refusal", err)
	}
	if _, err := c.SHA256(ctx, dir); err == nil {
		t.Error("SHA256 of a directory succeeded")
	}

	// Rename replaces a link, it does not write through it.
	tmp := filepath.Join(dir, "tmp")
	if err := c.Symlink(ctx, "releases/2.0", tmp); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, tmp, fileLink); err != nil {
		t.Fatalf("Rename over a link: %v", err)
	}
	if target, _ := c.Readlink(ctx, fileLink); target != "releases/2.0" {
		t.Errorf("after Rename the link points to %q", target)
	}

	// Remove and RemoveAll take a link away, never its target.
	if err := c.RemoveAll(ctx, link); err != nil {
		t.Fatalf("RemoveAll of a link: %v", err)
	}
	if err := c.Remove(ctx, fileLink); err != nil {
		t.Fatalf("Remove of a link: %v", err)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "ssh-ed25519 AAAA keep-me\n" {
		t.Fatalf("the target of removed links was touched: %q %v", b, err)
	}
	// Below a directory, a link is removed, not descended into.
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(tree, "sub", "escape")); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveAll(ctx, tree); err != nil {
		t.Fatalf("RemoveAll of a tree: %v", err)
	}
	if _, err := os.Lstat(tree); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tree left: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("RemoveAll descended into a link: %v", err)
	}
	if err := c.Remove(ctx, filepath.Join(dir, "none")); err != nil {
		t.Errorf("Remove of nothing: %v", err)
	}
	if err := c.RemoveAll(ctx, filepath.Join(dir, "none")); err != nil {
		t.Errorf("RemoveAll of nothing: %v", err)
	}
}

func TestFilePrimitivesLocal(t *testing.T) {
	c := remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()})
	filePrimitives(t, c, filepath.Join(t.TempDir(), "d"))
}

func TestFilePrimitivesSSH(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	filePrimitives(t, c, filepath.Join(t.TempDir(), "d"))
}
