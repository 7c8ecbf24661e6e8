package pkcs12

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"

	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// TestGoPKCS12 decodes files written by software.sslmate.com/src/go-pkcs12
// with each of its encoders.
func TestGoPKCS12(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	keys := map[string]crypto.Signer{"ecdsa": ecKey, "ed25519": edKey}
	encoders := []struct {
		name     string
		enc      *gopkcs12.Encoder
		password string
	}{
		{"Modern", gopkcs12.Modern, "secret"},                 // PBES2 AES-256, MAC SHA-256
		{"Modern2026", gopkcs12.Modern2026, "secret"},         // PBES2 AES-256, PBMAC1
		{"LegacyRC2", gopkcs12.LegacyRC2, "secret"},           // RC2-40 certificates, 3DES key, MAC SHA-1
		{"LegacyDES", gopkcs12.LegacyDES, "secret"},           // 3DES, MAC SHA-1
		{"Modern-empty", gopkcs12.Modern, ""},                 // empty password
		{"LegacyRC2-empty", gopkcs12.LegacyRC2, ""},           // empty password
		{"Passwordless", gopkcs12.Passwordless, ""},           // no MAC, no encryption
		{"Modern2026-unicode", gopkcs12.Modern2026, "ключ €"}, // PBMAC1 with UTF-8
		{"LegacyDES-unicode", gopkcs12.LegacyDES, "ключ"},     // BMPString password
	}
	for kname, k := range keys {
		p := newTestPKI(t, k)
		for _, e := range encoders {
			t.Run(kname+"/"+e.name, func(t *testing.T) {
				data, err := e.enc.Encode(k, p.leaf, []*x509.Certificate{p.inter, p.root}, e.password)
				if err != nil {
					t.Fatal(err)
				}
				for _, form := range []struct {
					name string
					data []byte
				}{{"DER", data}, {"BER", berify(t, data)}} {
					key, cert, chain, err := Decode(form.data, e.password)
					if err != nil {
						t.Fatalf("%s: %v", form.name, err)
					}
					checkDecoded(t, key, cert, chain, k, p.leaf, p.inter, p.root)
				}
				if e.enc == gopkcs12.Passwordless {
					return
				}
				if _, _, _, err := Decode(data, e.password+"!"); !errors.Is(err, ErrIncorrectPassword) {
					t.Errorf("wrong password: got %v, want ErrIncorrectPassword", err)
				}
			})
		}
	}
}

func TestGoPKCS12TrustStore(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := newTestPKI(t, ecKey)
	data, err := gopkcs12.Modern.EncodeTrustStore([]*x509.Certificate{p.root, p.inter}, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Decode(data, "secret"); !errors.Is(err, ErrNoPrivateKey) {
		t.Errorf("trust store: got %v, want ErrNoPrivateKey", err)
	}
	// A key with certificates none of which is its own.
	data, err = gopkcs12.Modern.Encode(ecKey, p.inter, []*x509.Certificate{p.root}, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Decode(data, "secret"); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("foreign certificates: got %v, want ErrNoCertificate", err)
	}
}
