package remote_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	got, err := c.SHA256(context.Background(), filepath.Join(dir, "billing.ear"))
	if err != nil || got != sum {
		t.Errorf("SHA256: %s %v, want %s", got, err, sum)
	}
	if _, err := c.SHA256(context.Background(), filepath.Join(dir, "missing.ear")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SHA256 of a missing file: %v, want fs.ErrNotExist", err)
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
	if got, err := c.SHA256(context.Background(), filepath.Join(dir, "a.ear")); err != nil || got != sum {
		t.Errorf("SHA256 %s %v", got, err)
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

// An upload given its checksum through Sum starts the copy without it:
// Sum is asked only once every byte is read (it would wait forever
// otherwise), and a Sum that fails leaves the copy under its temporary
// name, never renamed, for the next upload to resume from.
func TestUploadStartsBeforeItsChecksum(t *testing.T) {
	srv := remotetest.NewServer(t, remotetest.Options{})
	c := connect(t, testPool(t, srv, remote.PoolOptions{}), hostConfig(srv))
	const size = 3<<20 + 321
	local, sum := randomFile(t, size)
	dir := filepath.Join(t.TempDir(), "releases", "2.5.0")
	final, part := filepath.Join(dir, "billing.ear"), filepath.Join(dir, ".billing.ear.part")
	// copying: the upload copies, so Sum must not be asked for before
	// every byte is read.
	upload := func(sumErr error, copying bool) (remote.UploadResult, int, error) {
		read := make(chan struct{})
		if !copying {
			close(read)
		}
		var once sync.Once
		asked := 0
		spec := remote.UploadSpec{Local: local, Dir: dir, Name: "billing.ear",
			Progress: func(done, total int64) {
				if copying && done == total {
					once.Do(func() { close(read) })
				}
			},
			Sum: func(ctx context.Context) (string, error) {
				asked++
				select {
				case <-read:
				case <-time.After(time.Minute):
					return "", errors.New("Sum was asked for before the copy was sent")
				}
				return sum, sumErr
			}}
		res, err := c.Upload(context.Background(), spec)
		return res, asked, err
	}

	refused := errors.New("the release may not ship this artifact")
	if _, asked, err := upload(refused, true); !errors.Is(err, refused) || asked != 1 {
		t.Fatalf("upload whose Sum fails: %v (Sum asked %d times), want its error", err, asked)
	}
	if exists(final) {
		t.Fatal("renamed into place without a checksum of record")
	}
	if fi, err := os.Stat(part); err != nil || fi.Size() != size {
		t.Fatalf("the copy under its temporary name: %v, %v; want all %d bytes kept", fi, err, size)
	}

	res, asked, err := upload(nil, true)
	if err != nil || asked != 1 {
		t.Fatalf("upload: %v (Sum asked %d times)", err, asked)
	}
	if res.Resumed == 0 || res.Resumed+res.Written != size {
		t.Errorf("result %+v, want a resume of the kept copy", res)
	}
	if got := fileSHA256(t, final); got != sum || exists(part) {
		t.Errorf("staged %s (temp file left: %v), want %s", got, exists(part), sum)
	}

	// Already staged: Sum tells that it is the same file.
	res, asked, err = upload(nil, false)
	if err != nil || !res.Skipped || asked != 1 {
		t.Errorf("upload of what is staged: %+v %v (Sum asked %d times), want skipped", res, err, asked)
	}
}
