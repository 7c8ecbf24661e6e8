package directory

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/signet-smime/signet/internal/x509util"
	"github.com/signet-smime/signet/smime"
	"github.com/signet-smime/signet/store"
)

// ErrMalformedAddress is returned (wrapped) by [Lookup.Find] and
// [Lookup.Expand] for an address that is not an e-mail address.
var ErrMalformedAddress = errors.New("directory: malformed e-mail address")

// Candidate sources, for [Candidate].Source.
const (
	SourceMailbox   = "mailbox"   // one of the organisation's mailboxes, by its primary address
	SourceAlias     = "alias"     // one of the organisation's mailboxes, by an alias (UseAliases)
	SourceContact   = "contact"   // an external contact kept in the store
	SourceHarvested = "harvested" // a certificate taken from a validly signed message
	SourceUpstream  = "upstream"  // the upstream directory (Lookup.Upstream)
	SourceSMIMEA    = "smimea"    // an SMIMEA record in DNS, authenticated by DNSSEC
)

// DefaultDLExpansionTimeout is the group expansion budget when
// Lookup.DLExpansionTimeout is zero (Exchange's default).
const DefaultDLExpansionTimeout = 60 * time.Second

// Lookup finds the encryption certificates of an address. It is the one
// lookup that `signet lookup`, the SMTP gateway and the web console use; see
// the package documentation for the order of the sources and the rules each
// certificate must pass. A Lookup is safe for concurrent use if its hooks
// and store are.
type Lookup struct {
	// Store holds the mailboxes, contacts, groups and certificates.
	Store store.Store
	// UseAliases lets an alias find its recipient's certificates
	// (Exchange's UseSecondaryProxiesWhenFindingCertificates). When false, an
	// alias finds nothing in the store.
	UseAliases bool
	// Upstream, if set, asks the upstream directory (LDAP) for an
	// address's certificates. Its errors are recorded, not returned.
	Upstream func(ctx context.Context, addr string) ([]*x509.Certificate, error)
	// SMIMEA, if set, looks for SMIMEA records (RFC 8162) in DNS through a
	// validating resolver.
	SMIMEA *SMIMEAResolver
	// TrustDANEEE accepts certificates from SMIMEA records with certificate
	// usage 3 (DANE-EE) without calling Validate: DNSSEC is their trust
	// (RFC 6698 2.1.1). By default they are validated like any other.
	TrustDANEEE bool
	// Validate, if set, decides whether a candidate certificate is
	// trusted and not revoked at the given time (path validation and
	// revocation, with the caller's settings). It is called only for
	// candidates that passed the checks Lookup makes itself. Nil accepts
	// every such candidate.
	Validate func(ctx context.Context, cert *x509.Certificate, at time.Time) (ok bool, reason string)
	// DLExpansionTimeout is Expand's budget for a whole group
	// (Exchange's DLExpansionTimeout); DefaultDLExpansionTimeout if zero.
	DLExpansionTimeout time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Candidate is one certificate a source offered for an address.
type Candidate struct {
	// Cert is the certificate. It is nil only for a rejected store
	// certificate whose DER could not be parsed (Reason says so).
	Cert *x509.Certificate
	// Fingerprint is the lower-case SHA-256 hex of the DER.
	Fingerprint string
	// Source is where it was found: SourceMailbox, SourceAlias,
	// SourceContact, SourceHarvested, SourceUpstream or SourceSMIMEA.
	Source string
	// Owner is the recipient it belongs to: the primary address of the
	// mailbox or contact, otherwise the address looked up.
	Owner string
	// Usable reports whether it passed every check.
	Usable bool
	// Reason says why it is not usable; "" when it is.
	Reason string
	// Preferred marks the recipient's preferred encryption certificate.
	Preferred bool
}

// Result is the outcome of one lookup.
type Result struct {
	// Address is the address looked up, trimmed, with the domain in
	// lower case.
	Address string
	// At is the time the certificates were checked at.
	At time.Time
	// Found are the usable certificates of the first source that had any:
	// the preferred one first, then the newest (NotBefore) first.
	Found []Candidate
	// Rejected are the candidates of every source searched that failed a
	// check, each with its Reason.
	Rejected []Candidate
	// Searched has one line per source tried, in order, with its outcome,
	// for example "mailbox: alice@example.org, 1 certificate" or
	// "upstream: not configured".
	Searched []string
	// Group is true when the address is a distribution group: Find looks
	// no further (a group is not encrypted to as such); use Expand.
	Group bool
	// Recipient is the primary address of the store recipient the address
	// belongs to (by primary address or alias), "" if none; Kind is its
	// kind, Alias whether the address is one of its aliases and Disabled
	// whether it is disabled (a disabled recipient's certificates are not
	// served).
	Recipient string
	Kind      string
	Alias     bool
	Disabled  bool
}

// Usable returns the usable certificates, in order of preference.
func (r *Result) Usable() []*x509.Certificate {
	if r == nil {
		return nil
	}
	out := make([]*x509.Certificate, 0, len(r.Found))
	for _, c := range r.Found {
		out = append(out, c.Cert)
	}
	return out
}

// Source returns the source the usable certificates came from, "" if none.
func (r *Result) Source() string {
	if r == nil || len(r.Found) == 0 {
		return ""
	}
	return r.Found[0].Source
}

func (l *Lookup) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// NormalizeAddress checks that addr is an e-mail address (one @, text on
// both sides, no spaces, control characters or angle brackets, a domain
// without empty labels) and returns it trimmed with its domain in lower
// case. The local part keeps its case: SMIMEA owner names hash it as
// written. The error wraps ErrMalformedAddress.
func NormalizeAddress(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	local, domain, ok := strings.Cut(a, "@")
	switch {
	case a == "":
		return "", fmt.Errorf("%w: empty", ErrMalformedAddress)
	case !ok || strings.Contains(domain, "@"):
		return "", fmt.Errorf("%w: %q must contain exactly one @", ErrMalformedAddress, addr)
	case local == "" || domain == "":
		return "", fmt.Errorf("%w: %q needs a name before the @ and a domain after it", ErrMalformedAddress, addr)
	case strings.ContainsFunc(a, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '<' || r == '>'
	}):
		return "", fmt.Errorf("%w: %q contains a space, control character or angle bracket", ErrMalformedAddress, addr)
	case strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return "", fmt.Errorf("%w: %q has an empty domain label", ErrMalformedAddress, addr)
	}
	return local + "@" + strings.ToLower(domain), nil
}

