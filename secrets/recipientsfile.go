package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"
)

// A team vault is sealed to the age public keys of its team. age does not
// authenticate who wrote a file: anyone holding one of those public keys,
// which are public, can write a vault that opens with the team's
// identities. So the list a vault is sealed to again on every save cannot
// come from the vault itself, or whoever can write the file could add
// their own key and read every secret saved after. It comes from a plain
// text file beside the vault, reviewed under version control like the
// runbook: the recipients file. The vault still records the list it was
// sealed to, and Open refuses a vault whose record differs from the file,
// naming the keys, so that neither a forged vault nor an unreviewed edit
// of the file goes unnoticed.

// RecipientsFile returns the reviewed list of the age recipients of the
// vault at vaultPath: the file beside it named after it, vaultPath +
// ".recipients" (secrets.vault.recipients).
func RecipientsFile(vaultPath string) string { return vaultPath + ".recipients" }

// ReadRecipientsFile returns the age recipients listed in file, in order,
// duplicates dropped. The format is that of `age -R`: one public key a
// line; blank lines and lines starting with "#" (a teammate's name, say)
// are ignored. An absent file is an error matching fs.ErrNotExist; a
// malformed one, or one listing no key, an error matching ErrVault.
func ReadRecipientsFile(file string) ([]string, error) {
	b, err := readSmallFile(file, false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, vaultErr(ErrVault, file, err, "cannot read the recipients file %s: %v", file, pathlessError(err))
	}
	var list []string
	for i, line := range strings.Split(string(b), "\n") {
		key := strings.TrimSpace(line)
		if key == "" || strings.HasPrefix(key, "#") || slices.Contains(list, key) {
			continue
		}
		if r, err := age.ParseRecipients(strings.NewReader(key)); err != nil || len(r) != 1 {
			return nil, vaultErr(ErrVault, file, err,
				"line %d of the recipients file %s is not an age public key: write one age1... key a line (# starts a comment)", i+1, file)
		}
		list = append(list, key)
	}
	if len(list) == 0 {
		return nil, vaultErr(ErrVault, file, nil, "the recipients file %s lists no age public key: write one age1... key a line", file)
	}
	return list, nil
}

// writeRecipientsFile makes file list exactly the keys of list: the lines
// of keys that stay and every comment are kept as they are, the lines of
// keys that go are dropped, new keys are appended. A new file starts with
// a comment saying what it is.
func writeRecipientsFile(file string, list []string) error {
	old, err := readSmallFile(file, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var b bytes.Buffer
	if old == nil {
		fmt.Fprintf(&b, "# The age recipients of %s: every save seals it to exactly these public\n"+
			"# keys, one a line. Review changes to this file like code; `runbook vault\n"+
			"# recipients add|rm` changes it and re-seals the vault.\n", filepath.Base(strings.TrimSuffix(file, ".recipients")))
	}
	written := map[string]bool{}
	for line := range bytes.Lines(old) {
		key := string(bytes.TrimSpace(line))
		keep := key == "" || strings.HasPrefix(key, "#") || slices.Contains(list, key) && !written[key]
		if !keep {
			continue
		}
		written[key] = true
		b.Write(line)
		if !bytes.HasSuffix(line, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	for _, key := range list {
		if !written[key] {
			b.WriteString(key + "\n")
		}
	}
	// Public keys, for the repository: readable like the runbook.
	_, err = writeFileAtomic(file, b.Bytes(), atomicOptions{mode: 0o644})
	return err
}

// diffRecipients returns the keys of recorded that reviewed lacks, and
// those of reviewed that recorded lacks.
func diffRecipients(recorded, reviewed []string) (unlisted, missing []string) {
	for _, k := range recorded {
		if !slices.Contains(reviewed, k) {
			unlisted = append(unlisted, k)
		}
	}
	for _, k := range reviewed {
		if !slices.Contains(recorded, k) {
			missing = append(missing, k)
		}
	}
	return unlisted, missing
}

// RecipientsError reports a team vault whose recipients, as recorded in
// its encrypted contents, differ from its recipients file, or that has no
// recipients file. It matches ErrRecipients and ErrVault.
type RecipientsError struct {
	Vault, File string
	// NoFile: there is no recipients file beside the vault.
	NoFile bool
	// Unlisted are the keys the vault is sealed to that the file does not
	// list: someone who can write the vault added them, or they were
	// removed from the file without re-sealing.
	Unlisted []string
	// Missing are the keys the file lists that the vault is not sealed to.
	Missing []string
}

func (e *RecipientsError) Error() string {
	if e.NoFile {
		return fmt.Sprintf("the vault %s is sealed to age recipients, but no reviewed list of them is beside it (%s)", e.Vault, e.File)
	}
	var diff []string
	if len(e.Unlisted) > 0 {
		diff = append(diff, "it is sealed to "+strings.Join(e.Unlisted, ", ")+", which the list lacks")
	}
	if len(e.Missing) > 0 {
		diff = append(diff, "it is not sealed to "+strings.Join(e.Missing, ", ")+", which the list has")
	}
	return fmt.Sprintf("the vault %s does not match its reviewed recipients %s: %s", e.Vault, e.File, strings.Join(diff, "; "))
}

// Is makes a RecipientsError match ErrRecipients and ErrVault.
func (e *RecipientsError) Is(target error) bool { return target == ErrRecipients || target == ErrVault }
