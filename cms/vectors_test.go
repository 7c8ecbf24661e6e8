package cms

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/signet-smime/signet/cms/internal/keywrap"
	"github.com/signet-smime/signet/internal/ber"
	"github.com/signet-smime/signet/internal/shareddata"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Wycheproof vectors (C2SP/wycheproof testvectors_v1) run through the CMS
// decryption path: each vector's ciphertext or public key is placed in an
// EnvelopedData / AuthEnvelopedData built here, independently of Encrypt.

type wpTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
	// RSA
	Msg   string `json:"msg"`
	Ct    string `json:"ct"`
	Label string `json:"label"`
	// ECDH / XDH
	Public  string `json:"public"`
	Private string `json:"private"`
	Shared  string `json:"shared"`
}

type wpGroup struct {
	PrivateKeyPkcs8 string   `json:"privateKeyPkcs8"`
	Sha             string   `json:"sha"`
	MgfSha          string   `json:"mgfSha"`
	Curve           string   `json:"curve"`
	Encoding        string   `json:"encoding"`
	Tests           []wpTest `json:"tests"`
}

type wpFile struct {
	Algorithm     string    `json:"algorithm"`
	NumberOfTests int       `json:"numberOfTests"`
	TestGroups    []wpGroup `json:"testGroups"`
}

func loadWycheproof(t *testing.T, name string) *wpFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shareddata.Path(t, "wycheproof"), name))
	if err != nil {
		t.Fatal(err)
	}
	var f wpFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	n := 0
	for _, g := range f.TestGroups {
		n += len(g.Tests)
	}
	if n == 0 || n != f.NumberOfTests {
		t.Fatalf("%s: %d tests read, file says %d", name, n, f.NumberOfTests)
	}
	return &f
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

func (tc wpTest) String() string {
	return fmt.Sprintf("tcId %d (%s, %v)", tc.TcID, tc.Comment, tc.Flags)
}

// vectorRecipient is the recipient identifier used in the messages built
// here; Decrypt matches it by issuer and serial number only.
func vectorRecipient(t testing.TB) *x509.Certificate {
	issuer, err := asn1.Marshal(pkix.Name{CommonName: "Wycheproof test recipient"}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	return &x509.Certificate{RawIssuer: issuer, SerialNumber: big.NewInt(4134)}
}

func addIAS(b *cryptobyte.Builder, c *x509.Certificate) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(c.RawIssuer)
		b.AddASN1BigInt(c.SerialNumber)
	})
}

func addAlgID(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, params []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if params != nil {
			b.AddBytes(params)
		}
	})
}

// buildKTRI encodes a KeyTransRecipientInfo (version 0, issuerAndSerialNumber).
func buildKTRI(c *x509.Certificate, alg asn1.ObjectIdentifier, params, ek []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		addIAS(b, c)
		addAlgID(b, alg, params)
		b.AddASN1OctetString(ek)
	})
	return b.BytesOrPanic()
}

// buildKARI encodes a KeyAgreeRecipientInfo whose originator key is the
// content of originatorSPKI (AlgorithmIdentifier and BIT STRING, as in a
// SubjectPublicKeyInfo), re-tagged [1] IMPLICIT.
func buildKARI(c *x509.Certificate, originator []byte, kea asn1.ObjectIdentifier, wrapAlgDER, ek []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
		b.AddASN1Int64(3)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddBytes(originator)
			})
		})
		addAlgID(b, kea, wrapAlgDER)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addIAS(b, c)
				b.AddASN1OctetString(ek)
			})
		})
	})
	return b.BytesOrPanic()
}

// cbcEncrypt encrypts with PKCS #7 padding.
func cbcEncrypt(t testing.TB, key, iv, content []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	pad := aes.BlockSize - len(content)%aes.BlockSize
	buf := append(append([]byte(nil), content...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return buf
}

var cbcOIDByKeyLen = map[int]asn1.ObjectIdentifier{16: oidAES128CBC, 24: oidAES192CBC, 32: oidAES256CBC}

// buildEnvelopedCBC returns an EnvelopedData ContentInfo whose content is
// encrypted with AES-CBC under cek (its length picks AES-128/192/256).
func buildEnvelopedCBC(t testing.TB, ri []byte, cek, content []byte) []byte {
	t.Helper()
	iv := make([]byte, 16)
	rand.Read(iv)
	ct := cbcEncrypt(t, cek, iv, content)
	ivDER, _ := asn1.Marshal(iv)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OIDEnvelopedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(2)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(ri) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(OIDData)
					addAlgID(b, cbcOIDByKeyLen[len(cek)], ivDER)
					b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ct) })
				})
			})
		})
	})
	return b.BytesOrPanic()
}

