package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signet-smime/signet/internal/x509util"
)

// Profile is a CA/B Forum S/MIME BR generation of the mailbox-validated
// certificate type (BR 7.1.6.1). The legacy generation may no longer be
// issued (since 15 July 2025).
type Profile string

// Profiles.
const (
	Strict       Profile = "strict"       // policy 2.23.140.1.5.1.3
	Multipurpose Profile = "multipurpose" // policy 2.23.140.1.5.1.2
)

func (p Profile) oid() x509.OID {
	arc := uint64(3)
	if p == Multipurpose {
		arc = 2
	}
	oid, _ := x509.OIDFromInts([]uint64{2, 23, 140, 1, 5, 1, arc})
	return oid
}

// Usage is what a certificate's key is for.
type Usage string

// Usages.
const (
	Sign    Usage = "sign"    // signing only
	Encrypt Usage = "encrypt" // key management (encryption) only
	Both    Usage = "both"    // dual use
)

// Validity periods of subscriber certificates.
const (
	DefaultValidity = 365 * 24 * time.Hour
	// MaxValidity is BR 6.3.2 for the strict and multipurpose generations.
	MaxValidity = 825 * 24 * time.Hour
)

// Request asks for a subscriber certificate. The zero values of Usage,
// Profile, Validity and Now choose sensible defaults.
type Request struct {
	// Email is the mailbox address (ASCII, local-part@domain).
	Email string
	// Name must be empty: BR 7.1.4.2.3 allow only the address (commonName,
	// emailAddress) and a serial number in the subject of mailbox-validated
	// certificates. Put a display name in the PKCS#12 friendly name.
	Name string
	// PublicKey: *rsa.PublicKey (2048 bits or more), *ecdsa.PublicKey
	// (P-256, P-384, P-521), ed25519.PublicKey (signing only) or an X25519
	// *ecdh.PublicKey (encryption only).
	PublicKey crypto.PublicKey
	// Usage defaults to Sign for Ed25519, Encrypt for X25519 and Both
	// otherwise.
	Usage Usage
	// Profile defaults to Strict.
	Profile Profile
	// Validity defaults to DefaultValidity and may not exceed MaxValidity.
	// The certificate never outlives its issuer: it is cut short instead.
	Validity time.Duration
	// Now is the issuance time (default: the current time).
	Now time.Time
}

// Issue makes a subscriber S/MIME certificate for req under issuer (BR
// 7.1.2.3): subject commonName and SAN rfc822Name set to the address, key
// usage for req.Usage, extended key usage emailProtection only, the profile's
// policy, CRL distribution point, AIA (OCSP and caIssuers), subject and
// authority key identifiers, and a random 127-bit serial number.
func Issue(org Org, issuer *x509.Certificate, issuerKey crypto.Signer, req Request) (*x509.Certificate, error) {
	if _, err := org.check(); err != nil {
		return nil, err
	}
	now := normalise(req.Now)
	if err := canIssue(issuer, now); err != nil {
		return nil, err
	}
	if bytes.Equal(issuer.RawSubject, issuer.RawIssuer) {
		return nil, fmt.Errorf("%w: a root CA must not sign subscriber certificates (BR 6.1.7): use an issuing CA", ErrIssuer)
	}
	if issuerKey == nil {
		return nil, fmt.Errorf("%w: no issuer key", ErrKey)
	}
	email, err := checkAddress(org, req.Email)
	if err != nil {
		return nil, err
	}
	if req.Name != "" {
		return nil, fmt.Errorf("%w (%q): the subject may only hold the address; use the name as the PKCS#12 friendly name", ErrName, req.Name)
	}
	profile := req.Profile
	if profile == "" {
		profile = Strict
	}
	if profile != Strict && profile != Multipurpose {
		return nil, fmt.Errorf("%w %q (want %q or %q)", ErrProfile, req.Profile, Strict, Multipurpose)
	}
	ku, err := keyUsage(req.PublicKey, req.Usage)
	if err != nil {
		return nil, err
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < time.Hour || validity > MaxValidity {
		return nil, fmt.Errorf("%w: %v (between one hour and %d days)", ErrValidity, validity, MaxValidity/(24*time.Hour))
	}
	// The BR count the validity period inclusively: notAfter is the last
	// valid second.
	notAfter := now.Add(validity - time.Second)
	if notAfter.After(issuer.NotAfter) {
		notAfter = issuer.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: email},
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		EmailAddresses:        []string{email},
		Policies:              []x509.OID{profile.oid()},
		CRLDistributionPoints: []string{CRLURL(org, issuer)},
		OCSPServer:            []string{OCSPURL(org)},
		IssuingCertificateURL: []string{IssuerURL(org, issuer)},
	}
	return sign(tmpl, issuer, req.PublicKey, issuerKey)
}

