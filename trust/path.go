package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// Result codes: the Exchange ActiveSync ValidateCert status set (issue 4).
const (
	CodeSuccess               = 1
	CodeBadSignature          = 3
	CodeUntrusted             = 4
	CodeBadChain              = 5
	CodeNotForSigning         = 6
	CodeInvalid               = 7
	CodeChainTimeInvalid      = 8
	CodeMisused               = 9
	CodeMisuseInChain         = 11
	CodeEmailMismatch         = 12
	CodeRevoked               = 13
	CodeRevocationUnavailable = 14
	CodeChainRevoked          = 15
	CodeRevocationUnverified  = 16
	CodeServerError           = 17
)

// Path building limits: certificates between leaf and anchor, candidate
// paths validated, and search steps.
const (
	maxPathDepth  = 10
	maxPaths      = 32
	maxBuildSteps = 2000
)

// ValidateOptions are the inputs of RFC 5280 §6.1 path validation.
type ValidateOptions struct {
	At            time.Time // validation time; zero means now
	Anchors       []*x509.Certificate
	Intermediates []*x509.Certificate
	CRLs          []*x509.RevocationList
	// InitialPolicies is user-initial-policy-set; nil means {anyPolicy}.
	InitialPolicies                                               []asn1.ObjectIdentifier
	RequireExplicitPolicy, InhibitPolicyMapping, InhibitAnyPolicy bool
	// CheckRevocation requires a usable CRL for every certificate of the path.
	CheckRevocation bool

	depth int // nesting of CRL-signer validations
}

// Result is the outcome of Validate. Chain runs from the leaf to the anchor.
type Result struct {
	Chain  []*x509.Certificate
	Code   int
	Reason string
}

// Valid reports whether the result is a success.
func (r *Result) Valid() bool { return r != nil && r.Code == CodeSuccess }

// Validate builds certification paths from leaf to one of opts.Anchors and
// validates them per RFC 5280 §6.1 (plus CRL checking per §6.3 when
// opts.CheckRevocation). It returns the result of the first valid path, or
// else of the most promising failing one. The error is non-nil only for
// unusable inputs.
func Validate(leaf *x509.Certificate, opts ValidateOptions) (*Result, error) {
	if leaf == nil {
		return nil, errors.New("trust: no certificate to validate")
	}
	if opts.At.IsZero() {
		opts.At = time.Now()
	}
	paths := buildPaths(leaf, opts.Anchors, opts.Intermediates)
	if len(paths) == 0 {
		return &Result{Chain: []*x509.Certificate{leaf}, Code: CodeUntrusted, Reason: "no path to a trust anchor"}, nil
	}
	var first *Result
	for _, p := range paths {
		r := validatePath(p, opts)
		if r.Code == CodeSuccess {
			return r, nil
		}
		if first == nil {
			first = r
		}
	}
	return first, nil
}

// buildPaths returns candidate paths leaf..anchor (the anchor last).
func buildPaths(leaf *x509.Certificate, anchors, inters []*x509.Certificate) [][]*x509.Certificate {
	var out [][]*x509.Certificate
	// budget bounds the search: intermediates come from the message, so an
	// attacker could offer many certificates with the same names.
	budget := maxBuildSteps
	var walk func(path []*x509.Certificate)
	walk = func(path []*x509.Certificate) {
		if len(out) >= maxPaths || budget <= 0 {
			return
		}
		budget--
		cur := path[len(path)-1]
		for _, a := range anchors {
			if pathIssuedBy(cur, a) {
				p := append(append([]*x509.Certificate(nil), path...), a)
				out = append(out, p)
			}
		}
		if len(path) > maxPathDepth {
			return
		}
	next:
		for _, c := range inters {
			if !pathIssuedBy(cur, c) {
				continue
			}
			for _, q := range path {
				if bytes.Equal(q.Raw, c.Raw) {
					continue next
				}
			}
			walk(append(path[:len(path):len(path)], c))
		}
	}
	walk([]*x509.Certificate{leaf})
	return out
}

// issuedBy reports whether issuer's subject matches c's issuer name (and
// the key identifiers agree when both are present).
func pathIssuedBy(c, issuer *x509.Certificate) bool {
	if !namesEqual(c.RawIssuer, issuer.RawSubject) {
		return false
	}
	if len(c.AuthorityKeyId) > 0 && len(issuer.SubjectKeyId) > 0 && !bytes.Equal(c.AuthorityKeyId, issuer.SubjectKeyId) {
		return false
	}
	return true
}

func isSelfIssued(c *x509.Certificate) bool { return namesEqual(c.RawIssuer, c.RawSubject) }

// checkSig verifies signed (with algorithm alg) by the key of issuer,
// accepting SHA-1 which Go's CheckSignature refuses.
func checkSig(issuer *x509.Certificate, alg x509.SignatureAlgorithm, signed, sig []byte) error {
	if alg == x509.DSAWithSHA1 || alg == x509.DSAWithSHA256 {
		return checkDSA(issuer, alg, signed, sig)
	}
	err := issuer.CheckSignature(alg, signed, sig)
	if err == nil {
		return nil
	}
	var ins x509.InsecureAlgorithmError
	if !errors.As(err, &ins) {
		return err
	}
	var h crypto.Hash
	switch alg {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1:
		h = crypto.SHA1
	case x509.MD5WithRSA:
		return err
	default:
		return err
	}
	hh := h.New()
	hh.Write(signed)
	d := hh.Sum(nil)
	switch k := issuer.PublicKey.(type) {
	case *rsa.PublicKey:
		if alg != x509.SHA1WithRSA {
			return errors.New("key type mismatch")
		}
		return rsa.VerifyPKCS1v15(k, h, d, sig)
	case *ecdsa.PublicKey:
		if alg != x509.ECDSAWithSHA1 || !ecdsa.VerifyASN1(k, d, sig) {
			return errors.New("ecdsa verification failure")
		}
		return nil
	}
	return err
}

