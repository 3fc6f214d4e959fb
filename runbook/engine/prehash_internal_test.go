package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A hash started ahead is used only while the file is the one it read.
func TestArtifactHashAhead(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "app.ear")
	write := func(s string) string {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	want := write("build 1\n")
	h := startArtifactHash(p)
	if got, size, ok := h.result(ctx); !ok || got != want || size != int64(len("build 1\n")) {
		t.Fatalf("an unchanged file: %q %d bytes %v, want %s of %d", got, size, ok, want, len("build 1\n"))
	}
	time.Sleep(20 * time.Millisecond) // past the file system's clock tick
	write("build 2, rebuilt\n")
	if got, _, ok := h.result(ctx); ok {
		t.Fatalf("a rebuilt file: the hash ahead %s was used", got)
	}
	// Rebuilt under the same size: the modification time tells.
	h = startArtifactHash(p)
	if _, _, ok := h.result(ctx); !ok {
		t.Fatal("no hash of the rebuilt file")
	}
	time.Sleep(20 * time.Millisecond)
	write("build 3, rebuilt\n")
	if got, _, ok := h.result(ctx); ok {
		t.Fatalf("a file rebuilt to the same size: the hash ahead %s was used", got)
	}
	// Replaced by another file (a build writes a new one and renames it).
	h = startArtifactHash(p)
	<-h.done
	tmp := p + ".new"
	if err := os.WriteFile(tmp, []byte("build 3, rebuilt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, time.Time{}, h.fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if got, _, ok := h.result(ctx); ok {
		t.Fatalf("a file replaced by another of the same size and time: the hash ahead %s was used", got)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := startArtifactHash(p).result(ctx); ok {
		t.Fatal("a missing file has a hash")
	}
	var none *artifactHash
	if _, _, ok := none.result(ctx); ok {
		t.Fatal("no hash started, and a result")
	}
}
