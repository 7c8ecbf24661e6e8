// Package keystore keeps private keys encrypted at rest, so that no private
// key reaches disk or a log in plain text. It seals and opens; it stores
// nothing itself (apart from creating a key file on request): the caller
// files the sealed records wherever it keeps state.
//
// # Envelope encryption
//
// Every private key is sealed with its own random 256-bit data key, and the
// data key is sealed with the master key:
//
//	private key ──PKCS #8──AES-256-GCM(data key)──▶ Sealed.Blob
//	data key ───────────────AES-256-GCM(master)───▶ Sealed.WrappedKey
//
// Both encryptions authenticate the record's id and algorithm, so a record
// copied under another id does not open. Changing the master key (a new
// passphrase) rewraps the 32-byte data keys with MasterKey.Rewrap; the
// encrypted private keys are not touched.
//
// # Where the master key comes from
//
// In order of preference, as the command line applies it:
//
//  1. SIGNET_PASSPHRASE (PassphraseEnv): MasterFromPassphrase runs
//     Argon2id (RFC 9106) over the passphrase with parameters and a salt
//     that are not secret. At init the caller makes them with
//     NewKDFParams and stores KDFParams.String(), e.g.
//     "$argon2id$v=19$m=65536,t=3,p=2$3q2+7w…"; later it reads them back
//     with ParseKDFParams. Default cost: 3 passes over 64 MiB, 2 lanes.
//  2. A key file (LoadKeyFile): one line of text holding 32 random bytes,
//     which must have mode 0600.
//  3. Neither: init calls NewKeyFile in the data folder and warns that a
//     key next to the data it protects is for trials only.
//
// Whichever it is, store MasterKey.Verifier() once at init. On every later
// start, MasterKey.Verify(stored) answers ErrWrongPassphrase straight away
// for a mistyped passphrase or the wrong key file, before any key is
// opened.
//
// # Use
//
//	params, _ := keystore.NewKDFParams()                   // at init
//	m, err := keystore.MasterFromPassphrase(pass, params)
//	store(params.String(), m.Verifier())
//
//	s, err := m.Seal("ca/issuing", caKey)                  // s.Algorithm, s.Blob, s.WrappedKey → database
//	key, err := m.Open("ca/issuing", s)                    // crypto.Signer etc.
//	m.Wipe()                                               // when done
//
// Seal takes the keys Signet makes: *rsa.PrivateKey, *ecdsa.PrivateKey
// (P-256, P-384, P-521), ed25519.PrivateKey and *ecdh.PrivateKey (X25519
// and the NIST curves); Open returns the same type.
//
// # Errors
//
// Open reports ErrWrongPassphrase when the record was sealed under another
// master key (told by a short fingerprint of the master key stored in
// WrappedKey) and ErrTampered when the master key is right but the record
// does not authenticate: altered, truncated, or opened under another id.
// AES-GCM cannot say which byte changed or why, so no finer error is given.
// All errors are one line starting "keystore:".
//
// # What this protects, and what it does not
//
// Someone with the database, a backup or the data folder but without the
// passphrase (or key file) learns no private key; they can try passphrases
// offline, at the Argon2id cost each. A running Signet holds the master key
// in memory: MasterKey never prints its key (fmt, log/slog show
// "keystore.MasterKey(redacted)"), and Wipe and the zeroing of decrypted
// buffers are best effort, since Go's garbage collector may leave copies.
// A key file beside the database protects against a leaked database only.
//
// Keys in a PKCS #11 token (an HSM; SoftHSM2 in the tests) are held by a
// [Token]: they are made non-extractable in the token and only sign there.
//
// # Formats
//
// Blob and WrappedKey start with a format byte (1); a later Signet that
// changes the format will still read format 1. The parameter string is the
// PHC string format the reference argon2 tool prints, without the hash.
package keystore
