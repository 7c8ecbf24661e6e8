// Package directory is Signet's directory of recipients and their
// certificates as mail clients, other servers and Signet's own endpoints
// find them: the certificate lookup every endpoint uses ([Lookup]), group
// expansion, SMIMEA records (RFC 8162) to publish ([SMIMEARecord]) and to
// look up ([SMIMEAResolver]).
//
// # Certificate lookup
//
// [Lookup] is the one certificate lookup behind `signet lookup`, the SMTP
// gateway and the web console. [Lookup.Find] takes an address and returns
// the usable encryption certificates and where they were found. It tries
// these sources in order and stops at the first that yields a usable
// certificate:
//
//  1. Own mailboxes. The store resolves the address (ResolveAddress) to a
//     recipient of kind mailbox, by its primary address or, only when
//     UseAliases is true (Exchange's
//     UseSecondaryProxiesWhenFindingCertificates), by an alias; with
//     UseAliases off an alias finds nothing here. The candidates are the
//     store's certificates for the primary address (and for the alias when
//     looked up by one), revoked ones included so that they can be
//     reported. Certificates harvested from mail are not used for own
//     mailboxes (anyone can sign a message as one): they are rejected. A
//     disabled mailbox yields nothing (and says so); the search goes on.
//  2. Contacts: the same for a recipient of kind contact, whatever the
//     certificates' Source (contact, synced, harvested or any other).
//  3. Harvested certificates: store certificates with Source harvested
//     that name the address, only when the address belongs to no recipient.
//  4. The upstream directory, when the Upstream hook is set.
//  5. SMIMEA records in DNS (RFC 8162), when SMIMEA is set: see
//     [SMIMEAResolver]. Only answers the validating resolver authenticated
//     (AD bit) count; records with certificate usage 1 or 3, selector 0 and
//     matching type 0 give certificates, other forms are skipped.
//
// An address of a distribution group (kind group) is not looked up: the
// Result has Group set, and [Lookup.Expand] looks up its members.
//
// Every candidate is checked at the lookup's time (Result.At); a candidate
// that fails a check is kept in Result.Rejected with its Reason, and only
// the usable ones are in Result.Found:
//
//   - the store's record: not revoked, usage encrypt or both (sign-only and
//     CA certificates are rejected);
//   - within its validity period;
//   - extended key usage allows emailProtection (or is absent);
//   - the key can encrypt and its key usage allows it: keyEncipherment for
//     RSA, keyAgreement for EC and X25519 (no key usage extension allows
//     any); Ed25519 keys cannot encrypt;
//   - it names the address (SAN rfc822Name or subject emailAddress, without
//     regard to case). For steps 1 and 2 the recipient's primary address
//     counts too, since a lookup by alias finds certificates for the
//     primary address;
//   - the Validate hook (trust and revocation, supplied by the caller) if
//     set. It is called last, only for candidates that passed the rest.
//     With TrustDANEEE, certificates from SMIMEA records of usage 3
//     (DANE-EE) skip it: DNSSEC is their trust.
//
// Found is ordered with the recipient's preferred encryption certificate
// (User.PreferredEncrypt) first, then by NotBefore, newest first.
// Result.Searched has one line per source tried with its outcome.
//
// Errors from the upstream directory or DNS do not fail a lookup: they are
// recorded in Searched and the next source is tried. Find fails only for a
// malformed address ([ErrMalformedAddress]), a store failure, or a context
// that ends (then with the partial Result).
//
// # Groups
//
// [Lookup.Expand] expands a group recursively: nested groups are expanded
// depth first, cycles are detected (Expansion.Loops) and not followed, each
// final member address is looked up once with Find, and the members
// without a usable certificate are listed in Expansion.Missing. The whole
// expansion has a budget, DLExpansionTimeout (Exchange's setting, 60 s by
// default): when it runs out, Expand returns what it has with TimedOut set
// and the members not reached in Unexpanded.
package directory
