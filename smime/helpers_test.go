package smime

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
)

func base64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out string
	for len(s) > 76 {
		out += s[:76] + "\r\n"
		s = s[76:]
	}
	return out + s
}

func cmsTestEncryptKey(id *testpki.Identity) ([]byte, error) {
	key := make([]byte, 32)
	return rsa.EncryptPKCS1v15(rand.Reader, id.Cert.PublicKey.(*rsa.PublicKey), key) //lint:ignore SA1019 benchmark baseline for PKCS #1 v1.5 key transport
}

func ecdhPair(b *testing.B, id *testpki.Identity) (*ecdh.PrivateKey, *ecdh.PublicKey) {
	priv, err := id.Key.(*ecdsa.PrivateKey).ECDH()
	if err != nil {
		b.Fatal(err)
	}
	eph, _ := ecdh.P256().GenerateKey(rand.Reader)
	return priv, eph.PublicKey()
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
