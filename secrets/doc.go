// Package secrets keeps the credentials of a release night: the vault, one
// age-encrypted file protected either by a passphrase (scrypt) or by the
// X25519 keys of a team; the resolution of secret references; and the
// masker, which replaces every resolved value, and its common encodings,
// with "****" in anything written.
//
// The package imports nothing of the project, and filippo.io/age is used
// nowhere else.
//
// Every vault failure matches [ErrVault] with errors.Is, so a caller maps
// them to one exit code. No error message of this package contains a secret
// value; the names of secrets are not secret and may appear.
package secrets
