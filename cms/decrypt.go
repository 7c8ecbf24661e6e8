package cms

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"sync"

	"github.com/signet-smime/signet/cms/internal/cbcstream"
	"github.com/signet-smime/signet/cms/internal/gcmstream"
	"github.com/signet-smime/signet/cms/internal/keywrap"
	"github.com/signet-smime/signet/internal/ber"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ErrDecrypt is the one error for every failure to decrypt: a key that
// does not fit, a key that does not unwrap, bad padding, a bad tag. It says
// nothing more, so that it cannot serve as an oracle.
var ErrDecrypt = errors.New("cms: decryption failed")

// Identity is a private key that can open messages, with its certificate.
// Key is *rsa.PrivateKey, *ecdsa.PrivateKey or *ecdh.PrivateKey (X25519),
// or any crypto.Decrypter for RSA key transport.
type Identity struct {
	Certificate *x509.Certificate
	Key         crypto.PrivateKey

	ecdhOnce sync.Once // the ECDH form of an ECDSA key, computed once
	ecdhKey  *ecdh.PrivateKey
	ecdhErr  error
}

// ecdhPrivate returns the ECDH form of an *ecdsa.PrivateKey, computing it
// (a scalar multiplication) only on first use.
func (id *Identity) ecdhPrivate(k *ecdsa.PrivateKey) (*ecdh.PrivateKey, error) {
	id.ecdhOnce.Do(func() { id.ecdhKey, id.ecdhErr = k.ECDH() })
	return id.ecdhKey, id.ecdhErr
}

// DecryptInfo describes a decrypted message.
type DecryptInfo struct {
	ContentType   asn1.ObjectIdentifier
	Cipher        Cipher
	Authenticated bool   // AES-GCM AuthEnvelopedData: the content was checked by its tag
	KeyDelivery   string // "rsa-pkcs1v15", "rsa-oaep", "ecdh", "x25519"
	Recipients    int    // RecipientInfos in the message
	Weak          []string
}

