package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/signet-smime/signet/ca"
	"github.com/signet-smime/signet/store"
)

// IssueOptions ask for certificates for one address.
type IssueOptions struct {
	Email string
	// Name is a display name; the S/MIME BR keep it out of the certificate,
	// so it becomes the PKCS #12 friendly name.
	Name    string
	Key     string // key type (see NewKey); default ecdsa-p256
	Usage   string // "pair" (default), "both", "sign" or "encrypt"
	Profile string // "strict" (default) or "multipurpose"
	Days    int    // validity; 0: the ca package's default
}

// Issued is one certificate made by Issue.
type Issued struct {
	Cert  *x509.Certificate
	Usage string
	Kept  bool // Signet keeps (escrows) its key
}

// Issue makes the certificates of opts. With the "pair" usage it makes a
// signing and an encryption certificate, each with its own key; an Ed25519
// signing key is paired with an ECDH P-256 encryption key, since Ed25519 cannot
// encrypt. Encryption keys are always kept (sealed); signing keys are kept
// too, and with KeyCustody "client" they are deleted the first time they
// are exported in a PKCS #12.
func (s *Service) Issue(ctx context.Context, o IssueOptions) ([]Issued, error) {
	info, _, iss, err := s.CA(ctx)
	if err != nil {
		return nil, err
	}
	issKey, err := s.key(ctx, IssuingKeyID)
	if err != nil {
		return nil, fmt.Errorf("opening the issuing CA key: %w", err)
	}
	o.Email = strings.ToLower(strings.TrimSpace(o.Email))
	if o.Key == "" {
		o.Key = "ecdsa-p256"
	}
	if o.Usage == "" {
		o.Usage = "pair"
	}
	if o.Profile == "" {
		o.Profile = string(ca.Strict)
	}
	if o.Profile != string(ca.Strict) && o.Profile != string(ca.Multipurpose) {
		return nil, fmt.Errorf("--profile must be strict or multipurpose, not %q", o.Profile)
	}
	if o.Days < 0 {
		return nil, errors.New("--validity must be a positive number of days")
	}
	type part struct {
		usage ca.Usage
		key   string
	}
	var parts []part
	switch o.Usage {
	case "pair":
		enc := o.Key
		if o.Key == "ed25519" {
			// ECDH P-256 rather than X25519: the S/MIME BR list no X25519
			// keys yet, and OpenSSL 3.0, NSS and gpgsm cannot use them.
			enc = "ecdsa-p256"
		}
		parts = []part{{ca.Sign, o.Key}, {ca.Encrypt, enc}}
	case "both", "sign", "encrypt":
		if o.Key == "ed25519" && o.Usage != "sign" {
			return nil, errors.New("an Ed25519 key can only sign: use --usage sign, or --usage pair (which adds an ECDH P-256 encryption key)")
		}
		parts = []part{{ca.Usage(o.Usage), o.Key}}
	default:
		return nil, fmt.Errorf("--usage must be pair, both, sign or encrypt, not %q", o.Usage)
	}
	// Check everything before issuing anything: nothing half-done.
	for _, p := range parts {
		if _, err := NewKeyCheck(p.key); err != nil {
			return nil, err
		}
	}
	if !inDomains(o.Email, info.Domains) {
		return nil, fmt.Errorf("%s is not in the organisation's domains (%s)", o.Email, strings.Join(info.Domains, ", "))
	}
	var out []Issued
	for _, p := range parts {
		key, err := NewKey(p.key)
		if err != nil {
			return nil, err
		}
		cert, err := ca.Issue(orgOf(info), iss, issKey.(crypto.Signer), ca.Request{
			Email: o.Email, PublicKey: publicKey(key), Usage: p.usage, Profile: ca.Profile(o.Profile),
			Validity: time.Duration(o.Days) * 24 * time.Hour, Now: s.now(),
		})
		if err != nil {
			return nil, err
		}
		keyID := "key-" + Fingerprint(cert)[:32]
		if err := s.putKey(ctx, keyID, key, o.Name); err != nil {
			return nil, err
		}
		if err := s.putCert(ctx, cert, string(p.usage), o.Profile, keyID, false, info.IssuingFingerprint, store.SourceIssued); err != nil {
			return nil, err
		}
		out = append(out, Issued{Cert: cert, Usage: string(p.usage), Kept: true})
	}
	if err := s.recordUser(ctx, o.Email, o.Name); err != nil {
		return nil, err
	}
	return out, nil
}

