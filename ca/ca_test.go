package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCACertificates(t *testing.T) {
	wantAlg := map[string]x509.SignatureAlgorithm{keyP384: x509.ECDSAWithSHA384, keyRSA4096: x509.SHA256WithRSA}
	for _, typ := range caKeyTypes {
		t.Run(typ, func(t *testing.T) {
			c := newTestCA(t, typ)
			root, iss := c.root, c.issuing
			for _, cert := range []*x509.Certificate{root, iss} {
				if cert.SignatureAlgorithm != wantAlg[typ] {
					t.Errorf("%s: signature %v, want %v", cert.Subject.CommonName, cert.SignatureAlgorithm, wantAlg[typ])
				}
				if !cert.IsCA || !cert.BasicConstraintsValid {
					t.Errorf("%s: not a CA", cert.Subject.CommonName)
				}
				if got := cert.Subject.String(); !strings.Contains(got, "O=Example Ltd") || !strings.Contains(got, "C=GB") {
					t.Errorf("subject %q lacks O or C", got)
				}
				if len(cert.SubjectKeyId) != 20 {
					t.Errorf("%s: subject key identifier %x", cert.Subject.CommonName, cert.SubjectKeyId)
				}
				checkSerial(t, cert)
			}
			// Root: BR 7.1.2.1.
			if years := root.NotAfter.Sub(root.NotBefore).Hours() / 24 / 365.25; years < 19.9 || years > 20.1 {
				t.Errorf("root valid %.1f years, want 20", years)
			}
			if root.MaxPathLen != -1 || root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("root: path length %d, key usage %b", root.MaxPathLen, root.KeyUsage)
			}
			if len(root.ExtKeyUsage) != 0 || len(root.Policies) != 0 || len(root.CRLDistributionPoints) != 0 {
				t.Error("root carries EKU, policies or CRL distribution points")
			}
			if err := root.CheckSignatureFrom(root); err != nil {
				t.Errorf("root self-signature: %v", err)
			}
			// Issuing: BR 7.1.2.2.
			if years := iss.NotAfter.Sub(iss.NotBefore).Hours() / 24 / 365.25; years < 9.9 || years > 10.1 {
				t.Errorf("issuing valid %.1f years, want 10", years)
			}
			if iss.MaxPathLen != 0 || !iss.MaxPathLenZero {
				t.Errorf("issuing path length %d (zero set %v), want 0", iss.MaxPathLen, iss.MaxPathLenZero)
			}
			wantKU := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
			if iss.KeyUsage != wantKU {
				t.Errorf("issuing key usage %b, want %b", iss.KeyUsage, wantKU)
			}
			if len(iss.ExtKeyUsage) != 1 || iss.ExtKeyUsage[0] != x509.ExtKeyUsageEmailProtection || len(iss.UnknownExtKeyUsage) != 0 {
				t.Errorf("issuing EKU %v %v, want emailProtection only", iss.ExtKeyUsage, iss.UnknownExtKeyUsage)
			}
			if len(iss.Policies) != 1 || !iss.Policies[0].Equal(anyPolicy) {
				t.Errorf("issuing policies %v, want anyPolicy", iss.Policies)
			}
			if !bytes.Equal(iss.AuthorityKeyId, root.SubjectKeyId) {
				t.Errorf("issuing AKI %x, root SKI %x", iss.AuthorityKeyId, root.SubjectKeyId)
			}
			if got := iss.CRLDistributionPoints; len(got) != 1 || got[0] != CRLURL(testOrg(), root) {
				t.Errorf("issuing CRL DP %v, want %s", got, CRLURL(testOrg(), root))
			}
			if got := iss.IssuingCertificateURL; len(got) != 1 || got[0] != IssuerURL(testOrg(), root) || len(iss.OCSPServer) != 0 {
				t.Errorf("issuing AIA %v / %v, want caIssuers %s only", got, iss.OCSPServer, IssuerURL(testOrg(), root))
			}
			if err := iss.CheckSignatureFrom(root); err != nil {
				t.Errorf("issuing signature: %v", err)
			}
		})
	}
}

// checkSerial: positive, at most 20 octets, below 2^159 (BR 7.1).
// TestSerialNumbersAreRandom checks the randomness.
func checkSerial(t *testing.T, cert *x509.Certificate) {
	t.Helper()
	s := cert.SerialNumber
	if s.Sign() <= 0 || len(s.Bytes()) > 20 || s.BitLen() >= 159 {
		t.Errorf("serial %x: not positive or too long", s)
	}
}

func TestSerialNumbersAreRandom(t *testing.T) {
	seen := map[string]bool{}
	long := 0
	for i := 0; i < 1000; i++ {
		s := serialNumber()
		if s.Sign() <= 0 || s.BitLen() > 127 {
			t.Fatalf("serial %x out of range", s)
		}
		if seen[s.String()] {
			t.Fatalf("serial %x repeated", s)
		}
		seen[s.String()] = true
		if s.BitLen() > 120 {
			long++
		}
	}
	// With 127 random bits, 98.4% of serials have more than 120 bits
	// (expected 984 of 1000, standard deviation 4).
	if long < 950 {
		t.Errorf("only %d of 1000 serials have more than 120 bits: not random enough", long)
	}
}

