package pkcs12

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Iteration counts Encode uses when EncodeOptions.Iterations is zero.
const (
	// DefaultIterations is the iteration count of the modern profile, for
	// each of its three password derivations (key bag, certificates, MAC).
	//
	// It is well above OpenSSL 3's 2048 (a value from 2000-era hardware)
	// because the file guards a long-lived key and is routinely copied
	// around, so offline guessing is the threat that matters; it stays
	// below OWASP's 600,000 for PBKDF2-HMAC-SHA-256 because .NET's PKCS #12
	// loader (Pkcs12LoaderLimits.Defaults, also backported to older .NET
	// versions) refuses more than 300,000 iterations for one derivation and
	// 1,000,000 for a whole file. Three derivations of 100,000 stay clear of
	// both limits and cost a fraction of a second to write and to read.
	DefaultIterations = 100_000

	// LegacyIterations is the iteration count of the legacy profile, the
	// one OpenSSL's -legacy option and Windows write.
	LegacyIterations = 2048
)

// EncodeOptions tunes Encode.
type EncodeOptions struct {
	// FriendlyName, when not empty, is written as the friendlyName
	// attribute of the key and of the end-entity certificate: the nickname
	// NSS and Thunderbird show, the alias of Java keystores.
	FriendlyName string

	// Legacy selects pbeWithSHAAnd3-KeyTripleDES-CBC for the key and the
	// certificates and an HMAC-SHA-1 MAC, which old Windows and macOS
	// versions and GnuPG's gpgsm 2.2 need. The default profile is PBES2
	// (PBKDF2-HMAC-SHA-256, AES-256-CBC) with an HMAC-SHA-256 MAC.
	Legacy bool

	// Iterations is the iteration count of every password derivation;
	// 0 means DefaultIterations, or LegacyIterations with Legacy.
	Iterations int

	// Rand is the source of salts and IVs; nil means crypto/rand.Reader.
	Rand io.Reader
}

// ErrKeyMismatch is returned by Encode when the private key is not the one
// of the certificate.
var ErrKeyMismatch = errors.New("pkcs12: the private key does not match the certificate")

var (
	oidFriendlyName   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidDigestSHA1     = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidDigestSHA256   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
)

// Encode writes a DER PKCS #12 file (RFC 7292) holding key, its certificate
// cert and the chain certificates, in that order after cert, protected with
// password in password privacy and integrity modes.
//
// The key goes in a pkcs8ShroudedKeyBag inside a data ContentInfo; the
// certificates go in an encryptedData ContentInfo, both encrypted with the
// same scheme, which is how OpenSSL lays a file out. The key bag and the
// end-entity certificate bag carry a localKeyId attribute, the SHA-1 of the
// certificate as OpenSSL computes it, so that importers pair them, and the
// friendlyName when opts.FriendlyName is set.
//
// key may be any key x509.MarshalPKCS8PrivateKey accepts (*rsa.PrivateKey,
// *ecdsa.PrivateKey, ed25519.PrivateKey, *ecdh.PrivateKey); it must be the
// private key of cert (ErrKeyMismatch otherwise). password and
// opts.FriendlyName must be valid UTF-8. Decode reads what Encode writes.
func Encode(key crypto.PrivateKey, cert *x509.Certificate, chain []*x509.Certificate, password string, opts EncodeOptions) ([]byte, error) {
	if cert == nil || len(cert.Raw) == 0 {
		return nil, errors.New("pkcs12: Encode needs a parsed certificate")
	}
	for i, c := range chain {
		if c == nil || len(c.Raw) == 0 {
			return nil, fmt.Errorf("pkcs12: chain certificate %d is not a parsed certificate", i+1)
		}
	}
	if !utf8.ValidString(password) {
		return nil, errors.New("pkcs12: the password is not valid UTF-8")
	}
	if !utf8.ValidString(opts.FriendlyName) {
		return nil, errors.New("pkcs12: the friendly name is not valid UTF-8")
	}
	iter := opts.Iterations
	switch {
	case iter == 0 && opts.Legacy:
		iter = LegacyIterations
	case iter == 0:
		iter = DefaultIterations
	case iter < 0 || iter > MaxIterations:
		return nil, fmt.Errorf("pkcs12: iteration count %d outside 1..%d", iter, MaxIterations)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pkcs12: private key: %w", err)
	}
	defer clear(pkcs8)
	if !keyMatches(key, cert) {
		return nil, ErrKeyMismatch
	}

	e := &encoder{legacy: opts.Legacy, iter: iter, password: password, rand: opts.Rand}
	if e.rand == nil {
		e.rand = rand.Reader
	}
	localKeyID := sha1.Sum(cert.Raw)
	attrs := bagAttributes(opts.FriendlyName, localKeyID[:])

	// SafeContents of the certificates: the end-entity one, then the chain.
	certsDER := asn1Sequence(func(b *cryptobyte.Builder) {
		addCertBag(b, cert.Raw, attrs)
		for _, c := range chain {
			addCertBag(b, c.Raw, nil)
		}
	})
	certAlg, certCiphertext, err := e.encrypt(certsDER)
	if err != nil {
		return nil, err
	}

	// SafeContents of the key: one pkcs8ShroudedKeyBag.
	keyAlg, keyCiphertext, err := e.encrypt(pkcs8)
	if err != nil {
		return nil, err
	}
	keyDER := asn1Sequence(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SafeBag
			b.AddASN1ObjectIdentifier(oidShroudedKeyBag)
			b.AddASN1(explicit0, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncryptedPrivateKeyInfo
					b.AddBytes(keyAlg)
					b.AddASN1OctetString(keyCiphertext)
				})
			})
			b.AddBytes(attrs)
		})
	})

	// AuthenticatedSafe ::= SEQUENCE OF ContentInfo
	authSafe := asn1Sequence(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidEncryptedData)
			b.AddASN1(explicit0, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncryptedData
					b.AddASN1Int64(0)
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncryptedContentInfo
						b.AddASN1ObjectIdentifier(oidData)
						b.AddBytes(certAlg)
						b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddBytes(certCiphertext)
						})
					})
				})
			})
		})
		addDataContentInfo(b, keyDER)
	})

	macData, err := e.mac(authSafe)
	if err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PFX
		b.AddASN1Int64(3)
		addDataContentInfo(b, authSafe)
		b.AddBytes(macData)
	})
	return b.Bytes()
}