// IssueCSR makes one certificate for a key the requester keeps (a PKCS #10
// request, whose signature must verify). Usage is "sign", "encrypt" or
// "both"; the address must be in the organisation's domains, and when the
// request names addresses, o.Email must be among them.
func (s *Service) IssueCSR(ctx context.Context, o IssueOptions, csr *x509.CertificateRequest) (*Issued, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the certificate request's signature does not verify: %w", err)
	}
	info, _, iss, err := s.CA(ctx)
	if err != nil {
		return nil, err
	}
	o.Email = strings.ToLower(strings.TrimSpace(o.Email))
	if o.Usage == "" || o.Usage == "pair" {
		o.Usage = "both"
	}
	if o.Profile == "" {
		o.Profile = string(ca.Strict)
	}
	if len(csr.EmailAddresses) > 0 {
		found := false
		for _, e := range csr.EmailAddresses {
			found = found || strings.EqualFold(e, o.Email)
		}
		if !found {
			return nil, fmt.Errorf("the request is for %s, not %s", strings.Join(csr.EmailAddresses, ", "), o.Email)
		}
	}
	if !inDomains(o.Email, info.Domains) {
		return nil, fmt.Errorf("%s is not in the organisation's domains (%s)", o.Email, strings.Join(info.Domains, ", "))
	}
	issKey, err := s.key(ctx, IssuingKeyID)
	if err != nil {
		return nil, err
	}
	cert, err := ca.Issue(orgOf(info), iss, issKey.(crypto.Signer), ca.Request{
		Email: o.Email, PublicKey: csr.PublicKey, Usage: ca.Usage(o.Usage), Profile: ca.Profile(o.Profile),
		Validity: time.Duration(o.Days) * 24 * time.Hour, Now: s.now(),
	})
	if err != nil {
		return nil, err
	}
	if err := s.putCert(ctx, cert, o.Usage, o.Profile, "", false, info.IssuingFingerprint, store.SourceIssued); err != nil {
		return nil, err
	}
	if err := s.recordUser(ctx, o.Email, o.Name); err != nil {
		return nil, err
	}
	return &Issued{Cert: cert, Usage: o.Usage}, nil
}

// NewKeyCheck validates a key type name without making a key.
func NewKeyCheck(kind string) (string, error) {
	switch kind {
	case "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519", "x25519":
		return kind, nil
	}
	return "", fmt.Errorf("unknown key type %q (want ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519)", kind)
}

func inDomains(email string, domains []string) bool {
	_, d, ok := strings.Cut(email, "@")
	if !ok {
		return false
	}
	for _, x := range domains {
		if d == x {
			return true
		}
	}
	return false
}

