package secrets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"filippo.io/age"
)

// Open reads and decrypts the vault at path. The whole plaintext is read
// and authenticated before any of it is parsed, so a damaged or truncated
// file never yields a partial vault. path must be a regular file of at most
// MaxVaultSize bytes. A vault locked to recipients must be sealed to
// exactly the keys of its recipients file (see RecipientsFile), which its
// saves then seal to. Errors match ErrVault and one of ErrNoVault,
// ErrWrongPassphrase, ErrDamaged, ErrNewerFormat, ErrRecipients.
//
// A vault from Open may be saved, but nothing keeps another process from
// updating the file between the read and the save (the save then fails
// with ErrChanged): commands that change the vault use OpenForUpdate.
func Open(path string, dec Decrypter) (*Vault, error) {
	return open(context.Background(), path, dec, openOptions{})
}

// OpenForUpdate is Open for a command that changes the vault: first it
// takes an exclusive lock on the vault file, held until Close, so that two
// updates never interleave and none is lost. While another process holds
// the lock it waits, calling waiting (when not nil) once as it starts to,
// until ctx is done: the error then wraps ctx's.
func OpenForUpdate(ctx context.Context, path string, dec Decrypter, waiting func()) (*Vault, error) {
	return open(ctx, path, dec, openOptions{lock: true, waiting: waiting})
}

// Reseal seals the team vault at path to exactly the keys of its
// recipients file, whatever keys it is sealed to now, holding its lock as
// OpenForUpdate does. It is the deliberate way to apply a reviewed change
// of the recipients file, or a file written for a vault that had none: the
// one update of a team vault that does not need the two to agree already.
// It returns the keys the vault was sealed to that the file lacks (so no
// longer are) and those the file adds; when there are none it writes
// nothing. A passphrase vault has no recipients: that is an error matching
// ErrInvalid.
func Reseal(ctx context.Context, path string, dec Decrypter, waiting func()) (removed, added []string, err error) {
	v, err := open(ctx, path, dec, openOptions{lock: true, waiting: waiting, reseal: true})
	if err != nil {
		return nil, nil, err
	}
	defer v.Close()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.recorded) == 0 {
		return nil, nil, invalid("the vault %s is locked with a passphrase: it has no recipients to seal it to", path)
	}
	removed, added = diffRecipients(v.recorded, v.enc.recipientList())
	if len(removed)+len(added) == 0 {
		return nil, nil, nil
	}
	return removed, added, v.write(false)
}

type openOptions struct {
	lock    bool
	waiting func()
	// reseal: a team vault opens whatever keys it records, to be sealed
	// to its recipients file.
	reseal bool
}

func open(ctx context.Context, path string, dec Decrypter, o openOptions) (_ *Vault, err error) {
	if dec == nil {
		return nil, errors.New("open vault: no decrypter given")
	}
	var f *os.File
	if o.lock {
		f, err = lockVault(ctx, path, o.waiting)
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("wait for another runbook to finish changing the vault %s: %w", path, err)
		}
	} else {
		f, _, err = openFile(path, false)
	}
	if err != nil {
		return nil, vaultFileError(path, err)
	}
	defer func() {
		if err != nil || !o.lock {
			f.Close()
		}
	}()
	data, err := readCapped(f, MaxVaultSize)
	if err != nil {
		return nil, vaultFileError(path, err)
	}
	ids, err := dec.ageIdentities()
	if err != nil {
		return nil, vaultErr(ErrVault, path, err, "cannot use %s to open the vault %s: %v", dec, path, err)
	}
	r, err := age.Decrypt(bytes.NewReader(data), ids...)
	if err != nil {
		return nil, decryptError(path, dec, err)
	}
	// age authenticates chunk by chunk: only a nil error from reading to
	// the end proves the whole plaintext is genuine and complete.
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, damaged(path, err)
	}
	p, err := decodePlaintext(plain)
	if errors.Is(err, errNewer) {
		return nil, vaultErr(ErrNewerFormat, path, err, "the vault %s was written by a newer runbook (%v): upgrade runbook to open it", path, err)
	}
	if err != nil {
		return nil, damaged(path, err)
	}
	enc, err := dec.resealer(p.Recipients)
	if err != nil {
		return nil, damaged(path, err)
	}
	if len(p.Recipients) > 0 {
		if enc, err = reviewedRecipients(path, p.Recipients, o.reseal); err != nil {
			return nil, err
		}
	}
	v := &Vault{path: path, enc: enc, secrets: p.Secrets, recorded: p.Recipients, digest: sha256.Sum256(data)}
	if o.lock {
		v.lock = f
	}
	return v, nil
}

// reviewedRecipients returns the Encrypter of the recipients file of the
// team vault at path, which records recorded: the keys every save seals
// to. Unless reseal is set, the two lists must be the same.
func reviewedRecipients(path string, recorded []string, reseal bool) (Encrypter, error) {
	file := RecipientsFile(path)
	reviewed, err := ReadRecipientsFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &RecipientsError{Vault: path, File: file, NoFile: true}
	}
	if err != nil {
		return nil, err
	}
	if unlisted, missing := diffRecipients(recorded, reviewed); !reseal && len(unlisted)+len(missing) > 0 {
		return nil, &RecipientsError{Vault: path, File: file, Unlisted: unlisted, Missing: missing}
	}
	return RecipientsEncrypter(reviewed)
}

func damaged(path string, cause error) error {
	return vaultErr(ErrDamaged, path, cause, "the vault %s is damaged or truncated: restore it from a backup", path)
}

// decryptError sorts age's failures: a key that matches no stanza is a
// wrong key (said precisely when the vault is locked the other way), any
// other failure means the file is not a sound age file.
func decryptError(path string, dec Decrypter, err error) error {
	var noMatch *age.NoIdentityMatchError
	if !errors.As(err, &noMatch) {
		return damaged(path, err)
	}
	scrypt := slices.Contains(noMatch.StanzaTypes, "scrypt")
	switch dec.(type) {
	case *passphraseKey:
		if !scrypt {
			return vaultErr(ErrWrongPassphrase, path, err,
				"the vault %s is locked to age recipients, not a passphrase: open it with --identity or RUNBOOK_IDENTITY", path)
		}
		return vaultErr(ErrWrongPassphrase, path, err,
			"wrong passphrase for the vault %s: try again (if the passphrase is right, the vault is damaged: restore it from a backup)", path)
	default:
		if scrypt {
			return vaultErr(ErrWrongPassphrase, path, err,
				"the vault %s is locked with a passphrase, not age recipients: give the passphrase instead of an identity", path)
		}
		return vaultErr(ErrWrongPassphrase, path, err,
			"%s does not open the vault %s: ask a teammate who can open it to add your recipient with `runbook vault rekey`", dec, path)
	}
}
