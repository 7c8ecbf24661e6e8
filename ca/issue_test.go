package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/x509util"
)

func TestIssueContents(t *testing.T) {
	const ds, nr = x509.KeyUsageDigitalSignature, x509.KeyUsageContentCommitment
	const ke, ka = x509.KeyUsageKeyEncipherment, x509.KeyUsageKeyAgreement
	wantKU := map[string]map[Usage]x509.KeyUsage{
		keyP256:    {Sign: ds | nr, Encrypt: ka, Both: ds | nr | ka},
		keyP384:    {Sign: ds | nr, Encrypt: ka, Both: ds | nr | ka},
		keyRSA2048: {Sign: ds | nr, Encrypt: ke, Both: ds | nr | ke},
		keyRSA3072: {Sign: ds | nr, Encrypt: ke, Both: ds | nr | ke},
		keyRSA4096: {Sign: ds | nr, Encrypt: ke, Both: ds | nr | ke},
		keyEd25519: {Sign: ds | nr},
		keyX25519:  {Encrypt: ka},
	}
	org := testOrg()
	for _, caType := range caKeyTypes {
		c := newTestCA(t, caType)
		pool := x509.NewCertPool()
		pool.AddCert(c.root)
		inter := x509.NewCertPool()
		inter.AddCert(c.issuing)
		for _, keyType := range leafKeyTypes {
			for u, ku := range wantKU[keyType] {
				for _, p := range []Profile{Strict, Multipurpose} {
					t.Run(caType+"/"+keyType+"/"+string(u)+"/"+string(p), func(t *testing.T) {
						cert, key := c.issue(t, "Alice.Smith@EXAMPLE.com", keyType, u, p)
						if cert.KeyUsage != ku {
							t.Errorf("key usage %b, want %b", cert.KeyUsage, ku)
						}
						if cert.Subject.String() != "CN=Alice.Smith@example.com" {
							t.Errorf("subject %q", cert.Subject)
						}
						if len(cert.EmailAddresses) != 1 || cert.EmailAddresses[0] != "Alice.Smith@example.com" || len(cert.DNSNames) != 0 {
							t.Errorf("SAN %v %v", cert.EmailAddresses, cert.DNSNames)
						}
						if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageEmailProtection || len(cert.UnknownExtKeyUsage) != 0 {
							t.Errorf("EKU %v %v", cert.ExtKeyUsage, cert.UnknownExtKeyUsage)
						}
						if len(cert.Policies) != 1 || !cert.Policies[0].Equal(p.oid()) {
							t.Errorf("policies %v, want %v", cert.Policies, p.oid())
						}
						if cert.CRLDistributionPoints[0] != CRLURL(org, c.issuing) || len(cert.CRLDistributionPoints) != 1 {
							t.Errorf("CRL DP %v", cert.CRLDistributionPoints)
						}
						if len(cert.OCSPServer) != 1 || cert.OCSPServer[0] != OCSPURL(org) ||
							len(cert.IssuingCertificateURL) != 1 || cert.IssuingCertificateURL[0] != IssuerURL(org, c.issuing) {
							t.Errorf("AIA %v %v", cert.OCSPServer, cert.IssuingCertificateURL)
						}
						if !bytes.Equal(cert.AuthorityKeyId, c.issuing.SubjectKeyId) || len(cert.SubjectKeyId) != 20 {
							t.Errorf("AKI %x (issuer SKI %x), SKI %x", cert.AuthorityKeyId, c.issuing.SubjectKeyId, cert.SubjectKeyId)
						}
						if cert.IsCA || cert.BasicConstraintsValid {
							t.Error("leaf has basic constraints")
						}
						if cert.SignatureAlgorithm != c.issuing.SignatureAlgorithm {
							t.Errorf("signed with %v, the issuing CA's own certificate with %v", cert.SignatureAlgorithm, c.issuing.SignatureAlgorithm)
						}
						if d := cert.NotAfter.Sub(cert.NotBefore) + time.Second; d != DefaultValidity {
							t.Errorf("validity %v, want %v", d, DefaultValidity)
						}
						checkSerial(t, cert)
						pub, err := x509util.PublicKey(cert)
						if err != nil {
							t.Fatal(err)
						}
						if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(publicKey(key)) {
							t.Error("certificate carries another key")
						}
						if _, err := cert.Verify(x509.VerifyOptions{
							Roots: pool, Intermediates: inter,
							KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
						}); err != nil {
							t.Errorf("chain: %v", err)
						}
					})
				}
			}
		}
	}
}

func TestIssueDefaults(t *testing.T) {
	c := newTestCA(t, keyP384)
	for typ, want := range map[string]x509.KeyUsage{
		keyP256:    x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyAgreement,
		keyEd25519: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		keyX25519:  x509.KeyUsageKeyAgreement,
	} {
		cert, err := Issue(testOrg(), c.issuing, c.issuingKey, Request{Email: "a@example.org", PublicKey: publicKey(testKey(t, typ, "leaf"))})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if cert.KeyUsage != want {
			t.Errorf("%s: default key usage %b, want %b", typ, cert.KeyUsage, want)
		}
		if !cert.Policies[0].Equal(Strict.oid()) {
			t.Errorf("%s: default profile %v, want strict", typ, cert.Policies)
		}
		if time.Since(cert.NotBefore) > time.Minute || time.Since(cert.NotBefore) < 0 {
			t.Errorf("%s: notBefore %v is not now", typ, cert.NotBefore)
		}
	}
}

