package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func writePassFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPassphraseFromEnvOrder(t *testing.T) {
	flagFile := writePassFile(t, "from-flag\n")
	envFile := writePassFile(t, "from-env-file\r\n")
	all := map[string]string{EnvPassFile: envFile, EnvPassphrase: "from-env"}

	tests := []struct {
		name       string
		passFile   string
		env        map[string]string
		wantPass   string
		wantSource string
		wantOK     bool
	}{
		{"flag wins", flagFile, all, "from-flag", "--vault-pass-file " + flagFile, true},
		{"env file next", "", all, "from-env-file", EnvPassFile + " (" + envFile + ")", true},
		{"env passphrase last", "", map[string]string{EnvPassphrase: "from-env"}, "from-env", EnvPassphrase, true},
		{"env passphrase kept verbatim", "", map[string]string{EnvPassphrase: "trailing\n"}, "trailing\n", EnvPassphrase, true},
		{"none: prompt", "", nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pass, source, ok, err := PassphraseFromEnv(tt.passFile, envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if string(pass) != tt.wantPass || source != tt.wantSource || ok != tt.wantOK {
				t.Fatalf("got (%q, %q, %v), want (%q, %q, %v)", pass, source, ok, tt.wantPass, tt.wantSource, tt.wantOK)
			}
		})
	}
}

func TestPassFileNewlines(t *testing.T) {
	for content, want := range map[string]string{
		"pw":       "pw",
		"pw\n":     "pw",
		"pw\r\n":   "pw",
		"pw\n\n":   "pw\n", // only one newline is the file's end
		"pw\r":     "pw\r", // a lone CR is part of the passphrase
		" pw \n":   " pw ",
		"multi\nx": "multi\nx",
	} {
		pass, _, ok, err := PassphraseFromEnv(writePassFile(t, content), envOf(nil))
		if err != nil || !ok || string(pass) != want {
			t.Errorf("file %q: got (%q, %v, %v), want %q", content, pass, ok, err, want)
		}
	}
}

func TestPassFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	_, _, ok, err := PassphraseFromEnv(missing, envOf(nil))
	if ok || !errors.Is(err, ErrVault) {
		t.Fatalf("missing file: ok=%v err=%v", ok, err)
	}
	_, _, ok, err = PassphraseFromEnv("", envOf(map[string]string{EnvPassFile: writePassFile(t, "\n")}))
	if ok || !errors.Is(err, ErrVault) {
		t.Fatalf("empty file: ok=%v err=%v", ok, err)
	}
}

func TestNewPassphraseFromEnv(t *testing.T) {
	file := writePassFile(t, "new-from-file\n")
	env := envOf(map[string]string{EnvNewPassphrase: "new-from-env", EnvPassphrase: "old"})

	pass, source, ok, err := NewPassphraseFromEnv(file, env)
	if err != nil || !ok || string(pass) != "new-from-file" || source != "--new-pass-file "+file {
		t.Fatalf("file: (%q, %q, %v, %v)", pass, source, ok, err)
	}
	pass, source, ok, err = NewPassphraseFromEnv("", env)
	if err != nil || !ok || string(pass) != "new-from-env" || source != EnvNewPassphrase {
		t.Fatalf("env: (%q, %q, %v, %v)", pass, source, ok, err)
	}
	// The current passphrase is never taken for the new one.
	_, _, ok, err = NewPassphraseFromEnv("", envOf(map[string]string{EnvPassphrase: "old"}))
	if ok || err != nil {
		t.Fatalf("none: ok=%v err=%v", ok, err)
	}
}