// Decrypt reads an EnvelopedData or AuthEnvelopedData ContentInfo from src
// and writes the plaintext to dst as it is decrypted. The plaintext written
// to dst is not authenticated until Decrypt returns nil: the caller must
// spool it and discard it on error. Every cryptographic failure is ErrDecrypt.
func Decrypt(src io.Reader, dst io.Writer, ids ...*Identity) (*DecryptInfo, error) {
	d := ber.NewDecoder(src)
	outer, h, err := enterContentInfo(d, OIDEnvelopedData, OIDAuthEnvelopedData)
	if err != nil {
		return nil, err
	}
	auth := outer.Equal(OIDAuthEnvelopedData)
	if err := d.Enter(h); err != nil {
		return nil, err
	}
	if h, err = d.Expect(ber.ClassUniversal, ber.TagInteger); err != nil {
		return nil, err
	}
	if err := d.Skip(h); err != nil {
		return nil, err
	}
	if h, err = d.Next(); err != nil {
		return nil, err
	}
	if h.Is(ber.ClassContext, 0) { // originatorInfo
		if err := d.Skip(h); err != nil {
			return nil, err
		}
		if h, err = d.Next(); err != nil {
			return nil, err
		}
	}
	if !h.Is(ber.ClassUniversal, ber.TagSet) {
		return nil, syntaxError("expected recipientInfos")
	}
	ris, err := d.ReadElement(h, MaxElementSize)
	if err != nil {
		return nil, err
	}
	// EncryptedContentInfo
	if h, err = d.Expect(ber.ClassUniversal, ber.TagSequence); err != nil {
		return nil, err
	}
	if err := d.Enter(h); err != nil {
		return nil, err
	}
	info := &DecryptInfo{}
	if h, err = d.Expect(ber.ClassUniversal, ber.TagOID); err != nil {
		return nil, err
	}
	if info.ContentType, err = readOID(d, h); err != nil {
		return nil, err
	}
	if h, err = d.Expect(ber.ClassUniversal, ber.TagSequence); err != nil {
		return nil, err
	}
	algDER, err := d.ReadElement(h, 4096)
	if err != nil {
		return nil, err
	}
	as := cryptobyte.String(algDER)
	alg, err := parseAlgorithmIdentifier(&as)
	if err != nil {
		return nil, err
	}
	ci, ok := cipherFromOID(alg.OID)
	if !ok {
		if alg.OID.Equal(oidRC2CBC) {
			return nil, unsupported("content encryption algorithm RC2 (%v), a broken 1990s cipher; ask the sender for AES", alg.OID)
		}
		return nil, unsupported("content encryption algorithm %v", alg.OID)
	}
	if ci.aead != auth {
		return nil, syntaxError("content encryption algorithm does not fit the content type")
	}
	info.Cipher = ci.c
	info.Authenticated = ci.aead
	if ci.legacy {
		info.Weak = append(info.Weak, "cipher "+ci.name)
	}
	iv, tagLen, err := cipherParams(ci, alg.Params)
	if err != nil {
		return nil, err
	}
	cek, err := recoverKey(ris, ci.keyLen, ids, info)
	if err != nil {
		return nil, err
	}
	defer clear(cek)

	var sink io.WriteCloser
	var opener *gcmstream.Opener
	if ci.aead {
		opener, err = gcmstream.NewOpener(dst, cek, iv, nil)
		if err != nil {
			return nil, ErrDecrypt
		}
		sink = nopCloser{opener}
	} else {
		var block cipher.Block
		if ci.c == DES3CBC {
			block, err = des.NewTripleDESCipher(cek)
		} else {
			block, err = aes.NewCipher(cek)
		}
		if err != nil {
			return nil, ErrDecrypt
		}
		if sink, err = cbcstream.NewBlockDecrypter(dst, block, iv); err != nil {
			return nil, ErrDecrypt
		}
	}
	more, err := d.More()
	if err != nil {
		return nil, err
	}
	if !more {
		return nil, syntaxError("the message has no encrypted content (detached content is not supported)")
	}
	if h, err = d.Next(); err != nil {
		return nil, err
	}
	if !h.Is(ber.ClassContext, 0) {
		return nil, syntaxError("expected encryptedContent")
	}
	if _, err := copyPooled(sink, d.OctetStream(h)); err != nil {
		if errors.Is(err, ber.ErrSyntax) {
			return nil, err
		}
		return nil, ErrDecrypt
	}
	if err := sink.Close(); err != nil {
		return nil, ErrDecrypt
	}
	if err := d.Leave(); err != nil { // EncryptedContentInfo
		return nil, err
	}
	if auth {
		if h, err = d.Next(); err != nil {
			return nil, err
		}
		if h.Is(ber.ClassContext, 1) {
			return nil, unsupported("authenticated attributes in AuthEnvelopedData")
		}
		if !h.Is(ber.ClassUniversal, ber.TagOctetString) {
			return nil, syntaxError("expected mac")
		}
		mac, err := d.ReadElement(h, 64)
		if err != nil {
			return nil, err
		}
		var tag []byte
		if _, err := asn1.Unmarshal(mac, &tag); err != nil || len(tag) != tagLen {
			return nil, ErrDecrypt
		}
		if err := opener.Verify(tag); err != nil {
			return nil, ErrDecrypt
		}
	}
	// Remaining unprotected/unauthenticated attributes are skipped.
	for {
		more, err := d.More()
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		if h, err = d.Next(); err != nil {
			return nil, err
		}
		if err := d.Skip(h); err != nil {
			return nil, err
		}
	}
	if err := leaveContentInfo(d); err != nil {
		return nil, err
	}
	return info, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func cipherParams(ci cipherInfo, params []byte) (iv []byte, tagLen int, err error) {
	s := cryptobyte.String(params)
	if ci.aead {
		var seq cryptobyte.String
		tagLen = 12
		if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Bytes(&iv, cbasn1.OCTET_STRING) {
			return nil, 0, syntaxError("bad GCM parameters")
		}
		if !seq.Empty() {
			var n int64
			if !seq.ReadASN1Integer(&n) {
				return nil, 0, syntaxError("bad GCM ICV length")
			}
			tagLen = int(n)
		}
		if len(iv) != 12 || tagLen != 16 {
			return nil, 0, unsupported("GCM with a %d-byte nonce and %d-byte tag", len(iv), tagLen)
		}
		return iv, tagLen, nil
	}
	if !s.ReadASN1Bytes(&iv, cbasn1.OCTET_STRING) {
		return nil, 0, syntaxError("bad CBC parameters")
	}
	bs := aes.BlockSize
	if ci.c == DES3CBC {
		bs = des.BlockSize
	}
	if len(iv) != bs {
		return nil, 0, syntaxError("bad CBC IV length")
	}
	return iv, 0, nil
}

// recoverKey finds the RecipientInfo meant for one of the identities and
// recovers the content-encryption key.
func recoverKey(ris []byte, keyLen int, ids []*Identity, info *DecryptInfo) ([]byte, error) {
	s := cryptobyte.String(ris)
	var set cryptobyte.String
	if !s.ReadASN1(&set, cbasn1.SET) {
		return nil, syntaxError("bad recipientInfos")
	}
	var candidates []func() ([]byte, error)
	for !set.Empty() {
		var ri cryptobyte.String
		var tag cbasn1.Tag
		if !set.ReadAnyASN1Element(&ri, &tag) {
			return nil, syntaxError("bad RecipientInfo")
		}
		info.Recipients++
		for _, id := range ids {
			id := id
			ri := ri
			switch tag {
			case cbasn1.SEQUENCE:
				if ok, err := ktriMatches(ri, id); err != nil {
					return nil, err
				} else if ok {
					candidates = append(candidates, func() ([]byte, error) { return ktriOpen(ri, id, keyLen, info) })
				}
			case cbasn1.Tag(1).ContextSpecific().Constructed():
				if open, err := kariMatch(ri, id, info); err != nil {
					return nil, err
				} else if open != nil {
					candidates = append(candidates, open)
				}
			}
		}
	}
	if len(candidates) == 0 {
		return nil, ErrDecrypt
	}
	// The first matching RecipientInfo decides: with implicit rejection a
	// wrong key still yields a (random) key, and the tag or padding fails.
	cek, err := candidates[0]()
	if err != nil || len(cek) != keyLen {
		return nil, ErrDecrypt
	}
	return cek, nil
}

func idMatches(c *x509.Certificate, issuer []byte, serial *big.Int, ski []byte) bool {
	if c == nil {
		return false
	}
	if ski != nil {
		return len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, ski)
	}
	return findByIssuerSerial([]*x509.Certificate{c}, issuer, serial) != nil
}

