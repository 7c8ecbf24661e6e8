package pkcs12

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/signet-smime/signet/internal/ber"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// needTool skips the test when one of the named programs is missing, or
// fails it when the environment variable CI is "true".
func needTool(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		_, err := exec.LookPath(name)
		requireTool(t, err == nil, "%s not installed: %v", name, err)
	}
}

// encPKI is a root, an intermediate and end-entity certificates for keys of
// every kind Encode takes.
type encPKI struct {
	root, inter *x509.Certificate
	leaves      map[string]encLeaf
}

type encLeaf struct {
	key  crypto.PrivateKey
	cert *x509.Certificate
}

// encKeyKinds are the key kinds of encPKI, in test order.
var encKeyKinds = []string{"rsa", "p256", "p384", "ed25519", "x25519"}

var (
	encPKIOnce sync.Once
	encPKIData *encPKI
	encPKIErr  error
)

func getEncPKI(t testing.TB) *encPKI {
	t.Helper()
	encPKIOnce.Do(func() { encPKIData, encPKIErr = makeEncPKI() })
	if encPKIErr != nil {
		t.Fatal(encPKIErr)
	}
	return encPKIData
}

func makeEncPKI() (*encPKI, error) {
	now := time.Now()
	serial := int64(0)
	mk := func(cn string, isCA bool, ku x509.KeyUsage, pub any, parent *x509.Certificate, signer crypto.Signer) (*x509.Certificate, error) {
		serial++
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(30 * 24 * time.Hour),
			BasicConstraintsValid: true,
			IsCA:                  isCA,
			KeyUsage:              ku,
		}
		if !isCA {
			tmpl.EmailAddresses = []string{cn + "@example.org"}
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
		}
		if parent == nil {
			parent = tmpl
		}
		d, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", cn, err)
		}
		return x509.ParseCertificate(d)
	}
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	p := &encPKI{leaves: map[string]encLeaf{}}
	caUsage := x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	if p.root, err = mk("Encode Test Root", true, caUsage, rootKey.Public(), nil, rootKey); err != nil {
		return nil, err
	}
	if p.inter, err = mk("Encode Test Intermediate", true, caUsage, interKey.Public(), p.root, rootKey); err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	xKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	keys := map[string]crypto.PrivateKey{"rsa": rsaKey, "p256": p256, "p384": p384, "ed25519": edKey, "x25519": xKey}
	for _, kind := range encKeyKinds {
		key := keys[kind]
		ku := x509.KeyUsageDigitalSignature
		switch kind {
		case "rsa":
			ku |= x509.KeyUsageKeyEncipherment
		case "x25519":
			ku = x509.KeyUsageKeyAgreement
		}
		pub := key.(interface{ Public() crypto.PublicKey }).Public()
		xpub, isX25519 := pub.(*ecdh.PublicKey)
		if isX25519 {
			// crypto/x509 cannot certify an X25519 key: issue the
			// certificate for a stand-in key, then put the X25519 key in.
			pub = ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))
		}
		c, err := mk("encode-"+kind, false, ku, pub, p.inter, interKey)
		if err != nil {
			return nil, err
		}
		if isX25519 {
			if c, err = encReplaceSPKI(c, xpub, interKey); err != nil {
				return nil, err
			}
		}
		p.leaves[kind] = encLeaf{key: key, cert: c}
	}
	return p, nil
}

// encReplaceSPKI re-issues c for the public key pub, signed by signer (an
// ECDSA key, as c's signature algorithm must stay the same).
func encReplaceSPKI(c *x509.Certificate, pub any, signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	in := cryptobyte.String(c.RawTBSCertificate)
	var tbs cryptobyte.String
	if !in.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("TBSCertificate")
	}
	b := cryptobyte.NewBuilder(nil)
	var failed bool
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		// version, serialNumber, signature, issuer, validity, subject
		for range 6 {
			var e cryptobyte.String
			if !tbs.ReadAnyASN1Element(&e, nil) {
				failed = true
				return
			}
			b.AddBytes(e)
		}
		var old cryptobyte.String
		if !tbs.ReadASN1Element(&old, cbasn1.SEQUENCE) {
			failed = true
			return
		}
		b.AddBytes(spki)
		b.AddBytes(tbs) // extensions
	})
	newTBS, err := b.Bytes()
	if err != nil || failed {
		return nil, fmt.Errorf("re-encoding the TBSCertificate: %v", err)
	}
	digest := sha256.Sum256(newTBS)
	sig, err := ecdsa.SignASN1(rand.Reader, signer, digest[:])
	if err != nil {
		return nil, err
	}
	cb := cryptobyte.NewBuilder(nil)
	cb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(newTBS)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}) // ecdsa-with-SHA256
		})
		b.AddASN1BitString(sig)
	})
	return x509.ParseCertificate(cb.BytesOrPanic())
}