// buildAuthEnvelopedGCM returns an AuthEnvelopedData ContentInfo (RFC 5083)
// with AES-128-GCM content encryption under the 16-byte cek.
func buildAuthEnvelopedGCM(t testing.TB, ri []byte, cek, content []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(cek)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	sealed := gcm.Seal(nil, nonce, content, nil)
	ct, tag := sealed[:len(content)], sealed[len(content):]
	pb := cryptobyte.NewBuilder(nil)
	pb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1OctetString(nonce)
		b.AddASN1Int64(16)
	})
	params := pb.BytesOrPanic()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OIDAuthEnvelopedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(0)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(ri) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(OIDData)
					addAlgID(b, oidAES128GCM, params)
					b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ct) })
				})
				b.AddASN1OctetString(tag)
			})
		})
	})
	return b.BytesOrPanic()
}

func randomKey(n int) []byte {
	k := make([]byte, n)
	rand.Read(k)
	return k
}

// isUniformDecryptError reports whether err is exactly ErrDecrypt: the same
// value and the same text, nothing wrapped around it.
func isUniformDecryptError(err error) bool {
	return err == ErrDecrypt && err.Error() == ErrDecrypt.Error()
}

func parseVectorRSAKey(t *testing.T, g wpGroup) *rsa.PrivateKey {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(mustHex(t, g.PrivateKeyPkcs8))
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("key is %T", k)
	}
	return rk
}

func TestWycheproofRSAPKCS1(t *testing.T) {
	for _, name := range []string{"rsa_pkcs1_2048_test.json", "rsa_pkcs1_3072_test.json"} {
		t.Run(name, func(t *testing.T) {
			f := loadWycheproof(t, name)
			rcpt := vectorRecipient(t)
			var counts = map[string]int{}
			for _, g := range f.TestGroups {
				priv := parseVectorRSAKey(t, g)
				id := &Identity{Certificate: rcpt, Key: priv}
				for _, tc := range g.Tests {
					msg, ct := mustHex(t, tc.Msg), mustHex(t, tc.Ct)
					valid := tc.Result == "valid"
					if !valid && tc.Result != "invalid" {
						t.Fatalf("%v: unexpected result %q", tc, tc.Result)
					}

					// 1. The primitive, called as Decrypt calls it: a random
					// session key that is replaced only by a well-padded
					// message of the same length. Invalid vectors decode to
					// msg under a lax unpadder, so a key of len(msg) bytes
					// would catch one.
					if len(msg) > 0 {
						key := randomKey(len(msg))
						before := slices.Clone(key)
						//lint:ignore SA1019 the vectors test the PKCS #1 v1.5 path cms uses
						err := rsa.DecryptPKCS1v15SessionKey(nil, priv, ct, key)
						switch {
						case valid && (err != nil || !bytes.Equal(key, msg)):
							t.Errorf("%v: session key %x, %v; want %x", tc, key, err, msg)
						case !valid && err == nil && !bytes.Equal(key, before):
							t.Errorf("%v: invalid padding replaced the session key with %x", tc, key)
						}
					}

					// 2. Through CMS. The content is encrypted under msg when
					// msg has an AES key length, else under an unrelated key.
					content := fmt.Appendf(nil, "Wycheproof %s tcId %d", name, tc.TcID)
					ri := buildKTRI(rcpt, oidRSAEncryption, asn1Null, ct)
					_, aesLen := cbcOIDByKeyLen[len(msg)]
					if valid && aesLen {
						counts["valid/decrypted"]++
						env := buildEnvelopedCBC(t, ri, msg, content)
						var out bytes.Buffer
						info, err := Decrypt(bytes.NewReader(env), &out, id)
						if err != nil || !bytes.Equal(out.Bytes(), content) {
							t.Errorf("%v: CBC: %q, %v", tc, out.Bytes(), err)
						} else if info.KeyDelivery != "rsa-pkcs1v15" || info.Recipients != 1 {
							t.Errorf("%v: info %+v", tc, info)
						}
						if len(msg) == 16 {
							out.Reset()
							env = buildAuthEnvelopedGCM(t, ri, msg, content)
							if _, err := Decrypt(bytes.NewReader(env), &out, id); err != nil || !bytes.Equal(out.Bytes(), content) {
								t.Errorf("%v: GCM: %q, %v", tc, out.Bytes(), err)
							}
						}
						continue
					}
					// Invalid padding, or a valid key of the wrong length:
					// implicit rejection leaves a random CEK. With GCM that
					// must end in exactly ErrDecrypt.
					counts[tc.Result+"/rejected"]++
					var out bytes.Buffer
					env := buildAuthEnvelopedGCM(t, ri, randomKey(16), content)
					if _, err := Decrypt(bytes.NewReader(env), &out, id); !isUniformDecryptError(err) {
						t.Errorf("%v: GCM: err = %v, want exactly ErrDecrypt", tc, err)
					}
					// With CBC the random CEK yields garbage whose padding is
					// valid about once in 256 tries (no integrity: by design);
					// otherwise the error must be exactly ErrDecrypt.
					out.Reset()
					env = buildEnvelopedCBC(t, ri, randomKey(16), content)
					_, err := Decrypt(bytes.NewReader(env), &out, id)
					switch {
					case err == nil && bytes.Equal(out.Bytes(), content):
						t.Errorf("%v: CBC: decrypted to the content with a rejected key", tc)
					case err == nil:
						counts["cbc/garbage"]++
					case !isUniformDecryptError(err):
						t.Errorf("%v: CBC: err = %v, want exactly ErrDecrypt", tc, err)
					}
				}
			}
			t.Logf("%v", counts)
			if counts["valid/decrypted"] == 0 || counts["invalid/rejected"] < 20 {
				t.Fatalf("too few vectors exercised: %v", counts)
			}
		})
	}
}

