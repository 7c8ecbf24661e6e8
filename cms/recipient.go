package cms

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	"github.com/signet-smime/signet/cms/internal/kdf"
	"github.com/signet-smime/signet/cms/internal/keywrap"
	"github.com/signet-smime/signet/internal/x509util"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Recipient is someone a message is encrypted for.
type Recipient interface {
	// recipientInfo returns the DER RecipientInfo that carries cek.
	recipientInfo(cek []byte, rnd io.Reader) ([]byte, error)
	// version is the RecipientInfo version (0, 2 or 3).
	version() int
}

// RecipientOptions tune how the content key is delivered.
type RecipientOptions struct {
	// OAEP selects RSAES-OAEP with SHA-256 (RFC 3560) for RSA keys instead
	// of PKCS #1 v1.5.
	OAEP bool
	// SubjectKeyID identifies the recipient by subject key identifier
	// instead of issuer and serial number.
	SubjectKeyID bool
}

// NewRecipient returns a Recipient for a certificate: key transport for RSA
// keys, ephemeral-static ECDH (RFC 5753) for P-256/P-384/P-521 keys and
// X25519 (RFC 8418) for X25519 keys.
func NewRecipient(cert *x509.Certificate, opts *RecipientOptions) (Recipient, error) {
	if opts == nil {
		opts = &RecipientOptions{}
	}
	if opts.SubjectKeyID && len(cert.SubjectKeyId) == 0 {
		return nil, errors.New("cms: the recipient certificate has no subject key identifier")
	}
	key, err := x509util.PublicKey(cert)
	if err != nil {
		return nil, fmt.Errorf("cms: recipient key: %w", err)
	}
	switch pub := key.(type) {
	case *rsa.PublicKey:
		return &ktri{cert: cert, pub: pub, opts: *opts}, nil
	case *ecdsa.PublicKey:
		k, err := pub.ECDH()
		if err != nil {
			return nil, err
		}
		return &kari{cert: cert, pub: k, opts: *opts}, nil
	case *ecdh.PublicKey:
		if pub.Curve() != ecdh.X25519() {
			return nil, unsupported("ECDH key on this curve")
		}
		return &kari{cert: cert, pub: pub, opts: *opts}, nil
	}
	return nil, unsupported("recipient key type %T", cert.PublicKey)
}

type ktri struct {
	cert *x509.Certificate
	pub  *rsa.PublicKey
	opts RecipientOptions
}

func (r *ktri) version() int {
	if r.opts.SubjectKeyID {
		return 2
	}
	return 0
}

func (r *ktri) recipientInfo(cek []byte, rnd io.Reader) ([]byte, error) {
	var ek []byte
	var err error
	var algOID asn1.ObjectIdentifier
	var params []byte
	if r.opts.OAEP {
		ek, err = rsa.EncryptOAEP(crypto.SHA256.New(), rnd, r.pub, cek, nil)
		algOID, params = oidRSAOAEP, oaepParams(crypto.SHA256)
	} else {
		//lint:ignore SA1019 PKCS #1 v1.5 key transport is the only RSA scheme NSS (Thunderbird) and gpgsm read; --rsa-oaep is offered
		ek, err = rsa.EncryptPKCS1v15(rnd, r.pub, cek)
		algOID, params = oidRSAEncryption, asn1Null
	}
	if err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(int64(r.version()))
		addRecipientID(b, r.cert, r.opts.SubjectKeyID, false)
		addAlgorithmIdentifier(b, algOID, params)
		b.AddASN1OctetString(ek)
	})
	return b.Bytes()
}

// addRecipientID writes issuerAndSerialNumber or the subject key identifier:
// [0] IMPLICIT OCTET STRING in key transport, [0] IMPLICIT
// RecipientKeyIdentifier in key agreement.
func addRecipientID(b *cryptobyte.Builder, c *x509.Certificate, ski, kari bool) {
	switch {
	case !ski:
		addIssuerAndSerial(b, c)
	case kari:
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(c.SubjectKeyId)
		})
	default:
		b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddBytes(c.SubjectKeyId)
		})
	}
}

// oaepParams encodes RSAES-OAEP-params with MGF1 over the same hash (RFC 4055).
func oaepParams(h crypto.Hash) []byte { return rsaParams(h, false) }

// rsaParams encodes the RSAES-OAEP-params or RSASSA-PSS-params that Signet
// writes: [0] the hash, [1] MGF1 over the same hash and, for PSS, [2] a
// salt as long as the hash (RFC 4055).
func rsaParams(h crypto.Hash, pss bool) []byte {
	hOID, _ := oidFromHash(h)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			addAlgorithmIdentifier(b, hOID, asn1Null)
		})
		b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidMGF1)
				addAlgorithmIdentifier(b, hOID, asn1Null)
			})
		})
		if pss {
			b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1Int64(int64(h.Size()))
			})
		}
	})
	return b.BytesOrPanic()
}

type kari struct {
	cert *x509.Certificate
	pub  *ecdh.PublicKey
	opts RecipientOptions
}

func (r *kari) version() int { return 3 }

// kdfFor picks the key-agreement scheme for a curve: the X9.63 KDF with a
// hash matching the curve strength (RFC 5753, RFC 5008), or HKDF-SHA-256
// for X25519 (RFC 8418).
func kdfFor(c ecdh.Curve) (asn1.ObjectIdentifier, crypto.Hash) {
	switch c {
	case ecdh.P384():
		return oidECDHStdSHA384KDF, crypto.SHA384
	case ecdh.P521():
		return oidECDHStdSHA512KDF, crypto.SHA512
	case ecdh.X25519():
		return oidECDHHKDFSHA256, crypto.SHA256
	}
	return oidECDHStdSHA256KDF, crypto.SHA256
}