func (p *encPKI) encode(t testing.TB, kind, password string, opts EncodeOptions) []byte {
	t.Helper()
	l := p.leaves[kind]
	data, err := Encode(l.key, l.cert, []*x509.Certificate{p.inter, p.root}, password, opts)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

// encModes are the two profiles with a friendly name.
var encModes = []struct {
	name string
	opts EncodeOptions
}{
	{"modern", EncodeOptions{FriendlyName: "Alice Example"}},
	{"legacy", EncodeOptions{FriendlyName: "Alice Example", Legacy: true}},
}

func TestEncodeRoundTrip(t *testing.T) {
	p := getEncPKI(t)
	for _, mode := range encModes {
		for _, kind := range encKeyKinds {
			t.Run(mode.name+"/"+kind, func(t *testing.T) {
				const password = "correct horse"
				data := p.encode(t, kind, password, mode.opts)
				l := p.leaves[kind]
				key, cert, chain, err := Decode(data, password)
				if err != nil {
					t.Fatal(err)
				}
				checkDecoded(t, key, cert, chain, l.key, l.cert, p.inter, p.root)

				for _, wrong := range []string{"", "correct horsE", "correct horse "} {
					if _, _, _, err := Decode(data, wrong); !errors.Is(err, ErrIncorrectPassword) {
						t.Errorf("password %q: got %v, want ErrIncorrectPassword", wrong, err)
					}
				}
			})
		}
	}
}

// TestEncodeGoPKCS12 reads the files with an independent implementation,
// software.sslmate.com/src/go-pkcs12.
func TestEncodeGoPKCS12(t *testing.T) {
	p := getEncPKI(t)
	for _, mode := range encModes {
		for _, kind := range []string{"rsa", "p384", "ed25519"} {
			t.Run(mode.name+"/"+kind, func(t *testing.T) {
				opts := mode.opts
				opts.Iterations = 1000
				data := p.encode(t, kind, "pässwörd", opts)
				key, cert, chain, err := gopkcs12.DecodeChain(data, "pässwörd")
				if err != nil {
					t.Fatal(err)
				}
				l := p.leaves[kind]
				checkDecoded(t, key, cert, chain, l.key, l.cert, p.inter, p.root)
				if _, _, _, err := gopkcs12.DecodeChain(data, "passwörd"); !errors.Is(err, gopkcs12.ErrIncorrectPassword) {
					t.Errorf("wrong password: %v", err)
				}
			})
		}
	}
}

func TestEncodePasswords(t *testing.T) {
	p := getEncPKI(t)
	for _, mode := range encModes {
		for _, password := range []string{"", "pässwörd €", "𝄞 non-BMP", strings.Repeat("long", 64)} {
			t.Run(mode.name+"/"+password, func(t *testing.T) {
				opts := mode.opts
				opts.Iterations = 500
				data := p.encode(t, "p256", password, opts)
				l := p.leaves["p256"]
				key, cert, chain, err := Decode(data, password)
				if err != nil {
					t.Fatal(err)
				}
				checkDecoded(t, key, cert, chain, l.key, l.cert, p.inter, p.root)
				if _, _, _, err := Decode(data, password+"x"); !errors.Is(err, ErrIncorrectPassword) {
					t.Errorf("wrong password: got %v, want ErrIncorrectPassword", err)
				}
			})
		}
	}
}

// encAttrs are the bag attributes of a SafeBag.
type encAttrs struct {
	raw          []byte // the whole SET, nil when absent
	friendlyName *string
	localKeyID   []byte
	count        int
}

// encFile is what parseEncoded reads from a PFX by walking its ASN.1.
type encFile struct {
	macAlg     asn1.ObjectIdentifier
	macParams  []byte
	macLen     int
	macSaltLen int
	macIter    int64

	contentTypes []asn1.ObjectIdentifier // of the authenticated safe
	certAlg      algorithmIdentifier     // of the encryptedData
	certs        [][]byte
	certAttrs    []encAttrs
	keyAlg       algorithmIdentifier // of the pkcs8ShroudedKeyBag
	keyPKCS8     []byte
	keyAttrs     encAttrs
}

// parseEncoded walks the layout Encode writes, fails the test on anything
// else, and decrypts the certificates and the key with password.
func parseEncoded(t *testing.T, data []byte, password string) *encFile {
	t.Helper()
	f := new(encFile)
	s := cryptobyte.String(data)
	var pfxSeq, authSafeCI, macData, di, macAlg, digest, macSalt cryptobyte.String
	var version int64
	var ctype asn1.ObjectIdentifier
	var authSafeOuter, authSafe cryptobyte.String
	if !s.ReadASN1(&pfxSeq, cbasn1.SEQUENCE) || !s.Empty() ||
		!pfxSeq.ReadASN1Integer(&version) || version != 3 ||
		!pfxSeq.ReadASN1(&authSafeCI, cbasn1.SEQUENCE) ||
		!authSafeCI.ReadASN1ObjectIdentifier(&ctype) || !ctype.Equal(oidData) ||
		!authSafeCI.ReadASN1(&authSafeOuter, explicit0) || !authSafeCI.Empty() ||
		!authSafeOuter.ReadASN1(&authSafe, cbasn1.OCTET_STRING) || !authSafeOuter.Empty() ||
		!pfxSeq.ReadASN1(&macData, cbasn1.SEQUENCE) || !pfxSeq.Empty() ||
		!macData.ReadASN1(&di, cbasn1.SEQUENCE) ||
		!di.ReadASN1(&macAlg, cbasn1.SEQUENCE) || !macAlg.ReadASN1ObjectIdentifier(&f.macAlg) ||
		!di.ReadASN1(&digest, cbasn1.OCTET_STRING) || !di.Empty() ||
		!macData.ReadASN1(&macSalt, cbasn1.OCTET_STRING) ||
		!macData.ReadASN1Integer(&f.macIter) || !macData.Empty() {
		t.Fatal("PFX does not have the expected layout")
	}
	f.macParams, f.macLen, f.macSaltLen = macAlg, len(digest), len(macSalt)

	var ciSeq cryptobyte.String
	if !authSafe.ReadASN1(&ciSeq, cbasn1.SEQUENCE) || !authSafe.Empty() {
		t.Fatal("AuthenticatedSafe")
	}
	for !ciSeq.Empty() {
		var ci, content cryptobyte.String
		var ct asn1.ObjectIdentifier
		if !ciSeq.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1ObjectIdentifier(&ct) ||
			!ci.ReadASN1(&content, explicit0) || !ci.Empty() {
			t.Fatal("ContentInfo")
		}
		f.contentTypes = append(f.contentTypes, ct)
		switch {
		case ct.Equal(oidEncryptedData):
			var ed, eci, ciphertext cryptobyte.String
			var v int64
			var inner asn1.ObjectIdentifier
			if !content.ReadASN1(&ed, cbasn1.SEQUENCE) || !content.Empty() ||
				!ed.ReadASN1Integer(&v) || v != 0 || !ed.ReadASN1(&eci, cbasn1.SEQUENCE) || !ed.Empty() ||
				!eci.ReadASN1ObjectIdentifier(&inner) || !inner.Equal(oidData) ||
				!readAlgorithmIdentifier(&eci, &f.certAlg) ||
				!eci.ReadASN1(&ciphertext, cbasn1.Tag(0).ContextSpecific()) || !eci.Empty() {
				t.Fatal("EncryptedData")
			}
			plaintext := encDecrypt(t, f.certAlg, ciphertext, password)
			encWalkBags(t, plaintext, func(id asn1.ObjectIdentifier, value cryptobyte.String, attrs encAttrs) {
				var cb, cv, certDER cryptobyte.String
				var certID asn1.ObjectIdentifier
				if !id.Equal(oidCertBag) || !value.ReadASN1(&cb, cbasn1.SEQUENCE) || !value.Empty() ||
					!cb.ReadASN1ObjectIdentifier(&certID) || !certID.Equal(oidX509Certificate) ||
					!cb.ReadASN1(&cv, explicit0) || !cb.Empty() ||
					!cv.ReadASN1(&certDER, cbasn1.OCTET_STRING) || !cv.Empty() {
					t.Fatalf("bag %v in the encrypted SafeContents is not an X.509 certBag", id)
				}
				f.certs = append(f.certs, certDER)
				f.certAttrs = append(f.certAttrs, attrs)
			})
		case ct.Equal(oidData):
			var octets cryptobyte.String
			if !content.ReadASN1(&octets, cbasn1.OCTET_STRING) || !content.Empty() {
				t.Fatal("data ContentInfo")
			}
			n := 0
			encWalkBags(t, octets, func(id asn1.ObjectIdentifier, value cryptobyte.String, attrs encAttrs) {
				n++
				var epki, ciphertext cryptobyte.String
				if !id.Equal(oidShroudedKeyBag) || !value.ReadASN1(&epki, cbasn1.SEQUENCE) || !value.Empty() ||
					!readAlgorithmIdentifier(&epki, &f.keyAlg) ||
					!epki.ReadASN1(&ciphertext, cbasn1.OCTET_STRING) || !epki.Empty() {
					t.Fatalf("bag %v in the data SafeContents is not a pkcs8ShroudedKeyBag", id)
				}
				f.keyPKCS8 = encDecrypt(t, f.keyAlg, ciphertext, password)
				f.keyAttrs = attrs
			})
			if n != 1 {
				t.Fatalf("%d bags in the key SafeContents, want 1", n)
			}
		default:
			t.Fatalf("content type %v in the authenticated safe", ct)
		}
	}
	return f
}

// encDecrypt decrypts with the decoder's code, the password encoded as
// the scheme wants.
func encDecrypt(t *testing.T, alg algorithmIdentifier, ciphertext []byte, password string) []byte {
	t.Helper()
	dec, err := newDecryption(alg, ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	pw := []byte(password)
	if dec.bmp {
		pw = bmpPassword(password)
	}
	out, err := dec.run(pw)
	if err != nil {
		t.Fatalf("%s: %v", dec.name, err)
	}
	return out
}

// encWalkBags calls f for every SafeBag of a SafeContents.
func encWalkBags(t *testing.T, safeContents []byte, f func(id asn1.ObjectIdentifier, value cryptobyte.String, attrs encAttrs)) {
	t.Helper()
	s := cryptobyte.String(safeContents)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		t.Fatal("SafeContents")
	}
	for !seq.Empty() {
		var bag, value cryptobyte.String
		var id asn1.ObjectIdentifier
		if !seq.ReadASN1(&bag, cbasn1.SEQUENCE) || !bag.ReadASN1ObjectIdentifier(&id) ||
			!bag.ReadASN1(&value, explicit0) {
			t.Fatal("SafeBag")
		}
		var attrs encAttrs
		if !bag.Empty() {
			var set cryptobyte.String
			raw := []byte(bag)
			if !bag.ReadASN1(&set, cbasn1.SET) || !bag.Empty() {
				t.Fatal("SafeBag attributes")
			}
			attrs = encParseAttrs(t, raw, set)
		}
		f(id, value, attrs)
	}
}

func encParseAttrs(t *testing.T, raw []byte, set cryptobyte.String) encAttrs {
	t.Helper()
	a := encAttrs{raw: raw}
	var prev []byte
	for !set.Empty() {
		var elem, attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !set.ReadASN1Element(&elem, cbasn1.SEQUENCE) {
			t.Fatal("bag attribute")
		}
		// DER: the elements of a SET OF in ascending order of encoding.
		if prev != nil && bytes.Compare(prev, elem) > 0 {
			t.Errorf("bag attributes not in DER order: %x before %x", prev, []byte(elem))
		}
		prev = elem
		a.count++
		if !elem.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			t.Fatal("bag attribute")
		}
		switch {
		case oid.Equal(oidLocalKeyID):
			var v cryptobyte.String
			if a.localKeyID != nil || !values.ReadASN1(&v, cbasn1.OCTET_STRING) || !values.Empty() {
				t.Fatal("localKeyId attribute")
			}
			a.localKeyID = v
		case oid.Equal(oidFriendlyName):
			var v cryptobyte.String
			if a.friendlyName != nil || !values.ReadASN1(&v, cbasn1.Tag(30)) || !values.Empty() || len(v)%2 != 0 {
				t.Fatal("friendlyName attribute is not one BMPString")
			}
			u := make([]uint16, len(v)/2)
			for i := range u {
				u[i] = uint16(v[2*i])<<8 | uint16(v[2*i+1])
			}
			name := string(utf16.Decode(u))
			a.friendlyName = &name
		default:
			t.Errorf("unexpected bag attribute %v", oid)
		}
	}
	return a
}

