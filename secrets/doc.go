// Package secrets keeps the credentials of a release night: the vault, one
// age-encrypted file protected either by a passphrase (scrypt) or by the
// X25519 keys of a team, listed in a reviewed recipients file beside it;
// the resolution of secret references; and the masker, which replaces
// every resolved value and vault key, their common encodings and pieces,
// with "****" in anything written.
//
// Updates of a vault hold a lock on its file from the read to the atomic
// replace (OpenForUpdate), so two of them never lose each other's change.
//
// The package imports nothing of the project, and filippo.io/age is used
// nowhere else.
//
// Every vault failure matches [ErrVault] with errors.Is, so a caller maps
// them to one exit code. No error message of this package contains a secret
// value; the names of secrets are not secret and may appear.
package secrets