func wrapFor(keyLen int) asn1.ObjectIdentifier {
	switch keyLen {
	case 16:
		return oidAES128Wrap
	case 24:
		return oidAES192Wrap
	}
	return oidAES256Wrap
}

func (r *kari) recipientInfo(cek []byte, rnd io.Reader) ([]byte, error) {
	eph, err := r.pub.Curve().GenerateKey(rnd)
	if err != nil {
		return nil, err
	}
	z, err := eph.ECDH(r.pub)
	if err != nil {
		return nil, err
	}
	keaOID, h := kdfFor(r.pub.Curve())
	wrapOID := wrapFor(len(cek))
	wrapAlg := cryptobyte.NewBuilder(nil)
	addAlgorithmIdentifier(wrapAlg, wrapOID, nil)
	wrapDER := wrapAlg.BytesOrPanic()
	kek, err := deriveKEK(keaOID, h, z, wrapDER, nil, len(cek))
	if err != nil {
		return nil, err
	}
	ek, err := keywrap.Wrap(kek, cek)
	if err != nil {
		return nil, err
	}
	var origAlg asn1.ObjectIdentifier
	if r.pub.Curve() == ecdh.X25519() {
		origAlg = oidX25519
	} else {
		origAlg = oidECPublicKey
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
		b.AddASN1Int64(3)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				addAlgorithmIdentifier(b, origAlg, nil)
				b.AddASN1BitString(eph.PublicKey().Bytes())
			})
		})
		addAlgorithmIdentifier(b, keaOID, wrapDER)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addRecipientID(b, r.cert, r.opts.SubjectKeyID, true)
				b.AddASN1OctetString(ek)
			})
		})
	})
	return b.Bytes()
}

// sharedInfo encodes ECC-CMS-SharedInfo (RFC 5753 7.2).
func sharedInfo(wrapAlgDER, ukm []byte, keyLen int) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(wrapAlgDER)
		if ukm != nil {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(ukm)
			})
		}
		b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			bits := uint32(keyLen * 8)
			b.AddASN1OctetString([]byte{byte(bits >> 24), byte(bits >> 16), byte(bits >> 8), byte(bits)})
		})
	})
	return b.BytesOrPanic()
}

// keaInfo describes a key-agreement algorithm identifier.
type keaInfo struct {
	hash crypto.Hash
	hkdf bool
}

func keaFromOID(oid asn1.ObjectIdentifier) (keaInfo, bool) {
	switch {
	case oid.Equal(oidECDHStdSHA1KDF), oid.Equal(oidECDHCofSHA1KDF):
		return keaInfo{crypto.SHA1, false}, true
	case oid.Equal(oidECDHStdSHA224KDF), oid.Equal(oidECDHCofSHA224KDF):
		return keaInfo{crypto.SHA224, false}, true
	case oid.Equal(oidECDHStdSHA256KDF), oid.Equal(oidECDHCofSHA256KDF):
		return keaInfo{crypto.SHA256, false}, true
	case oid.Equal(oidECDHStdSHA384KDF), oid.Equal(oidECDHCofSHA384KDF):
		return keaInfo{crypto.SHA384, false}, true
	case oid.Equal(oidECDHStdSHA512KDF), oid.Equal(oidECDHCofSHA512KDF):
		return keaInfo{crypto.SHA512, false}, true
	case oid.Equal(oidECDHHKDFSHA256):
		return keaInfo{crypto.SHA256, true}, true
	case oid.Equal(oidECDHHKDFSHA384):
		return keaInfo{crypto.SHA384, true}, true
	case oid.Equal(oidECDHHKDFSHA512):
		return keaInfo{crypto.SHA512, true}, true
	}
	return keaInfo{}, false
}

// deriveKEK derives the key-encryption key from the shared secret.
func deriveKEK(keaOID asn1.ObjectIdentifier, h crypto.Hash, z, wrapAlgDER, ukm []byte, keyLen int) ([]byte, error) {
	info, ok := keaFromOID(keaOID)
	if !ok {
		return nil, unsupported("key agreement algorithm %v", keaOID)
	}
	si := sharedInfo(wrapAlgDER, ukm, keyLen)
	if info.hkdf {
		return hkdf.Key(info.hash.New, z, ukm, string(si), keyLen)
	}
	return kdf.X963(info.hash, z, si, keyLen)
}

func wrapKeyLen(oid asn1.ObjectIdentifier) (int, error) {
	switch {
	case oid.Equal(oidAES128Wrap):
		return 16, nil
	case oid.Equal(oidAES192Wrap):
		return 24, nil
	case oid.Equal(oidAES256Wrap):
		return 32, nil
	}
	return 0, unsupported("key wrap algorithm %v", oid)
}

func curveForOID(oid asn1.ObjectIdentifier) (ecdh.Curve, elliptic.Curve) {
	switch {
	case oid.Equal(oidCurveP256):
		return ecdh.P256(), elliptic.P256()
	case oid.Equal(oidCurveP384):
		return ecdh.P384(), elliptic.P384()
	case oid.Equal(oidCurveP521):
		return ecdh.P521(), elliptic.P521()
	}
	return nil, nil
}