func TestEncodeStructure(t *testing.T) {
	p := getEncPKI(t)
	cases := []struct {
		name string
		opts EncodeOptions
		// expected
		iter      int64
		macAlg    asn1.ObjectIdentifier
		macLen    int
		macSalt   int
		cipherOID asn1.ObjectIdentifier
	}{
		{"modern-default", EncodeOptions{FriendlyName: "Alice Example"}, DefaultIterations, oidDigestSHA256, 32, 16, oidPBES2},
		{"modern-iter", EncodeOptions{FriendlyName: "Ünïcødé 𝄞 name", Iterations: 1234}, 1234, oidDigestSHA256, 32, 16, oidPBES2},
		{"modern-noname", EncodeOptions{Iterations: 1000}, 1000, oidDigestSHA256, 32, 16, oidPBES2},
		{"modern-longname", EncodeOptions{FriendlyName: strings.Repeat("x", 200), Iterations: 1000}, 1000, oidDigestSHA256, 32, 16, oidPBES2},
		{"legacy-default", EncodeOptions{FriendlyName: "Alice Example", Legacy: true}, LegacyIterations, oidDigestSHA1, 20, 8, oidPBEWithSHA3DES},
		{"legacy-iter", EncodeOptions{FriendlyName: "Bob", Legacy: true, Iterations: 4321}, 4321, oidDigestSHA1, 20, 8, oidPBEWithSHA3DES},
		{"legacy-noname", EncodeOptions{Legacy: true}, LegacyIterations, oidDigestSHA1, 20, 8, oidPBEWithSHA3DES},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const password = "secret"
			l := p.leaves["rsa"]
			data := p.encode(t, "rsa", password, c.opts)

			// DER throughout: BER normalization changes nothing.
			if norm, err := ber.Normalize(data); err != nil || !bytes.Equal(norm, data) {
				t.Errorf("output is not DER (normalize: %v)", err)
			}

			f := parseEncoded(t, data, password)
			if !f.macAlg.Equal(c.macAlg) || !bytes.Equal(f.macParams, []byte{5, 0}) {
				t.Errorf("MAC algorithm %v params %x, want %v NULL", f.macAlg, f.macParams, c.macAlg)
			}
			if f.macLen != c.macLen || f.macSaltLen != c.macSalt || f.macIter != c.iter {
				t.Errorf("MAC of %d bytes, salt %d bytes, %d iterations; want %d, %d, %d",
					f.macLen, f.macSaltLen, f.macIter, c.macLen, c.macSalt, c.iter)
			}
			if len(f.contentTypes) != 2 || !f.contentTypes[0].Equal(oidEncryptedData) || !f.contentTypes[1].Equal(oidData) {
				t.Errorf("authenticated safe holds %v, want [encryptedData data]", f.contentTypes)
			}
			for what, alg := range map[string]algorithmIdentifier{"certificates": f.certAlg, "key": f.keyAlg} {
				if !alg.oid.Equal(c.cipherOID) {
					t.Errorf("%s encrypted with %v, want %v", what, alg.oid, c.cipherOID)
					continue
				}
				if c.cipherOID.Equal(oidPBES2) {
					checkPBES2Params(t, what, alg, c.iter)
				} else {
					salt, iter, err := parsePKCS12PBEParams(alg.params)
					if err != nil || len(salt) != 8 || int64(iter) != c.iter {
						t.Errorf("%s: PBE parameters salt %x iterations %d (%v), want 8 bytes and %d", what, salt, iter, err, c.iter)
					}
				}
			}
			if bytes.Equal(f.certAlg.params, f.keyAlg.params) {
				t.Error("key and certificates share salt and IV")
			}

			// The key, as PKCS #8.
			want, err := x509.MarshalPKCS8PrivateKey(l.key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.keyPKCS8, want) {
				t.Error("the shrouded key bag does not decrypt to the key's PKCS #8 encoding")
			}

			// The certificates: end entity first, then the chain in order.
			wantCerts := [][]byte{l.cert.Raw, p.inter.Raw, p.root.Raw}
			if len(f.certs) != len(wantCerts) {
				t.Fatalf("%d certificates, want %d", len(f.certs), len(wantCerts))
			}
			for i := range wantCerts {
				if !bytes.Equal(f.certs[i], wantCerts[i]) {
					t.Errorf("certificate %d is not the expected one", i)
				}
			}

			// Attributes: localKeyId = SHA-1(certificate) and the friendly
			// name on the key bag and the end-entity bag only.
			sum := sha1.Sum(l.cert.Raw)
			for what, a := range map[string]encAttrs{"key bag": f.keyAttrs, "end-entity certBag": f.certAttrs[0]} {
				if !bytes.Equal(a.localKeyID, sum[:]) {
					t.Errorf("%s: localKeyId %x, want SHA-1 of the certificate %x", what, a.localKeyID, sum)
				}
				switch {
				case c.opts.FriendlyName == "" && a.friendlyName != nil:
					t.Errorf("%s: friendlyName %q without FriendlyName", what, *a.friendlyName)
				case c.opts.FriendlyName != "" && (a.friendlyName == nil || *a.friendlyName != c.opts.FriendlyName):
					t.Errorf("%s: friendlyName %v, want %q", what, a.friendlyName, c.opts.FriendlyName)
				}
				wantCount := 1
				if c.opts.FriendlyName != "" {
					wantCount = 2
				}
				if a.count != wantCount {
					t.Errorf("%s: %d attributes, want %d", what, a.count, wantCount)
				}
			}
			for i, a := range f.certAttrs[1:] {
				if a.raw != nil {
					t.Errorf("chain certBag %d has attributes", i+1)
				}
			}

			if _, _, _, err := Decode(data, "Secret"); !errors.Is(err, ErrIncorrectPassword) {
				t.Errorf("wrong password: got %v, want ErrIncorrectPassword", err)
			}
		})
	}
}