var explicit0 = cbasn1.Tag(0).Constructed().ContextSpecific()

// keyMatches reports whether key is the private key of cert.
func keyMatches(key crypto.PrivateKey, cert *x509.Certificate) bool {
	k, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return false
	}
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return false
	}
	if pub.Equal(cert.PublicKey) {
		return true
	}
	// crypto/x509 leaves the PublicKey of some certificates (X25519) nil:
	// compare the encoded SubjectPublicKeyInfo.
	if spki, err := x509.MarshalPKIXPublicKey(k.Public()); err == nil && bytes.Equal(spki, cert.RawSubjectPublicKeyInfo) {
		return true
	}
	// An *ecdh.PrivateKey on a NIST curve is written as an EC key, whose
	// certificate crypto/x509 parses into an *ecdsa.PublicKey.
	if ep, ok := cert.PublicKey.(*ecdsa.PublicKey); ok {
		if ek, err := ep.ECDH(); err == nil {
			return pub.Equal(ek)
		}
	}
	return false
}

func asn1Sequence(f cryptobyte.BuilderContinuation) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, f)
	return b.BytesOrPanic()
}

// addDataContentInfo adds a data ContentInfo holding content.
func addDataContentInfo(b *cryptobyte.Builder, content []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidData)
		b.AddASN1(explicit0, func(b *cryptobyte.Builder) { b.AddASN1OctetString(content) })
	})
}

// addCertBag adds SafeBag { certBag, [0] CertBag { x509Certificate, [0]
// OCTET STRING }, attrs }.
func addCertBag(b *cryptobyte.Builder, certDER, attrs []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidCertBag)
		b.AddASN1(explicit0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidX509Certificate)
				b.AddASN1(explicit0, func(b *cryptobyte.Builder) { b.AddASN1OctetString(certDER) })
			})
		})
		b.AddBytes(attrs)
	})
}

// bagAttributes encodes the bag attributes SET OF PKCS12Attribute: the
// friendlyName (when not empty) and the localKeyId, in DER order.
func bagAttributes(friendlyName string, localKeyID []byte) []byte {
	attr := func(oid asn1.ObjectIdentifier, value func(b *cryptobyte.Builder)) []byte {
		return asn1Sequence(func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(cbasn1.SET, value)
		})
	}
	attrs := [][]byte{attr(oidLocalKeyID, func(b *cryptobyte.Builder) { b.AddASN1OctetString(localKeyID) })}
	if friendlyName != "" {
		attrs = append(attrs, attr(oidFriendlyName, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(30), func(b *cryptobyte.Builder) { // BMPString
				for _, u := range utf16.Encode([]rune(friendlyName)) {
					b.AddUint16(u)
				}
			})
		}))
	}
	// DER orders the elements of a SET OF by their encodings.
	slices.SortFunc(attrs, bytes.Compare)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	return b.BytesOrPanic()
}

// encoder holds the protection parameters of one file.
type encoder struct {
	legacy   bool
	iter     int
	password string
	rand     io.Reader
}

func (e *encoder) random(n int) ([]byte, error) {
	out := make([]byte, n)
	if _, err := io.ReadFull(e.rand, out); err != nil {
		return nil, fmt.Errorf("pkcs12: reading random bytes: %w", err)
	}
	return out, nil
}

