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

func (d damagingFS) write(ctx context.Context, p string, offset int64, r *uploadReader) (wrote, error) {
	w, err := d.localFS.write(ctx, p, offset, r)
	if err != nil {
		return w, err
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return w, err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 7); err != nil {
		return w, err
	}
	b[0] ^= 0xff
	_, err = f.WriteAt(b, 7)
	return w, err
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

// liveFS is the local file system with a host that hashes while it
// writes: write reports the live sum that sum gives, and the read-backs
// stage asks for are counted.
type liveFS struct {
	localFS
	sum    func(p string) string
	hashes *int
}

func (l liveFS) write(ctx context.Context, p string, offset int64, r *uploadReader) (wrote, error) {
	w, err := l.localFS.write(ctx, p, offset, r)
	w.liveSum = l.sum(p)
	return w, err
}

func (l liveFS) hashPrefix(ctx context.Context, p string, n int64, guard string) (string, error) {
	*l.hashes++
	return l.localFS.hashPrefix(ctx, p, n, guard)
}

// A live sum equal to the checksum of record proves the copy: no second
// pass over it. Any other live sum (a byte read before it landed) proves
// nothing: the file is hashed again, and decides.
func TestStageTrustsOnlyALiveSumThatMatches(t *testing.T) {
	ctx := context.Background()
	local, sum := artifact(t, 1<<20)
	for _, tc := range []struct {
		name      string
		live      string
		wantAlong bool
		wantReads int
	}{
		{"matches", sum, true, 0},
		{"read a hole", "00" + sum[2:], false, 1},
		{"no live hash", "", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hashes := 0
			dir := filepath.Join(t.TempDir(), "releases", "1.0")
			st := liveFS{sum: func(string) string { return tc.live }, hashes: &hashes}
			res, err := stage(ctx, st, UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"})
			if err != nil {
				t.Fatal(err)
			}
			if res.HashedAlong != tc.wantAlong || hashes != tc.wantReads {
				t.Errorf("hashed along %v with %d read-backs, want %v with %d", res.HashedAlong, hashes, tc.wantAlong, tc.wantReads)
			}
		})
	}
	// A live sum that differs from a damaged copy's is no way around the
	// read-back: the damage is found, and nothing is left to resume from.
	hashes := 0
	dir := filepath.Join(t.TempDir(), "releases", "1.0")
	st := liveFS{sum: func(string) string { return "00" + sum[2:] }, hashes: &hashes}
	_, err := stage(ctx, damagedLive{st}, UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "billing.ear"})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("damaged copy with a live sum: %v, want a checksum mismatch", err)
	}
	if _, err := os.Stat(filepath.Join(dir, partName("billing.ear"))); err == nil {
		t.Error("a damaged partial file is left to resume from")
	}
}

// damagedLive damages the copy after liveFS wrote it.
type damagedLive struct{ liveFS }

func (d damagedLive) write(ctx context.Context, p string, offset int64, r *uploadReader) (wrote, error) {
	w, err := damagingFS{}.write(ctx, p, offset, r)
	w.liveSum = d.sum(p)
	return w, err
}
