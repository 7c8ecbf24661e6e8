package smime

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/testpki"
)

// The pipeline benchmarks sign or encrypt a small message through the whole
// S/MIME layer; the Bare benchmarks do only the public-key operation that
// each one cannot avoid. Their ratio is the pipeline's overhead.

var smallMsg = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n" +
	"Content-Type: text/plain\r\n\r\n" + strings.Repeat("A short message line.\r\n", 40)

func benchIdentity(b *testing.B, kt testpki.KeyType) *testpki.Identity {
	b.Helper()
	ca, err := testpki.NewCA("bench")
	if err != nil {
		b.Fatal(err)
	}
	id, err := ca.Issue("alice@example.org", kt, nil)
	if err != nil {
		b.Fatal(err)
	}
	return id
}

func benchSign(b *testing.B, kt testpki.KeyType) {
	id := benchIdentity(b, kt)
	s := &cms.Signer{Certificate: id.Cert, Key: id.Signer()}
	b.ReportAllocs()
	for b.Loop() {
		if err := Sign(io.Discard, strings.NewReader(smallMsg), nil, s); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBareSign(b *testing.B, kt testpki.KeyType) {
	id := benchIdentity(b, kt)
	d := sha256.Sum256([]byte(smallMsg))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := id.Signer().Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignSmallECDSAP256(b *testing.B)   { benchSign(b, testpki.P256) }
func BenchmarkBareSignECDSAP256(b *testing.B)    { benchBareSign(b, testpki.P256) }
func BenchmarkSignSmallRSA2048(b *testing.B)     { benchSign(b, testpki.RSA2048) }
func BenchmarkBareSignRSA2048(b *testing.B)      { benchBareSign(b, testpki.RSA2048) }
func BenchmarkDecryptSmallRSA2048(b *testing.B)  { benchDecrypt(b, testpki.RSA2048) }
func BenchmarkBareDecryptRSA2048(b *testing.B)   { benchBareDecrypt(b, testpki.RSA2048) }
func BenchmarkDecryptSmallECDHP256(b *testing.B) { benchDecrypt(b, testpki.P256) }
func BenchmarkBareDecryptECDHP256(b *testing.B)  { benchBareDecrypt(b, testpki.P256) }
func BenchmarkVerifySmallECDSAP256(b *testing.B) { benchVerify(b, testpki.P256) }
func BenchmarkVerifySmallRSA2048(b *testing.B)   { benchVerify(b, testpki.RSA2048) }
func BenchmarkEncryptSmallRSA2048(b *testing.B)  { benchEncrypt(b, testpki.RSA2048) }
func BenchmarkEncryptSmallECDHP256(b *testing.B) { benchEncrypt(b, testpki.P256) }

func encryptSmall(b *testing.B, id *testpki.Identity) []byte {
	r, err := cms.NewRecipient(id.Cert, nil)
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	if err := Encrypt(&out, strings.NewReader(smallMsg), nil, r); err != nil {
		b.Fatal(err)
	}
	return out.Bytes()
}

func benchEncrypt(b *testing.B, kt testpki.KeyType) {
	id := benchIdentity(b, kt)
	r, err := cms.NewRecipient(id.Cert, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Encrypt(io.Discard, strings.NewReader(smallMsg), nil, r); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecrypt(b *testing.B, kt testpki.KeyType) {
	id := benchIdentity(b, kt)
	msg := encryptSmall(b, id)
	ident := &cms.Identity{Certificate: id.Cert, Key: id.Key}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decrypt(io.Discard, bytes.NewReader(msg), nil, ident); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBareDecrypt times the private-key operation a decryption needs:
// RSA decryption of a 32-byte key, or one ECDH.
func benchBareDecrypt(b *testing.B, kt testpki.KeyType) {
	id := benchIdentity(b, kt)
	b.ReportAllocs()
	switch kt {
	case testpki.RSA2048:
		// The same implicit-rejection call cms makes for a 32-byte key.
		k := id.Key.(*rsa.PrivateKey)
		ct, _ := cmsTestEncryptKey(id)
		key := make([]byte, 32)
		for b.Loop() {
			//lint:ignore SA1019 the baseline of PKCS #1 v1.5 key transport
			if err := rsa.DecryptPKCS1v15SessionKey(nil, k, ct, key); err != nil {
				b.Fatal(err)
			}
		}
	default:
		priv, pub := ecdhPair(b, id)
		for b.Loop() {
			if _, err := priv.ECDH(pub); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchVerify(b *testing.B, kt testpki.KeyType) {
	id := benchIdentity(b, kt)
	var signed bytes.Buffer
	if err := Sign(&signed, strings.NewReader(smallMsg), nil, &cms.Signer{Certificate: id.Cert, Key: id.Signer()}); err != nil {
		b.Fatal(err)
	}
	roots := poolOf(id.Chain...)
	b.ReportAllocs()
	for b.Loop() {
		v, err := Verify(io.Discard, bytes.NewReader(signed.Bytes()), &VerifyOptions{Roots: roots})
		if err != nil || !v.OK() {
			b.Fatal(err, v.Reason())
		}
	}
}
