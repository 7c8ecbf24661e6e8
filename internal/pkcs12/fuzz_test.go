package pkcs12

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// FuzzDecode feeds arbitrary bytes to Decode: no panic, and a success must
// come with a key and a certificate that match. The seeds are the MimeKit
// files (password "no.secret"), a go-pkcs12 file, and files without a MAC
// (so that mutations reach the bags): a go-pkcs12 Passwordless one and a
// BER one with PBES2 encryption.
func FuzzDecode(f *testing.F) {
	dir, files := mimekitPFX(f)
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := newTestPKI(f, key)
	data, err := gopkcs12.LegacyRC2.WithIterations(1).Encode(key, p.leaf, nil, mimekitPassword)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	if data, err = gopkcs12.Passwordless.Encode(key, p.leaf, []*x509.Certificate{p.inter}, ""); err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	b := newBERPFX(f, mimekitPassword)
	f.Add(berify(f, der(func(bb *cryptobyte.Builder) {
		addSeq(bb, func(bb *cryptobyte.Builder) {
			bb.AddASN1Int64(3)
			bb.AddBytes(dataContentInfo(b.authSafe))
		})
	})))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, cert, _, err := Decode(data, mimekitPassword)
		if err != nil {
			if key != nil || cert != nil {
				t.Fatal("results returned with an error")
			}
			return
		}
		pub := key.(interface{ Public() crypto.PublicKey }).Public()
		if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && !k.Equal(pub) {
			t.Fatal("certificate does not match the key")
		}
	})
}
