// Package pkcs12 reads PKCS #12 (RFC 7292) files ("PFX", ".p12"), in DER or
// in BER: indefinite lengths and constructed OCTET STRINGs are accepted at
// every level, including inside the authenticated safe and inside decrypted
// SafeContents, as BouncyCastle, .NET and MimeKit write them.
//
// Supported: password integrity with HMAC (SHA-1, SHA-224, SHA-256, SHA-384,
// SHA-512, SHA-512/224, SHA-512/256) keyed by the RFC 7292 Appendix B KDF, or
// PBMAC1 (RFC 9579); files without a MAC; ContentInfo types data and
// encryptedData; the PKCS #12 PBE schemes (3-key and 2-key triple DES,
// 128- and 40-bit RC2, 128- and 40-bit RC4) and PBES2 with PBKDF2
// (HMAC-SHA-1/224/256/384/512 PRF) and AES-CBC, DES-EDE3-CBC, DES-CBC or
// RC2-CBC; keyBag, pkcs8ShroudedKeyBag, certBag (X.509) and nested
// safeContentsBag. Other bags are ignored. Public-key privacy and integrity
// modes (envelopedData, signedData) are not supported.
//
// Encode writes them (DER): modern (PBES2, AES-256-CBC, PBKDF2-SHA-256,
// SHA-256 MAC) or legacy (3DES, SHA-1) for old clients and gpgsm, with the
// friendlyName and localKeyId attributes that importers show and pair.
package pkcs12

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/signet-smime/signet/internal/ber"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	// ErrIncorrectPassword means that the MAC did not verify or, in a file
	// without a MAC, that decryption failed.
	ErrIncorrectPassword = errors.New("pkcs12: incorrect password")

	// ErrMalformed is wrapped by the errors about malformed input and about
	// inputs beyond the package's limits.
	ErrMalformed = errors.New("pkcs12: malformed data")

	// ErrUnsupported is wrapped by the errors about features this package
	// (or crypto/x509) does not support.
	ErrUnsupported = errors.New("pkcs12: unsupported")

	// ErrExplicitECParameters is returned for an EC private key whose curve
	// is given by explicit parameters rather than a named-curve OID, which
	// crypto/x509 cannot represent. It wraps ErrUnsupported.
	ErrExplicitECParameters error = &unsupportedError{"pkcs12: EC private key with explicit curve parameters (crypto/x509 supports named curves only)"}

	// ErrDSAKey is returned for a DSA private key, which crypto/x509 does not
	// parse. It wraps ErrUnsupported.
	ErrDSAKey error = &unsupportedError{"pkcs12: DSA private keys are not supported"}

	// ErrNoPrivateKey is returned when the file holds no private key.
	ErrNoPrivateKey = errors.New("pkcs12: no private key in the file")

	// ErrNoCertificate is returned when no certificate matches the key.
	ErrNoCertificate = errors.New("pkcs12: no certificate matches the private key")
)

// Limits on the input.
const (
	// MaxIterations bounds every iteration count (MAC, PBE, PBKDF2).
	MaxIterations = 10_000_000
	// maxTotalCost bounds the hash computations that the key derivations
	// of one file may take (a few seconds of CPU time).
	maxTotalCost = 8 * MaxIterations

	maxInputSize    = 32 << 20
	maxSaltLen      = 1024
	maxContentInfos = 1024
	maxBags         = 10_000
	maxBagNesting   = 8
)

type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }

func unsupportedf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, a...)...)
}

func malformedf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

// Decode reads a PFX: the first private key, the certificate that matches
// it, and all other certificates (the chain, in file order).
//
// The certificate is matched by public key, or failing that (for a
// certificate whose public key crypto/x509 cannot represent) by the
// localKeyId attribute. A file without a private key gives ErrNoPrivateKey,
// one without a matching certificate ErrNoCertificate.
func Decode(data []byte, password string) (key crypto.PrivateKey, cert *x509.Certificate, caCerts []*x509.Certificate, err error) {
	d := &decoder{password: password, bmpPasswords: pkcs12Passwords(password)}
	if err := d.readPFX(data); err != nil {
		return nil, nil, nil, err
	}
	return d.result()
}