// Find looks up the usable encryption certificates of addr, trying the
// sources in order and stopping at the first that yields a usable one.
// Nothing found is a Result with no Found, not an error. The error is for a
// malformed address (wrapping ErrMalformedAddress) or a store failure; when
// ctx ends during the search, Find returns the partial Result together with
// an error wrapping ctx.Err().
func (l *Lookup) Find(ctx context.Context, addr string) (*Result, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return nil, err
	}
	rec, err := l.resolve(ctx, a)
	if err != nil {
		return nil, err
	}
	return l.find(ctx, a, rec)
}

// recipient is what the store knows of an address.
type recipient struct {
	user  *store.User // nil: no recipient has the address
	alias bool
}

func (l *Lookup) resolve(ctx context.Context, a string) (recipient, error) {
	if l.Store == nil {
		return recipient{}, errors.New("directory: lookup has no store")
	}
	u, alias, err := l.Store.ResolveAddress(ctx, a)
	if errors.Is(err, store.ErrNotFound) {
		return recipient{}, nil
	}
	if err != nil {
		return recipient{}, fmt.Errorf("directory: look up %s: %w", a, err)
	}
	return recipient{user: u, alias: alias}, nil
}

// find runs the search for a normalised address whose store recipient is
// already resolved.
func (l *Lookup) find(ctx context.Context, a string, rec recipient) (*Result, error) {
	res := &Result{Address: a, At: l.now()}
	lower := strings.ToLower(a)
	if u := rec.user; u != nil {
		res.Recipient, res.Kind, res.Alias = u.Email, u.Kind, rec.alias
		res.Disabled = u.Status == store.UserDisabled
		if u.Kind == store.KindGroup {
			res.Group = true
			res.Searched = append(res.Searched, fmt.Sprintf("group: %s is a distribution group; expand it to look up its members", u.Email))
			return res, nil
		}
	}
	steps := []func(context.Context, *Result, recipient, string) error{
		func(ctx context.Context, res *Result, rec recipient, lower string) error {
			return l.fromRecipient(ctx, res, rec, lower, store.KindMailbox)
		},
		func(ctx context.Context, res *Result, rec recipient, lower string) error {
			return l.fromRecipient(ctx, res, rec, lower, store.KindContact)
		},
		l.fromHarvested,
		l.fromUpstream,
		l.fromSMIMEA,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("directory: look up %s: %w", a, err)
		}
		if err := step(ctx, res, rec, lower); err != nil {
			return nil, err
		}
		if len(res.Found) > 0 {
			return res, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("directory: look up %s: %w", a, err)
	}
	return res, nil
}

