package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fifo makes a named pipe no one writes to: opened the usual way it blocks
// for ever, read it would end at once.
func fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// within fails the test if f takes longer than a generous bound: a FIFO
// read would hang, /dev/zero read to the end would never return.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// TestVaultMustBeARegularFile: a FIFO, a device, a directory or a file over
// MaxVaultSize is refused at once, with what it is, as a vault error
// (finding L-1 of the security review).
func TestVaultMustBeARegularFile(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.vault")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxVaultSize+1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	for path, says := range map[string]string{
		fifo(t):      "it is a FIFO, not a regular file",
		"/dev/zero":  "it is a character device, not a regular file",
		t.TempDir():  "it is a directory, not a regular file",
		big:          "it is larger than 16 MiB",
		"/nonexist/": "no vault at",
	} {
		within(t, "Open "+path, func() {
			for _, dec := range []Decrypter{passDec(t, "p")} {
				_, err := Open(path, dec)
				assertVaultErr(t, err, ErrVault)
				if !strings.Contains(err.Error(), says) || !strings.Contains(err.Error(), path) {
					t.Errorf("Open(%s): %q does not say %q", path, err, says)
				}
				_, err = OpenForUpdate(t.Context(), path, dec, nil)
				if !strings.Contains(err.Error(), says) {
					t.Errorf("OpenForUpdate(%s): %q does not say %q", path, err, says)
				}
			}
			err := CheckVaultFile(path)
			if !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), says) {
				t.Errorf("CheckVaultFile(%s): %v", path, err)
			}
		})
	}
	_, path := filledVault(t, passEnc(t, "p"))
	if err := CheckVaultFile(path); err != nil {
		t.Fatalf("CheckVaultFile of a vault: %v", err)
	}
}

// TestPassAndKeyFilesAreBounded: a pass or identity file may be a pipe,
// but a device or directory is refused, a file over 64 KiB stops at the
// cap, and a FIFO no one writes to reads as empty instead of hanging.
func TestPassAndKeyFilesAreBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.pass")
	os.WriteFile(big, nil, 0o600)
	if err := os.Truncate(big, 1<<30); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	for path, says := range map[string]string{
		"/dev/zero": "it is a character device",
		big:         "larger than 64 KiB",
		fifo(t):     "is empty",
		t.TempDir(): "it is a directory",
	} {
		within(t, "the pass file "+path, func() {
			_, _, _, err := PassphraseFromEnv(path, func(string) string { return "" })
			if !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), says) {
				t.Errorf("pass file %s: %v, want it to say %q", path, err, says)
			}
		})
	}
	within(t, "a huge identity file", func() {
		if _, err := IdentityDecrypter(big); !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), "larger than 64 KiB") {
			t.Errorf("identity %s: %v", big, err)
		}
	})

	// A pipe with a writer, as --vault-pass-file <(pass show vault) gives.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		time.Sleep(50 * time.Millisecond) // the reader waits for it
		w.WriteString("piped passphrase\n")
		w.Close()
	}()
	within(t, "the piped pass file", func() {
		pass, _, ok, err := PassphraseFromEnv(filepath.Join("/proc/self/fd", strconv.Itoa(int(r.Fd()))), func(string) string { return "" })
		if err != nil || !ok || string(pass) != "piped passphrase" {
			t.Errorf("piped pass file: %q %v %v", pass, ok, err)
		}
	})
}
