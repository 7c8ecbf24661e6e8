package keyfile

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/signet-smime/signet/internal/shareddata"
	"github.com/signet-smime/signet/internal/testpki"
)

func TestKeyForms(t *testing.T) {
	ca, _ := testpki.NewCA("k")
	id, _ := ca.Issue("a@example.org", testpki.RSA2048, nil)
	ec, _ := ca.Issue("b@example.org", testpki.P256, nil)
	rk := id.Key.(*rsa.PrivateKey)
	ek := ec.Key.(*ecdsa.PrivateKey)
	sec1, _ := x509.MarshalECPrivateKey(ek)
	p8, _ := x509.MarshalPKCS8PrivateKey(rk)
	forms := map[string][]byte{
		"pkcs1-pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
		"pkcs1-der": x509.MarshalPKCS1PrivateKey(rk),
		"pkcs8-der": p8,
		"sec1-pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"sec1-der":  sec1,
	}
	for name, data := range forms {
		if _, err := ParsePrivateKey(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePrivateKey([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")); err == nil {
		t.Error("encrypted key accepted")
	}
	if _, err := ParsePrivateKey([]byte("garbage")); err == nil {
		t.Error("garbage accepted as key")
	}
	certs, err := ParseCertificates(testpki.CertPEM(id.Cert, ca.Cert))
	if err != nil || len(certs) != 2 {
		t.Fatalf("PEM bundle: %v %d", err, len(certs))
	}
	if c, err := ParseCertificates(id.Cert.Raw); err != nil || !c[0].Equal(id.Cert) {
		t.Fatalf("DER: %v", err)
	}
}

func TestPKCS7Bundles(t *testing.T) {
	certs, err := ParseCertificates(shareddata.ReadFile(t, "pyca-pkcs7/amazon-roots.p7b"))
	if err != nil || len(certs) < 2 {
		t.Fatalf("amazon-roots.p7b: %v, %d certs", err, len(certs))
	}
	if certs2, err := ParseCertificates(shareddata.ReadFile(t, "pyca-pkcs7/amazon-roots.der")); err != nil || len(certs2) != len(certs) {
		t.Fatalf("amazon-roots.der: %v", err)
	}
}

func TestPKCS12(t *testing.T) {
	ca, _ := testpki.NewCA("p12")
	id, _ := ca.Issue("a@example.org", testpki.P256, nil)
	data, err := pkcs12.Modern.Encode(id.Key, id.Cert, []*x509.Certificate{ca.Cert}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id.p12")
	os.WriteFile(p, data, 0o600)
	key, cert, chain, err := LoadPKCS12(p, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Equal(id.Cert) || len(chain) != 1 || !chain[0].Equal(ca.Cert) {
		t.Fatal("certificate or chain lost")
	}
	if _, ok := key.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("key %T", key)
	}
	if _, _, _, err := LoadPKCS12(p, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

// TestBERPKCS12 loads a BER-encoded, legacy (RC2-40, 3DES) PKCS #12 as
// MimeKit and .NET write them.
func TestBERPKCS12(t *testing.T) {
	key, cert, _, err := LoadPKCS12(shareddata.Path(t, "mimekit-smime/rsa/smime.pfx"), "no.secret")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(*rsa.PrivateKey); !ok || !k.PublicKey.Equal(cert.PublicKey) {
		t.Fatalf("key %T does not match the certificate", key)
	}
	if _, _, _, err := LoadPKCS12(shareddata.Path(t, "mimekit-smime/rsa/smime.pfx"), "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
}
