package runbook

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Load takes only a regular file of at most MaxFileSize bytes: a FIFO
// would block the read for ever, /dev/zero would fill the memory (L-1).
// Each is refused at once, with a message saying what the file is.
func TestLoadRefusesWhatIsNotARunbookFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("name: t\n# "+strings.Repeat("x", MaxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "is not a regular file (it is a named pipe (FIFO))"},
		{"/dev/zero", "is not a regular file (it is a character device)"},
		{link, "is not a regular file (it is a character device)"},
		{dir, "is a directory, not a runbook file"},
		{big, "more than the 4 MiB a runbook file may have"},
		{filepath.Join(dir, "missing.yaml"), "runbook file not found"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(tc.path); done <- err }()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) still blocked after 10s", tc.path)
		}
		var fe *FileError
		if !errors.As(err, &fe) || fe.File != tc.path || !strings.Contains(fe.Msg, tc.want) {
			t.Errorf("Load(%s) = %v, want a FileError saying %q", tc.path, err, tc.want)
		}
	}
}

// A file of exactly MaxFileSize bytes is read whole.
func TestLoadReadsUpToTheCap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "runbook.yaml")
	head := "name: t\n# "
	if err := os.WriteFile(p, []byte(head+strings.Repeat("x", MaxFileSize-len(head)-1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Errorf("a file of %d bytes: %v", MaxFileSize, err)
	}
}
