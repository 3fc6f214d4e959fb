package remote_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
)

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestUploadChecksumRenameAndSkip(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	local, sum := randomFile(t, 3<<20+123)
	dir := filepath.Join(t.TempDir(), "releases", "2.4.0") // created by Upload
	var last, total int64
	spec := remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear",
		Progress: func(done, tot int64) { last, total = done, tot }}
	res, err := c.Upload(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped || res.Resumed != 0 || res.Written != 3<<20+123 {
		t.Errorf("result %+v, want a full write", res)
	}
	if got := fileSHA256(t, filepath.Join(dir, "billing.ear")); got != sum {
		t.Errorf("staged file hash %s, want %s", got, sum)
	}
	if exists(filepath.Join(dir, ".billing.ear.part")) {
		t.Error("the temp file is left behind")
	}
	if last != total || total != 3<<20+123 {
		t.Errorf("last progress %d/%d", last, total)
	}
	res, err = c.Upload(context.Background(), spec)
	if err != nil || !res.Skipped || res.Written != 0 {
		t.Errorf("second upload: %+v %v, want skipped", res, err)
	}
	got, err := c.StagedSHA256(context.Background(), filepath.Dir(filepath.Dir(dir)), "2.4.0", "billing.ear")
	if err != nil || got != sum {
		t.Errorf("StagedSHA256: %s %v, want %s", got, err, sum)
	}
	if _, err := c.StagedSHA256(context.Background(), filepath.Dir(filepath.Dir(dir)), "9.9", "billing.ear"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("StagedSHA256 of a missing release: %v, want fs.ErrNotExist", err)
	}
}

func TestUploadRefusesAChangedArtifact(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	local, _ := randomFile(t, 100<<10)
	dir := t.TempDir()
	_, err := c.Upload(context.Background(), remote.UploadSpec{Local: local, SHA256: "00" + fileSHA256(t, local)[2:], Dir: dir, Name: "a.ear"})
	if err == nil {
		t.Fatal("an artifact that does not match its checksum was staged")
	}
	if !strings.Contains(err.Error(), "changed since its checksum was taken") {
		t.Errorf("error %q does not say the artifact changed", err)
	}
	if exists(filepath.Join(dir, "a.ear")) || exists(filepath.Join(dir, ".a.ear.part")) {
		t.Error("the final or the temp file exists")
	}
}

func TestUploadResumesAfterADroppedConnection(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	pool := testPool(t, srv, remote.PoolOptions{})
	c := connect(t, pool, hostConfig(srv))
	const size = 8 << 20
	local, sum := randomFile(t, size)
	dir := t.TempDir()
	spec := remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"}

	srv.DropSFTPAfter(5 << 20)
	if _, err := c.Upload(context.Background(), spec); err == nil {
		t.Fatal("upload survived a dropped connection")
	}
	part, err := os.Stat(filepath.Join(dir, ".billing.ear.part"))
	if err != nil || part.Size() == 0 {
		t.Fatalf("no partial file after the drop: %v", err)
	}
	res, err := c.Upload(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed <= 0 || res.Resumed+res.Written != size {
		t.Errorf("result %+v, want a resumed upload (partial file was %d bytes)", res, part.Size())
	}
	if got := fileSHA256(t, filepath.Join(dir, "billing.ear")); got != sum {
		t.Errorf("final hash %s, want %s", got, sum)
	}
	if pool.Dials() != 2 {
		t.Errorf("%d dials, want 2", pool.Dials())
	}
}

// A partial file whose prefix does not match is not resumed from.
func TestUploadRestartsFromAForeignPartialFile(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	local, sum := randomFile(t, 2<<20)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".billing.ear.part"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := c.Upload(context.Background(), remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"})
	if err != nil || res.Resumed != 0 || res.Written != 2<<20 {
		t.Fatalf("%+v %v, want a full upload", res, err)
	}
	if got := fileSHA256(t, filepath.Join(dir, "billing.ear")); got != sum {
		t.Errorf("final hash %s, want %s", got, sum)
	}
}

func TestUploadPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	local, sum := randomFile(t, 10)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err := c.Upload(context.Background(), remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "a.ear"})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("got %v, want permission denied", err)
	}
}

// stageRelease makes releases/<v> with an mtime age ago.
func stageRelease(t *testing.T, deploy, v string, age time.Duration) {
	t.Helper()
	d := filepath.Join(deploy, "releases", v)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(d, when, when); err != nil {
		t.Fatal(err)
	}
}