func TestURLs(t *testing.T) {
	c := newTestCA(t, keyP384)
	org := testOrg()
	org.PublicURL = "http://pki.example.com/base/"
	id := KeyID(c.issuing)
	if len(id) != 40 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("KeyID %q: want 40 lower-case hex digits", id)
	}
	for got, want := range map[string]string{
		CRLURL(org, c.issuing):    "http://pki.example.com/base/crl/" + id + ".crl",
		IssuerURL(org, c.issuing): "http://pki.example.com/base/ca/" + id + ".crt",
		OCSPURL(org):              "http://pki.example.com/base/ocsp",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	if KeyID(c.root) == id {
		t.Error("root and issuing CA share a KeyID")
	}
}

func TestOrgChecks(t *testing.T) {
	key := testKey(t, keyP384, "root").(*ecdsa.PrivateKey)
	bad := map[string]func(*Org){
		"no name":      func(o *Org) { o.Name = "" },
		"spaced name":  func(o *Org) { o.Name = " Example" },
		"no domain":    func(o *Org) { o.Domains = nil },
		"bad domain":   func(o *Org) { o.Domains = []string{"exa mple.com"} },
		"single label": func(o *Org) { o.Domains = []string{"localhost"} },
		"https":        func(o *Org) { o.PublicURL = "https://pki.example.com" },
		"no URL":       func(o *Org) { o.PublicURL = "" },
		"query":        func(o *Org) { o.PublicURL = "http://pki.example.com/?x=1" },
		"country":      func(o *Org) { o.Country = "GBR" },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			org := testOrg()
			mutate(&org)
			if _, err := NewRoot(org, key, time.Now()); !errors.Is(err, ErrOrg) {
				t.Errorf("NewRoot: got %v, want ErrOrg", err)
			}
		})
	}
	// Without a country the subject has none (BR-conformance then needs it).
	org := testOrg()
	org.Country = ""
	root, err := NewRoot(org, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(root.Subject.Country) != 0 {
		t.Errorf("country %v, want none", root.Subject.Country)
	}
}

func TestCAKeyChecks(t *testing.T) {
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRoot(testOrg(), p224, time.Now()); !errors.Is(err, ErrKey) {
		t.Errorf("P-224 root: got %v, want ErrKey", err)
	}
	if _, err := NewRoot(testOrg(), nil, time.Now()); !errors.Is(err, ErrKey) {
		t.Errorf("nil key: got %v, want ErrKey", err)
	}
	// A P-256 CA signs with ECDSA-SHA-256, an Ed25519 one with Ed25519.
	for typ, want := range map[string]x509.SignatureAlgorithm{keyP256: x509.ECDSAWithSHA256, keyEd25519: x509.PureEd25519} {
		root, err := NewRoot(testOrg(), testKey(t, typ, "root").(crypto.Signer), time.Now())
		if err != nil {
			t.Fatalf("%s root: %v", typ, err)
		}
		if root.SignatureAlgorithm != want {
			t.Errorf("%s root signed with %v, want %v", typ, root.SignatureAlgorithm, want)
		}
	}
}

func TestIssuingNeverOutlivesRoot(t *testing.T) {
	c := newTestCA(t, keyP384)
	later := c.root.NotAfter.AddDate(-2, 0, 0)
	iss, err := NewIssuing(testOrg(), c.root, c.rootKey, c.issuingKey, later)
	if err != nil {
		t.Fatal(err)
	}
	if !iss.NotAfter.Equal(c.root.NotAfter) {
		t.Errorf("issuing CA ends %v, root %v", iss.NotAfter, c.root.NotAfter)
	}
	if _, err := NewIssuing(testOrg(), c.root, c.rootKey, c.issuingKey, c.root.NotAfter.Add(time.Hour)); !errors.Is(err, ErrIssuer) {
		t.Errorf("after the root expired: got %v, want ErrIssuer", err)
	}
	// A leaf cannot act as issuer.
	leaf, _ := c.issue(t, "bob@example.com", keyP256, Sign, Strict)
	if _, err := NewIssuing(testOrg(), leaf, c.issuingKey, c.issuingKey, time.Now()); !errors.Is(err, ErrIssuer) {
		t.Errorf("leaf as issuer: got %v, want ErrIssuer", err)
	}
	// The root key must match the root certificate.
	other := newTestCA(t, keyRSA4096)
	if _, err := NewIssuing(testOrg(), c.root, other.rootKey, c.issuingKey, time.Now()); err == nil {
		t.Error("NewIssuing signed with a key that is not the root's")
	}
}