// keyUsage applies BR 7.1.2.3 e.
func keyUsage(pub crypto.PublicKey, u Usage) (x509.KeyUsage, error) {
	const signing = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	var enc x509.KeyUsage // zero: the key cannot encrypt
	canSign := true
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(k); err != nil {
			return 0, err
		}
		enc = x509.KeyUsageKeyEncipherment
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return 0, fmt.Errorf("%w: ECDSA curve %s (use P-256, P-384 or P-521)", ErrKey, k.Curve.Params().Name)
		}
		enc = x509.KeyUsageKeyAgreement
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return 0, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrKey, len(k))
		}
	case *ecdh.PublicKey:
		if k.Curve() != ecdh.X25519() {
			return 0, fmt.Errorf("%w: ECDH key on %v: give P-256/384/521 keys as *ecdsa.PublicKey", ErrKey, k.Curve())
		}
		enc, canSign = x509.KeyUsageKeyAgreement, false
	case nil:
		return 0, fmt.Errorf("%w: no public key", ErrKey)
	default:
		return 0, fmt.Errorf("%w: %T (want RSA, ECDSA, Ed25519 or X25519)", ErrKey, pub)
	}
	if u == "" {
		switch {
		case !canSign:
			u = Encrypt
		case enc == 0:
			u = Sign
		default:
			u = Both
		}
	}
	switch u {
	case Sign:
		if !canSign {
			return 0, fmt.Errorf("%w: an X25519 key can only encrypt (usage %q)", ErrUsage, Encrypt)
		}
		return signing, nil
	case Encrypt, Both:
		if enc == 0 {
			return 0, fmt.Errorf("%w: an Ed25519 key can only sign (usage %q); give the encryption certificate its own X25519 or ECDSA key", ErrUsage, Sign)
		}
		if u == Encrypt {
			return enc, nil
		}
		if !canSign {
			return 0, fmt.Errorf("%w: an X25519 key can only encrypt (usage %q)", ErrUsage, Encrypt)
		}
		return signing | enc, nil
	}
	return 0, fmt.Errorf("%w: unknown usage %q (want %q, %q or %q)", ErrUsage, u, Sign, Encrypt, Both)
}

// checkAddress validates a mailbox address against the organisation's
// domains and returns it with the domain in lower case. Only ASCII dot-atom
// local parts are accepted: a non-ASCII address would need an
// id-on-SmtpUTF8Mailbox name (RFC 9598), which Signet does not issue yet.
func checkAddress(org Org, email string) (string, error) {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return "", fmt.Errorf("%w: %q is not local-part@domain", ErrAddress, email)
	}
	local, domain := email[:at], strings.ToLower(email[at+1:])
	if len(local) > 64 || !dotAtom(local) {
		return "", fmt.Errorf("%w: local part of %q (want ASCII letters, digits, dots and !#$%%&'*+-/=?^_`{|}~)", ErrAddress, email)
	}
	if !validDomain(domain) || strings.HasSuffix(domain, ".") {
		return "", fmt.Errorf("%w: domain of %q", ErrAddress, email)
	}
	ok := slices.ContainsFunc(org.Domains, func(d string) bool {
		return strings.EqualFold(strings.TrimSuffix(d, "."), domain)
	})
	if !ok {
		return "", fmt.Errorf("%w: %s is not one of %s", ErrDomain, domain, strings.Join(org.Domains, ", "))
	}
	return local + "@" + domain, nil
}

// dotAtom reports whether s is an RFC 5322 dot-atom-text.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// createCertificate signs with the CSPRNG, and can put an X25519 key in the
// certificate, which crypto/x509 cannot.
func createCertificate(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) ([]byte, error) {
	return x509util.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
}
