package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damagingFS is the local file system with a host that damages what it
// receives: one byte of every upload flipped after it was written.
type damagingFS struct{ localFS }

func (d damagingFS) write(ctx context.Context, p string, offset int64, r *uploadReader) error {
	if err := d.localFS.write(ctx, p, offset, r); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 7); err != nil {
		return err
	}
	b[0] ^= 0xff
	_, err = f.WriteAt(b, 7)
	return err
}

func artifact(t *testing.T, size int) (string, string) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "billing.ear")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return p, hex.EncodeToString(s[:])
}

// The client does not hash what it sends: the host's checksum against the
// one of record must tell a damaged copy from a changed artifact, and
// neither may leave a file to resume from or a staged release.
func TestStageTellsDamageFromAChangedArtifact(t *testing.T) {
	ctx := context.Background()
	local, sum := artifact(t, 1<<20)

	dir := filepath.Join(t.TempDir(), "releases", "1.0")
	_, err := stage(ctx, damagingFS{}, UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch on the local machine") || !strings.Contains(err.Error(), "upload again") {
		t.Fatalf("damaged copy: %v, want a checksum mismatch that says to upload again", err)
	}
	for _, name := range []string{"billing.ear", partName("billing.ear")} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s left after a damaged copy", name)
		}
	}

	// The artifact changed after its checksum was taken (rebuilt during
	// the night): the copy is intact, the artifact is not the one of record.
	dir = filepath.Join(t.TempDir(), "releases", "1.0")
	stale := "00" + sum[2:]
	_, err = stage(ctx, localFS{}, UploadSpec{Local: local, SHA256: stale, Dir: dir, Name: "billing.ear"})
	if err == nil || !strings.Contains(err.Error(), "changed since its checksum was taken") || !strings.Contains(err.Error(), "now "+sum) {
		t.Fatalf("changed artifact: %v, want it named as changed since its checksum was taken", err)
	}
	for _, name := range []string{"billing.ear", partName("billing.ear")} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s left after a changed artifact", name)
		}
	}
}
