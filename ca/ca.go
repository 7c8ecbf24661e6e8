package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Errors for control flow; the returned errors wrap them with detail.
var (
	ErrOrg      = errors.New("ca: bad organisation settings")
	ErrKey      = errors.New("ca: key not allowed")
	ErrIssuer   = errors.New("ca: issuer cannot issue")
	ErrAddress  = errors.New("ca: bad mailbox address")
	ErrDomain   = errors.New("ca: address outside the organisation's domains")
	ErrName     = errors.New("ca: a display name is not allowed in a mailbox-validated certificate")
	ErrUsage    = errors.New("ca: key usage not possible for this key")
	ErrProfile  = errors.New("ca: unknown profile")
	ErrValidity = errors.New("ca: validity period not allowed")
	ErrRevoked  = errors.New("ca: bad revocation entry")
)

// Validity periods of the CA certificates.
const (
	RootYears    = 20
	IssuingYears = 10
)

// Org is the organisation the CA belongs to.
type Org struct {
	// Name of the organisation: the organizationName of the CA certificates.
	Name string
	// Domains the CA issues for: a certificate's address must be in one of
	// them exactly (sub-domains are not included).
	Domains []string
	// PublicURL is the http base URL under which CRLs, CA certificates and
	// the OCSP responder are served, e.g. "http://pki.example.com".
	PublicURL string
	// Country is the ISO 3166-1 two-letter code of the organisation's place
	// of business. Optional here, but BR 7.1.4.3.1 requires it in the
	// subject of publicly-trusted CA certificates.
	Country string
}

// check validates the organisation settings and returns the base URL
// without a trailing slash.
func (o Org) check() (string, error) {
	if strings.TrimSpace(o.Name) == "" || strings.TrimSpace(o.Name) != o.Name {
		return "", fmt.Errorf("%w: name %q is empty or has surrounding spaces", ErrOrg, o.Name)
	}
	if len(o.Domains) == 0 {
		return "", fmt.Errorf("%w: no mail domain", ErrOrg)
	}
	for _, d := range o.Domains {
		if !validDomain(d) {
			return "", fmt.Errorf("%w: bad domain %q", ErrOrg, d)
		}
	}
	if o.Country != "" && !validCountry(o.Country) {
		return "", fmt.Errorf("%w: country %q is not a two-letter ISO 3166-1 code", ErrOrg, o.Country)
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || o.PublicURL == "" {
		return "", fmt.Errorf("%w: public URL %q does not parse", ErrOrg, o.PublicURL)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("%w: public URL %q must use http (the S/MIME BR forbid other schemes for CRL and AIA URLs; what is served there is signed)", ErrOrg, o.PublicURL)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: public URL %q must be http://host[:port][/path]", ErrOrg, o.PublicURL)
	}
	return strings.TrimRight(o.PublicURL, "/"), nil
}

func validCountry(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}

// validDomain accepts an ASCII host name (A-labels for IDNs) with at least
// two labels.
func validDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i] | 0x20
			if !(c >= 'a' && c <= 'z' || l[i] >= '0' && l[i] <= '9' || l[i] == '-') {
				return false
			}
		}
	}
	return true
}

// KeyID is the lower-case hex of a CA certificate's subject key identifier
// (or, when it has none, of the RFC 7093 identifier of its key): the name
// under which its CRL and certificate are published.
func KeyID(ca *x509.Certificate) string {
	if len(ca.SubjectKeyId) > 0 {
		return hex.EncodeToString(ca.SubjectKeyId)
	}
	id, err := keyIdentifier(ca.RawSubjectPublicKeyInfo)
	if err != nil {
		sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
		id = sum[:20]
	}
	return hex.EncodeToString(id)
}

// CRLURL is where ca's CRL is published: PUBLIC_URL/crl/KEYID.crl.
func CRLURL(org Org, ca *x509.Certificate) string {
	return strings.TrimRight(org.PublicURL, "/") + "/crl/" + KeyID(ca) + ".crl"
}

