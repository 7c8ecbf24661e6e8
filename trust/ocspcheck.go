package trust

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP statuses returned by Fetcher.OCSP.
const (
	OCSPGood    = ocsp.Good
	OCSPRevoked = ocsp.Revoked
	OCSPUnknown = ocsp.Unknown
)

type ocspEntry struct {
	status                 int
	revokedAt              time.Time
	reason                 int
	thisUpdate, nextUpdate time.Time
}

func ocspKey(c, issuer *x509.Certificate) string {
	return hex.EncodeToString(issuer.RawSubjectPublicKeyInfo) + "/" + c.SerialNumber.String()
}

func (c *CRLCache) getOCSP(k string, at time.Time) (ocspEntry, bool) {
	if c == nil {
		return ocspEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.ocsp[k]
	if !ok || !c.current(e.thisUpdate, e.nextUpdate, at) {
		return ocspEntry{}, false
	}
	return e, true
}

func (c *CRLCache) putOCSP(k string, e ocspEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ocsp == nil {
		c.ocsp = map[string]ocspEntry{}
	}
	c.ocsp[k] = e
}

// ocspSkew tolerates responder clocks slightly ahead.
const ocspSkew = 5 * time.Minute

// OCSP asks cert's first OCSP responder (POST) about cert, issued by issuer,
// for a validation at at. The response must be signed by issuer or by a
// responder certificate issued by issuer with id-kp-OCSPSigning, and be
// current at at (thisUpdate not after at, nextUpdate not before it). It
// returns the status (OCSPGood, OCSPRevoked, OCSPUnknown) and, when revoked,
// the time and reason.
func (f *Fetcher) OCSP(ctx context.Context, cert, issuer *x509.Certificate, at time.Time) (status int, revokedAt time.Time, reason int, err error) {
	if at.IsZero() {
		at = time.Now()
	}
	var server string
	for _, s := range cert.OCSPServer {
		if strings.HasPrefix(strings.ToLower(s), "http://") || strings.HasPrefix(strings.ToLower(s), "https://") {
			server = s
			break
		}
	}
	if server == "" {
		return OCSPUnknown, time.Time{}, 0, errors.New("no HTTP OCSP responder in the certificate")
	}
	k := ocspKey(cert, issuer)
	if e, ok := f.Cache.getOCSP(k, at); ok {
		return e.status, e.revokedAt, e.reason, nil
	}
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return OCSPUnknown, time.Time{}, 0, err
	}
	body, err := f.get(ctx, "POST", server, "application/ocsp-request", req)
	if err != nil {
		return OCSPUnknown, time.Time{}, 0, &FetchError{Cert: cert, URL: server, Err: err}
	}
	resp, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return OCSPUnknown, time.Time{}, 0, fmt.Errorf("OCSP response from %s: %w", server, err)
	}
	if resp.Certificate != nil && !resp.Certificate.Equal(issuer) {
		// ParseResponseForCert checked it was issued by issuer; require the
		// delegation (RFC 6960 4.2.2.2).
		ok := false
		for _, u := range resp.Certificate.ExtKeyUsage {
			ok = ok || u == x509.ExtKeyUsageOCSPSigning
		}
		if !ok {
			return OCSPUnknown, time.Time{}, 0, errors.New("OCSP responder certificate lacks id-kp-OCSPSigning")
		}
		if at.Before(resp.Certificate.NotBefore) || at.After(resp.Certificate.NotAfter) {
			return OCSPUnknown, time.Time{}, 0, errors.New("OCSP responder certificate not valid at the validation time")
		}
	}
	if resp.ThisUpdate.After(at.Add(ocspSkew)) {
		return OCSPUnknown, time.Time{}, 0, fmt.Errorf("OCSP response thisUpdate %s is after %s", resp.ThisUpdate.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	if !resp.NextUpdate.IsZero() && resp.NextUpdate.Before(at) {
		return OCSPUnknown, time.Time{}, 0, fmt.Errorf("stale OCSP response: nextUpdate %s is before %s", resp.NextUpdate.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	e := ocspEntry{status: resp.Status, revokedAt: resp.RevokedAt, reason: resp.RevocationReason, thisUpdate: resp.ThisUpdate, nextUpdate: resp.NextUpdate}
	if resp.Status != ocsp.Unknown {
		f.Cache.putOCSP(k, e)
	}
	return e.status, e.revokedAt, e.reason, nil
}

// RevocationReport says how ValidateOnline checked revocation.
type RevocationReport struct {
	// Sources lists, per certificate of the chain (leaf first, anchor
	// excluded), where its status came from.
	Sources []string
	// Errors are the fetch failures met.
	Errors []error
}

func (r RevocationReport) String() string {
	s := strings.Join(r.Sources, "; ")
	if len(r.Errors) > 0 {
		var es []string
		for _, e := range r.Errors {
			es = append(es, e.Error())
		}
		s += " (failures: " + strings.Join(es, "; ") + ")"
	}
	return s
}

// ValidateOnline validates leaf like Validate, then checks the revocation of
// every certificate of the chain found (leaf to the certificate under the
// anchor): first against opts.CRLs, then against CRLs fetched from its HTTP
// distribution points, then with OCSP. A certificate whose status nothing
// establishes gives CodeRevocationUnavailable (14) when fetching failed and
// CodeRevocationUnverified (16) otherwise (the rest of the chain is still
// checked: a revoked certificate wins); a certificate naming no CRL
// distribution point and no OCSP responder is reported as not checked and
// passes, but only when no CRL at all is given (with CRLs at hand, revocation
// checking was asked for: 16, as Validate with CheckRevocation). All fetches together are bounded
// by f.RetrievalTimeout. Only the first valid path is checked.
func ValidateOnline(ctx context.Context, leaf *x509.Certificate, opts ValidateOptions, f *Fetcher) (*Result, RevocationReport, error) {
	var rep RevocationReport
	if opts.At.IsZero() {
		opts.At = time.Now()
	}
	opts.CheckRevocation = false
	r, err := Validate(leaf, opts)
	if err != nil || !r.Valid() {
		return r, rep, err
	}
	// CRL signers found along the way are validated with revocation too.
	opts.CheckRevocation = true
	ctx, cancel := f.WithRetrievalTimeout(ctx)
	defer cancel()
	path := r.Chain
	n := len(path) - 1
	var undecided *Result // the first certificate whose status is unknown
	given := len(opts.CRLs) > 0
	for i := 0; i < n; i++ {
		c, issuer := path[i], path[i+1]
		who := fmt.Sprintf("certificate %d (%s)", i+1, c.Subject)
		revoked := func(why string) *Result {
			if i == 0 {
				return fail(path, CodeRevoked, "certificate revoked: %s", why)
			}
			return fail(path, CodeChainRevoked, "%s revoked: %s", who, why)
		}
		st, why := checkRevocation(c, issuer, path, opts)
		src := "given CRLs"
		var fetchErrs []error
		if st == revUnknown {
			crls, errs := f.CRLsFor(ctx, []*x509.Certificate{c}, opts.At)
			fetchErrs = append(fetchErrs, errs...)
			if len(crls) > 0 {
				o := opts
				o.CRLs = append(append([]*x509.RevocationList(nil), opts.CRLs...), crls...)
				if st2, why2 := checkRevocation(c, issuer, path, o); st2 != revUnknown {
					st, why, src = st2, why2, "fetched CRL"
					opts.CRLs = o.CRLs
				} else {
					why = why2
				}
			}
		}
		if st == revUnknown && len(c.OCSPServer) > 0 {
			status, at, reason, err := f.OCSP(ctx, c, issuer, opts.At)
			switch {
			case err != nil:
				fetchErrs = append(fetchErrs, err)
			case status == OCSPGood:
				st, src = revGood, "OCSP"
			case status == OCSPRevoked && !at.After(opts.At):
				st, why, src = revRevoked, fmt.Sprintf("OCSP: revoked at %s (reason %d)", at.UTC().Format(time.RFC3339), reason), "OCSP"
			case status == OCSPRevoked:
				st, src = revGood, "OCSP (revoked after the validation time)"
			default:
				why = "OCSP responder does not know the certificate"
			}
		}
		if st == revUnknown && !given && len(c.CRLDistributionPoints) == 0 && len(c.OCSPServer) == 0 && len(fetchErrs) == 0 {
			// The certificate names no revocation source and no given CRL
			// covers it: nothing can be checked, and nothing is claimed.
			rep.Sources = append(rep.Sources, who+": no revocation source published (not checked)")
			continue
		}
		rep.Errors = append(rep.Errors, fetchErrs...)
		switch st {
		case revRevoked:
			rep.Sources = append(rep.Sources, who+": revoked per "+src)
			return revoked(why), rep, nil
		case revGood:
			rep.Sources = append(rep.Sources, who+": good per "+src)
		default:
			// Keep going: a revoked certificate further up outranks this.
			rep.Sources = append(rep.Sources, who+": unknown")
			if undecided == nil {
				if len(fetchErrs) > 0 {
					undecided = fail(path, CodeRevocationUnavailable, "%s: revocation server unavailable: %v", who, fetchErrs[0])
				} else {
					undecided = fail(path, CodeRevocationUnverified, "%s: revocation status unknown: %s", who, why)
				}
			}
		}
	}
	if undecided != nil {
		return undecided, rep, nil
	}
	return r, rep, nil
}
