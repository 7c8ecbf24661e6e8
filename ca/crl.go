package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Revocation reasons (RFC 5280 5.3.1) a CRL entry may carry. certificateHold
// (6) is not offered: the BR forbid it for strict certificates and Signet has
// no hold/release; removeFromCRL (8) belongs to delta CRLs only.
const (
	Unspecified          = 0 // no reasonCode extension is written
	KeyCompromise        = 1
	CACompromise         = 2
	AffiliationChanged   = 3
	Superseded           = 4
	CessationOfOperation = 5
	PrivilegeWithdrawn   = 9
)

var reasonNames = map[int]string{
	Unspecified:          "unspecified",
	KeyCompromise:        "keyCompromise",
	CACompromise:         "cACompromise",
	AffiliationChanged:   "affiliationChanged",
	Superseded:           "superseded",
	CessationOfOperation: "cessationOfOperation",
	PrivilegeWithdrawn:   "privilegeWithdrawn",
}

// ReasonName is the RFC 5280 name of an allowed reason code, or "".
func ReasonName(code int) string { return reasonNames[code] }

// ParseReason turns an RFC 5280 reason name (case-insensitive) into its code.
func ParseReason(name string) (int, error) {
	for code, n := range reasonNames {
		if strings.EqualFold(n, name) {
			return code, nil
		}
	}
	names := make([]string, 0, len(reasonNames))
	for _, code := range []int{0, 1, 2, 3, 4, 5, 9} {
		names = append(names, reasonNames[code])
	}
	return 0, fmt.Errorf("%w: unknown reason %q (want one of %s)", ErrRevoked, name, strings.Join(names, ", "))
}

// Revoked is a CRL entry.
type Revoked struct {
	Serial *big.Int
	At     time.Time // revocation time, not after the CRL's thisUpdate
	Reason int       // one of the reason constants
}

// Lifetimes of CRLs (BR 4.9.7): an issuing CA's CRL (subscriber
// certificates) must be re-issued at least every seven days and say so
// within ten; a root's CRL (CA certificates) at least every twelve months.
const (
	DefaultCRLValidity     = 7 * 24 * time.Hour
	MaxCRLValidity         = 10 * 24 * time.Hour
	DefaultRootCRLValidity = 365 * 24 * time.Hour
	MaxRootCRLValidity     = 365 * 24 * time.Hour
)

var oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}

// CRL makes issuer's full CRL (DER), number number (increase it with each
// CRL), valid from now for validity (0: DefaultCRLValidity for an issuing
// CA, DefaultRootCRLValidity for a self-signed root). It carries the CRL
// number, the authority key identifier and each entry's reason code unless
// unspecified. An issuing CA's CRL also has an issuing distribution point
// naming [CRLURL] (RFC 5280 5.2.5: it cannot then stand in for another
// CRL). A root's CRL has none: the root certificate has no CRL distribution
// point, so a CRL with one would be out of its scope, and relying parties
// that check the root too (openssl verify -crl_check_all) would find no
// CRL for it.
func CRL(org Org, issuer *x509.Certificate, issuerKey crypto.Signer, number int64, revoked []Revoked, now time.Time, validity time.Duration) ([]byte, error) {
	if _, err := org.check(); err != nil {
		return nil, err
	}
	now = normalise(now)
	if err := canIssue(issuer, now); err != nil {
		return nil, err
	}
	if issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, fmt.Errorf("%w: %q lacks the cRLSign key usage", ErrIssuer, issuer.Subject.CommonName)
	}
	if issuerKey == nil {
		return nil, fmt.Errorf("%w: no issuer key", ErrKey)
	}
	alg, err := signatureAlgorithm(issuerKey.Public())
	if err != nil {
		return nil, err
	}
	if number < 0 {
		return nil, fmt.Errorf("%w: negative CRL number %d", ErrRevoked, number)
	}
	root := bytes.Equal(issuer.RawSubject, issuer.RawIssuer)
	def, limit := DefaultCRLValidity, MaxCRLValidity
	if root {
		def, limit = DefaultRootCRLValidity, MaxRootCRLValidity
	}
	if validity == 0 {
		validity = def
	}
	if validity < time.Hour || validity > limit {
		return nil, fmt.Errorf("%w: CRL validity %v (between one hour and %v for this CA)", ErrValidity, validity, limit)
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	seen := make(map[string]bool, len(revoked))
	for _, r := range revoked {
		if r.Serial == nil || r.Serial.Sign() <= 0 || len(r.Serial.Bytes()) > 20 {
			return nil, fmt.Errorf("%w: serial number %v", ErrRevoked, r.Serial)
		}
		if seen[r.Serial.String()] {
			return nil, fmt.Errorf("%w: serial %x listed twice", ErrRevoked, r.Serial)
		}
		seen[r.Serial.String()] = true
		if _, ok := reasonNames[r.Reason]; !ok {
			return nil, fmt.Errorf("%w: reason code %d for serial %x", ErrRevoked, r.Reason, r.Serial)
		}
		at := r.At.UTC().Truncate(time.Second)
		if r.At.IsZero() || at.After(now) {
			return nil, fmt.Errorf("%w: serial %x revoked at %v, after the CRL's time %v", ErrRevoked, r.Serial, r.At, now)
		}
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   r.Serial,
			RevocationTime: at,
			ReasonCode:     r.Reason, // 0 writes no reasonCode (BR 7.2.2)
		})
	}
	tmpl := &x509.RevocationList{
		SignatureAlgorithm:        alg,
		RevokedCertificateEntries: entries,
		Number:                    big.NewInt(number),
		ThisUpdate:                now,
		NextUpdate:                now.Add(validity),
	}
	if !root {
		idp, err := issuingDistributionPoint(CRLURL(org, issuer))
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = []pkix.Extension{idp}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, issuerKey)
	if err != nil {
		return nil, fmt.Errorf("ca: signing the CRL: %w", err)
	}
	return der, nil
}

// issuingDistributionPoint is the critical IDP extension with one
// distribution point, the CRL's URL (RFC 5280 5.2.5).
func issuingDistributionPoint(uri string) (pkix.Extension, error) {
	// IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0]
	// DistributionPointName OPTIONAL, ... }; DistributionPointName ::=
	// CHOICE { fullName [0] GeneralNames, ... }; GeneralName
	// uniformResourceIdentifier [6] IA5String. [0] is constructed
	// (explicit CHOICE), fullName is IMPLICIT GeneralNames.
	type idp struct {
		DistributionPoint struct {
			FullName []asn1.RawValue `asn1:"optional,tag:0"`
		} `asn1:"optional,tag:0"`
	}
	var v idp
	v.DistributionPoint.FullName = []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(uri)}}
	der, err := asn1.Marshal(v)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("ca: encoding the issuing distribution point: %w", err)
	}
	return pkix.Extension{Id: oidIssuingDistributionPoint, Critical: true, Value: der}, nil
}
