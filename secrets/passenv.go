package secrets

import "bytes"

// Environment variables that carry a vault passphrase, read by
// PassphraseFromEnv and NewPassphraseFromEnv.
const (
	EnvPassFile      = "RUNBOOK_VAULT_PASS_FILE"
	EnvPassphrase    = "RUNBOOK_VAULT_PASSPHRASE"
	EnvNewPassphrase = "RUNBOOK_NEW_VAULT_PASSPHRASE"
)

// PassphraseFromEnv finds the vault passphrase without asking, in this
// order: the --vault-pass-file path passFile (when not empty), the file
// named by RUNBOOK_VAULT_PASS_FILE, the value of RUNBOOK_VAULT_PASSPHRASE.
// One trailing newline ("\n" or "\r\n") of a pass file is dropped. source
// says where the passphrase came from, for messages ("--vault-pass-file
// FILE", "RUNBOOK_VAULT_PASS_FILE (FILE)", "RUNBOOK_VAULT_PASSPHRASE").
// ok is false, with a nil error, when none is set: the caller then prompts.
// An unreadable or empty pass file is an error matching ErrVault.
func PassphraseFromEnv(passFile string, getenv func(string) string) (pass []byte, source string, ok bool, err error) {
	if passFile != "" {
		return readPassFile(passFile, "--vault-pass-file "+passFile)
	}
	if f := getenv(EnvPassFile); f != "" {
		return readPassFile(f, EnvPassFile+" ("+f+")")
	}
	if p := getenv(EnvPassphrase); p != "" {
		return []byte(p), EnvPassphrase, true, nil
	}
	return nil, "", false, nil
}

// NewPassphraseFromEnv finds the new passphrase for `vault rekey` without
// asking: the --new-pass-file path newPassFile (when not empty), then
// RUNBOOK_NEW_VAULT_PASSPHRASE. It follows the conventions of
// PassphraseFromEnv; ok is false when neither is set.
func NewPassphraseFromEnv(newPassFile string, getenv func(string) string) (pass []byte, source string, ok bool, err error) {
	if newPassFile != "" {
		return readPassFile(newPassFile, "--new-pass-file "+newPassFile)
	}
	if p := getenv(EnvNewPassphrase); p != "" {
		return []byte(p), EnvNewPassphrase, true, nil
	}
	return nil, "", false, nil
}

// readPassFile reads a pass file: a regular file or a pipe
// (--vault-pass-file <(pass show vault)), at most 64 KiB: a directory, a
// device or /dev/zero is refused before it is read.
func readPassFile(path, source string) ([]byte, string, bool, error) {
	b, err := readSmallFile(path, true)
	if err != nil {
		return nil, source, false, vaultErr(ErrVault, path, err,
			"cannot read the pass file given by %s: %v: fix the path or its permissions", source, pathlessError(err))
	}
	if rest, found := bytes.CutSuffix(b, []byte("\n")); found {
		b = bytes.TrimSuffix(rest, []byte("\r"))
	}
	if len(b) == 0 {
		return nil, source, false, vaultErr(ErrVault, path, nil,
			"the pass file given by %s is empty: write the passphrase in it", source)
	}
	return b, source, true, nil
}
