package cms

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
)

func newIdentity(t testing.TB, kt testpki.KeyType) *testpki.Identity {
	t.Helper()
	ca, err := testpki.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.Issue("alice@example.org", kt, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func signContent(t testing.TB, content []byte, opts *SignOptions, signers ...*Signer) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := Sign(&out, opts, signers...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestSignVerifyRoundTrip(t *testing.T) {
	content := []byte(strings.Repeat("Hello, signed world!\r\n", 5000))
	cases := []struct {
		name string
		kt   testpki.KeyType
		pss  bool
		dh   crypto.Hash
	}{
		{"ok/rsa-sha256", testpki.RSA2048, false, crypto.SHA256},
		{"ok/rsa-pss-sha384", testpki.RSA2048, true, crypto.SHA384},
		{"ok/ecdsa-p256", testpki.P256, false, crypto.SHA256},
		{"ok/ecdsa-p384-sha384", testpki.P384, false, crypto.SHA384},
		{"ok/ecdsa-p521-sha512", testpki.P521, false, crypto.SHA512},
		{"ok/ed25519", testpki.Ed25519, false, 0},
	}
	for _, c := range cases {
		for _, detached := range []bool{false, true} {
			t.Run(c.name+map[bool]string{true: "/detached", false: "/attached"}[detached], func(t *testing.T) {
				id := newIdentity(t, c.kt)
				s := &Signer{Certificate: id.Cert, Key: id.Signer(), PSS: c.pss, Digest: c.dh}
				sig := signContent(t, content, &SignOptions{Detached: detached}, s)
				var got bytes.Buffer
				vo := &VerifyOptions{Content: &got}
				if detached {
					vo.Detached = bytes.NewReader(content)
				}
				sd, err := Verify(bytes.NewReader(sig), vo)
				if err != nil {
					t.Fatal(err)
				}
				if len(sd.Signers) != 1 || sd.Signers[0].Err != nil {
					t.Fatalf("signer: %+v", sd.Signers[0].Err)
				}
				if sd.Detached != detached {
					t.Fatalf("detached = %v", sd.Detached)
				}
				if !detached && !bytes.Equal(got.Bytes(), content) {
					t.Fatal("content differs")
				}
				if sd.Signers[0].Certificate == nil || !sd.Signers[0].Certificate.Equal(id.Cert) {
					t.Fatal("signer certificate not found")
				}
				if sd.Signers[0].SigningTime.IsZero() {
					t.Fatal("no signing time")
				}
				// Tampered content must fail.
				bad := append([]byte(nil), content...)
				bad[100] ^= 1
				if detached {
					vo = &VerifyOptions{Detached: bytes.NewReader(bad)}
				} else {
					sig = bytes.Replace(sig, content[:200], bad[:200], 1)
					vo = &VerifyOptions{}
				}
				sd, err = Verify(bytes.NewReader(sig), vo)
				if err != nil {
					t.Fatal(err)
				}
				if !errors.Is(sd.Signers[0].Err, ErrBadSignature) {
					t.Fatalf("tampered content verified: %v", sd.Signers[0].Err)
				}
			})
		}
	}
}

func TestSignSubjectKeyIDAndSeveralSigners(t *testing.T) {
	a := newIdentity(t, testpki.RSA2048)
	b := newIdentity(t, testpki.P256)
	sig := signContent(t, []byte("two signers"), nil,
		&Signer{Certificate: a.Cert, Key: a.Signer(), SubjectKeyID: true},
		&Signer{Certificate: b.Cert, Key: b.Signer(), Digest: crypto.SHA512})
	sd, err := Verify(bytes.NewReader(sig), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Version != 3 || len(sd.Signers) != 2 {
		t.Fatalf("version %d, %d signers", sd.Version, len(sd.Signers))
	}
	for i, s := range sd.Signers {
		if s.Err != nil {
			t.Fatalf("signer %d: %v", i, s.Err)
		}
	}
	if sd.Signers[0].SubjectKeyID == nil {
		t.Fatal("first signer should be identified by SKI")
	}
}

func TestSignRefusesMismatchedKeyAndWeakDigest(t *testing.T) {
	a := newIdentity(t, testpki.P256)
	b := newIdentity(t, testpki.P256)
	if _, err := Sign(io.Discard, nil, &Signer{Certificate: a.Cert, Key: b.Signer()}); err == nil {
		t.Fatal("signing with another certificate's key succeeded")
	}
	if _, err := Sign(io.Discard, nil, &Signer{Certificate: a.Cert, Key: a.Signer(), Digest: crypto.SHA1}); err == nil {
		t.Fatal("SHA-1 signing accepted")
	}
}

func TestVerifyMissingCertificate(t *testing.T) {
	a := newIdentity(t, testpki.P256)
	sig := signContent(t, []byte("x"), &SignOptions{NoCertificates: true}, &Signer{Certificate: a.Cert, Key: a.Signer()})
	sd, err := Verify(bytes.NewReader(sig), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Signers[0].Err == nil {
		t.Fatal("verified without a certificate")
	}
	sd, err = Verify(bytes.NewReader(sig), &VerifyOptions{Certificates: []*x509.Certificate{a.Cert}})
	if err != nil || sd.Signers[0].Err != nil {
		t.Fatalf("with supplied certificate: %v %v", err, sd.Signers[0].Err)
	}
}