// readRID reads issuerAndSerialNumber or a subject key identifier with the given tag.
func readRID(s *cryptobyte.String, skiTag cbasn1.Tag, kari bool) (issuer []byte, serial *big.Int, ski []byte, err error) {
	if s.PeekASN1Tag(cbasn1.SEQUENCE) {
		var ias, name cryptobyte.String
		serial = new(big.Int)
		if !s.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadASN1Element(&name, cbasn1.SEQUENCE) || !ias.ReadASN1Integer(serial) {
			return nil, nil, nil, syntaxError("bad issuerAndSerialNumber")
		}
		return name, serial, nil, nil
	}
	var v cryptobyte.String
	if !s.ReadASN1(&v, skiTag) {
		return nil, nil, nil, syntaxError("bad recipient identifier")
	}
	if kari {
		var k cryptobyte.String
		if !v.ReadASN1(&k, cbasn1.OCTET_STRING) {
			return nil, nil, nil, syntaxError("bad RecipientKeyIdentifier")
		}
		return nil, nil, k, nil
	}
	return nil, nil, v, nil
}

func ktriMatches(ri []byte, id *Identity) (bool, error) {
	s := cryptobyte.String(ri)
	var body cryptobyte.String
	var v int64
	if !s.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1Integer(&v) {
		return false, syntaxError("bad KeyTransRecipientInfo")
	}
	issuer, serial, ski, err := readRID(&body, cbasn1.Tag(0).ContextSpecific(), false)
	if err != nil {
		return false, err
	}
	return idMatches(id.Certificate, issuer, serial, ski), nil
}