type keyEntry struct {
	der        []byte // keyBag: the PrivateKeyInfo
	shrouded   bool   // pkcs8ShroudedKeyBag: alg and encrypted
	alg        algorithmIdentifier
	encrypted  []byte
	localKeyID []byte
}

type certEntry struct {
	der        []byte
	localKeyID []byte
}

// contents collects the bags of one SafeContents.
type contents struct {
	n     int
	keys  []keyEntry
	certs []certEntry
}

type decoder struct {
	password string
	// bmpPasswords are the encodings of the password still possible for
	// the PKCS #12 KDF; a verified MAC or a successful decryption leaves one.
	bmpPasswords [][]byte
	macVerified  bool
	cost         int64
	contents
}

// spend accounts for cost hash iterations.
func (d *decoder) spend(cost int64) error {
	d.cost += cost
	if d.cost > maxTotalCost {
		return malformedf("key derivations would take more than %d iterations in all", maxTotalCost)
	}
	return nil
}

func (d *decoder) passwords(bmp bool) [][]byte {
	if bmp {
		return d.bmpPasswords
	}
	return [][]byte{[]byte(d.password)}
}

// readPFX parses PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe
// ContentInfo, macData MacData OPTIONAL }.
func (d *decoder) readPFX(data []byte) error {
	if len(data) > maxInputSize {
		return malformedf("input of %d bytes (at most %d)", len(data), maxInputSize)
	}
	pfx, err := ber.Normalize(data)
	if err != nil {
		return fmt.Errorf("%w: PFX: %w", ErrMalformed, err)
	}
	s := cryptobyte.String(pfx)
	var seq cryptobyte.String
	var version int64
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1Integer(&version) {
		return malformedf("PFX")
	}
	if version != 3 {
		return unsupportedf("PFX version %d", version)
	}
	ctype, content, present, ok := readContentInfo(&seq)
	if !ok {
		return malformedf("authSafe ContentInfo")
	}
	if ctype.Equal(oidSignedData) {
		return unsupportedf("public-key integrity mode (signedData authSafe)")
	}
	// The MAC covers the content octets of this OCTET STRING: the encoded
	// AuthenticatedSafe exactly as written (Normalize concatenated the
	// segments of a constructed OCTET STRING but left the contents alone).
	var authSafe cryptobyte.String
	if !ctype.Equal(oidData) || !present ||
		!content.ReadASN1(&authSafe, cbasn1.OCTET_STRING) || !content.Empty() {
		return malformedf("authSafe ContentInfo")
	}
	if !seq.Empty() {
		m, err := parseMacData(&seq)
		if err != nil {
			return err
		}
		if !seq.Empty() {
			return malformedf("data after MacData")
		}
		if err := d.verifyMAC(m, authSafe); err != nil {
			return err
		}
	}
	return d.readAuthenticatedSafe(authSafe)
}

