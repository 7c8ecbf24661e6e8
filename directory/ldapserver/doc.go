// Package ldapserver is a read-only LDAPv3 directory (RFC 4511) from which
// mail clients — Outlook, Thunderbird, macOS Contacts, GnuPG's
// dirmngr/gpgsm, ldapsearch — fetch a recipient's S/MIME certificate by
// e-mail address.
//
// # Directory
//
// The tree is fixed: the naming context Config.BaseDN (objectClass domain,
// organization or organizationalUnit after its first RDN), ou=people and
// ou=groups below it, people as mail=<address>,ou=people,<base>
// (inetOrgPerson) and distribution lists as cn=<name>,ou=groups,<base>
// (groupOfNames with mail and member). Server.SetEntries replaces the whole
// snapshot atomically; each attribute's values are DER-encoded then, so an
// answer is mostly copying. Certificates are served as
// userCertificate;binary (RFC 4523: always with the ;binary option, whether
// asked for as userCertificate, userCertificate;binary, "*" or no list) and
// as userSMIMECertificate, a certs-only CMS SignedData holding the entry's
// certificates and its chain. The root DSE advertises namingContexts,
// LDAPv3, the paged results control and the StartTLS (when TLS is
// configured) and WhoAmI extended operations; like all operational
// attributes these are returned when named or with "+".
//
// Filters are evaluated with RFC 4511's three-valued logic: string
// attributes match case-insensitively with insignificant spaces ignored
// (caseIgnoreMatch, caseIgnoreIA5Match, their substring and ordering
// rules), approximate matching is equality, unknown attribute types and
// extensible matches are Undefined. Equality and substring assertions on
// mail, cn, sn, givenName, displayName and uid are answered from indexes
// built by SetEntries — a map of values, and a map of each value's 3-byte
// substrings (trigrams) to the entries holding them, used by substring
// assertions with a component of three bytes or more — alone, in an AND
// (one such component suffices) or in an OR (every branch must be one); the
// candidates are then checked against the whole filter. Other filters scan
// the scope.
//
// # Access
//
//   - The root DSE is always readable.
//   - Anonymous clients (no bind, an anonymous bind, or an unauthenticated
//     bind: a DN with an empty password, RFC 4513 §5.1.2) may read a named
//     entry (scope base) and may search for specific people: the filter
//     must be restricted by an equality, or a substring assertion with at
//     least three literal characters, on mail, cn, sn, givenName,
//     displayName or uid — an AND needs one such component, an OR needs
//     every branch to be one. Anything else, such as (objectClass=*),
//     (mail=*) or (mail=a*), is refused with insufficientAccessRights unless
//     Config.AllowAnonymousList. GnuPG's dirmngr looks a pattern up as
//     (|(sn=*P*)(|(cn=*P*)(mail=*P*))), which passes for patterns of three
//     characters or more. Anonymous results are capped at
//     Config.AnonymousSizeLimit entries, paged or not.
//   - Clients bound through Config.Authenticate (simple bind) may search
//     everything, Config.SizeLimit entries per search or per page of a paged
//     search (RFC 2696), through the whole result when paging. A wrong
//     password gives invalidCredentials, SASL authMethodNotSupported; with
//     TLS configured, password binds before StartTLS are refused with
//     confidentialityRequired (Config.RequireTLSForBind).
//   - Add, modify, delete, modify DN and compare get unwillingToPerform
//     ("read-only directory"); unknown extended operations protocolError.
//
// # Limits
//
// A search returns at most the smaller of the client's and the server's
// size limit (then sizeLimitExceeded) and runs at most the smaller of the
// client's time limit and Config.TimeLimit (then timeLimitExceeded), with
// the entries found so far. A request is read whole only after its length
// is checked against Config.MaxPDU; a longer one, bad BER, a wrong message
// structure, a filter nested deeper than 32 levels or with more than 512
// elements end the connection with a Notice of Disconnection
// (protocolError). Connections idle for Config.IdleTimeout are closed, and
// beyond Config.MaxConns new ones are told unavailable and closed. Each
// connection has one goroutine that answers its requests in order; a panic
// ends only that connection. Paged results cookies are opaque and belong to
// the connection that got them; at most eight paged searches are kept per
// connection.
package ldapserver
