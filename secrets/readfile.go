package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Caps on what is read. A vault holds credentials, a pass, key or
// recipients file a few lines: anything larger was named by mistake, and
// /dev/zero would otherwise fill the memory.
const (
	// MaxVaultSize is the largest vault file Open reads: 16 MiB.
	MaxVaultSize = 16 << 20
	// maxSmallFile caps pass files, identity files and recipients files.
	maxSmallFile = 64 << 10
)

// notRegularError says what a path that had to be a regular file is.
type notRegularError struct{ mode fs.FileMode }

func (e *notRegularError) Error() string {
	what := "not a regular file"
	switch {
	case e.mode.IsDir():
		what = "a directory"
	case e.mode&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case e.mode&fs.ModeCharDevice != 0:
		what = "a character device"
	case e.mode&fs.ModeDevice != 0:
		what = "a device"
	case e.mode&fs.ModeSocket != 0:
		what = "a socket"
	}
	return "it is " + what + ", not a regular file"
}

type tooLargeError struct{ max int64 }

func (e *tooLargeError) Error() string {
	if e.max >= 1<<20 {
		return fmt.Sprintf("it is larger than %d MiB", e.max>>20)
	}
	return fmt.Sprintf("it is larger than %d KiB", e.max>>10)
}

// openFile opens path for reading without ever blocking on it: a FIFO
// without a writer opens (O_NONBLOCK) and then reads as empty instead of
// hanging. It refuses directories and devices, and also FIFOs and sockets
// unless pipes is set: a pass file may come from a pipe, as with
// --vault-pass-file <(pass show vault), a vault may not.
func openFile(path string, pipes bool) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	mode := fi.Mode()
	if !mode.IsRegular() && !(pipes && mode&(fs.ModeNamedPipe|fs.ModeSocket) != 0) {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: &notRegularError{mode}}
	}
	return f, fi, nil
}

// readCapped reads what is left of r, refusing more than max bytes.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &tooLargeError{max}
	}
	return b, nil
}

// readSmallFile reads a pass, identity or recipients file: regular, or a
// pipe when pipes is set, and at most maxSmallFile bytes.
func readSmallFile(path string, pipes bool) ([]byte, error) {
	f, _, err := openFile(path, pipes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCapped(f, maxSmallFile)
}

// CheckVaultFile reports whether path can be a vault without reading it:
// nil for a regular file, an error matching ErrNoVault when nothing is
// there, and a vault error (ErrVault) for anything else: a FIFO, a device,
// a directory, a file larger than MaxVaultSize or one that cannot be
// opened. Commands call it before asking for a passphrase that would open
// nothing.
func CheckVaultFile(path string) error {
	f, fi, err := openFile(path, false)
	if err != nil {
		return vaultFileError(path, err)
	}
	f.Close()
	if fi.Size() > MaxVaultSize {
		return vaultFileError(path, &tooLargeError{MaxVaultSize})
	}
	return nil
}

// vaultFileError is the error for a vault file that cannot be read.
func vaultFileError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return vaultErr(ErrNoVault, path, err, "no vault at %s: create one with `runbook vault init`", path)
	case isShapeError(err):
		return vaultErr(ErrVault, path, err, "cannot read the vault %s: %v: point --vault (or the runbook's vault: key) at the vault file", path, pathlessError(err))
	}
	return vaultErr(ErrVault, path, err, "cannot read the vault %s: %v: check its permissions", path, pathlessError(err))
}

// isShapeError reports whether err says the file is of the wrong kind or
// size, rather than unreadable.
func isShapeError(err error) bool {
	var nr *notRegularError
	var tl *tooLargeError
	return errors.As(err, &nr) || errors.As(err, &tl)
}
