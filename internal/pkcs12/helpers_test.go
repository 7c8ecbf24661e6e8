package pkcs12

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"hash"
	"math/big"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// requireTool skips the test when a prerequisite is missing, or fails it
// when the environment variable CI is "true".
func requireTool(tb testing.TB, ok bool, format string, a ...any) {
	tb.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format, a...)
	}
	tb.Skipf(format, a...)
}

// berify re-encodes DER as BER the way BER writers do: every constructed
// element gets the indefinite length, and every OCTET STRING (and every
// primitive [0], i.e. an IMPLICIT encryptedContent) becomes a constructed
// string of 5-byte segments. Contents of strings are copied unchanged.
func berify(tb testing.TB, der []byte) []byte {
	tb.Helper()
	var out []byte
	s := cryptobyte.String(der)
	for !s.Empty() {
		var content cryptobyte.String
		var tag cbasn1.Tag
		if !s.ReadAnyASN1(&content, &tag) {
			tb.Fatalf("berify: cannot parse DER at %x", []byte(s)[:min(len(s), 16)])
		}
		switch {
		case tag&0x20 != 0:
			out = append(out, byte(tag), 0x80)
			out = append(out, berify(tb, content)...)
			out = append(out, 0, 0)
		case tag == cbasn1.OCTET_STRING || tag == cbasn1.Tag(0).ContextSpecific():
			out = append(out, byte(tag)|0x20, 0x80)
			for i := 0; i < len(content); i += 5 {
				seg := content[i:min(i+5, len(content))]
				out = append(out, 0x04, byte(len(seg)))
				out = append(out, seg...)
			}
			out = append(out, 0, 0)
		default:
			b := cryptobyte.NewBuilder(nil)
			b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes(content) })
			out = append(out, b.BytesOrPanic()...)
		}
	}
	return out
}

// der builds one DER element with cryptobyte.
func der(f func(b *cryptobyte.Builder)) []byte {
	b := cryptobyte.NewBuilder(nil)
	f(b)
	return b.BytesOrPanic()
}

func addSeq(b *cryptobyte.Builder, f func(b *cryptobyte.Builder)) { b.AddASN1(cbasn1.SEQUENCE, f) }

func addExplicit0(b *cryptobyte.Builder, f func(b *cryptobyte.Builder)) {
	b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), f)
}

func addAlg(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, params []byte) {
	addSeq(b, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddBytes(params)
	})
}

var asn1Null = []byte{5, 0}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func pkcs7Pad(p []byte, bs int) []byte {
	n := bs - len(p)%bs
	return append(append([]byte{}, p...), bytes.Repeat([]byte{byte(n)}, n)...)
}

// pbes2Encrypt encrypts plaintext with PBES2 / PBKDF2-HMAC-SHA-256 /
// AES-256-CBC using only the standard library, and returns the
// AlgorithmIdentifier and the ciphertext.
func pbes2Encrypt(password string, plaintext []byte) (alg, ciphertext []byte) {
	salt, iv, iter := randBytes(16), randBytes(16), 1000
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		panic(err)
	}
	block, _ := aes.NewCipher(key)
	padded := pkcs7Pad(plaintext, 16)
	ciphertext = make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ciphertext, padded)
	alg = der(func(b *cryptobyte.Builder) {
		addAlg(b, oidPBES2, der(func(b *cryptobyte.Builder) {
			addSeq(b, func(b *cryptobyte.Builder) {
				addAlg(b, oidPBKDF2, der(func(b *cryptobyte.Builder) {
					addSeq(b, func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(salt)
						b.AddASN1Int64(int64(iter))
						b.AddASN1Int64(32)
						addAlg(b, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, asn1Null)
					})
				}))
				addAlg(b, oidAES256CBC, der(func(b *cryptobyte.Builder) { b.AddASN1OctetString(iv) }))
			})
		}))
	})
	return alg, ciphertext
}