// fromRecipient is steps 1 (kind mailbox) and 2 (kind contact): the
// certificates the store keeps for the recipient the address belongs to.
func (l *Lookup) fromRecipient(ctx context.Context, res *Result, rec recipient, lower, kind string) error {
	u := rec.user
	switch {
	case u == nil:
		res.Searched = append(res.Searched, kind+": no "+kind+" has this address")
		return nil
	case u.Kind != kind:
		res.Searched = append(res.Searched, fmt.Sprintf("%s: %s is a %s, not a %s", kind, u.Email, u.Kind, kind))
		return nil
	case rec.alias && !l.UseAliases:
		res.Searched = append(res.Searched, fmt.Sprintf("%s: %s is an alias of %s; aliases do not find certificates (UseAliases is off)", kind, res.Address, u.Email))
		return nil
	case u.Status == store.UserDisabled:
		res.Searched = append(res.Searched, fmt.Sprintf("%s: %s is disabled; its certificates are not served", kind, u.Email))
		return nil
	}
	source := kind // SourceMailbox or SourceContact
	if rec.alias && kind == store.KindMailbox {
		source = SourceAlias
	}
	emails := []string{u.Email}
	if rec.alias {
		emails = append(emails, lower)
	}
	// The recipient's own certificate may name the primary address while
	// the lookup was by alias: either address is accepted.
	cands, err := l.storeCandidates(ctx, store.CertFilter{IncludeRevoked: true}, emails, source, u.Email, u.PreferredEncrypt)
	if err != nil {
		return err
	}
	who := u.Email
	if rec.alias {
		who = res.Address + " (alias of " + u.Email + ")"
	}
	l.settle(ctx, res, cands, kind+": "+who, nil)
	return nil
}

// fromHarvested is step 3: certificates harvested from signed mail, for
// an address that is no recipient.
func (l *Lookup) fromHarvested(ctx context.Context, res *Result, rec recipient, lower string) error {
	if rec.user != nil {
		res.Searched = append(res.Searched, fmt.Sprintf("harvested: not used for %s, a recipient in the directory", res.Address))
		return nil
	}
	cands, err := l.storeCandidates(ctx, store.CertFilter{Source: store.SourceHarvested, IncludeRevoked: true},
		[]string{lower}, SourceHarvested, lower, "")
	if err != nil {
		return err
	}
	l.settle(ctx, res, cands, "harvested: "+lower, nil)
	return nil
}

// fromUpstream is step 4: the upstream directory hook.
func (l *Lookup) fromUpstream(ctx context.Context, res *Result, _ recipient, lower string) error {
	if l.Upstream == nil {
		res.Searched = append(res.Searched, "upstream: not configured")
		return nil
	}
	certs, err := l.Upstream(ctx, res.Address)
	if err != nil {
		res.Searched = append(res.Searched, "upstream: error: "+err.Error())
		return nil
	}
	cands := make([]Candidate, 0, len(certs))
	for _, c := range certs {
		if c == nil {
			continue
		}
		cands = append(cands, Candidate{Cert: c, Fingerprint: fingerprint(c.Raw), Source: SourceUpstream, Owner: lower})
	}
	sortCandidates(cands)
	l.settle(ctx, res, cands, "upstream: "+lower, []string{lower})
	return nil
}

