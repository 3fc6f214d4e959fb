package secrets

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrVault is matched (errors.Is) by every vault failure: a wrong passphrase
// or identity, a damaged, absent or unreadable vault, a missing secret.
var ErrVault = errors.New("vault error")

// The kinds of vault failure. Each matches ErrVault as well as itself.
var (
	// ErrWrongPassphrase: the passphrase or identity does not open the
	// vault, or the vault is locked the other way (passphrase vs recipients).
	// A damaged header stanza also ends here: age cannot tell it apart from
	// a wrong key.
	ErrWrongPassphrase error = &kind{"wrong passphrase"}
	// ErrDamaged: the vault file is not an age file, fails authentication
	// (a flipped byte, a truncation), or decrypts to something that is not a
	// vault.
	ErrDamaged error = &kind{"damaged vault"}
	// ErrMissing: the vault has no secret of that name; see [MissingError].
	ErrMissing error = &kind{"missing secret"}
	// ErrNoVault: there is no vault file at the path.
	ErrNoVault error = &kind{"no vault"}
	// ErrExists: Create found a file already at the path.
	ErrExists error = &kind{"vault exists"}
	// ErrNewerFormat: the vault was written by a newer runbook.
	ErrNewerFormat error = &kind{"newer vault format"}
	// ErrRecipients: a team vault is sealed to other recipients than its
	// reviewed recipients file lists, or has no such file; see
	// [RecipientsError].
	ErrRecipients error = &kind{"vault recipients differ"}
	// ErrChanged: the vault file changed on disk between the read and the
	// save of an update: someone else wrote it meanwhile.
	ErrChanged error = &kind{"vault changed"}
)

// ErrInvalid is matched by the errors of Set for a bad name or value and
// of the key constructors for an empty passphrase or a malformed
// recipient. It is a usage error, not a vault failure: it does not match
// ErrVault.
var ErrInvalid = errors.New("invalid input")

// invalidError is a usage error whose message stands alone, without the
// "invalid input" prefix that wrapping ErrInvalid with %w would add.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// kind is a sentinel that also matches ErrVault, so callers can test either
// the precise failure or the whole family.
type kind struct{ name string }

func (k *kind) Error() string { return k.name }

func (k *kind) Is(target error) bool { return target == ErrVault }

// Error is a vault failure. Its message names the file and says what to do;
// the underlying cause (from age, the file system or the decoder) is
// reachable with errors.Unwrap/As but never printed, because a decoder error
// could quote plaintext.
type Error struct {
	Kind error  // one of the Err* kinds above, or ErrVault itself
	Path string // the vault or key file concerned
	msg  string
	err  error
}

func (e *Error) Error() string { return e.msg }

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.err}
}

func vaultErr(k error, path string, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Path: path, msg: fmt.Sprintf(format, args...), err: cause}
}

// MissingError reports a secret name the vault does not hold. It matches
// ErrMissing and ErrVault.
type MissingError struct {
	Name string
	Path string // the vault file
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("no secret %q in the vault %s: add it with `runbook vault set %s`", e.Name, e.Path, e.Name)
}

// Is makes a MissingError match ErrMissing and ErrVault.
func (e *MissingError) Is(target error) bool { return target == ErrMissing || target == ErrVault }

// pathlessError drops the operation and path of a file system error, for
// messages that already name the file.
func pathlessError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