// oaepParamsDER encodes RSAES-OAEP-params for a hash with MGF1 over the same
// hash; SHA-1 (the default) is an empty SEQUENCE.
func oaepParamsDER(h crypto.Hash) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if h == crypto.SHA1 {
			return
		}
		hOID := oidSHA256
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			addAlgID(b, hOID, asn1Null)
		})
		b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidMGF1)
				addAlgID(b, hOID, asn1Null)
			})
		})
	})
	return b.BytesOrPanic()
}

func TestWycheproofRSAOAEP(t *testing.T) {
	files := map[string]crypto.Hash{
		"rsa_oaep_2048_sha256_mgf1sha256_test.json": crypto.SHA256,
		"rsa_oaep_2048_sha1_mgf1sha1_test.json":     crypto.SHA1,
	}
	for name, h := range files {
		t.Run(name, func(t *testing.T) {
			f := loadWycheproof(t, name)
			rcpt := vectorRecipient(t)
			counts := map[string]int{}
			for _, g := range f.TestGroups {
				wantSha := map[crypto.Hash]string{crypto.SHA1: "SHA-1", crypto.SHA256: "SHA-256"}[h]
				if g.Sha != wantSha || g.MgfSha != wantSha {
					t.Fatalf("group uses %s/%s, want %s", g.Sha, g.MgfSha, wantSha)
				}
				priv := parseVectorRSAKey(t, g)
				id := &Identity{Certificate: rcpt, Key: priv}
				for _, tc := range g.Tests {
					if tc.Label != "" {
						counts["skipped (label)"]++
						continue
					}
					msg, ct := mustHex(t, tc.Msg), mustHex(t, tc.Ct)
					valid := tc.Result == "valid"
					if !valid && tc.Result != "invalid" {
						t.Fatalf("%v: unexpected result %q", tc, tc.Result)
					}
					// The primitive as Decrypt calls it.
					pt, err := priv.Decrypt(nil, ct, &rsa.OAEPOptions{Hash: h, MGFHash: h})
					if valid != (err == nil) || (valid && !bytes.Equal(pt, msg)) {
						t.Errorf("%v: OAEP decrypt = %x, %v", tc, pt, err)
					}

					content := fmt.Appendf(nil, "Wycheproof %s tcId %d", name, tc.TcID)
					ri := buildKTRI(rcpt, oidRSAOAEP, oaepParamsDER(h), ct)
					var out bytes.Buffer
					if _, ok := cbcOIDByKeyLen[len(msg)]; valid && ok {
						counts["valid/decrypted"]++
						env := buildEnvelopedCBC(t, ri, msg, content)
						info, err := Decrypt(bytes.NewReader(env), &out, id)
						if err != nil || !bytes.Equal(out.Bytes(), content) {
							t.Errorf("%v: %q, %v", tc, out.Bytes(), err)
							continue
						}
						if info.KeyDelivery != "rsa-oaep" {
							t.Errorf("%v: KeyDelivery %q", tc, info.KeyDelivery)
						}
						if weak := slices.Contains(info.Weak, "RSA-OAEP with SHA-1"); weak != (h == crypto.SHA1) {
							t.Errorf("%v: Weak = %v", tc, info.Weak)
						}
						continue
					}
					// OAEP errors are explicit, and a key of the wrong
					// length is refused before any content is decrypted:
					// exactly ErrDecrypt even with CBC.
					counts[tc.Result+"/rejected"]++
					env := buildEnvelopedCBC(t, ri, randomKey(16), content)
					if _, err := Decrypt(bytes.NewReader(env), &out, id); !isUniformDecryptError(err) {
						t.Errorf("%v: err = %v, want exactly ErrDecrypt", tc, err)
					}
					if out.Len() != 0 {
						t.Errorf("%v: %d bytes written before the key was refused", tc, out.Len())
					}
				}
			}
			t.Logf("%v", counts)
			if counts["valid/decrypted"] == 0 || counts["invalid/rejected"] < 15 {
				t.Fatalf("too few vectors exercised: %v", counts)
			}
		})
	}
}