// fromSMIMEA is step 5: SMIMEA records through a validating resolver.
func (l *Lookup) fromSMIMEA(ctx context.Context, res *Result, _ recipient, lower string) error {
	if l.SMIMEA == nil {
		res.Searched = append(res.Searched, "smimea: not enabled")
		return nil
	}
	ans, err := l.SMIMEA.Query(ctx, res.Address)
	switch {
	case errors.Is(err, ErrUnauthenticatedDNS):
		res.Searched = append(res.Searched, "smimea: unauthenticated answer ignored")
		return nil
	case err != nil:
		res.Searched = append(res.Searched, "smimea: error: "+err.Error())
		return nil
	}
	var cands []Candidate
	var daneEE map[*x509.Certificate]bool
	for _, rc := range ans.Records {
		cands = append(cands, Candidate{Cert: rc.Cert, Fingerprint: fingerprint(rc.Cert.Raw), Source: SourceSMIMEA, Owner: lower})
		if rc.Usage == 3 && l.TrustDANEEE {
			if daneEE == nil {
				daneEE = map[*x509.Certificate]bool{}
			}
			daneEE[rc.Cert] = true
		}
	}
	sortCandidates(cands)
	var notes []string
	if len(ans.Records) == 0 && ans.Skipped == 0 && ans.Malformed == 0 {
		res.Searched = append(res.Searched, "smimea: no record ("+ans.Rcode+")")
		return nil
	}
	if ans.Skipped > 0 {
		notes = append(notes, fmt.Sprintf("%d %s skipped (not a full certificate)", ans.Skipped, plural(ans.Skipped, "record")))
	}
	if ans.Malformed > 0 {
		notes = append(notes, fmt.Sprintf("%d malformed %s", ans.Malformed, plural(ans.Malformed, "record")))
	}
	for i := range cands {
		l.check(ctx, &cands[i], res.At, []string{lower}, daneEE[cands[i].Cert])
	}
	l.collect(res, cands, "smimea: "+lower, notes)
	return nil
}

// storeCandidates lists the store's certificates for any of emails that
// match f (Email is set from emails), rejecting those the store's record
// rules out (revoked, not for encryption, unreadable).
func (l *Lookup) storeCandidates(ctx context.Context, f store.CertFilter, emails []string, source, owner, preferred string) ([]Candidate, error) {
	var cands []Candidate
	seen := map[string]bool{}
	for _, e := range emails {
		f.Email = e
		list, err := l.Store.ListCertificates(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("directory: certificates of %s: %w", e, err)
		}
		for i := range list {
			sc := &list[i]
			if seen[sc.Fingerprint] {
				continue
			}
			seen[sc.Fingerprint] = true
			c := Candidate{Fingerprint: sc.Fingerprint, Source: source, Owner: owner,
				Preferred: preferred != "" && strings.EqualFold(preferred, sc.Fingerprint)}
			cert, err := x509.ParseCertificate(sc.DER)
			if err != nil {
				if cert, err = x509util.ParseLenient(sc.DER); err != nil {
					c.Reason = "unreadable certificate: " + err.Error()
				}
			}
			c.Cert = cert
			if c.Reason == "" {
				if why := storeStatus(sc); why != "" {
					c.Reason = why
				} else if source == SourceMailbox || source == SourceAlias {
					if sc.Source == store.SourceHarvested {
						// Anyone can sign a message as one of our own
						// mailboxes: their certificates come from the
						// organisation, not from mail.
						c.Reason = "a harvested certificate: not used for the organisation's own mailboxes"
					}
				}
			}
			cands = append(cands, c)
		}
	}
	sortCandidates(cands)
	return cands, nil
}

// storeStatus is what the store's record alone rules out: revocation and
// a usage other than encryption.
func storeStatus(sc *store.Certificate) string {
	if sc.Status == store.StatusRevoked {
		return fmt.Sprintf("revoked on %s (reason %d)", sc.RevokedAt.UTC().Format(time.DateOnly), sc.RevocationReason)
	}
	switch sc.Usage {
	case store.UsageEncrypt, store.UsageBoth:
		return ""
	case store.UsageSign:
		return "a signing-only certificate (usage sign)"
	default:
		return "a CA certificate (usage " + sc.Usage + ")"
	}
}

// settle checks every candidate not yet rejected and files them in res.
func (l *Lookup) settle(ctx context.Context, res *Result, cands []Candidate, label string, names []string) {
	for i := range cands {
		c := &cands[i]
		if c.Reason != "" {
			continue
		}
		n := names
		if n == nil {
			// Store candidates: the owner's primary address or the
			// address looked up.
			n = []string{c.Owner, strings.ToLower(res.Address)}
		}
		l.check(ctx, c, res.At, n, false)
	}
	l.collect(res, cands, label, nil)
}