// checkPBES2Params checks PBES2 / PBKDF2-HMAC-SHA-256 (16-byte salt, no key
// length) / AES-256-CBC (16-byte IV).
func checkPBES2Params(t *testing.T, what string, alg algorithmIdentifier, iter int64) {
	t.Helper()
	params := alg.params
	var seq, kdfParams, prfSeq, salt, iv cryptobyte.String
	var kdf, enc algorithmIdentifier
	var it int64
	var prf asn1.ObjectIdentifier
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() ||
		!readAlgorithmIdentifier(&seq, &kdf) || !readAlgorithmIdentifier(&seq, &enc) || !seq.Empty() ||
		!kdf.oid.Equal(oidPBKDF2) || !kdf.params.ReadASN1(&kdfParams, cbasn1.SEQUENCE) ||
		!kdfParams.ReadASN1(&salt, cbasn1.OCTET_STRING) || !kdfParams.ReadASN1Integer(&it) ||
		!kdfParams.ReadASN1(&prfSeq, cbasn1.SEQUENCE) || !kdfParams.Empty() ||
		!prfSeq.ReadASN1ObjectIdentifier(&prf) || !bytes.Equal(prfSeq, []byte{5, 0}) ||
		!enc.oid.Equal(oidAES256CBC) || !enc.params.ReadASN1(&iv, cbasn1.OCTET_STRING) || !enc.params.Empty() {
		t.Errorf("%s: PBES2 parameters are not PBKDF2 (salt, iterations, PRF) and AES-256-CBC", what)
		return
	}
	if len(salt) != 16 || it != iter || !prf.Equal(oidHMACWithSHA256) || len(iv) != 16 {
		t.Errorf("%s: PBKDF2 salt %d bytes, %d iterations, PRF %v, IV %d bytes; want 16, %d, hmacWithSHA256, 16",
			what, len(salt), it, prf, len(iv), iter)
	}
}

