// Package x509util fills gaps in crypto/x509 that S/MIME needs: Go cannot
// issue a certificate for an X25519 key (RFC 8410), which ECDH encryption
// certificates use.
package x509util

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// CreateCertificate is x509.CreateCertificate that also accepts an X25519
// *ecdh.PublicKey: it issues the certificate for a placeholder key, then
// puts the X25519 key in the TBSCertificate and signs it again.
func CreateCertificate(rnd io.Reader, template, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) ([]byte, error) {
	xk, ok := pub.(*ecdh.PublicKey)
	if !ok || xk.Curve() != ecdh.X25519() {
		return x509.CreateCertificate(rnd, template, parent, pub, priv)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	placeholder, _, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rnd, template, parent, placeholder, priv)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(xk)
	if err != nil {
		return nil, err
	}
	tbs, err := replaceSPKI(cert.RawTBSCertificate, spki)
	if err != nil {
		return nil, err
	}
	// The outer signatureAlgorithm is the element after the TBS.
	outer := cryptobyte.String(der)
	var body, oldTBS, sigAlg cryptobyte.String
	if !outer.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1Element(&oldTBS, cbasn1.SEQUENCE) || !body.ReadASN1Element(&sigAlg, cbasn1.SEQUENCE) {
		return nil, errors.New("x509util: cannot re-read the certificate")
	}
	var sig []byte
	h := signatureHash(cert.SignatureAlgorithm)
	if h == 0 {
		sig, err = priv.Sign(rnd, tbs, crypto.Hash(0))
	} else {
		d := h.New()
		d.Write(tbs)
		var opts crypto.SignerOpts = h
		if isPSS(cert.SignatureAlgorithm) {
			opts = pssOpts(h)
		}
		sig, err = priv.Sign(rnd, d.Sum(nil), opts)
	}
	if err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(sigAlg)
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}

// replaceSPKI swaps the subjectPublicKeyInfo of a TBSCertificate.
func replaceSPKI(tbs, spki []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var body cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) {
		return nil, errors.New("x509util: bad TBSCertificate")
	}
	b := cryptobyte.NewBuilder(nil)
	var err error
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		// version [0] (optional), serial, signature, issuer, validity, subject, spki
		fields := 0
		for !body.Empty() {
			var el cryptobyte.String
			var tag cbasn1.Tag
			if !body.ReadAnyASN1Element(&el, &tag) {
				err = errors.New("x509util: bad TBSCertificate field")
				return
			}
			if tag == cbasn1.Tag(0).ContextSpecific().Constructed() && fields == 0 {
				b.AddBytes(el)
				continue
			}
			fields++
			if fields == 6 {
				b.AddBytes(spki)
			} else {
				b.AddBytes(el)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return b.Bytes()
}

func signatureHash(a x509.SignatureAlgorithm) crypto.Hash {
	switch a {
	case x509.SHA256WithRSA, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		return crypto.SHA256
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		return crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		return crypto.SHA512
	}
	return 0 // Ed25519: the message itself is signed
}

func isPSS(a x509.SignatureAlgorithm) bool {
	return a == x509.SHA256WithRSAPSS || a == x509.SHA384WithRSAPSS || a == x509.SHA512WithRSAPSS
}

func pssOpts(h crypto.Hash) crypto.SignerOpts {
	return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
}

// PublicKey returns a certificate's public key, including X25519 keys that
// crypto/x509 parses in SubjectPublicKeyInfo but leaves nil in certificates.
func PublicKey(c *x509.Certificate) (crypto.PublicKey, error) {
	if c.PublicKey != nil {
		return c.PublicKey, nil
	}
	return x509.ParsePKIXPublicKey(c.RawSubjectPublicKeyInfo)
}
