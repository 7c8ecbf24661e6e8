// Package testpki makes throw-away certificate authorities and S/MIME
// certificates for tests and for `signet demo`. Nothing here is for
// production issuance: that is the ca package's job.
package testpki

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/signet-smime/signet/internal/x509util"
)

// KeyType names a key algorithm.
type KeyType string

// Key types.
const (
	RSA2048 KeyType = "rsa-2048"
	RSA3072 KeyType = "rsa-3072"
	P256    KeyType = "ecdsa-p256"
	P384    KeyType = "ecdsa-p384"
	P521    KeyType = "ecdsa-p521"
	Ed25519 KeyType = "ed25519"
	X25519  KeyType = "x25519"
)

// NewKey makes a private key of the given type. X25519 keys are *ecdh.PrivateKey.
func NewKey(t KeyType) (crypto.PrivateKey, error) {
	switch t {
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case P256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case P521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case X25519:
		return ecdh.X25519().GenerateKey(rand.Reader)
	}
	return nil, fmt.Errorf("testpki: unknown key type %q", t)
}

// Identity is a certificate, its private key and the chain above it.
type Identity struct {
	Cert  *x509.Certificate
	Key   crypto.PrivateKey
	Chain []*x509.Certificate // issuer first, root last
}

// Signer returns the key as a crypto.Signer (nil for X25519).
func (id *Identity) Signer() crypto.Signer {
	s, _ := id.Key.(crypto.Signer)
	return s
}

// NewCA makes a self-signed root CA with a P-256 key.
func NewCA(name string) (*Identity, error) {
	key, err := NewKey(P256)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Signet test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	pub := key.(crypto.Signer).Public()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Identity{Cert: cert, Key: key}, nil
}

// Options for an end-entity certificate.
type Options struct {
	KeyUsage  x509.KeyUsage // default: by key type (signing and encipherment/agreement)
	NoEKU     bool          // omit extended key usage (good for any purpose)
	EKU       []x509.ExtKeyUsage
	NotBefore time.Time
	NotAfter  time.Time
	InSubject bool // put the address in the subject emailAddress instead of the SAN
}

var oidEmailAddress = []int{1, 2, 840, 113549, 1, 9, 1}

// Issue makes an end-entity S/MIME certificate for email with a new key.
func (ca *Identity) Issue(email string, t KeyType, o *Options) (*Identity, error) {
	if o == nil {
		o = &Options{}
	}
	key, err := NewKey(t)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	ku := o.KeyUsage
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = k.Public()
		if ku == 0 {
			ku = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		}
	case *ecdsa.PrivateKey:
		pub = k.Public()
		if ku == 0 {
			ku = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement
		}
	case ed25519.PrivateKey:
		pub = k.Public()
		if ku == 0 {
			ku = x509.KeyUsageDigitalSignature
		}
	case *ecdh.PrivateKey:
		pub = k.PublicKey()
		if ku == 0 {
			ku = x509.KeyUsageKeyAgreement
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: email},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     ku,
	}
	if !o.NotBefore.IsZero() {
		tmpl.NotBefore = o.NotBefore
	}
	if !o.NotAfter.IsZero() {
		tmpl.NotAfter = o.NotAfter
	}
	if o.InSubject {
		tmpl.Subject.ExtraNames = []pkix.AttributeTypeAndValue{{Type: oidEmailAddress, Value: email}}
	} else {
		tmpl.EmailAddresses = []string{email}
	}
	if !o.NoEKU {
		tmpl.ExtKeyUsage = o.EKU
		if tmpl.ExtKeyUsage == nil {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
		}
	}
	if spki, err := x509.MarshalPKIXPublicKey(pub); err == nil {
		sum := sha256.Sum256(spki)
		tmpl.SubjectKeyId = sum[:20]
	}
	der, err := x509util.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key.(crypto.Signer))
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Identity{Cert: cert, Key: key, Chain: append([]*x509.Certificate{ca.Cert}, ca.Chain...)}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

// CertPEM encodes certificates as PEM.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteFiles writes NAME.crt, NAME.key and NAME-chain.crt into dir and returns their paths.
func (id *Identity) WriteFiles(dir, name string) (cert, key, chain string, err error) {
	cert = filepath.Join(dir, name+".crt")
	key = filepath.Join(dir, name+".key")
	chain = filepath.Join(dir, name+"-chain.crt")
	kp, err := KeyPEM(id.Key)
	if err != nil {
		return
	}
	if err = os.WriteFile(cert, CertPEM(id.Cert), 0o644); err != nil {
		return
	}
	if err = os.WriteFile(key, kp, 0o600); err != nil {
		return
	}
	err = os.WriteFile(chain, CertPEM(id.Chain...), 0o644)
	return
}
