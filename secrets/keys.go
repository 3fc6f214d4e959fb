package secrets

import "filippo.io/age"

// An Encrypter decides who can open a vault once it is saved: the holders
// of a passphrase ([PassphraseEncrypter]) or of any identity matching a set
// of age recipients ([RecipientsEncrypter]). Only this package implements it.
type Encrypter interface {
	// String describes the lock for messages, e.g. "a passphrase" or
	// "3 age recipients"; it never contains the passphrase.
	String() string
	ageRecipients() ([]age.Recipient, error)
	// recipientList is what the plaintext records so that any holder of an
	// identity can save the vault again to the same team; nil for a
	// passphrase.
	recipientList() []string
}

// A Decrypter opens a vault: with a passphrase ([PassphraseDecrypter]) or
// with the age identities of a key file ([IdentityDecrypter]). Only this
// package implements it.
type Decrypter interface {
	// String describes the key for messages; it never contains key
	// material.
	String() string
	ageIdentities() ([]age.Identity, error)
	// resealer returns the Encrypter that keeps a vault opened with this
	// Decrypter locked the same way, given the recipients recorded in its
	// plaintext.
	resealer(recorded []string) (Encrypter, error)
}