func ktriOpen(ri []byte, id *Identity, keyLen int, info *DecryptInfo) ([]byte, error) {
	s := cryptobyte.String(ri)
	var body cryptobyte.String
	var v int64
	s.ReadASN1(&body, cbasn1.SEQUENCE)
	body.ReadASN1Integer(&v)
	if _, _, _, err := readRID(&body, cbasn1.Tag(0).ContextSpecific(), false); err != nil {
		return nil, err
	}
	alg, err := parseAlgorithmIdentifier(&body)
	if err != nil {
		return nil, err
	}
	var ek []byte
	if !body.ReadASN1Bytes(&ek, cbasn1.OCTET_STRING) {
		return nil, syntaxError("bad encryptedKey")
	}
	switch {
	case alg.OID.Equal(oidRSAEncryption):
		info.KeyDelivery = "rsa-pkcs1v15"
		k, ok := id.Key.(*rsa.PrivateKey)
		if !ok {
			return nil, ErrDecrypt
		}
		// Implicit rejection: on bad padding the key stays random and the
		// content check fails later, in the same way as a wrong key.
		cek := make([]byte, keyLen)
		if _, err := rand.Read(cek); err != nil {
			return nil, err
		}
		//lint:ignore SA1019 PKCS #1 v1.5 key transport is what NSS, gpgsm and Outlook write; this is the implicit-rejection API
		if err := rsa.DecryptPKCS1v15SessionKey(nil, k, ek, cek); err != nil {
			return nil, ErrDecrypt
		}
		return cek, nil
	case alg.OID.Equal(oidRSAOAEP):
		info.KeyDelivery = "rsa-oaep"
		h, mgf, label, err := parseOAEPParams(alg.Params)
		if err != nil {
			return nil, err
		}
		if h == crypto.SHA1 {
			info.Weak = append(info.Weak, "RSA-OAEP with SHA-1")
		}
		k, ok := id.Key.(crypto.Decrypter)
		if !ok {
			return nil, ErrDecrypt
		}
		cek, err := k.Decrypt(nil, ek, &rsa.OAEPOptions{Hash: h, MGFHash: mgf, Label: label})
		if err != nil {
			return nil, ErrDecrypt
		}
		return cek, nil
	}
	return nil, unsupported("key transport algorithm %v", alg.OID)
}

func parseOAEPParams(p []byte) (h, mgf crypto.Hash, label []byte, err error) {
	h, mgf = crypto.SHA1, crypto.SHA1
	if len(p) == 0 {
		return
	}
	s := cryptobyte.String(p)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return 0, 0, nil, syntaxError("bad RSAES-OAEP parameters")
	}
	if seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific().Constructed()) {
		var x cryptobyte.String
		seq.ReadASN1(&x, cbasn1.Tag(0).ContextSpecific().Constructed())
		a, e := parseAlgorithmIdentifier(&x)
		var ok bool
		if h, ok = hashFromOID(a.OID); e != nil || !ok {
			return 0, 0, nil, unsupported("OAEP hash")
		}
	}
	if seq.PeekASN1Tag(cbasn1.Tag(1).ContextSpecific().Constructed()) {
		var x cryptobyte.String
		seq.ReadASN1(&x, cbasn1.Tag(1).ContextSpecific().Constructed())
		a, e := parseAlgorithmIdentifier(&x)
		if e != nil || !a.OID.Equal(oidMGF1) {
			return 0, 0, nil, unsupported("OAEP mask generation function")
		}
		ps := cryptobyte.String(a.Params)
		inner, e := parseAlgorithmIdentifier(&ps)
		var ok bool
		if mgf, ok = hashFromOID(inner.OID); e != nil || !ok {
			return 0, 0, nil, unsupported("MGF1 hash")
		}
	}
	if seq.PeekASN1Tag(cbasn1.Tag(2).ContextSpecific().Constructed()) {
		var x cryptobyte.String
		seq.ReadASN1(&x, cbasn1.Tag(2).ContextSpecific().Constructed())
		a, e := parseAlgorithmIdentifier(&x)
		if e != nil || !a.OID.Equal(oidPSpecified) {
			return 0, 0, nil, unsupported("OAEP label source")
		}
		ls := cryptobyte.String(a.Params)
		if !ls.ReadASN1Bytes(&label, cbasn1.OCTET_STRING) {
			return 0, 0, nil, syntaxError("bad OAEP label")
		}
	}
	return
}

