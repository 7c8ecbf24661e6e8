// Package smime signs, verifies, encrypts and decrypts e-mail messages
// (RFC 8551, RFC 1847). It is the message layer over package cms.
//
// Every operation reads an RFC 5322 message from an io.Reader and writes a
// message to an io.Writer; memory does not grow with message size. The
// message fields (From, To, Subject, Date, Message-ID …) stay on the
// outside; the content fields (Content-*) and the body form the entity that
// is signed or encrypted.
//
//	Sign(dst, src, opts, signers...)       // clear (multipart/signed) or opaque
//	Verify(dst, src, opts) (*Verified, error)
//	Encrypt(dst, src, opts, recipients...) // AES-256-GCM AuthEnvelopedData by default
//	Decrypt(dst, src, opts, identities...) (*Decrypted, error)
//
// Before signing, the entity is canonicalised (CRLF line endings) and made
// 7-bit safe: 8-bit, binary or over-long bodies are re-encoded as
// quoted-printable or base64, part by part.
//
// Nothing unauthenticated is released: Verify writes the signed content
// only when every signature is valid, and Decrypt writes the plaintext only
// once the key unwrapped and, for AES-GCM, the tag checked. Until then the
// content waits in a temporary file encrypted with a throw-away key.
//
// Verify decides nothing about trust by itself beyond what it is given:
// it reports per signer the certificate, the chain to the given roots,
// whether the From address is in the certificate, the signing time and any
// weak algorithm. Only a signature over the root of the message counts as
// "the message is signed"; a signed part inside a multipart is reported as
// such and not treated as a signed message.
package smime