// pbe3DESEncrypt encrypts with pbeWithSHAAnd3-KeyTripleDES-CBC, the password
// already encoded (so that the zero-length variant can be produced).
func pbe3DESEncrypt(password, plaintext []byte) (alg, ciphertext []byte) {
	salt, iter := randBytes(8), 100
	key := pkcs12KDF(sha1.New, kdfKey, password, salt, iter, 24)
	iv := pkcs12KDF(sha1.New, kdfIV, password, salt, iter, 8)
	block, _ := des.NewTripleDESCipher(key)
	padded := pkcs7Pad(plaintext, 8)
	ciphertext = make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ciphertext, padded)
	alg = der(func(b *cryptobyte.Builder) {
		addAlg(b, oidPBEWithSHA3DES, der(func(b *cryptobyte.Builder) {
			addSeq(b, func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(salt)
				b.AddASN1Int64(int64(iter))
			})
		}))
	})
	return alg, ciphertext
}

// attrLocalKeyID is a bag attribute set holding a localKeyId.
func attrLocalKeyID(id []byte) []byte {
	return der(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			addSeq(b, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidLocalKeyID)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddASN1OctetString(id) })
			})
		})
	})
}

// safeBag encodes SafeBag { bagId, [0] value, attrs }.
func safeBag(id asn1.ObjectIdentifier, value, attrs []byte) []byte {
	return der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(id)
			addExplicit0(b, func(b *cryptobyte.Builder) { b.AddBytes(value) })
			b.AddBytes(attrs)
		})
	})
}

func certBag(certDER, attrs []byte) []byte {
	return safeBag(oidCertBag, der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidX509Certificate)
			addExplicit0(b, func(b *cryptobyte.Builder) { b.AddASN1OctetString(certDER) })
		})
	}), attrs)
}

func shroudedKeyBag(alg, ciphertext, attrs []byte) []byte {
	return safeBag(oidShroudedKeyBag, der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			b.AddBytes(alg)
			b.AddASN1OctetString(ciphertext)
		})
	}), attrs)
}

func sequenceOf(items ...[]byte) []byte {
	return der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			for _, it := range items {
				b.AddBytes(it)
			}
		})
	})
}

// dataContentInfo wraps encoded content in a data ContentInfo.
func dataContentInfo(content []byte) []byte {
	return der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidData)
			addExplicit0(b, func(b *cryptobyte.Builder) { b.AddASN1OctetString(content) })
		})
	})
}

// encryptedContentInfo wraps a ciphertext in an encryptedData ContentInfo.
func encryptedContentInfo(alg, ciphertext []byte) []byte {
	return der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidEncryptedData)
			addExplicit0(b, func(b *cryptobyte.Builder) {
				addSeq(b, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(0)
					addSeq(b, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidData)
						b.AddBytes(alg)
						b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ciphertext) })
					})
				})
			})
		})
	})
}

// pfx assembles PFX { 3, data ContentInfo(authSafe), macData }.
func pfx(authSafe, macData []byte) []byte {
	return der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(3)
			b.AddBytes(dataContentInfo(authSafe))
			b.AddBytes(macData)
		})
	})
}

// classicMac computes a MacData with the RFC 7292 KDF (password encoded).
func classicMac(digestOID asn1.ObjectIdentifier, newHash func() hash.Hash, password, authSafe []byte, iter int) []byte {
	salt := randBytes(8)
	key := pkcs12KDF(newHash, kdfMAC, password, salt, iter, newHash().Size())
	h := hmac.New(newHash, key)
	h.Write(authSafe)
	return macDataDER(digestOID, asn1Null, h.Sum(nil), salt, int64(iter))
}

func macDataDER(oid asn1.ObjectIdentifier, params, digest, salt []byte, iter int64) []byte {
	return der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			addSeq(b, func(b *cryptobyte.Builder) {
				addAlg(b, oid, params)
				b.AddASN1OctetString(digest)
			})
			b.AddASN1OctetString(salt)
			b.AddASN1Int64(iter)
		})
	})
}

