// Package ca is Signet's certificate authority: it makes the organisation's
// root and issuing CA certificates, S/MIME certificates for its users, CRLs
// and OCSP responses, all following the CA/Browser Forum S/MIME Baseline
// Requirements (the "BR", version 1.0.10 at the time of writing) and RFC 5280.
//
// The package is pure: it keeps no state and touches no files or database.
// It is handed keys as [crypto.Signer] values (they may live in a PKCS#11
// token) and returns DER. Recording what it issued, and revoking, is the
// caller's job; the OCSP [Responder] asks the caller about each serial number.
//
// # Setting up
//
// An [Org] names the organisation, the mail domains it may issue for, and the
// public base URL where relying parties fetch CRLs, CA certificates and OCSP
// answers:
//
//	org := ca.Org{Name: "Example Ltd", Country: "GB",
//		Domains: []string{"example.com"}, PublicURL: "http://pki.example.com"}
//	root, err := ca.NewRoot(org, rootKey, time.Now())         // 20 years; keep rootKey offline
//	issuing, err := ca.NewIssuing(org, root, rootKey, issuingKey, time.Now()) // 10 years
//
// The public URL must be plain http: the BR (7.1.2.3 b and c) forbid any
// other scheme in CRL and AIA URLs, and everything served there is signed.
// Serve these documents at the URLs the certificates carry:
//
//   - [CRLURL](org, ca), PUBLIC_URL/crl/KEYID.crl: the DER CRL of ca
//     (Content-Type application/pkix-crl);
//   - [IssuerURL](org, ca), PUBLIC_URL/ca/KEYID.crt: the DER certificate of
//     ca (application/pkix-cert);
//   - [OCSPURL](org), PUBLIC_URL/ocsp: the OCSP responder, a [Responder].
//
// CRL and certificate URLs are named after the CA's key identifier (see
// [KeyID]), so a renewed CA keeps its URLs while a re-keyed one gets new ones
// and older certificates keep pointing at the right documents.
//
// # Issuing
//
//	cert, err := ca.Issue(org, issuing, issuingKey, ca.Request{
//		Email: "alice@example.com", PublicKey: pub,
//		Usage: ca.Sign, Profile: ca.Strict})
//
// Certificates are mailbox-validated ([Strict] uses policy 2.23.140.1.5.1.3,
// [Multipurpose] 2.23.140.1.5.1.2). For a mailbox-validated certificate the BR
// (7.1.4.2.3) allow only the address in the subject, so a display name is
// refused ([ErrName]); use it for the PKCS#12 friendly name instead. The
// address's domain must be one of [Org.Domains] ([ErrDomain]).
//
// Key usage follows BR 7.1.2.3 e: signing sets digitalSignature and
// nonRepudiation (allowed in both profiles); encryption sets keyEncipherment
// for RSA and keyAgreement for EC and X25519 keys; [Both] sets the union.
// Ed25519 keys can only sign and X25519 keys can only encrypt ([ErrUsage]).
// An X25519 certificate is valid RFC 5280 / RFC 8410, but BR 7.1.3.1 does
// not list X25519 among the permitted key algorithms, so such a certificate is
// not BR-conformant however it is made; prefer a P-256 key for encryption
// certificates that must be publicly trusted.
//
// Signatures follow BR 7.1.3.2: a P-256 CA key signs with ECDSA-SHA-256, a
// P-384 key with ECDSA-SHA-384 (gpgsm refuses P-384 with SHA-256), P-521 with
// ECDSA-SHA-512, RSA with PKCS#1 v1.5 SHA-256, Ed25519 with Ed25519.
//
// # Revocation
//
// [CRL] makes a full CRL: number, reasons, authority key identifier and,
// for an issuing CA, an issuing distribution point naming [CRLURL]. For an
// issuing CA the BR require a new one at least every seven days with
// nextUpdate at most ten days away; for a root, at least yearly. [ParseReason]
// reads reason names such as "keyCompromise".
//
// A [Responder] answers RFC 6960 OCSP requests (GET and POST, RFC 5019 cache
// headers, RFC 8954 nonces) for one or more CAs and is an [http.Handler]; it
// asks a [Lookup] function for each serial number and answers unknown for
// serials it does not know (never good, BR 4.9.10). Answers are signed by
// the issuing CA's own key rather than by a delegated responder certificate:
// the issuing CA key is online anyway (it signs certificates and CRLs), and a
// delegated responder would add a key and a certificate (with
// id-pkix-ocsp-nocheck) to guard and renew without making anything safer. This
// is why the issuing CA certificate has the digitalSignature key usage, as
// BR 7.1.2.2 e requires of a CA key that signs OCSP responses.
package ca
