package secrets

import (
	"errors"
	"sync"
	"testing"
)

func TestResolver(t *testing.T) {
	v, _ := filledVault(t, passEnc(t, "pw"))
	m := NewMasker()
	opens := 0
	r := NewResolver(func() (*Vault, error) { opens++; return v, nil }, m)
	if opens != 0 {
		t.Fatal("the vault was opened before any secret was needed")
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := r.Secret("db/password")
			if err != nil || got != testValues["db/password"] {
				t.Errorf("Secret = %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	if opens != 1 {
		t.Fatalf("vault opened %d times, want once", opens)
	}
	if got := m.Mask("login " + testValues["db/password"]); got != "login ****" {
		t.Fatalf("resolved value not masked: %q", got)
	}
	if m.Mask(testValues["api.token"]) != testValues["api.token"] {
		t.Fatal("a value never resolved was registered")
	}
	if _, err := r.Secret("absent"); !errors.Is(err, ErrMissing) {
		t.Fatalf("absent secret: %v", err)
	}
}

func TestResolverRemembersOpenFailure(t *testing.T) {
	opens := 0
	r := NewResolver(func() (*Vault, error) {
		opens++
		return nil, vaultErr(ErrWrongPassphrase, "v", nil, "wrong passphrase")
	}, NewMasker())
	for range 3 {
		if _, err := r.Secret("x"); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("Secret: %v", err)
		}
	}
	if opens != 1 {
		t.Fatalf("open called %d times, want once", opens)
	}
	r = NewResolver(func() (*Vault, error) { return nil, nil }, NewMasker())
	if _, err := r.Secret("x"); err == nil {
		t.Fatal("an open that returns no vault and no error must fail")
	}
}