// Revoke revokes certificates Signet issued: one by serial, or every valid
// one of an address. It returns what it revoked.
func (s *Service) Revoke(ctx context.Context, serialHex, email string, reason int) ([]store.Certificate, error) {
	info, err := s.Store.GetCA(ctx)
	if err != nil {
		return nil, err
	}
	var targets []store.Certificate
	switch {
	case serialHex != "":
		serial, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(serialHex), "0x"), 16)
		if !ok {
			return nil, fmt.Errorf("%q is not a hexadecimal serial number", serialHex)
		}
		c, err := s.Store.GetCertificateBySerial(ctx, info.IssuingFingerprint, serial.Text(16))
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no certificate with serial %s was issued by this CA", serialHex)
		}
		if err != nil {
			return nil, err
		}
		targets = []store.Certificate{*c}
	case email != "":
		cs, err := s.Store.ListCertificates(ctx, store.CertFilter{Email: strings.ToLower(email), IssuerFingerprint: info.IssuingFingerprint})
		if err != nil {
			return nil, err
		}
		if len(cs) == 0 {
			return nil, fmt.Errorf("%s has no valid certificate from this CA", email)
		}
		targets = cs
	default:
		return nil, errors.New("give --serial or --email")
	}
	for _, c := range targets {
		if err := s.Store.RevokeCertificate(ctx, c.Fingerprint, reason, s.now(), s.Actor); err != nil {
			if errors.Is(err, store.ErrAlreadyRevoked) {
				return nil, fmt.Errorf("certificate %s is already revoked", c.Serial)
			}
			return nil, err
		}
	}
	return targets, nil
}

// CRL issues a fresh CRL of the issuing CA with the next CRL number, and
// returns when it must be re-issued (its nextUpdate).
func (s *Service) CRL(ctx context.Context) ([]byte, time.Time, error) {
	return s.crl(ctx, false)
}

// RootCRL issues a fresh CRL of the root CA (which lists revoked issuing CAs).
func (s *Service) RootCRL(ctx context.Context) ([]byte, time.Time, error) {
	return s.crl(ctx, true)
}

func (s *Service) crl(ctx context.Context, root bool) ([]byte, time.Time, error) {
	info, rootCert, iss, err := s.CA(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	issuerFP, keyID, validity := info.IssuingFingerprint, IssuingKeyID, ca.DefaultCRLValidity
	if root {
		iss, issuerFP, keyID, validity = rootCert, info.RootFingerprint, RootKeyID, ca.DefaultRootCRLValidity
	}
	key, err := s.key(ctx, keyID)
	if err != nil {
		return nil, time.Time{}, err
	}
	revs, err := s.Store.ListRevoked(ctx, issuerFP)
	if err != nil {
		return nil, time.Time{}, err
	}
	var entries []ca.Revoked
	now := s.now()
	for _, r := range revs {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, time.Time{}, fmt.Errorf("stored serial %q is not hexadecimal", r.Serial)
		}
		at := r.RevokedAt
		if at.After(now) {
			at = now
		}
		entries = append(entries, ca.Revoked{Serial: serial, At: at, Reason: r.Reason})
	}
	n, err := s.Store.NextCRLNumber(ctx, s.Actor)
	if err != nil {
		return nil, time.Time{}, err
	}
	der, err := ca.CRL(orgOf(info), iss, key.(crypto.Signer), n, entries, now, validity)
	if err != nil {
		return nil, time.Time{}, err
	}
	return der, now.Add(validity), nil
}

// Responder is an OCSP responder for the issuing CA over the store.
func (s *Service) Responder(ctx context.Context) (*ca.Responder, error) {
	info, _, iss, err := s.CA(ctx)
	if err != nil {
		return nil, err
	}
	key, err := s.key(ctx, IssuingKeyID)
	if err != nil {
		return nil, err
	}
	lookup := func(issuer *x509.Certificate, serial *big.Int) (ca.CertStatus, error) {
		c, err := s.Store.GetCertificateBySerial(context.Background(), info.IssuingFingerprint, serial.Text(16))
		if errors.Is(err, store.ErrNotFound) {
			return ca.CertStatus{Status: ca.StatusUnknown}, nil
		}
		if err != nil {
			return ca.CertStatus{}, err
		}
		if c.Status == store.StatusRevoked {
			return ca.CertStatus{Status: ca.StatusRevoked, RevokedAt: c.RevokedAt, Reason: c.RevocationReason}, nil
		}
		return ca.CertStatus{Status: ca.StatusGood}, nil
	}
	return &ca.Responder{CAs: []ca.Authority{{Cert: iss, Key: key.(crypto.Signer)}}, Lookup: lookup}, nil
}