// IssuerURL is where ca's certificate is published (DER):
// PUBLIC_URL/ca/KEYID.crt. Certificates issued by ca point there (AIA
// caIssuers).
func IssuerURL(org Org, ca *x509.Certificate) string {
	return strings.TrimRight(org.PublicURL, "/") + "/ca/" + KeyID(ca) + ".crt"
}

// OCSPURL is the OCSP responder for every CA of the organisation:
// PUBLIC_URL/ocsp (POST to it, or GET PUBLIC_URL/ocsp/BASE64).
func OCSPURL(org Org) string {
	return strings.TrimRight(org.PublicURL, "/") + "/ocsp"
}

// NewRoot makes the organisation's self-signed root CA certificate, valid for
// RootYears from now, as BR 7.1.2.1 describe it: critical basicConstraints
// without a path length, keyCertSign and cRLSign, a subject key identifier,
// no extended key usage and no policies. Its key should then go offline: it
// signs only issuing CA certificates and the root CRL.
func NewRoot(org Org, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	if _, err := org.check(); err != nil {
		return nil, err
	}
	if err := checkCAKey(key); err != nil {
		return nil, err
	}
	now = normalise(now)
	tmpl := &x509.Certificate{
		Subject:               caName(org, "S/MIME Root CA", now),
		NotBefore:             now,
		NotAfter:              now.AddDate(RootYears, 0, 0).Add(-time.Second),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1,
	}
	return sign(tmpl, tmpl, key.Public(), key)
}

// NewIssuing makes the issuing CA certificate for key under root (BR
// 7.1.2.2): valid IssuingYears (never beyond the root), path length 0,
// extended key usage emailProtection only, the anyPolicy policy, and the
// root's CRL and certificate URLs.
//
// BR 7.1.6.3 let a subordinate CA of the same organisation (an Affiliate)
// carry anyPolicy instead of the reserved S/MIME policy identifiers. That is
// the choice here: the same CA can later issue other BR profiles, and zlint
// (v3.7.3) applies its mailbox-validated subject lint
// (e_mailbox_validated_allowed_subjectdn_attributes) to any certificate with
// a mailbox-validated policy, CA certificates included, whose subject BR
// 7.1.4.3.1 requires to hold organizationName and countryName.
// Besides keyCertSign and cRLSign it has digitalSignature, because this key
// signs the OCSP responses (see [Responder]).
func NewIssuing(org Org, root *x509.Certificate, rootKey crypto.Signer, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	if _, err := org.check(); err != nil {
		return nil, err
	}
	if err := checkCAKey(key); err != nil {
		return nil, err
	}
	now = normalise(now)
	if err := canIssue(root, now); err != nil {
		return nil, err
	}
	notAfter := now.AddDate(IssuingYears, 0, 0).Add(-time.Second)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:               caName(org, "S/MIME Issuing CA", now),
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		Policies:              []x509.OID{anyPolicy},
		CRLDistributionPoints: []string{CRLURL(org, root)},
		IssuingCertificateURL: []string{IssuerURL(org, root)},
	}
	return sign(tmpl, root, key.Public(), rootKey)
}

var anyPolicy = func() x509.OID {
	oid, _ := x509.OIDFromInts([]uint64{2, 5, 29, 32, 0})
	return oid
}()

// caName is "C=.., O=Org, CN=Org kind year": the year keeps the names of
// successive CAs distinct (BR 7.1.4.3.1 a).
func caName(org Org, kind string, now time.Time) pkix.Name {
	n := pkix.Name{
		Organization: []string{org.Name},
		CommonName:   org.Name + " " + kind + " " + strconv.Itoa(now.Year()),
	}
	if org.Country != "" {
		n.Country = []string{org.Country}
	}
	return n
}