// readContentInfo reads ContentInfo ::= SEQUENCE { contentType OID, content
// [0] EXPLICIT ANY OPTIONAL }, returning the inside of the [0].
func readContentInfo(s *cryptobyte.String) (ctype asn1.ObjectIdentifier, content cryptobyte.String, present, ok bool) {
	var ci cryptobyte.String
	if !s.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1ObjectIdentifier(&ctype) ||
		!ci.ReadOptionalASN1(&content, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!ci.Empty() {
		return nil, nil, false, false
	}
	return ctype, content, present, true
}

func (d *decoder) verifyMAC(m *macData, message []byte) error {
	mc, err := newMacCheck(m, message)
	if err != nil {
		return err
	}
	for _, pw := range d.passwords(mc.bmp) {
		if err := d.spend(mc.cost); err != nil {
			return err
		}
		got, err := mc.mac(pw)
		if err != nil {
			return err
		}
		if hmac.Equal(got, m.digest) {
			d.macVerified = true
			if mc.bmp {
				d.bmpPasswords = [][]byte{pw}
			}
			return nil
		}
	}
	return ErrIncorrectPassword
}

// readAuthenticatedSafe parses AuthenticatedSafe ::= SEQUENCE OF ContentInfo.
func (d *decoder) readAuthenticatedSafe(encoded []byte) error {
	der, err := ber.Normalize(encoded)
	if err != nil {
		return fmt.Errorf("%w: AuthenticatedSafe: %w", ErrMalformed, err)
	}
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return malformedf("AuthenticatedSafe")
	}
	for i := 0; !seq.Empty(); i++ {
		if i == maxContentInfos {
			return malformedf("more than %d ContentInfos", maxContentInfos)
		}
		ctype, content, present, ok := readContentInfo(&seq)
		if !ok {
			return malformedf("ContentInfo %d", i)
		}
		switch {
		case ctype.Equal(oidData):
			var octets cryptobyte.String
			if !present || !content.ReadASN1(&octets, cbasn1.OCTET_STRING) || !content.Empty() {
				return malformedf("data ContentInfo %d", i)
			}
			var c contents
			if err := d.readSafeContents(octets, &c); err != nil {
				return err
			}
			d.add(&c)
		case ctype.Equal(oidEncryptedData):
			if !present {
				return malformedf("encryptedData ContentInfo %d", i)
			}
			if err := d.readEncryptedData(content); err != nil {
				return err
			}
		case ctype.Equal(oidEnvelopedData):
			return unsupportedf("envelopedData content (public-key privacy mode)")
		default:
			return unsupportedf("content type %s in the authenticated safe", ctype)
		}
	}
	return nil
}

func (d *decoder) add(c *contents) {
	d.n += c.n
	d.keys = append(d.keys, c.keys...)
	d.certs = append(d.certs, c.certs...)
}

// readEncryptedData parses EncryptedData ::= SEQUENCE { version INTEGER,
// encryptedContentInfo EncryptedContentInfo, unprotectedAttrs [1] IMPLICIT
// OPTIONAL } and reads the SafeContents it encrypts.
func (d *decoder) readEncryptedData(content cryptobyte.String) error {
	var ed, eci cryptobyte.String
	var version int64
	var ctype asn1.ObjectIdentifier
	var alg algorithmIdentifier
	if !content.ReadASN1(&ed, cbasn1.SEQUENCE) || !content.Empty() ||
		!ed.ReadASN1Integer(&version) || !ed.ReadASN1(&eci, cbasn1.SEQUENCE) ||
		!eci.ReadASN1ObjectIdentifier(&ctype) || !readAlgorithmIdentifier(&eci, &alg) {
		return malformedf("EncryptedData")
	}
	// unprotectedAttrs, if any, are ignored.
	if !ed.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) || !ed.Empty() {
		return malformedf("EncryptedData")
	}
	ciphertext, err := readEncryptedContent(&eci)
	if err != nil {
		return err
	}
	if !eci.Empty() || !ctype.Equal(oidData) {
		return malformedf("EncryptedContentInfo")
	}
	var c contents
	err = d.decrypt(alg, ciphertext, "encrypted SafeContents", func(plaintext []byte) error {
		c = contents{}
		return d.readSafeContents(plaintext, &c)
	})
	if err != nil {
		return err
	}
	d.add(&c)
	return nil
}

// readEncryptedContent reads encryptedContent [0] IMPLICIT OCTET STRING,
// which BER allows to be constructed from OCTET STRING segments.
func readEncryptedContent(s *cryptobyte.String) ([]byte, error) {
	var v cryptobyte.String
	switch {
	case s.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()):
		if !s.ReadASN1(&v, cbasn1.Tag(0).ContextSpecific()) {
			return nil, malformedf("encryptedContent")
		}
		return v, nil
	case s.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()):
		if !s.ReadASN1(&v, cbasn1.Tag(0).Constructed().ContextSpecific()) {
			return nil, malformedf("encryptedContent")
		}
		var out []byte
		for !v.Empty() {
			var seg cryptobyte.String
			if !v.ReadASN1(&seg, cbasn1.OCTET_STRING) {
				return nil, malformedf("encryptedContent segment")
			}
			out = append(out, seg...)
		}
		return out, nil
	case s.Empty():
		return nil, unsupportedf("EncryptedData without encryptedContent (detached)")
	}
	return nil, malformedf("encryptedContent")
}