func releasesLeft(t *testing.T, deploy string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(deploy, "releases"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// activateAndKeep runs the same scenario against any Conn.
func activateAndKeep(t *testing.T, c remote.Conn, deploy string) {
	ctx := context.Background()
	// 2.9 is older than 2.10 although it sorts after it; 1.0 is the
	// oldest and must survive as the previous release.
	for v, age := range map[string]time.Duration{"1.0": 50 * time.Hour, "2.8": 40 * time.Hour, "2.9": 30 * time.Hour, "2.10": 20 * time.Hour, "3.0": 10 * time.Hour} {
		stageRelease(t, deploy, v, age)
	}
	if v, err := c.Current(ctx, deploy); err != nil || v != "" {
		t.Fatalf("Current before any activation: %q %v", v, err)
	}
	if _, err := c.Activate(ctx, remote.ActivateSpec{DeployDir: deploy, Version: "1.0"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Activate(ctx, remote.ActivateSpec{DeployDir: deploy, Version: "3.0", Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Previous != "1.0" {
		t.Errorf("previous %q, want 1.0", res.Previous)
	}
	// Keep 2 newest (3.0, 2.10) plus the previous (1.0).
	if want := []string{"2.8", "2.9"}; !slices.Equal(res.Removed, want) {
		t.Errorf("removed %v, want %v (oldest first)", res.Removed, want)
	}
	if left, want := releasesLeft(t, deploy), []string{"1.0", "2.10", "3.0"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if v, err := c.Current(ctx, deploy); err != nil || v != "3.0" {
		t.Errorf("Current: %q %v, want 3.0", v, err)
	}
	target, err := os.Readlink(filepath.Join(deploy, "current"))
	if err != nil || target != "releases/3.0" {
		t.Errorf("current -> %q %v", target, err)
	}
	// Again: nothing changes, the same previous is reported.
	res, err = c.Activate(ctx, remote.ActivateSpec{DeployDir: deploy, Version: "3.0", Keep: 2})
	if err != nil || res.Previous != "1.0" || len(res.Removed) != 0 {
		t.Errorf("repeated activation: %+v %v", res, err)
	}
	if _, err := c.Activate(ctx, remote.ActivateSpec{DeployDir: deploy, Version: "4.0"}); err == nil {
		t.Error("activated a release that is not staged")
	}
	if _, err := c.Activate(ctx, remote.ActivateSpec{DeployDir: deploy, Version: "../x"}); err == nil {
		t.Error("activated a version outside releases/")
	}
}

func TestActivateKeepsLiveAndPreviousSSH(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	activateAndKeep(t, connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv)), t.TempDir())
}

func TestActivateKeepsLiveAndPreviousLocal(t *testing.T) {
	activateAndKeep(t, remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()}), t.TempDir())
}

func TestUploadLocal(t *testing.T) {
	c := remote.NewLocal(remote.HostConfig{Name: "local", Local: true, MarkerDir: t.TempDir()})
	local, sum := randomFile(t, 1<<20+7)
	dir := filepath.Join(t.TempDir(), "releases", "1")
	spec := remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "a.ear"}
	// A partial file from an interrupted copy: its first half is right.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(local)
	if err := os.WriteFile(filepath.Join(dir, ".a.ear.part"), b[:1<<19], 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := c.Upload(context.Background(), spec)
	if err != nil || res.Resumed != 1<<19 || res.Written != 1<<20+7-1<<19 {
		t.Fatalf("%+v %v, want resumed from the half", res, err)
	}
	if got := fileSHA256(t, filepath.Join(dir, "a.ear")); got != sum {
		t.Errorf("hash %s, want %s", got, sum)
	}
	if res, err := c.Upload(context.Background(), spec); err != nil || !res.Skipped {
		t.Errorf("second upload %+v %v, want skipped", res, err)
	}
	if got, err := c.StagedSHA256(context.Background(), filepath.Dir(filepath.Dir(dir)), "1", "a.ear"); err != nil || got != sum {
		t.Errorf("StagedSHA256 %s %v", got, err)
	}
}

func TestReadFile(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	p := filepath.Join(t.TempDir(), "httpd.conf")
	if err := os.WriteFile(p, []byte("Listen 80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := c.ReadFile(context.Background(), p)
	if err != nil || string(b) != "Listen 80\n" {
		t.Errorf("ReadFile: %q %v", b, err)
	}
	if _, err := c.ReadFile(context.Background(), p+".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
