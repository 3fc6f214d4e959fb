package remotetest

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size bytes on a fresh directory for the test
// and unmounts it when the test ends: a file system that really fills up
// (ENOSPC from the kernel, for SQLite, sftp-server and sh alike), for
// disk-full tests. Mounting needs root (CAP_SYS_ADMIN); where it is not
// allowed the test is skipped, saying why: a loop device or a FUSE file
// system would need the same privilege, and RLIMIT_FSIZE kills a process
// with SIGXFSZ rather than failing its writes as a full disk does.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	opts := fmt.Sprintf("size=%d,mode=0755", size)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		t.Skipf("cannot mount a %d-byte tmpfs on %s (%v): the disk-full tests need root or CAP_SYS_ADMIN", size, dir, err)
	}
	// Registered after TempDir's removal, so it runs before it. A lazy
	// unmount, so that a process of the test still holding a file open
	// (an sshd child being reaped) cannot fail it.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount the tmpfs on %s: %v", dir, err)
		}
	})
	return dir
}

// ResizeDisk changes the size of a SmallDisk, as an administrator growing
// a volume would; files on it stay.
func ResizeDisk(t testing.TB, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("resize the tmpfs on %s to %d bytes: %v", dir, size, err)
	}
}

// FreeBytes returns the room left on the file system of dir.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// Fill takes all the room on the file system of dir but leave bytes (in
// whole blocks) with a ballast file, as another program filling the disk
// would; removing the returned file frees the room again.
func Fill(t testing.TB, dir string, leave int64) string {
	t.Helper()
	p := filepath.Join(dir, "ballast")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := FreeBytes(t, dir) - leave; n > 0 {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, n); err != nil {
			t.Fatalf("fill %s with %d bytes: %v", dir, n, err)
		}
	}
	return p
}