// decrypt decrypts ciphertext with alg and hands the plaintext to accept,
// trying each possible encoding of the password. A failure to decrypt, or a
// plaintext that accept rejects, is ErrIncorrectPassword unless the MAC
// verified (then the password is right and the file is at fault).
func (d *decoder) decrypt(alg algorithmIdentifier, ciphertext []byte, what string, accept func([]byte) error) error {
	dec, err := newDecryption(alg, ciphertext)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var last error
	for _, pw := range d.passwords(dec.bmp) {
		if err := d.spend(dec.cost); err != nil {
			return err
		}
		plaintext, err := dec.run(pw)
		if err == nil {
			err = accept(plaintext)
		}
		if err == nil {
			if dec.bmp {
				d.bmpPasswords = [][]byte{pw}
			}
			return nil
		}
		if errors.Is(err, ErrUnsupported) {
			return err
		}
		last = err
	}
	if d.macVerified {
		if errors.Is(last, errBadPadding) {
			return fmt.Errorf("pkcs12: %s (%s) does not decrypt although the MAC verified (a separate encryption password?): %w", what, dec.name, last)
		}
		return fmt.Errorf("pkcs12: %s: %w", what, last)
	}
	return fmt.Errorf("%w: %s (%s): %w", ErrIncorrectPassword, what, dec.name, last)
}

// readSafeContents parses SafeContents ::= SEQUENCE OF SafeBag.
func (d *decoder) readSafeContents(encoded []byte, c *contents) error {
	der, err := ber.Normalize(encoded)
	if err != nil {
		return fmt.Errorf("%w: SafeContents: %w", ErrMalformed, err)
	}
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return malformedf("SafeContents")
	}
	return d.readBags(seq, 0, c)
}

// readBags parses the SafeBags of a SafeContents: SafeBag ::= SEQUENCE {
// bagId OID, bagValue [0] EXPLICIT ANY, bagAttributes SET OF
// PKCS12Attribute OPTIONAL }.
func (d *decoder) readBags(seq cryptobyte.String, depth int, c *contents) error {
	for !seq.Empty() {
		c.n++
		if d.n+c.n > maxBags {
			return malformedf("more than %d bags", maxBags)
		}
		var bag, value, attrs cryptobyte.String
		var id asn1.ObjectIdentifier
		var hasAttrs bool
		if !seq.ReadASN1(&bag, cbasn1.SEQUENCE) || !bag.ReadASN1ObjectIdentifier(&id) ||
			!bag.ReadASN1(&value, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
			!bag.ReadOptionalASN1(&attrs, &hasAttrs, cbasn1.SET) || !bag.Empty() {
			return malformedf("SafeBag")
		}
		localKeyID, err := readLocalKeyID(attrs)
		if err != nil {
			return err
		}
		switch {
		case id.Equal(oidKeyBag):
			var pki cryptobyte.String
			if !value.ReadASN1Element(&pki, cbasn1.SEQUENCE) || !value.Empty() {
				return malformedf("keyBag")
			}
			c.keys = append(c.keys, keyEntry{der: pki, localKeyID: localKeyID})
		case id.Equal(oidShroudedKeyBag):
			// EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm
			// AlgorithmIdentifier, encryptedData OCTET STRING }
			var epki, data cryptobyte.String
			var alg algorithmIdentifier
			if !value.ReadASN1(&epki, cbasn1.SEQUENCE) || !value.Empty() ||
				!readAlgorithmIdentifier(&epki, &alg) ||
				!epki.ReadASN1(&data, cbasn1.OCTET_STRING) || !epki.Empty() {
				return malformedf("pkcs8ShroudedKeyBag")
			}
			c.keys = append(c.keys, keyEntry{shrouded: true, alg: alg, encrypted: data, localKeyID: localKeyID})
		case id.Equal(oidCertBag):
			// CertBag ::= SEQUENCE { certId OID, certValue [0] EXPLICIT ANY }
			var cb, cv, certDER cryptobyte.String
			var certID asn1.ObjectIdentifier
			if !value.ReadASN1(&cb, cbasn1.SEQUENCE) || !value.Empty() ||
				!cb.ReadASN1ObjectIdentifier(&certID) ||
				!cb.ReadASN1(&cv, cbasn1.Tag(0).Constructed().ContextSpecific()) || !cb.Empty() {
				return malformedf("certBag")
			}
			if !certID.Equal(oidX509Certificate) {
				continue // SDSI certificates and the like
			}
			if !cv.ReadASN1(&certDER, cbasn1.OCTET_STRING) || !cv.Empty() {
				return malformedf("certBag")
			}
			c.certs = append(c.certs, certEntry{der: certDER, localKeyID: localKeyID})
		case id.Equal(oidSafeContentsBag):
			if depth >= maxBagNesting {
				return malformedf("safeContentsBag nested more than %d deep", maxBagNesting)
			}
			var inner cryptobyte.String
			if !value.ReadASN1(&inner, cbasn1.SEQUENCE) || !value.Empty() {
				return malformedf("safeContentsBag")
			}
			if err := d.readBags(inner, depth+1, c); err != nil {
				return err
			}
		default:
			// crlBag, secretBag and unknown bags are ignored.
		}
	}
	return nil
}

// readLocalKeyID returns the value of the localKeyId attribute among the
// bag attributes (the content of a SET OF PKCS12Attribute), or nil.
func readLocalKeyID(attrs cryptobyte.String) ([]byte, error) {
	var id []byte
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return nil, malformedf("bag attribute")
		}
		if id == nil && oid.Equal(oidLocalKeyID) {
			var v cryptobyte.String
			if values.ReadASN1(&v, cbasn1.OCTET_STRING) {
				id = append([]byte{}, v...)
			}
		}
	}
	return id, nil
}

