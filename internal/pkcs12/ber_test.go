package pkcs12

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/ber"
	"golang.org/x/crypto/cryptobyte"
)

// berPFX builds a PKCS #12 file that is BER at every level: the PFX, the
// AuthenticatedSafe inside its OCTET STRING, a plain SafeContents, a
// SafeContents inside an encryptedData (whose encryptedContent is a
// constructed [0]), a nested safeContentsBag, the EncryptedPrivateKeyInfo
// and the decrypted PrivateKeyInfo. Encryption is PBES2/AES-256-CBC made
// with the standard library. mac computes the MacData over the authSafe
// content octets it is given.
type berPFX struct {
	key                                crypto.Signer
	pki                                *testPKI
	authSafe                           []byte // BER, the MAC input
	safeContentsPlain, safeContentsEnc []byte
}

func newBERPFX(t testing.TB, password string) *berPFX {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := newTestPKI(t, key)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyID := []byte{1, 2, 3, 4}
	keyAlg, keyCT := pbes2Encrypt(password, berify(t, pkcs8))
	secretBag := safeBag(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 5},
		der(func(b *cryptobyte.Builder) {
			addSeq(b, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 3})
				addExplicit0(b, func(b *cryptobyte.Builder) { b.AddASN1OctetString([]byte("ignored")) })
			})
		}), nil)
	sc1 := berify(t, sequenceOf(secretBag, shroudedKeyBag(keyAlg, keyCT, attrLocalKeyID(keyID))))
	nested := safeBag(oidSafeContentsBag, sequenceOf(certBag(p.root.Raw, nil)), nil)
	sc2 := berify(t, sequenceOf(certBag(p.inter.Raw, nil), certBag(p.leaf.Raw, attrLocalKeyID(keyID)), nested))
	scAlg, scCT := pbes2Encrypt(password, sc2)
	authSafe := berify(t, sequenceOf(encryptedContentInfo(scAlg, scCT), dataContentInfo(sc1)))
	return &berPFX{key: key, pki: p, authSafe: authSafe, safeContentsPlain: sc1, safeContentsEnc: sc2}
}

func (b *berPFX) encode(t testing.TB, macData []byte) []byte {
	return berify(t, pfx(b.authSafe, macData))
}