func TestIssueValidity(t *testing.T) {
	c := newTestCA(t, keyP384)
	pub := publicKey(testKey(t, keyP256, "leaf"))
	now := time.Date(2027, 3, 1, 12, 0, 0, 500, time.UTC)
	req := Request{Email: "a@example.com", PublicKey: pub, Validity: MaxValidity, Now: now}
	cert, err := Issue(testOrg(), c.issuing, c.issuingKey, req)
	if err != nil {
		t.Fatal(err)
	}
	// BR 6.3.2 count inclusively: notAfter - notBefore + 1s <= 825 days.
	if got := cert.NotAfter.Sub(cert.NotBefore) + time.Second; got != MaxValidity {
		t.Errorf("validity %v, want %v", got, MaxValidity)
	}
	if !cert.NotBefore.Equal(now.Truncate(time.Second)) {
		t.Errorf("notBefore %v, want %v", cert.NotBefore, now)
	}
	for _, v := range []time.Duration{MaxValidity + time.Second, -time.Hour, time.Minute} {
		req.Validity = v
		if _, err := Issue(testOrg(), c.issuing, c.issuingKey, req); !errors.Is(err, ErrValidity) {
			t.Errorf("validity %v: got %v, want ErrValidity", v, err)
		}
	}
	// Near the end of the issuing CA, the certificate is cut short.
	req.Validity, req.Now = 0, c.issuing.NotAfter.Add(-24*time.Hour)
	cert, err = Issue(testOrg(), c.issuing, c.issuingKey, req)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(c.issuing.NotAfter) {
		t.Errorf("notAfter %v beyond the issuer's %v", cert.NotAfter, c.issuing.NotAfter)
	}
	req.Now = c.issuing.NotAfter.Add(time.Hour)
	if _, err := Issue(testOrg(), c.issuing, c.issuingKey, req); !errors.Is(err, ErrIssuer) {
		t.Errorf("after the issuing CA expired: got %v, want ErrIssuer", err)
	}
}

func TestIssueRefuses(t *testing.T) {
	c := newTestCA(t, keyP384)
	p256 := publicKey(testKey(t, keyP256, "leaf"))
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdh.P521().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  Request
		want error
	}{
		{"other domain", Request{Email: "a@evil.com", PublicKey: p256}, ErrDomain},
		{"sub-domain", Request{Email: "a@mail.example.com", PublicKey: p256}, ErrDomain},
		{"display name", Request{Email: "a@example.com", Name: "Alice", PublicKey: p256}, ErrName},
		{"no at", Request{Email: "alice", PublicKey: p256}, ErrAddress},
		{"angle brackets", Request{Email: "Alice <a@example.com>", PublicKey: p256}, ErrAddress},
		{"quoted", Request{Email: `"a b"@example.com`, PublicKey: p256}, ErrAddress},
		{"non-ASCII", Request{Email: "jöran@example.com", PublicKey: p256}, ErrAddress},
		{"double dot", Request{Email: "a..b@example.com", PublicKey: p256}, ErrAddress},
		{"empty", Request{PublicKey: p256}, ErrAddress},
		{"profile", Request{Email: "a@example.com", PublicKey: p256, Profile: "legacy"}, ErrProfile},
		{"usage", Request{Email: "a@example.com", PublicKey: p256, Usage: "pair"}, ErrUsage},
		{"ed25519 encrypt", Request{Email: "a@example.com", PublicKey: publicKey(testKey(t, keyEd25519, "leaf")), Usage: Encrypt}, ErrUsage},
		{"ed25519 both", Request{Email: "a@example.com", PublicKey: publicKey(testKey(t, keyEd25519, "leaf")), Usage: Both}, ErrUsage},
		{"x25519 sign", Request{Email: "a@example.com", PublicKey: publicKey(testKey(t, keyX25519, "leaf")), Usage: Sign}, ErrUsage},
		{"x25519 both", Request{Email: "a@example.com", PublicKey: publicKey(testKey(t, keyX25519, "leaf")), Usage: Both}, ErrUsage},
		{"rsa-1024", Request{Email: "a@example.com", PublicKey: &weak.PublicKey}, ErrKey},
		{"ecdh p-521", Request{Email: "a@example.com", PublicKey: p521.PublicKey()}, ErrKey},
		{"no key", Request{Email: "a@example.com"}, ErrKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := Issue(testOrg(), c.issuing, c.issuingKey, tc.req)
			if !errors.Is(err, tc.want) || cert != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
	if _, err := Issue(testOrg(), c.root, c.rootKey, Request{Email: "a@example.com", PublicKey: p256}); !errors.Is(err, ErrIssuer) {
		t.Errorf("root as issuer: got %v, want ErrIssuer", err)
	}
	// The hint names the way out.
	_, err = Issue(testOrg(), c.issuing, c.issuingKey, cases[11].req)
	if !strings.Contains(err.Error(), "can only sign") {
		t.Errorf("Ed25519 error %q does not say why", err)
	}
}

// TestLintHarnessCatches makes sure the zlint harness would catch a bad
// certificate: one with keyEncipherment on an EC key and no subject key
// identifier.
func TestLintHarnessCatches(t *testing.T) {
	c := newTestCA(t, keyP384)
	pub := publicKey(testKey(t, keyP256, "leaf"))
	now := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             now,
		NotAfter:              now.Add(DefaultValidity - time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		EmailAddresses:        []string{"a@example.com"},
		Policies:              []x509.OID{Strict.oid()},
		CRLDistributionPoints: []string{CRLURL(testOrg(), c.issuing)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.issuing, pub, c.issuingKey)
	if err != nil {
		t.Fatal(err)
	}
	f := lintFindings(t, der)
	for _, name := range []string{"e_ecpublickey_key_usages", "e_ecdsa_allowed_ku", "w_ext_subject_key_identifier_missing_sub_cert"} {
		if _, ok := f[name]; !ok {
			t.Errorf("zlint did not report %s; it reported %s", name, describe(f))
		}
	}
}
