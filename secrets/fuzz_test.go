package secrets

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fixed key of the FuzzOpen seed corpus (testdata/fuzz/FuzzOpen): the
// recipients seed is encrypted to it, the passphrase seed to
// fuzzPassphrase with the test work factor. Test-only material.
const (
	fuzzIdentity   = "AGE-SECRET-KEY-125M35RZG4EUMGMJZYGQ9P8YYXWC957QM9WLUTA6TCVVM6PMGNJUSQ8SSL7"
	fuzzRecipient  = "age1s6g2xt34yhez8nhnnvw0gd304h45sg9xmn9xt2c33kwzsatqsqvqezgtf8"
	fuzzPassphrase = "fuzz-passphrase"
)

// FuzzOpen feeds arbitrary bytes to Open as a vault file: it must never
// panic, and every failure must be a vault error (exit 5), whichever key
// tries to open it.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("age-encryption.org/v1\n-> scrypt AAAAAAAAAAAAAAAAAAAAAA 6\n\n--- AAAA\n"))
	dir := f.TempDir()
	keyFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyFile, []byte(fuzzIdentity+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	idKey, err := IdentityDecrypter(keyFile)
	if err != nil {
		f.Fatal(err)
	}
	passKey, err := PassphraseDecrypter([]byte(fuzzPassphrase))
	if err != nil {
		f.Fatal(err)
	}
	// A worker runs one input at a time, so one file per process suffices.
	path := filepath.Join(dir, "secrets.vault")
	// The reviewed list of the seed's recipients, so a vault sealed to them
	// opens.
	if err := os.WriteFile(RecipientsFile(path), []byte(fuzzRecipient+"\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, dec := range []Decrypter{passKey, idKey} {
			v, err := Open(path, dec)
			if err != nil {
				if !errors.Is(err, ErrVault) {
					t.Fatalf("Open with %s: %q (%T) is not a vault error", dec, err, err)
				}
				continue
			}
			for _, name := range v.Names() {
				if value, err := v.Get(name); !ValidName(name) || err != nil || value == "" {
					t.Fatalf("opened vault holds an invalid entry %q (%v)", name, err)
				}
			}
		}
	})
}

// FuzzMaskWriter streams a text holding a secret and one of its encodings,
// the encoding wrapped at some width or in some letter case, cut in
// arbitrary chunks: the output must equal Mask of the whole text, and no
// form or masked piece of the secret may survive unless it contains '*'
// (a secret like "**" is rebuilt by Redacted itself; see the Masker
// documentation). The same chunks written in turns to the two writers of a
// group (stdout and stderr) must give what maskStreams computes.
func FuzzMaskWriter(f *testing.F) {
	f.Add("topsecret", "token=", []byte{3, 1, 4})
	f.Add("S3cr3t-P4ss/w0rd+xyz=Q", "key: ", []byte{9, 226, 130, 5})
	f.Fuzz(func(t *testing.T, secret, text string, chunks []byte) {
		if secret == "" {
			return // nothing to mask: an empty value is ignored by Add
		}
		m := NewMasker()
		m.Add(secret)
		fs := forms(secret)
		cut := 0
		if len(text) > 0 && len(chunks) > 0 {
			cut = int(chunks[0]) % (len(text) + 1)
		}
		form := fs[len(chunks)%len(fs)]
		if len(chunks) > 1 {
			// What a command may do to it on the way out.
			switch k := int(chunks[1]); k % 3 {
			case 1:
				form = wrap(form, 1+k/3%80, "\n")
			case 2:
				form = flipCase(form, chunks)
			}
		}
		input := text[:cut] + secret + text[cut:] + form + text[:cut]

		var writes []streamWrite
		rest := input
		for i := 0; len(rest) > 0; i++ {
			n, to := len(rest), 0
			if len(chunks) > 0 {
				c := chunks[i%len(chunks)]
				n, to = min(1+int(c)%32, len(rest)), int(c>>7)
			}
			writes = append(writes, streamWrite{to, rest[:n]})
			rest = rest[n:]
		}

		var out bytes.Buffer
		w := m.Writer(&out)
		for _, wr := range writes {
			if _, err := io.WriteString(w, wr.text); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := m.Mask(input); out.String() != want {
			t.Fatalf("stream %q != Mask %q", out.String(), want)
		}
		assertNoLeak(t, out.String(), []string{secret})

		var stdout, stderr bytes.Buffer
		group := m.Writers(&stdout, &stderr)
		for _, wr := range writes {
			if _, err := io.WriteString(group[wr.to], wr.text); err != nil {
				t.Fatal(err)
			}
		}
		group[1].Close()
		group[0].Close()
		want := maskStreams(m, 2, writes)
		if stdout.String() != want[0] || stderr.String() != want[1] {
			t.Fatalf("streams %q, %q != %q", []string{stdout.String(), stderr.String()}, []string{stdout.String(), stderr.String()}, want)
		}
	})
}

// flipCase flips the case of the ASCII letters of s whose bit in bits is
// set.
func flipCase(s string, bits []byte) string {
	b := []byte(s)
	for i, c := range b {
		if bits[i%len(bits)]>>(i%8)&1 == 0 {
			continue
		}
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// TestFuzzOpenSeedsOpen keeps the seed corpus meaningful: the two seed
// vaults must open, so the fuzzer starts from the success path too.
func TestFuzzOpenSeedsOpen(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(keyFile, []byte(fuzzIdentity+"\n"), 0o600)
	for seed, dec := range map[string]Decrypter{
		"passphrase-vault": passDec(t, fuzzPassphrase),
		"recipients-vault": idDec(t, keyFile),
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzOpen", seed))
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
		if !ok {
			t.Fatalf("%s: not a fuzz corpus file", seed)
		}
		data, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", seed, err)
		}
		path := filepath.Join(t.TempDir(), "secrets.vault")
		os.WriteFile(path, []byte(data), 0o600)
		os.WriteFile(RecipientsFile(path), []byte(fuzzRecipient+"\n"), 0o644)
		v, err := Open(path, dec)
		if err != nil {
			t.Fatalf("%s: %v", seed, err)
		}
		if got, _ := v.Get("db/password"); got != "fuzz-seed-value" {
			t.Fatalf("%s: db/password = %q", seed, got)
		}
	}
}