// canIssue checks that issuer is a CA certificate valid at now.
func canIssue(issuer *x509.Certificate, now time.Time) error {
	switch {
	case issuer == nil:
		return fmt.Errorf("%w: no issuer certificate", ErrIssuer)
	case !issuer.BasicConstraintsValid || !issuer.IsCA || issuer.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("%w: %q is not a CA certificate", ErrIssuer, issuer.Subject.CommonName)
	case now.Before(issuer.NotBefore) || now.After(issuer.NotAfter):
		return fmt.Errorf("%w: %q is valid from %s to %s, not at %s", ErrIssuer, issuer.Subject.CommonName,
			issuer.NotBefore.Format(time.RFC3339), issuer.NotAfter.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return nil
}

// normalise makes now UTC with whole seconds (certificate times have no
// fractions); the zero time means the current time.
func normalise(now time.Time) time.Time {
	if now.IsZero() {
		now = time.Now()
	}
	return now.UTC().Truncate(time.Second)
}

// sign completes tmpl (serial, key identifier, signature algorithm), signs it
// and parses the result.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrKey)
	}
	alg, err := signatureAlgorithm(key.Public())
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if tmpl.SubjectKeyId, err = keyIdentifier(spki); err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serialNumber()
	tmpl.SignatureAlgorithm = alg
	der, err := createCertificate(tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("ca: signing the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parsing the new certificate: %w", err)
	}
	if string(cert.RawSubjectPublicKeyInfo) != string(spki) {
		return nil, errors.New("ca: the new certificate does not carry the requested key")
	}
	return cert, nil
}

// checkCAKey refuses CA keys the BR do not allow (6.1.5).
func checkCAKey(key crypto.Signer) error {
	if key == nil {
		return fmt.Errorf("%w: no CA key", ErrKey)
	}
	_, err := signatureAlgorithm(key.Public())
	return err
}

// signatureAlgorithm is the BR 7.1.3.2 signature algorithm for a CA key.
func signatureAlgorithm(pub crypto.PublicKey) (x509.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(k); err != nil {
			return 0, err
		}
		return x509.SHA256WithRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return x509.ECDSAWithSHA256, nil
		case elliptic.P384():
			return x509.ECDSAWithSHA384, nil
		case elliptic.P521():
			return x509.ECDSAWithSHA512, nil
		}
		return 0, fmt.Errorf("%w: ECDSA curve %s (use P-256, P-384 or P-521)", ErrKey, k.Curve.Params().Name)
	case ed25519.PublicKey:
		return x509.PureEd25519, nil
	}
	return 0, fmt.Errorf("%w: a CA key must be RSA, ECDSA or Ed25519, not %T", ErrKey, pub)
}

// checkRSA applies BR 6.1.5 and 6.1.6 to an RSA key.
func checkRSA(k *rsa.PublicKey) error {
	bits := k.N.BitLen()
	if bits < 2048 || bits%8 != 0 {
		return fmt.Errorf("%w: RSA modulus of %d bits (need at least 2048, a multiple of 8)", ErrKey, bits)
	}
	if k.E < 3 || k.E%2 == 0 {
		return fmt.Errorf("%w: RSA public exponent %d (need an odd number of at least 3)", ErrKey, k.E)
	}
	return nil
}

// keyIdentifier is RFC 7093 section 2 method 1: the leftmost 160 bits of
// the SHA-256 hash of the subjectPublicKey bits.
func keyIdentifier(spki []byte) ([]byte, error) {
	bits, err := publicKeyBits(spki)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(bits)
	return sum[:20], nil
}

// publicKeyBits returns the contents of the subjectPublicKey BIT STRING.
func publicKeyBits(spki []byte) ([]byte, error) {
	in := cryptobyte.String(spki)
	var body, alg cryptobyte.String
	var bits asn1BitString
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1(&alg, cbasn1.SEQUENCE) || !bits.read(&body) {
		return nil, fmt.Errorf("%w: bad subjectPublicKeyInfo", ErrKey)
	}
	return bits, nil
}

type asn1BitString []byte

func (b *asn1BitString) read(s *cryptobyte.String) bool {
	var v cryptobyte.String
	if !s.ReadASN1(&v, cbasn1.BIT_STRING) || len(v) == 0 || v[0] != 0 {
		return false
	}
	*b = asn1BitString(v[1:])
	return true
}

// serialNumber is 127 bits from the CSPRNG: positive, at most 16 octets,
// well over the 64 bits BR 7.1 require and below 2^159.
func serialNumber() *big.Int {
	var b [16]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n
		}
	}
}
