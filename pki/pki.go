// Package pki is Signet's certificate authority as the endpoints use it:
// it composes the store (state), the keystore (keys sealed at rest) and the
// ca package (certificate profiles, CRLs, OCSP) into the operations of
// `signet init`, `signet ca …` and `signet cert …`. It holds no SQL and no
// low-level cryptography itself.
package pki

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signet-smime/signet/ca"
	"github.com/signet-smime/signet/keystore"
	"github.com/signet-smime/signet/smime"
	"github.com/signet-smime/signet/store"
)

// Key ids of the CA keys in the store.
const (
	RootKeyID    = "ca-root"
	IssuingKeyID = "ca-issuing"
)

// Settings this package reads.
const (
	// SettingKeyCustody is "client" (signing keys leave Signet once, in
	// the PKCS #12; only encryption keys are kept) or "gateway" (both are
	// kept, so the gateway can sign for users).
	SettingKeyCustody = "KeyCustody"
)

// ErrNotFound says no certificate matches.
var ErrNotFound = errors.New("no such certificate")

// Service is the CA of one data folder.
type Service struct {
	Store  store.Store
	Master *keystore.MasterKey
	Actor  string           // who acts, for the audit log
	Now    func() time.Time // nil: time.Now
	// Token is the PKCS #11 token holding the CA keys when init put them
	// there (InitWithToken); nil when they are sealed by Master.
	Token *keystore.Token
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// InitOptions describe a new organisation.
type InitOptions struct {
	Org       string
	Domains   []string
	PublicURL string
	CAKey     string // "ecdsa-p384" (default) or "rsa-4096"
	Country   string // ISO 3166-1 code for the CA subjects (BR 7.1.4.3.1); optional
}

// Init creates the root and issuing CAs and records the organisation. It
// refuses when the folder already has a CA.
func (s *Service) Init(ctx context.Context, o InitOptions) (*store.CAInfo, error) {
	org, err := s.prepareInit(ctx, &o)
	if err != nil {
		return nil, err
	}
	rootKey, err := NewKey(o.CAKey)
	if err != nil {
		return nil, err
	}
	issKey, err := NewKey(o.CAKey)
	if err != nil {
		return nil, err
	}
	now := s.now()
	root, err := ca.NewRoot(org, rootKey.(crypto.Signer), now)
	if err != nil {
		return nil, err
	}
	iss, err := ca.NewIssuing(org, root, rootKey.(crypto.Signer), issKey.(crypto.Signer), now)
	if err != nil {
		return nil, err
	}
	if err := s.putKey(ctx, RootKeyID, rootKey, "root CA"); err != nil {
		return nil, err
	}
	if err := s.putKey(ctx, IssuingKeyID, issKey, "issuing CA"); err != nil {
		return nil, err
	}
	if err := s.putCert(ctx, root, store.UsageCARoot, "", RootKeyID, false, "", store.SourceIssued); err != nil {
		return nil, err
	}
	if err := s.putCert(ctx, iss, store.UsageCAIssuing, "", IssuingKeyID, false, Fingerprint(root), store.SourceIssued); err != nil {
		return nil, err
	}
	info := store.CAInfo{RootFingerprint: Fingerprint(root), IssuingFingerprint: Fingerprint(iss),
		Org: o.Org, Domains: o.Domains, PublicURL: strings.TrimRight(o.PublicURL, "/")}
	if err := s.Store.SetCA(ctx, info, s.Actor); err != nil {
		return nil, err
	}
	return s.Store.GetCA(ctx)
}

// prepareInit checks that the folder has no CA yet and normalises o (CA
// key type, domains); it returns the organisation for the ca package.
func (s *Service) prepareInit(ctx context.Context, o *InitOptions) (ca.Org, error) {
	if _, err := s.Store.GetCA(ctx); err == nil {
		return ca.Org{}, errors.New("this data folder already has a CA (use another --data folder)")
	} else if !errors.Is(err, store.ErrNotInitialized) {
		return ca.Org{}, err
	}
	if o.CAKey == "" {
		o.CAKey = "ecdsa-p384"
	}
	if o.CAKey != "ecdsa-p384" && o.CAKey != "rsa-4096" {
		return ca.Org{}, fmt.Errorf("--ca-key must be ecdsa-p384 or rsa-4096, not %q", o.CAKey)
	}
	for i, d := range o.Domains {
		o.Domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	return ca.Org{Name: o.Org, Domains: o.Domains, PublicURL: o.PublicURL, Country: o.Country}, nil
}

// Fingerprint is the lower-case hex SHA-256 of a certificate.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// NewKey makes a private key: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072,
// rsa-4096, ed25519, or x25519 (an *ecdh.PrivateKey).
func NewKey(kind string) (crypto.PrivateKey, error) {
	switch kind {
	case "ecdsa-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa-2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "rsa-3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "rsa-4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case "x25519":
		return ecdh.X25519().GenerateKey(rand.Reader)
	}
	return nil, fmt.Errorf("unknown key type %q (want ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519)", kind)
}

func publicKey(k crypto.PrivateKey) crypto.PublicKey {
	switch k := k.(type) {
	case *ecdh.PrivateKey:
		return k.PublicKey()
	case crypto.Signer:
		return k.Public()
	}
	return nil
}

// putKey seals a key and stores it.
func (s *Service) putKey(ctx context.Context, id string, key crypto.PrivateKey, label string) error {
	sealed, err := s.Master.Seal(id, key)
	if err != nil {
		return err
	}
	return s.Store.PutKey(ctx, store.SealedKey{ID: id, Algorithm: sealed.Algorithm, Sealed: sealed.Blob,
		Wrapped: sealed.WrappedKey, Backend: store.BackendSoft, Label: label, CreatedAt: s.now()}, s.Actor)
}

// key opens a stored key.
func (s *Service) key(ctx context.Context, id string) (crypto.PrivateKey, error) {
	k, err := s.Store.GetKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if k.Backend == store.BackendPKCS11 {
		return s.tokenKey(ctx, s.Token, k)
	}
	return s.Master.Open(id, &keystore.Sealed{Algorithm: k.Algorithm, Blob: k.Sealed, WrappedKey: k.Wrapped})
}

func (s *Service) putCert(ctx context.Context, c *x509.Certificate, usage, profile, keyID string, third bool, issuerFP, source string) error {
	emails := smime.CertificateEmails(c)
	primary := ""
	if len(emails) > 0 {
		primary = emails[0]
	}
	return s.Store.PutCertificate(ctx, store.Certificate{
		Serial: hex.EncodeToString(c.SerialNumber.Bytes()), Issuer: c.Issuer.String(), Subject: c.Subject.String(),
		Email: primary, Emails: emails, Usage: usage, Profile: profile, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		DER: c.Raw, KeyID: keyID, ThirdParty: third, IssuerFingerprint: issuerFP, Source: source, CreatedAt: s.now(),
	}, s.Actor)
}

// CA returns the organisation, the root and the issuing CA certificates.
func (s *Service) CA(ctx context.Context) (*store.CAInfo, *x509.Certificate, *x509.Certificate, error) {
	info, err := s.Store.GetCA(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	root, err := s.cert(ctx, info.RootFingerprint)
	if err != nil {
		return nil, nil, nil, err
	}
	iss, err := s.cert(ctx, info.IssuingFingerprint)
	if err != nil {
		return nil, nil, nil, err
	}
	return info, root, iss, nil
}

func (s *Service) cert(ctx context.Context, fp string) (*x509.Certificate, error) {
	c, err := s.Store.GetCertificate(ctx, fp)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(c.DER)
}

// Org returns the ca.Org of the organisation.
func orgOf(info *store.CAInfo) ca.Org {
	return ca.Org{Name: info.Org, Domains: info.Domains, PublicURL: info.PublicURL}
}

// KeyCustody returns the organisation's key custody setting ("client" by default).
func (s *Service) KeyCustody(ctx context.Context) (string, error) {
	v, ok, err := s.Store.GetSetting(ctx, SettingKeyCustody)
	if err != nil || !ok {
		return "client", err
	}
	return v, nil
}

// Close releases the store and, when one is attached, the PKCS #11 token.
func (s *Service) Close() error {
	err := s.Store.Close()
	if s.Token != nil {
		if terr := s.Token.Close(); err == nil {
			err = terr
		}
	}
	return err
}