// encrypt encrypts plaintext with the scheme of the profile and returns
// the encoded AlgorithmIdentifier and the ciphertext.
func (e *encoder) encrypt(plaintext []byte) (alg, ciphertext []byte, err error) {
	if e.legacy {
		return e.encrypt3DES(plaintext)
	}
	return e.encryptPBES2(plaintext)
}

// encryptPBES2 uses PBES2 (RFC 8018) with PBKDF2-HMAC-SHA-256, a 16-byte
// salt and AES-256-CBC. The password goes into PBKDF2 as its UTF-8 bytes,
// as OpenSSL, NSS, Java and .NET do. The PBKDF2 key length is left out, as
// OpenSSL leaves it out for ciphers with a fixed key size.
func (e *encoder) encryptPBES2(plaintext []byte) (alg, ciphertext []byte, err error) {
	salt, err := e.random(16)
	if err != nil {
		return nil, nil, err
	}
	iv, err := e.random(aes.BlockSize)
	if err != nil {
		return nil, nil, err
	}
	key, err := pbkdf2.Key(sha256.New, e.password, salt, e.iter, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("pkcs12: PBKDF2: %w", err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidPBES2)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PBES2-params
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // keyDerivationFunc
				b.AddASN1ObjectIdentifier(oidPBKDF2)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PBKDF2-params
					b.AddASN1OctetString(salt)
					b.AddASN1Int64(int64(e.iter))
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // prf
						b.AddASN1ObjectIdentifier(oidHMACWithSHA256)
						b.AddASN1NULL()
					})
				})
			})
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // encryptionScheme
				b.AddASN1ObjectIdentifier(oidAES256CBC)
				b.AddASN1OctetString(iv)
			})
		})
	})
	alg, err = b.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return alg, cbcEncrypt(block, iv, plaintext), nil
}

// encrypt3DES uses pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 Appendix C)
// with an 8-byte salt, the size OpenSSL and Windows use.
func (e *encoder) encrypt3DES(plaintext []byte) (alg, ciphertext []byte, err error) {
	salt, err := e.random(8)
	if err != nil {
		return nil, nil, err
	}
	pw := bmpPassword(e.password)
	defer clear(pw)
	key := pkcs12KDF(sha1.New, kdfKey, pw, salt, e.iter, 24)
	defer clear(key)
	iv := pkcs12KDF(sha1.New, kdfIV, pw, salt, e.iter, des.BlockSize)
	block, err := des.NewTripleDESCipher(key)
	if err != nil {
		return nil, nil, err
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidPBEWithSHA3DES)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // pkcs-12PbeParams
			b.AddASN1OctetString(salt)
			b.AddASN1Int64(int64(e.iter))
		})
	})
	alg, err = b.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return alg, cbcEncrypt(block, iv, plaintext), nil
}

// cbcEncrypt pads plaintext as PKCS #5 asks and encrypts it in CBC mode.
func cbcEncrypt(block cipher.Block, iv, plaintext []byte) []byte {
	bs := block.BlockSize()
	n := bs - len(plaintext)%bs
	buf := make([]byte, len(plaintext)+n)
	copy(buf, plaintext)
	for i := len(plaintext); i < len(buf); i++ {
		buf[i] = byte(n)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return buf
}

// mac computes the MacData over the content octets of the authSafe: HMAC
// keyed with the RFC 7292 Appendix B KDF over SHA-256 (or SHA-1 in the
// legacy profile), the form every PKCS #12 reader knows. (PBMAC1, RFC 9579,
// is left aside: OpenSSL before 3.4 and NSS cannot check it.)
func (e *encoder) mac(authSafe []byte) ([]byte, error) {
	newHash, oid, saltLen := sha256.New, oidDigestSHA256, 16
	if e.legacy {
		newHash, oid, saltLen = sha1.New, oidDigestSHA1, 8
	}
	salt, err := e.random(saltLen)
	if err != nil {
		return nil, err
	}
	pw := bmpPassword(e.password)
	defer clear(pw)
	digest := hmacPKCS12(newHash, pw, salt, e.iter, authSafe)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // MacData
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // DigestInfo
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oid)
				b.AddASN1NULL()
			})
			b.AddASN1OctetString(digest)
		})
		b.AddASN1OctetString(salt)
		b.AddASN1Int64(int64(e.iter))
	})
	return b.Bytes()
}

// hmacPKCS12 is the PKCS #12 MAC of message: HMAC with a key derived from
// the encoded password by the Appendix B KDF with diversifier 3.
func hmacPKCS12(newHash func() hash.Hash, password, salt []byte, iter int, message []byte) []byte {
	key := pkcs12KDF(newHash, kdfMAC, password, salt, iter, newHash().Size())
	defer clear(key)
	h := hmac.New(newHash, key)
	h.Write(message)
	return h.Sum(nil)
}