// result decrypts and parses the first key, parses the certificates and
// picks the one that matches the key.
func (d *decoder) result() (crypto.PrivateKey, *x509.Certificate, []*x509.Certificate, error) {
	if len(d.keys) == 0 {
		return nil, nil, nil, ErrNoPrivateKey
	}
	ke := d.keys[0]
	var key crypto.PrivateKey
	var err error
	if ke.shrouded {
		err = d.decrypt(ke.alg, ke.encrypted, "private key", func(plaintext []byte) error {
			der, err := ber.Normalize(plaintext)
			if err != nil {
				return fmt.Errorf("%w: PrivateKeyInfo: %w", ErrMalformed, err)
			}
			key, err = parsePrivateKey(der)
			return err
		})
	} else {
		key, err = parsePrivateKey(ke.der)
	}
	if err != nil {
		return nil, nil, nil, err
	}

	certs := make([]*x509.Certificate, len(d.certs))
	for i, ce := range d.certs {
		c, err := x509.ParseCertificate(ce.der)
		if err != nil {
			// A BER-encoded certificate: parse its DER form.
			if der, nerr := ber.Normalize(ce.der); nerr == nil && !bytes.Equal(der, ce.der) {
				c, err = x509.ParseCertificate(der)
			}
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("pkcs12: certificate %d: %w", i+1, err)
		}
		certs[i] = c
	}

	idx := -1
	var pub crypto.PublicKey
	if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		pub = k.Public()
	}
	for i, c := range certs {
		if k, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub != nil && k.Equal(pub) {
			idx = i
			break
		}
	}
	if idx < 0 && len(ke.localKeyID) > 0 {
		for i, c := range certs {
			_, comparable := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
			if !comparable && bytes.Equal(d.certs[i].localKeyID, ke.localKeyID) {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		return nil, nil, nil, ErrNoCertificate
	}
	var chain []*x509.Certificate
	for i, c := range certs {
		if i != idx {
			chain = append(chain, c)
		}
	}
	return key, certs[idx], chain, nil
}