// encCountingReader is a deterministic "random" source.
type encCountingReader struct{ n byte }

func (r *encCountingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

type encFailingReader struct{}

func (encFailingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

func TestEncodeRand(t *testing.T) {
	p := getEncPKI(t)
	for _, legacy := range []bool{false, true} {
		opts := EncodeOptions{FriendlyName: "x", Legacy: legacy, Iterations: 100}
		opts.Rand = &encCountingReader{}
		a := p.encode(t, "p256", "pw", opts)
		opts.Rand = &encCountingReader{}
		b := p.encode(t, "p256", "pw", opts)
		if !bytes.Equal(a, b) {
			t.Errorf("legacy=%v: the same Rand gave different files: Encode uses another source", legacy)
		}
		opts.Rand = &encCountingReader{n: 1}
		c := p.encode(t, "p256", "pw", opts)
		if bytes.Equal(a, c) {
			t.Errorf("legacy=%v: different Rand gave the same file", legacy)
		}
		opts.Rand = nil
		d1, d2 := p.encode(t, "p256", "pw", opts), p.encode(t, "p256", "pw", opts)
		if bytes.Equal(d1, d2) {
			t.Errorf("legacy=%v: two files with crypto/rand are identical", legacy)
		}
		opts.Rand = io.LimitReader(rand.Reader, 20)
		l := p.leaves["p256"]
		if _, err := Encode(l.key, l.cert, nil, "pw", opts); err == nil {
			t.Errorf("legacy=%v: no error with a short Rand", legacy)
		}
		opts.Rand = encFailingReader{}
		if _, err := Encode(l.key, l.cert, nil, "pw", opts); err == nil || !strings.Contains(err.Error(), "entropy exhausted") {
			t.Errorf("legacy=%v: failing Rand: %v", legacy, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	p := getEncPKI(t)
	rsaLeaf, ecLeaf := p.leaves["rsa"], p.leaves["p256"]
	cases := []struct {
		name     string
		key      crypto.PrivateKey
		cert     *x509.Certificate
		chain    []*x509.Certificate
		password string
		opts     EncodeOptions
		is       error
	}{
		{"nil certificate", rsaLeaf.key, nil, nil, "pw", EncodeOptions{}, nil},
		{"unparsed certificate", rsaLeaf.key, &x509.Certificate{}, nil, "pw", EncodeOptions{}, nil},
		{"nil chain certificate", rsaLeaf.key, rsaLeaf.cert, []*x509.Certificate{p.inter, nil}, "pw", EncodeOptions{}, nil},
		{"key of another certificate", ecLeaf.key, rsaLeaf.cert, nil, "pw", EncodeOptions{}, ErrKeyMismatch},
		{"key of the CA", ecLeaf.key, p.root, nil, "pw", EncodeOptions{}, ErrKeyMismatch},
		{"unsupported key type", struct{}{}, rsaLeaf.cert, nil, "pw", EncodeOptions{}, nil},
		{"nil key", nil, rsaLeaf.cert, nil, "pw", EncodeOptions{}, nil},
		{"negative iterations", rsaLeaf.key, rsaLeaf.cert, nil, "pw", EncodeOptions{Iterations: -1}, nil},
		{"too many iterations", rsaLeaf.key, rsaLeaf.cert, nil, "pw", EncodeOptions{Iterations: MaxIterations + 1}, nil},
		{"password not UTF-8", rsaLeaf.key, rsaLeaf.cert, nil, "pw\xff", EncodeOptions{}, nil},
		{"friendly name not UTF-8", rsaLeaf.key, rsaLeaf.cert, nil, "pw", EncodeOptions{FriendlyName: "\xc3"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := Encode(c.key, c.cert, c.chain, c.password, c.opts)
			if err == nil {
				t.Fatalf("no error (%d bytes)", len(data))
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("got %v, want %v", err, c.is)
			}
			if !strings.HasPrefix(err.Error(), "pkcs12: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}

	// An *ecdh.PrivateKey on P-256 is the key of an ECDSA certificate.
	ek, err := ecLeaf.key.(*ecdsa.PrivateKey).ECDH()
	if err != nil {
		t.Fatal(err)
	}
	data, err := Encode(ek, ecLeaf.cert, nil, "pw", EncodeOptions{Iterations: 100})
	if err != nil {
		t.Fatalf("ecdh P-256 key: %v", err)
	}
	key, cert, chain, err := Decode(data, "pw")
	if err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, key, cert, chain, ecLeaf.key, ecLeaf.cert)
}

// encWriteFile writes data to a file in a fresh temporary directory.
func encWriteFile(t *testing.T, name string, data []byte) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// encRun runs a command and returns its standard output and error.
func encRun(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return encRunStdin(t, env, "", name, args...)
}

// encRunStdin is encRun with stdin as the command's standard input.
func encRunStdin(t *testing.T, env []string, stdin, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func encMustRun(t *testing.T, env []string, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := encRun(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// opensslHex is how OpenSSL prints a localKeyID: upper-case hex bytes
// separated by spaces.
func opensslHex(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	parts := make([]string, 0, len(b))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, " ")
}

// TestEncodeOpenSSL reads the files with "openssl pkcs12" (OpenSSL 3),
// without -legacy for the legacy profile: triple DES is in OpenSSL 3's
// default provider.
func TestEncodeOpenSSL(t *testing.T) {
	needTool(t, "openssl")
	p := getEncPKI(t)
	type tc struct {
		mode, kind, password, name string
		iter                       int
	}
	var cases []tc
	for _, mode := range []string{"modern", "legacy"} {
		for _, kind := range encKeyKinds {
			cases = append(cases, tc{mode, kind, "x", "Alice Example", 0})
		}
		cases = append(cases,
			tc{mode, "p256", "", "Empty Password", 1000},
			tc{mode, "p256", "pässwörd €", "Jörg’s key €", 1000})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/%q", c.mode, c.kind, c.password), func(t *testing.T) {
			l := p.leaves[c.kind]
			opts := EncodeOptions{FriendlyName: c.name, Legacy: c.mode == "legacy", Iterations: c.iter}
			_, path := encWriteFile(t, "f.p12", p.encode(t, c.kind, c.password, opts))

			out, _ := encMustRun(t, nil, "openssl", "pkcs12", "-in", path, "-passin", "pass:"+c.password, "-nodes")
			// OpenSSL 3.0 prints a BMPString by the low byte of each
			// character (OPENSSL_uni2asc); later versions print UTF-8.
			var lowBytes []byte
			for _, u := range utf16.Encode([]rune(c.name)) {
				lowBytes = append(lowBytes, byte(u))
			}
			if n := max(strings.Count(out, "friendlyName: "+c.name+"\n"),
				strings.Count(out, "friendlyName: "+string(lowBytes)+"\n")); n != 2 {
				t.Errorf("%d times \"friendlyName: %s\" (want 2: key and certificate) in\n%s", n, c.name, out)
			}
			sum := sha1.Sum(l.cert.Raw)
			if n := strings.Count(out, "localKeyID: "+opensslHex(sum[:])+" \n") +
				strings.Count(out, "localKeyID: "+opensslHex(sum[:])+"\n"); n != 2 {
				t.Errorf("%d times \"localKeyID: %s\" (want 2) in\n%s", n, opensslHex(sum[:]), out)
			}
			var certs [][]byte
			var keys []crypto.PrivateKey
			rest := []byte(out)
			for {
				var b *pem.Block
				b, rest = pem.Decode(rest)
				if b == nil {
					break
				}
				switch b.Type {
				case "CERTIFICATE":
					certs = append(certs, b.Bytes)
				case "PRIVATE KEY":
					k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
					if err != nil {
						t.Fatalf("key printed by OpenSSL: %v", err)
					}
					keys = append(keys, k)
				default:
					t.Errorf("unexpected PEM block %q", b.Type)
				}
			}
			if len(keys) != 1 || !keys[0].(interface{ Equal(crypto.PrivateKey) bool }).Equal(l.key) {
				t.Errorf("OpenSSL printed %d keys, want the one encoded", len(keys))
			}
			wantCerts := [][]byte{l.cert.Raw, p.inter.Raw, p.root.Raw}
			if len(certs) != len(wantCerts) {
				t.Fatalf("OpenSSL printed %d certificates, want %d", len(certs), len(wantCerts))
			}
			for i := range certs {
				if !bytes.Equal(certs[i], wantCerts[i]) {
					t.Errorf("certificate %d printed by OpenSSL is not the expected one", i)
				}
			}

			// The algorithms, as OpenSSL names them.
			_, info := encMustRun(t, nil, "openssl", "pkcs12", "-in", path, "-passin", "pass:"+c.password, "-info", "-noout")
			iter := c.iter
			var want []string
			if c.mode == "modern" {
				if iter == 0 {
					iter = DefaultIterations
				}
				pbe := fmt.Sprintf("PBES2, PBKDF2, AES-256-CBC, Iteration %d, PRF hmacWithSHA256", iter)
				want = []string{fmt.Sprintf("MAC: sha256, Iteration %d", iter), "MAC length: 32, salt length: 16",
					"PKCS7 Encrypted data: " + pbe, "Shrouded Keybag: " + pbe}
			} else {
				if iter == 0 {
					iter = LegacyIterations
				}
				pbe := fmt.Sprintf("pbeWithSHA1And3-KeyTripleDES-CBC, Iteration %d", iter)
				want = []string{fmt.Sprintf("MAC: sha1, Iteration %d", iter), "MAC length: 20, salt length: 8",
					"PKCS7 Encrypted data: " + pbe, "Shrouded Keybag: " + pbe}
			}
			for _, w := range want {
				if !strings.Contains(info, w+"\n") {
					t.Errorf("openssl pkcs12 -info lacks %q:\n%s", w, info)
				}
			}

			// A wrong password is refused (MAC verification).
			if o, e, err := encRun(t, nil, "openssl", "pkcs12", "-in", path, "-passin", "pass:"+c.password+"y", "-nodes"); err == nil {
				t.Errorf("OpenSSL accepted a wrong password:\n%s%s", o, e)
			}
		})
	}
}

// TestEncodeNSS imports the files with NSS's pk12util into a fresh
// database, where the certificate must get the friendly name as nickname.
func TestEncodeNSS(t *testing.T) {
	needTool(t, "certutil", "pk12util")
	p := getEncPKI(t)
	// NSS 3.87 imports RSA and ECDSA keys from PKCS #12; Ed25519 and X25519
	// keys it does not know.
	type tc struct {
		name, kind string
		opts       EncodeOptions
	}
	var cases []tc
	for _, mode := range encModes {
		for _, kind := range []string{"rsa", "p256", "p384"} {
			cases = append(cases, tc{mode.name + "/" + kind, kind, mode.opts})
		}
	}
	// NSS turns the BMPString into a UTF-8 nickname.
	cases = append(cases,
		tc{"modern/rsa/non-ASCII", "rsa", EncodeOptions{FriendlyName: "Jörg’s key €", Iterations: 1000}},
		tc{"legacy/rsa/non-ASCII", "rsa", EncodeOptions{FriendlyName: "Jörg’s key €", Legacy: true}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const password = "x"
			dir, path := encWriteFile(t, "f.p12", p.encode(t, c.kind, password, c.opts))
			db := "sql:" + filepath.Join(dir, "db")
			if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
				t.Fatal(err)
			}
			encMustRun(t, nil, "certutil", "-N", "-d", db, "--empty-password")

			if o, e, err := encRun(t, nil, "pk12util", "-i", path, "-d", db, "-W", password+"y", "-K", ""); err == nil {
				t.Errorf("pk12util accepted a wrong password:\n%s%s", o, e)
			}
			encMustRun(t, nil, "pk12util", "-i", path, "-d", db, "-W", password, "-K", "")

			list, _ := encMustRun(t, nil, "certutil", "-L", "-d", db)
			name := c.opts.FriendlyName
			found, n := false, 0
			for _, line := range strings.Split(list, "\n") {
				fields := strings.Fields(line)
				if len(fields) == 0 || !strings.Contains(fields[len(fields)-1], ",") || strings.Contains(line, "S/MIME") {
					continue // header
				}
				n++
				if strings.HasPrefix(line, name+"  ") && fields[len(fields)-1] == "u,u,u" {
					found = true
				}
			}
			if !found {
				t.Errorf("certutil -L does not list %q with a private key (u,u,u):\n%s", name, list)
			}
			if n != 3 {
				t.Errorf("certutil -L lists %d certificates, want 3 (end entity and chain):\n%s", n, list)
			}
			keys, _ := encMustRun(t, nil, "certutil", "-K", "-d", db)
			if !strings.Contains(keys, name) {
				t.Errorf("certutil -K does not list a key for %q:\n%s", name, keys)
			}
			// The certificate under the nickname is the end-entity one.
			pemOut, _ := encMustRun(t, nil, "certutil", "-L", "-d", db, "-n", name, "-a")
			b, _ := pem.Decode([]byte(pemOut))
			if b == nil || !bytes.Equal(b.Bytes, p.leaves[c.kind].cert.Raw) {
				t.Errorf("the certificate nicknamed %q is not the end-entity certificate", name)
			}
		})
	}
}

// TestEncodeGpgsm imports a legacy file into GnuPG's gpgsm, which reads
// only triple-DES files. gpgsm 2.2.40 crashes importing EC keys from
// PKCS #12, so only RSA is tried.
func TestEncodeGpgsm(t *testing.T) {
	needTool(t, "gpgsm", "gpg-agent")
	p := getEncPKI(t)
	l := p.leaves["rsa"]
	const password = "x"
	home, path := encWriteFile(t, "f.p12", p.encode(t, "rsa", password, EncodeOptions{FriendlyName: "Alice Example", Legacy: true}))
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"gpg-agent.conf": "allow-loopback-pinentry\n",
		"gpgsm.conf":     "disable-dirmngr\ndisable-crl-checks\n",
	} {
		if err := os.WriteFile(filepath.Join(home, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Stop the gpg-agent that gpgsm started for this home directory.
		if gpgconf, err := exec.LookPath("gpgconf"); err == nil {
			cmd := exec.Command(gpgconf, "--kill", "all")
			cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
			cmd.Run()
		}
	})
	env := []string{"GNUPGHOME=" + home}
	// gpgsm 2.2 has no --passphrase option (GnuPG's option parser takes
	// "--passphrase" for an abbreviation of --passphrase-fd, so that
	// "--passphrase x" reads file descriptor 0 and works only for an
	// empty password): the password goes in on standard input.
	gpgsm := func(pass string, args ...string) (string, string, error) {
		return encRunStdin(t, env, pass+"\n", "gpgsm", append([]string{"--batch", "--pinentry-mode", "loopback",
			"--passphrase-fd", "0", "--status-fd", "1"}, args...)...)
	}

	// A wrong password: nothing imported.
	o, e, err := gpgsm(password+"y", "--import", path)
	if err == nil && strings.Contains(o, "IMPORT_OK") {
		t.Errorf("gpgsm imported with a wrong password:\n%s%s", o, e)
	}

	o, e, err = gpgsm(password, "--import", path)
	if err != nil || !strings.Contains(e, "secret keys imported: 1") {
		t.Fatalf("gpgsm --import: %v\n%s%s", err, o, e)
	}
	// The secret key is there, with the end-entity certificate.
	fpr := strings.ToUpper(hex.EncodeToString(func() []byte { s := sha1.Sum(l.cert.Raw); return s[:] }()))
	list, e, err := gpgsm(password, "--with-colons", "--list-secret-keys")
	if err != nil {
		t.Fatalf("gpgsm --list-secret-keys: %v\n%s", err, e)
	}
	if !strings.Contains(list, "fpr:::::::::"+fpr+":") {
		t.Errorf("gpgsm lists no secret key for the certificate %s:\n%s", fpr, list)
	}
	// The chain came along.
	all, _, err := gpgsm(password, "--with-colons", "--list-keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*x509.Certificate{p.inter, p.root} {
		s := sha1.Sum(c.Raw)
		if !strings.Contains(all, strings.ToUpper(hex.EncodeToString(s[:]))) {
			t.Errorf("gpgsm did not import %q", c.Subject)
		}
	}
}