func TestDecodeBERAllLevels(t *testing.T) {
	const password = "correct horse"
	b := newBERPFX(t, password)
	if bytes.Equal(b.authSafe, mustNormalize(t, b.authSafe)) || bytes.Equal(b.safeContentsEnc, mustNormalize(t, b.safeContentsEnc)) {
		t.Fatal("test input is not BER")
	}
	macs := map[string][]byte{
		"PBMAC1":  pbmac1(password, b.authSafe, 32),
		"SHA-256": classicMac(digestByOID[2].oid, sha256.New, bmpPassword(password), b.authSafe, 2048),
		"SHA-1":   classicMac(digestByOID[0].oid, sha1.New, bmpPassword(password), b.authSafe, 1),
	}
	for name, mac := range macs {
		t.Run(name, func(t *testing.T) {
			data := b.encode(t, mac)
			key, cert, chain, err := Decode(data, password)
			if err != nil {
				t.Fatal(err)
			}
			// File order: intermediate, then (nested) root.
			checkDecoded(t, key, cert, chain, b.key, b.pki.leaf, b.pki.inter, b.pki.root)
			if _, _, _, err := Decode(data, "wrong"); !errors.Is(err, ErrIncorrectPassword) {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
	// Without a MAC.
	data := berify(t, der(func(bb *cryptobyte.Builder) {
		addSeq(bb, func(bb *cryptobyte.Builder) {
			bb.AddASN1Int64(3)
			bb.AddBytes(dataContentInfo(b.authSafe))
		})
	}))
	key, cert, chain, err := Decode(data, password)
	if err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, key, cert, chain, b.key, b.pki.leaf, b.pki.inter, b.pki.root)
	if _, _, _, err := Decode(data, "wrong"); !errors.Is(err, ErrIncorrectPassword) {
		t.Errorf("no MAC, wrong password: %v", err)
	}
}

// TestMACOverOriginalOctets: the MAC covers the authSafe content octets as
// written (here BER). A MAC computed over their DER re-encoding must fail.
func TestMACOverOriginalOctets(t *testing.T) {
	const password = "pw"
	b := newBERPFX(t, password)
	normalized := mustNormalize(t, b.authSafe)
	for name, mac := range map[string][]byte{
		"PBMAC1":  pbmac1(password, normalized, 32),
		"SHA-256": classicMac(digestByOID[2].oid, sha256.New, bmpPassword(password), normalized, 10),
	} {
		if _, _, _, err := Decode(b.encode(t, mac), password); !errors.Is(err, ErrIncorrectPassword) {
			t.Errorf("%s over the re-encoded authSafe: got %v, want ErrIncorrectPassword", name, err)
		}
	}
}

func mustNormalize(t testing.TB, data []byte) []byte {
	t.Helper()
	n, err := ber.Normalize(data)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEmptyPasswordZeroLength: some tools derive keys from an empty
// password as a zero-length string instead of the two-byte BMPString
// terminator; Decode("") accepts both, with and without a MAC.
func TestEmptyPasswordZeroLength(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := newTestPKI(t, key)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	for _, variant := range [][]byte{{}, {0, 0}} {
		keyAlg, keyCT := pbe3DESEncrypt(variant, pkcs8)
		scAlg, scCT := pbe3DESEncrypt(variant, sequenceOf(certBag(p.leaf.Raw, nil), certBag(p.root.Raw, nil)))
		authSafe := sequenceOf(
			dataContentInfo(sequenceOf(shroudedKeyBag(keyAlg, keyCT, nil))),
			encryptedContentInfo(scAlg, scCT))
		withMAC := pfx(authSafe, classicMac(digestByOID[0].oid, sha1.New, variant, authSafe, 100))
		noMAC := der(func(b *cryptobyte.Builder) {
			addSeq(b, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(3)
				b.AddBytes(dataContentInfo(authSafe))
			})
		})
		for name, data := range map[string][]byte{"MAC": withMAC, "no MAC": noMAC} {
			k, c, chain, err := Decode(data, "")
			if err != nil {
				t.Fatalf("password variant %x, %s: %v", variant, name, err)
			}
			checkDecoded(t, k, c, chain, key, p.leaf, p.root)
			if _, _, _, err := Decode(data, "x"); !errors.Is(err, ErrIncorrectPassword) {
				t.Errorf("password variant %x, %s, wrong password: %v", variant, name, err)
			}
		}
	}
}

func TestPBMAC1Parameters(t *testing.T) {
	const password = "pw"
	b := newBERPFX(t, password)
	// Short or absent PBKDF2 key lengths are refused (RFC 9579 sections 5
	// and 6: the key length is required, and a short key makes the MAC easy
	// to forge).
	for _, kl := range []int{-1, 1, 19} {
		_, _, _, err := Decode(b.encode(t, pbmac1(password, b.authSafe, kl)), password)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("key length %d: got %v, want ErrMalformed", kl, err)
		}
	}
	if _, _, _, err := Decode(b.encode(t, pbmac1(password, b.authSafe, 20)), password); err != nil {
		t.Errorf("key length 20: %v", err)
	}
	// A truncated MAC value does not verify.
	mac := pbmac1(password, b.authSafe, 32)
	var trunc []byte
	{
		s := cryptobyte.String(mac)
		m, err := parseMacData(&s)
		if err != nil {
			t.Fatal(err)
		}
		trunc = macDataDER(oidPBMAC1, m.alg.params, m.digest[:20], m.salt, 1)
	}
	if _, _, _, err := Decode(b.encode(t, trunc), password); !errors.Is(err, ErrIncorrectPassword) {
		t.Errorf("truncated MAC: got %v, want ErrIncorrectPassword", err)
	}
}

func TestMalformedAndUnsupported(t *testing.T) {
	authSafe := sequenceOf()
	emptyPFX := func(mac []byte) []byte { return pfx(authSafe, mac) }
	md5 := asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	envelopedCI := der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidEnvelopedData)
			addExplicit0(b, func(b *cryptobyte.Builder) { addSeq(b, func(b *cryptobyte.Builder) { b.AddASN1Int64(0) }) })
		})
	})
	signedPFX := der(func(b *cryptobyte.Builder) {
		addSeq(b, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(3)
			addSeq(b, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidSignedData)
				addExplicit0(b, func(b *cryptobyte.Builder) { addSeq(b, func(b *cryptobyte.Builder) {}) })
			})
		})
	})
	scryptAlg := der(func(b *cryptobyte.Builder) {
		addAlg(b, oidPBES2, der(func(b *cryptobyte.Builder) {
			addSeq(b, func(b *cryptobyte.Builder) {
				addAlg(b, oidScrypt, sequenceOf())
				addAlg(b, oidAES256CBC, der(func(b *cryptobyte.Builder) { b.AddASN1OctetString(make([]byte, 16)) }))
			})
		}))
	})
	okMac := classicMac(digestByOID[0].oid, sha1.New, bmpPassword("pw"), authSafe, 1)
	withMac := func(authSafe []byte) []byte {
		return pfx(authSafe, classicMac(digestByOID[0].oid, sha1.New, bmpPassword("pw"), authSafe, 1))
	}
	cases := []struct {
		name string
		data []byte
		want error
		text string
	}{
		{"empty", nil, ErrMalformed, ""},
		{"garbage", []byte("not a pfx"), ErrMalformed, ""},
		{"truncated", emptyPFX(okMac)[:20], ErrMalformed, ""},
		{"trailing data", append(emptyPFX(okMac), 0), ErrMalformed, ""},
		{"too many iterations", emptyPFX(macDataDER(digestByOID[0].oid, asn1Null, make([]byte, 20), make([]byte, 8), MaxIterations+1)), ErrMalformed, "iteration"},
		{"zero iterations", emptyPFX(macDataDER(digestByOID[0].oid, asn1Null, make([]byte, 20), make([]byte, 8), 0)), ErrMalformed, "iteration"},
		{"huge salt", emptyPFX(macDataDER(digestByOID[0].oid, asn1Null, make([]byte, 20), make([]byte, 5000), 1)), ErrMalformed, "salt"},
		{"MD5 MAC", emptyPFX(macDataDER(md5, asn1Null, make([]byte, 16), make([]byte, 8), 1)), ErrUnsupported, "MAC digest"},
		{"envelopedData", withMac(sequenceOf(envelopedCI)), ErrUnsupported, "envelopedData"},
		{"signedData authSafe", signedPFX, ErrUnsupported, "public-key integrity"},
		{"scrypt", pfx(sequenceOf(encryptedContentInfo(scryptAlg, make([]byte, 16))), nil), ErrUnsupported, "scrypt"},
		{"no key", emptyPFX(okMac), ErrNoPrivateKey, ""},
	}
	for _, c := range cases {
		_, _, _, err := Decode(c.data, "pw")
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: got %v, want %v (%q)", c.name, err, c.want, c.text)
		}
	}
}

