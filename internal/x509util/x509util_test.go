package x509util

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

func TestCreateX25519Certificate(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	xk, _ := ecdh.X25519().GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageKeyAgreement, EmailAddresses: []string{"x@example.org"}}
	der, err := CreateCertificate(rand.Reader, tmpl, ca, xk.PublicKey(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	k, err := PublicKey(cert)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := k.(*ecdh.PublicKey)
	if !ok || !pub.Equal(xk.PublicKey()) {
		t.Fatalf("public key is %T, not the X25519 key", cert.PublicKey)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if cert.EmailAddresses[0] != "x@example.org" {
		t.Fatal("extensions lost")
	}
}