// handledCritical lists critical extensions this package processes itself.
var handledCritical = map[string]bool{
	"2.5.29.30": true, // nameConstraints
	"2.5.29.32": true, // certificatePolicies
	"2.5.29.33": true, // policyMappings
	"2.5.29.36": true, // policyConstraints
	"2.5.29.54": true, // inhibitAnyPolicy
	"2.5.29.17": true, // subjectAltName
}

func fail(chain []*x509.Certificate, code int, format string, a ...any) *Result {
	return &Result{Chain: chain, Code: code, Reason: fmt.Sprintf(format, a...)}
}

// validatePath runs RFC 5280 §6.1 over path (leaf first, anchor last).
func validatePath(path []*x509.Certificate, opts ValidateOptions) *Result {
	anchor := path[len(path)-1]
	// certs in RFC order: certs[0] issued by the anchor, certs[n-1] the leaf.
	n := len(path) - 1
	certs := make([]*x509.Certificate, n)
	for i := 0; i < n; i++ {
		certs[i] = path[n-1-i]
	}
	pol := newPolicyState(n, opts)
	var ncs []*nameConstraints
	maxPathLen := n
	workIssuer := anchor
	issuers := make([]*x509.Certificate, n) // issuers[i] signed certs[i], DSA parameters completed
	for i, c := range certs {
		issuers[i] = workIssuer
		last := i == n-1
		code := CodeBadChain
		timeCode := CodeChainTimeInvalid
		if last {
			code = CodeInvalid
			timeCode = CodeInvalid
		}
		// 6.1.3 (a)
		if err := checkSig(workIssuer, c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
			if last {
				code = CodeBadSignature
			}
			return fail(path, code, "certificate %d (%s): bad signature: %v", i+1, c.Subject, err)
		}
		if opts.At.Before(c.NotBefore) || opts.At.After(c.NotAfter) {
			return fail(path, timeCode, "certificate %d (%s): not valid at %s", i+1, c.Subject, opts.At.Format(time.RFC3339))
		}
		if !namesEqual(c.RawIssuer, workIssuer.RawSubject) {
			return fail(path, CodeBadChain, "certificate %d: issuer name does not chain", i+1)
		}
		for _, ext := range c.UnhandledCriticalExtensions {
			if !handledCritical[ext.String()] {
				return fail(path, code, "certificate %d (%s): unknown critical extension %s", i+1, c.Subject, ext)
			}
		}
		// 6.1.3 (b),(c)
		if !isSelfIssued(c) || last {
			for _, nc := range ncs {
				if err := nc.check(c); err != nil {
					return fail(path, code, "certificate %d (%s): name constraints: %v", i+1, c.Subject, err)
				}
			}
		}
		// 6.1.3 (d)-(f)
		if err := pol.process(i+1, c, last); err != nil {
			return fail(path, code, "certificate %d (%s): %v", i+1, c.Subject, err)
		}
		if last {
			break
		}
		// 6.1.4 preparation for the next certificate.
		if err := pol.prepare(i+1, c); err != nil {
			return fail(path, code, "certificate %d (%s): %v", i+1, c.Subject, err)
		}
		nc, err := parseNameConstraints(c)
		if err != nil {
			return fail(path, code, "certificate %d (%s): %v", i+1, c.Subject, err)
		}
		if nc != nil {
			ncs = append(ncs, nc)
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return fail(path, CodeMisuseInChain, "certificate %d (%s): not a CA", i+1, c.Subject)
		}
		if !isSelfIssued(c) {
			if maxPathLen <= 0 {
				return fail(path, CodeBadChain, "certificate %d (%s): path length exceeded", i+1, c.Subject)
			}
			maxPathLen--
		}
		if c.MaxPathLen > 0 || c.MaxPathLenZero {
			if c.MaxPathLen < maxPathLen {
				maxPathLen = c.MaxPathLen
			}
		}
		if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return fail(path, CodeMisuseInChain, "certificate %d (%s): keyUsage lacks keyCertSign", i+1, c.Subject)
		}
		workIssuer = withInheritedDSA(c, workIssuer)
	}
	if err := pol.wrapUp(certs[n-1]); err != nil {
		return fail(path, CodeInvalid, "%v", err)
	}
	if opts.CheckRevocation {
		for i := n - 1; i >= 0; i-- {
			issuer := issuers[i]
			st, why := checkRevocation(certs[i], issuer, path, opts)
			switch st {
			case revRevoked:
				if i == n-1 {
					return fail(path, CodeRevoked, "certificate revoked: %s", why)
				}
				return fail(path, CodeChainRevoked, "certificate %d (%s) revoked: %s", i+1, certs[i].Subject, why)
			case revUnknown:
				return fail(path, CodeRevocationUnverified, "certificate %d (%s): revocation status unknown: %s", i+1, certs[i].Subject, why)
			}
		}
	}
	return &Result{Chain: path, Code: CodeSuccess, Reason: "ok"}
}