// x963KDF is ANSI X9.63 / SEC 1 KDF, written here independently of
// cms/internal/kdf.
func x963KDF(h crypto.Hash, z, sharedInfo []byte, n int) []byte {
	var out []byte
	for counter := uint32(1); len(out) < n; counter++ {
		hh := h.New()
		hh.Write(z)
		binary.Write(hh, binary.BigEndian, counter)
		hh.Write(sharedInfo)
		out = hh.Sum(out)
	}
	return out[:n]
}

// eccSharedInfo encodes ECC-CMS-SharedInfo (RFC 5753 7.2) without ukm.
func eccSharedInfo(wrapAlgDER []byte, keyLen int) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(wrapAlgDER)
		b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(binary.BigEndian.AppendUint32(nil, uint32(keyLen*8)))
		})
	})
	return b.BytesOrPanic()
}

// splitSPKI returns the content of a SubjectPublicKeyInfo (algorithm and
// subjectPublicKey, as OriginatorPublicKey carries them) and the point bytes.
func splitSPKI(spki []byte) (content, point []byte, ok bool) {
	s := cryptobyte.String(spki)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, nil, false
	}
	content = seq
	var alg cryptobyte.String
	var bits asn1.BitString
	if !seq.ReadASN1(&alg, cbasn1.SEQUENCE) || !seq.ReadASN1BitString(&bits) || !seq.Empty() || bits.BitLength%8 != 0 {
		return content, nil, true
	}
	return content, bits.Bytes, true
}

// fixedLen returns a big-endian integer's bytes as exactly n bytes.
func fixedLen(b []byte, n int) ([]byte, bool) {
	for len(b) > n && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > n {
		return nil, false
	}
	return append(make([]byte, n-len(b)), b...), true
}

type ecdhCase struct {
	file     string
	curve    ecdh.Curve
	size     int
	kea      asn1.ObjectIdentifier
	kdfHash  crypto.Hash
	xdh      bool
	minValid int
}