// pbmac1Params encodes PBMAC1-params with PBKDF2 (PRF HMAC-SHA-256) and
// the given HMAC; keyLen < 0 leaves the key length out.
func pbmac1Params(salt []byte, iter, keyLen int, hmacOID asn1.ObjectIdentifier) []byte {
	return der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			addAlg(b, oidPBKDF2, der(func(b *cryptobyte.Builder) {
				addSeq(b, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(salt)
					b.AddASN1Int64(int64(iter))
					if keyLen >= 0 {
						b.AddASN1Int64(int64(keyLen))
					}
					addAlg(b, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, asn1Null)
				})
			}))
			addAlg(b, hmacOID, asn1Null)
		})
	})
}

// pbmac1 computes a PBMAC1 MacData (PBKDF2-HMAC-SHA-256, HMAC-SHA-512)
// with the standard library only.
func pbmac1(password string, authSafe []byte, keyLen int) []byte {
	salt, iter := randBytes(16), 1000
	kl := keyLen
	if kl <= 0 {
		kl = 32
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, kl)
	if err != nil {
		panic(err)
	}
	h := hmac.New(sha512.New, key)
	h.Write(authSafe)
	params := pbmac1Params(salt, iter, keyLen, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11})
	return macDataDER(oidPBMAC1, params, h.Sum(nil), []byte("NOT USED"), 1)
}

// testPKI is a small certificate hierarchy made with crypto/x509.
type testPKI struct {
	root, inter, leaf *x509.Certificate
	leafKey           crypto.Signer
}

func newTestPKI(tb testing.TB, leafKey crypto.Signer) *testPKI {
	tb.Helper()
	now := time.Now()
	mk := func(cn string, serial int64, isCA bool, pub any, parent *x509.Certificate, signer crypto.Signer) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			BasicConstraintsValid: true,
			IsCA:                  isCA,
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		}
		if parent == nil {
			parent = tmpl
		}
		d, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			tb.Fatal(err)
		}
		c, err := x509.ParseCertificate(d)
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := &testPKI{leafKey: leafKey}
	p.root = mk("Test Root", 1, true, rootKey.Public(), nil, rootKey)
	p.inter = mk("Test Intermediate", 2, true, interKey.Public(), p.root, rootKey)
	p.leaf = mk("Test Leaf", 3, false, leafKey.Public(), p.inter, interKey)
	return p
}

// checkDecoded asserts that Decode returned wantKey, wantCert and wantChain.
func checkDecoded(tb testing.TB, key crypto.PrivateKey, cert *x509.Certificate, chain []*x509.Certificate,
	wantKey crypto.PrivateKey, wantCert *x509.Certificate, wantChain ...*x509.Certificate) {
	tb.Helper()
	k, ok := key.(interface{ Equal(crypto.PrivateKey) bool })
	if !ok || !k.Equal(wantKey) {
		tb.Errorf("key %T does not equal the expected %T", key, wantKey)
	}
	if cert == nil || !bytes.Equal(cert.Raw, wantCert.Raw) {
		tb.Errorf("certificate is not the expected one")
	}
	if len(chain) != len(wantChain) {
		tb.Fatalf("chain of %d certificates, want %d", len(chain), len(wantChain))
	}
	for i := range chain {
		if !bytes.Equal(chain[i].Raw, wantChain[i].Raw) {
			tb.Errorf("chain[%d] = %q, want %q", i, chain[i].Subject, wantChain[i].Subject)
		}
	}
}

// decryptPKCS8 decrypts an EncryptedPrivateKeyInfo the way Decode decrypts
// a pkcs8ShroudedKeyBag (no MAC: a failure is ErrIncorrectPassword).
func decryptPKCS8(data []byte, password string) (crypto.PrivateKey, error) {
	s := cryptobyte.String(data)
	var seq, ct cryptobyte.String
	var alg algorithmIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !readAlgorithmIdentifier(&seq, &alg) || !seq.ReadASN1(&ct, cbasn1.OCTET_STRING) {
		return nil, ErrMalformed
	}
	d := &decoder{password: password, bmpPasswords: pkcs12Passwords(password)}
	var key crypto.PrivateKey
	err := d.decrypt(alg, ct, "private key", func(pt []byte) error {
		k, err := parsePrivateKey(pt)
		key = k
		return err
	})
	return key, err
}
