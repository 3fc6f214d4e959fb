package secrets

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestOpenForUpdateSerialises runs two updates of one vault at once (the
// security review's L-9: both said "stored", one secret was lost): the
// second waits for the first's Close, then reads what the first saved.
func TestOpenForUpdateSerialises(t *testing.T) {
	_, path := filledVault(t, passEnc(t, "p"))
	first, err := OpenForUpdate(t.Context(), path, passDec(t, "p"), nil)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		second, err := OpenForUpdate(t.Context(), path, passDec(t, "p"), func() { close(waiting) })
		if err == nil {
			err = second.Set("b/two", "second-value-22")
		}
		if err == nil {
			err = second.Save()
		}
		if err == nil {
			err = second.Close()
		}
		done <- err
	}()
	select {
	case <-waiting:
	case err := <-done:
		t.Fatalf("the second update did not wait for the first: %v", err)
	}
	if err := first.Set("a/one", "first-value-111"); err != nil {
		t.Fatal(err)
	}
	if err := first.Save(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the second update: %v", err)
	}
	v, err := Open(path, passDec(t, "p"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a/one": "first-value-111", "b/two": "second-value-22"}
	for k, val := range testValues {
		want[k] = val
	}
	assertContents(t, v, want)
	if err := first.Save(); err == nil {
		t.Fatal("a closed vault was saved")
	}
}

// TestOpenForUpdateWaitEndsWithContext: Ctrl-C while another update holds
// the lock ends the wait with the context's error, not a vault error.
func TestOpenForUpdateWaitEndsWithContext(t *testing.T) {
	_, path := filledVault(t, passEnc(t, "p"))
	holder, err := OpenForUpdate(t.Context(), path, passDec(t, "p"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = OpenForUpdate(ctx, path, passDec(t, "p"), nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrVault) {
		t.Fatalf("err = %v, want the context's", err)
	}
}

// TestSaveRefusesAChangedFile: two plain Opens of one vault, both saved,
// as two unlocked writers would: the second save must fail, not replace
// the first one's write.
func TestSaveRefusesAChangedFile(t *testing.T) {
	_, path := filledVault(t, passEnc(t, "p"))
	a, err := Open(path, passDec(t, "p"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, passDec(t, "p"))
	if err != nil {
		t.Fatal(err)
	}
	a.Set("a/one", "first-value-111")
	b.Set("b/two", "second-value-22")
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	assertVaultErr(t, b.Save(), ErrChanged)
	v, err := Open(path, passDec(t, "p"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Get("a/one"); err != nil || got != "first-value-111" {
		t.Fatalf("the first write was lost: %q %v", got, err)
	}
	// The one that saved may save again: the file is its own write.
	a.Set("a/three", "third-value-333")
	if err := a.Save(); err != nil {
		t.Fatalf("a second save by the last writer: %v", err)
	}
}