func TestWycheproofECDH(t *testing.T) {
	wrapAlg := cryptobyte.NewBuilder(nil)
	addAlgID(wrapAlg, oidAES128Wrap, nil)
	wrapDER := wrapAlg.BytesOrPanic()
	cases := []ecdhCase{
		{"ecdh_secp256r1_test.json", ecdh.P256(), 32, oidECDHStdSHA256KDF, crypto.SHA256, false, 300},
		{"ecdh_secp384r1_test.json", ecdh.P384(), 48, oidECDHStdSHA384KDF, crypto.SHA384, false, 700},
		{"x25519_test.json", ecdh.X25519(), 32, oidECDHHKDFSHA256, crypto.SHA256, true, 250},
	}
	x25519Alg := cryptobyte.NewBuilder(nil)
	addAlgID(x25519Alg, oidX25519, nil)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f := loadWycheproof(t, c.file)
			rcpt := vectorRecipient(t)
			counts := map[string]int{}
			for _, g := range f.TestGroups {
				if !c.xdh && g.Encoding != "asn" {
					t.Fatalf("public key encoding %q", g.Encoding)
				}
				for _, tc := range g.Tests {
					privBytes, ok := fixedLen(mustHex(t, tc.Private), c.size)
					if !ok {
						t.Fatalf("%v: private key too long", tc)
					}
					priv, err := c.curve.NewPrivateKey(privBytes)
					if err != nil {
						t.Fatalf("%v: private key: %v", tc, err)
					}
					shared := mustHex(t, tc.Shared)
					// The originator key as it appears in a
					// KeyAgreeRecipientInfo: AlgorithmIdentifier + BIT STRING.
					var originator, point []byte
					if c.xdh {
						point = mustHex(t, tc.Public)
						bs, _ := asn1.Marshal(asn1.BitString{Bytes: point, BitLength: 8 * len(point)})
						originator = append(slices.Clone(x25519Alg.BytesOrPanic()), bs...)
					} else {
						var parsed bool
						originator, point, parsed = splitSPKI(mustHex(t, tc.Public))
						if !parsed || point == nil {
							// Only "acceptable" vectors have a malformed SPKI.
							if tc.Result != "acceptable" {
								t.Errorf("%v: cannot read the public key", tc)
							}
							counts["skipped (malformed SPKI)"]++
							continue
						}
					}

					// 1. The curve layer, as kariOpen uses it.
					var z []byte
					pub, err := c.curve.NewPublicKey(point)
					if err == nil {
						z, err = priv.ECDH(pub)
					}
					switch tc.Result {
					case "valid":
						if err != nil || !bytes.Equal(z, shared) {
							t.Errorf("%v: ECDH = %x, %v; want %x", tc, z, err, shared)
						}
					case "invalid":
						if err == nil && !paramsOnly(tc.Flags) {
							t.Errorf("%v: the curve layer accepted an invalid public key (shared %x)", tc, z)
						}
					case "acceptable":
						if err == nil && len(shared) > 0 && !bytes.Equal(z, shared) {
							t.Errorf("%v: ECDH = %x, want %x", tc, z, shared)
						}
					}
					counts[fmt.Sprintf("%s/curve-ok=%v", tc.Result, err == nil)]++

					// 2. Through CMS: a KeyAgreeRecipientInfo whose KEK is
					// derived from the vector's shared secret (a random KEK
					// when the vector has none).
					var kek []byte
					switch {
					case len(shared) == 0:
						kek = randomKey(16)
					case c.xdh:
						kek, err = hkdf.Key(c.kdfHash.New, shared, nil, string(eccSharedInfo(wrapDER, 16)), 16)
						if err != nil {
							t.Fatal(err)
						}
					default:
						kek = x963KDF(c.kdfHash, shared, eccSharedInfo(wrapDER, 16), 16)
					}
					cek := randomKey(16)
					ek, err := keywrap.Wrap(kek, cek)
					if err != nil {
						t.Fatal(err)
					}
					content := fmt.Appendf(nil, "Wycheproof %s tcId %d", c.file, tc.TcID)
					env := buildAuthEnvelopedGCM(t, buildKARI(rcpt, originator, c.kea, wrapDER, ek), cek, content)
					var out bytes.Buffer
					info, derr := Decrypt(bytes.NewReader(env), &out, &Identity{Certificate: rcpt, Key: priv})
					switch tc.Result {
					case "valid":
						if derr != nil || !bytes.Equal(out.Bytes(), content) {
							t.Errorf("%v: CMS: %q, %v", tc, out.Bytes(), derr)
						} else if want := map[bool]string{true: "x25519", false: "ecdh"}[c.xdh]; info.KeyDelivery != want || !info.Authenticated {
							t.Errorf("%v: CMS: KeyDelivery %q (want %q), Authenticated %v", tc, info.KeyDelivery, want, info.Authenticated)
						}
					case "invalid":
						if !isUniformDecryptError(derr) {
							t.Errorf("%v: CMS: err = %v, want exactly ErrDecrypt", tc, derr)
						}
					case "acceptable":
						if derr == nil && !bytes.Equal(out.Bytes(), content) {
							t.Errorf("%v: CMS: decrypted to %q", tc, out.Bytes())
						}
						// A malformed originator key may also be refused as malformed.
						if derr != nil && !isUniformDecryptError(derr) && !errors.Is(derr, ErrSyntax) && !errors.Is(derr, ber.ErrSyntax) {
							t.Errorf("%v: CMS: err = %v", tc, derr)
						}
					}
					counts[fmt.Sprintf("%s/cms-ok=%v", tc.Result, derr == nil)]++
				}
			}
			t.Logf("%v", counts)
			if counts["valid/curve-ok=true"] < c.minValid || counts["valid/cms-ok=true"] < c.minValid {
				t.Fatalf("too few valid vectors passed: %v", counts)
			}
		})
	}
}

// paramsOnly reports whether an invalid ECDH vector may be invalid only
// through its explicit curve parameters (the point itself lies on the named
// curve): the curve layer never sees them, CMS must refuse them.
func paramsOnly(flags []string) bool {
	return slices.Contains(flags, "UnnamedCurve")
}