// collect files checked candidates into Found and Rejected and writes the
// source's line in Searched.
func (l *Lookup) collect(res *Result, cands []Candidate, label string, notes []string) {
	var found, rejected int
	for _, c := range cands {
		if c.Usable {
			res.Found = append(res.Found, c)
			found++
		} else {
			res.Rejected = append(res.Rejected, c)
			rejected++
		}
	}
	line := fmt.Sprintf("%s, %d %s", label, found, plural(found, "certificate"))
	if rejected > 0 {
		line += fmt.Sprintf(" (%d rejected)", rejected)
	}
	if len(notes) > 0 {
		line += "; " + strings.Join(notes, "; ")
	}
	res.Searched = append(res.Searched, line)
}

// check decides whether c is usable at time at for one of names: validity
// period, emailProtection, a key usage that allows encryption, the
// address, and then the Validate hook (unless skipValidate).
func (l *Lookup) check(ctx context.Context, c *Candidate, at time.Time, names []string, skipValidate bool) {
	c.Usable = false
	if c.Reason != "" {
		return
	}
	cert := c.Cert
	if why := CheckEncryptionCert(cert, at, names...); why != "" {
		c.Reason = why
		return
	}
	if l.Validate != nil && !skipValidate {
		if ok, why := l.Validate(ctx, cert, at); !ok {
			if why == "" {
				why = "not valid"
			}
			c.Reason = "validation: " + why
			return
		}
	}
	c.Usable = true
}

var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

// CheckEncryptionCert returns why cert cannot be used to encrypt to one of
// addrs at time at, or "" if it can: it must be within its validity
// period, allow emailProtection (or carry no extended key usage), have a
// key that can encrypt with a key usage that allows it (keyEncipherment for
// RSA, keyAgreement for EC and X25519; no key usage extension allows any)
// and, if addrs is not empty, name one of them (SAN rfc822Name or subject
// emailAddress, without regard to case). It does not check trust or
// revocation.
func CheckEncryptionCert(cert *x509.Certificate, at time.Time, addrs ...string) string {
	if cert == nil {
		return "no certificate"
	}
	if at.After(cert.NotAfter) {
		return "expired on " + cert.NotAfter.UTC().Format(time.DateOnly)
	}
	if at.Before(cert.NotBefore) {
		return "not valid before " + cert.NotBefore.UTC().Format(time.DateOnly)
	}
	if !smime.EmailProtectionAllowed(cert) {
		return "extended key usage does not allow emailProtection"
	}
	hasKU := slices.ContainsFunc(cert.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidKeyUsage) })
	pub, err := x509util.PublicKey(cert)
	if err != nil {
		return "unreadable public key: " + err.Error()
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if hasKU && cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			return "key usage does not allow keyEncipherment (RSA)"
		}
	case *ecdsa.PublicKey:
		if hasKU && cert.KeyUsage&x509.KeyUsageKeyAgreement == 0 {
			return "key usage does not allow keyAgreement (EC)"
		}
	case *ecdh.PublicKey:
		if hasKU && cert.KeyUsage&x509.KeyUsageKeyAgreement == 0 {
			return "key usage does not allow keyAgreement (X25519)"
		}
	case ed25519.PublicKey:
		return "an Ed25519 key cannot encrypt"
	default:
		return fmt.Sprintf("a %T key cannot encrypt", k)
	}
	if len(addrs) > 0 {
		have := smime.CertificateEmails(cert)
		for _, a := range addrs {
			for _, h := range have {
				if strings.EqualFold(a, h) {
					return ""
				}
			}
		}
		if len(have) == 0 {
			return "names no e-mail address (wanted " + addrs[0] + ")"
		}
		return "does not name " + addrs[len(addrs)-1] + " (names " + strings.Join(have, ", ") + ")"
	}
	return ""
}

// sortCandidates orders candidates: preferred first, then newest
// NotBefore, then fingerprint; unreadable ones last.
func sortCandidates(cs []Candidate) {
	slices.SortStableFunc(cs, func(a, b Candidate) int {
		if a.Preferred != b.Preferred {
			if a.Preferred {
				return -1
			}
			return 1
		}
		if (a.Cert == nil) != (b.Cert == nil) {
			if a.Cert == nil {
				return 1
			}
			return -1
		}
		if a.Cert != nil {
			if c := b.Cert.NotBefore.Compare(a.Cert.NotBefore); c != 0 {
				return c
			}
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
