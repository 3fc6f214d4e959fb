package secrets

import "filippo.io/age"

// A Key is an Encrypter or a Decrypter, for [Masker.AddKey].
type Key interface {
	// keyMaterial returns the secret text behind the key: the passphrase,
	// or the AGE-SECRET-KEY-1... lines of an identity file; nothing for
	// public recipients.
	keyMaterial() []string
}

// An Encrypter decides who can open a vault once it is saved: the holders
// of a passphrase ([PassphraseEncrypter]) or of any identity matching a set
// of age recipients ([RecipientsEncrypter]). Only this package implements it.
type Encrypter interface {
	Key
	// String describes the lock for messages, e.g. "a passphrase" or
	// "3 age recipients"; it never contains the passphrase.
	String() string
	ageRecipients() ([]age.Recipient, error)
	// recipientList is what the plaintext records of the recipients the
	// vault is sealed to, checked against the recipients file on open;
	// nil for a passphrase.
	recipientList() []string
}

// A Decrypter opens a vault: with a passphrase ([PassphraseDecrypter]) or
// with the age identities of a key file ([IdentityDecrypter]). Only this
// package implements it.
type Decrypter interface {
	Key
	// String describes the key for messages; it never contains key
	// material.
	String() string
	ageIdentities() ([]age.Identity, error)
	// resealer returns the Encrypter that keeps a vault opened with this
	// Decrypter locked the same way, given the recipients recorded in its
	// plaintext (which Open then checks against the recipients file).
	resealer(recorded []string) (Encrypter, error)
}