// TestKeyErrors checks the clear errors for the keys crypto/x509 refuses.
func TestKeyErrors(t *testing.T) {
	pkcs8 := func(oid asn1.ObjectIdentifier, params []byte) []byte {
		return der(func(b *cryptobyte.Builder) {
			addSeq(b, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(0)
				addAlg(b, oid, params)
				b.AddASN1OctetString(sequenceOf())
			})
		})
	}
	explicit := sequenceOf(der(func(b *cryptobyte.Builder) { b.AddASN1Int64(1) }))
	if _, err := parsePrivateKey(pkcs8(oidECPublicKey, explicit)); !errors.Is(err, ErrExplicitECParameters) {
		t.Errorf("explicit EC parameters: %v", err)
	}
	if _, err := parsePrivateKey(pkcs8(oidDSA, sequenceOf())); !errors.Is(err, ErrDSAKey) {
		t.Errorf("DSA: %v", err)
	}
	if _, err := parsePrivateKey([]byte{0x30, 0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty: %v", err)
	}
}

func TestIterationBudget(t *testing.T) {
	d := &decoder{}
	if err := d.spend(maxTotalCost); err != nil {
		t.Fatal(err)
	}
	if err := d.spend(1); !errors.Is(err, ErrMalformed) {
		t.Errorf("over budget: %v", err)
	}
}