// kariMatch returns a function that recovers the key when a
// KeyAgreeRecipientInfo holds an encrypted key for id, or nil.
func kariMatch(ri []byte, id *Identity, info *DecryptInfo) (func() ([]byte, error), error) {
	s := cryptobyte.String(ri)
	var body, orig, origKey cryptobyte.String
	var v int64
	if !s.ReadASN1(&body, cbasn1.Tag(1).ContextSpecific().Constructed()) || !body.ReadASN1Integer(&v) ||
		!body.ReadASN1(&orig, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, syntaxError("bad KeyAgreeRecipientInfo")
	}
	if !orig.ReadASN1(&origKey, cbasn1.Tag(1).ContextSpecific().Constructed()) {
		return nil, nil // static originator keys are not supported; not for us
	}
	origAlg, err := parseAlgorithmIdentifier(&origKey)
	if err != nil {
		return nil, err
	}
	var pubBits asn1.BitString
	var bits cryptobyte.String
	if !origKey.ReadASN1Element(&bits, cbasn1.BIT_STRING) {
		return nil, syntaxError("bad originator public key")
	}
	if _, err := asn1.Unmarshal(bits, &pubBits); err != nil {
		return nil, syntaxError("bad originator public key")
	}
	var ukm []byte
	if body.PeekASN1Tag(cbasn1.Tag(1).ContextSpecific().Constructed()) {
		var u cryptobyte.String
		if !body.ReadASN1(&u, cbasn1.Tag(1).ContextSpecific().Constructed()) || !u.ReadASN1Bytes(&ukm, cbasn1.OCTET_STRING) {
			return nil, syntaxError("bad ukm")
		}
	}
	kea, err := parseAlgorithmIdentifier(&body)
	if err != nil {
		return nil, err
	}
	var reks cryptobyte.String
	if !body.ReadASN1(&reks, cbasn1.SEQUENCE) {
		return nil, syntaxError("bad recipientEncryptedKeys")
	}
	for !reks.Empty() {
		var rek cryptobyte.String
		if !reks.ReadASN1(&rek, cbasn1.SEQUENCE) {
			return nil, syntaxError("bad RecipientEncryptedKey")
		}
		issuer, serial, ski, err := readRID(&rek, cbasn1.Tag(0).ContextSpecific().Constructed(), true)
		if err != nil {
			return nil, err
		}
		var ek []byte
		if !rek.ReadASN1Bytes(&ek, cbasn1.OCTET_STRING) {
			return nil, syntaxError("bad encryptedKey")
		}
		if !idMatches(id.Certificate, issuer, serial, ski) {
			continue
		}
		return func() ([]byte, error) {
			return kariOpen(id, origAlg, pubBits.Bytes, ukm, kea, ek, info)
		}, nil
	}
	return nil, nil
}

func kariOpen(id *Identity, origAlg algorithmIdentifier, pub, ukm []byte, kea algorithmIdentifier, ek []byte, info *DecryptInfo) ([]byte, error) {
	var priv *ecdh.PrivateKey
	switch k := id.Key.(type) {
	case *ecdsa.PrivateKey:
		var err error
		if priv, err = id.ecdhPrivate(k); err != nil {
			return nil, ErrDecrypt
		}
		info.KeyDelivery = "ecdh"
	case *ecdh.PrivateKey:
		priv = k
		info.KeyDelivery = "ecdh"
		if k.Curve() == ecdh.X25519() {
			info.KeyDelivery = "x25519"
		}
	default:
		return nil, ErrDecrypt
	}
	if origAlg.OID.Equal(oidX25519) != (priv.Curve() == ecdh.X25519()) {
		return nil, ErrDecrypt
	}
	// RFC 5753 3.1.1: the originator key's parameters are absent, NULL or
	// the recipient's named curve. Explicit (specifiedCurve) parameters and
	// other curves are refused: the point would be computed on the
	// recipient's curve while the sender claims another group.
	if origAlg.hasParams() {
		var oid asn1.ObjectIdentifier
		if rest, err := asn1.Unmarshal(origAlg.Params, &oid); err != nil || len(rest) > 0 {
			return nil, ErrDecrypt
		}
		if c, _ := curveForOID(oid); c != priv.Curve() {
			return nil, ErrDecrypt
		}
	}
	ephem, err := priv.Curve().NewPublicKey(pub)
	if err != nil {
		return nil, ErrDecrypt
	}
	z, err := priv.ECDH(ephem)
	if err != nil {
		return nil, ErrDecrypt
	}
	ws := cryptobyte.String(kea.Params)
	var wrapDER cryptobyte.String
	if !ws.ReadASN1Element(&wrapDER, cbasn1.SEQUENCE) {
		return nil, syntaxError("bad key wrap algorithm")
	}
	wrapAlgS := cryptobyte.String(wrapDER)
	wrapAlg, err := parseAlgorithmIdentifier(&wrapAlgS)
	if err != nil {
		return nil, err
	}
	kl, err := wrapKeyLen(wrapAlg.OID)
	if err != nil {
		return nil, err
	}
	if ki, ok := keaFromOID(kea.OID); ok && IsWeakHash(ki.hash) {
		info.Weak = append(info.Weak, "ECDH KDF with "+hashName(ki.hash))
	}
	kek, err := deriveKEK(kea.OID, 0, z, wrapDER, ukm, kl)
	if err != nil {
		return nil, err
	}
	cek, err := keywrap.Unwrap(kek, ek)
	if err != nil {
		return nil, ErrDecrypt
	}
	return cek, nil
}
