package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"time"

	"github.com/signet-smime/signet/internal/ber"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Attribute is a CMS attribute with its values as DER elements.
type Attribute struct {
	Type   asn1.ObjectIdentifier
	Values [][]byte
}

// Signer is one signature to make.
type Signer struct {
	Certificate *x509.Certificate
	Key         crypto.Signer
	// Digest defaults to SHA-256 (SHA-512 for Ed25519, as RFC 8419 requires).
	Digest crypto.Hash
	// PSS selects RSASSA-PSS (RFC 4056) for an RSA key.
	PSS bool
	// SubjectKeyID identifies the signer by subject key identifier instead
	// of issuer and serial number.
	SubjectKeyID bool
	// SigningTime defaults to the current time; set NoSigningTime to omit it.
	SigningTime   time.Time
	NoSigningTime bool
	// ExtraAttributes are added to the signed attributes (for example
	// SMIMECapabilities and SMIMEEncryptionKeyPreference).
	ExtraAttributes []Attribute
}

// SignOptions control the SignedData as a whole.
type SignOptions struct {
	// Detached leaves the content out (multipart/signed).
	Detached bool
	// ContentType of the signed content; defaults to id-data.
	ContentType asn1.ObjectIdentifier
	// Certificates to include besides the signers' own (chain).
	Certificates []*x509.Certificate
	// NoCertificates leaves out every certificate, the signers' included.
	NoCertificates bool
	// Rand is the source of randomness; crypto/rand when nil.
	Rand io.Reader
}

func (s *Signer) digest() crypto.Hash {
	if _, ok := s.Key.Public().(ed25519.PublicKey); ok {
		return crypto.SHA512
	}
	if s.Digest == 0 {
		return crypto.SHA256
	}
	return s.Digest
}

func (s *Signer) check() error {
	if s.Certificate == nil || s.Key == nil {
		return errors.New("cms: signer needs a certificate and a key")
	}
	if !publicKeysEqual(s.Certificate.PublicKey, s.Key.Public()) {
		return errors.New("cms: the key does not belong to the certificate")
	}
	switch s.digest() {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return fmt.Errorf("cms: digest %v is not allowed for new signatures", s.digest())
	}
	if s.SubjectKeyID && len(s.Certificate.SubjectKeyId) == 0 {
		return errors.New("cms: the signer certificate has no subject key identifier")
	}
	return nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}

// Sign returns a writer: the content written to it is signed by every
// signer, and the ContentInfo (SignedData) goes to dst. With an attached
// content the output streams with indefinite lengths; a detached signature
// is written in DER when the writer is closed. Close must be called.
func Sign(dst io.Writer, opts *SignOptions, signers ...*Signer) (io.WriteCloser, error) {
	if opts == nil {
		opts = &SignOptions{}
	}
	if len(signers) == 0 {
		return nil, errors.New("cms: no signer")
	}
	w := &signWriter{dst: dst, opts: opts, signers: signers, hashes: map[crypto.Hash]hash.Hash{}}
	for _, s := range signers {
		if err := s.check(); err != nil {
			return nil, err
		}
		h := s.digest()
		if _, ok := w.hashes[h]; !ok {
			w.hashes[h] = h.New()
			w.order = append(w.order, h)
		}
	}
	w.contentType = opts.ContentType
	if w.contentType == nil {
		w.contentType = OIDData
	}
	if !opts.Detached {
		if err := w.writeAttachedHead(); err != nil {
			return nil, err
		}
		w.chunks = ber.NewChunkWriter(dst)
	}
	return w, nil
}

type signWriter struct {
	dst         io.Writer
	opts        *SignOptions
	signers     []*Signer
	hashes      map[crypto.Hash]hash.Hash
	order       []crypto.Hash
	contentType asn1.ObjectIdentifier
	chunks      *ber.ChunkWriter
	closed      bool
}

func (w *signWriter) version() int64 {
	v := int64(1)
	for _, s := range w.signers {
		if s.SubjectKeyID {
			v = 3
		}
	}
	if !w.contentType.Equal(OIDData) {
		v = 3
	}
	return v
}

func (w *signWriter) digestAlgorithms(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, h := range w.order {
			oid, _ := oidFromHash(h)
			addAlgorithmIdentifier(b, oid, nil)
		}
	})
}

func (w *signWriter) writeAttachedHead() error {
	var head []byte
	head = append(head, 0x30, 0x80)
	oid, _ := asn1.Marshal(OIDSignedData)
	head = append(head, oid...)
	head = append(head, 0xa0, 0x80, 0x30, 0x80)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1Int64(w.version())
	w.digestAlgorithms(b)
	mid, err := b.Bytes()
	if err != nil {
		return err
	}
	head = append(head, mid...)
	ct, _ := asn1.Marshal(w.contentType)
	head = append(head, 0x30, 0x80)
	head = append(head, ct...)
	head = append(head, 0xa0, 0x80, 0x24, 0x80)
	_, err = w.dst.Write(head)
	return err
}

func (w *signWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("cms: write after close")
	}
	for _, h := range w.hashes {
		h.Write(p)
	}
	if w.chunks != nil {
		return w.chunks.Write(p)
	}
	return len(p), nil
}

func (w *signWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	rnd := w.opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var infos [][]byte
	for _, s := range w.signers {
		si, err := signerInfo(s, w.contentType, w.hashes[s.digest()].Sum(nil), rnd)
		if err != nil {
			return err
		}
		infos = append(infos, si)
	}
	tail := cryptobyte.NewBuilder(nil)
	if !w.opts.NoCertificates {
		var certs [][]byte
		seen := map[string]bool{}
		add := func(c *x509.Certificate) {
			if c != nil && !seen[string(c.Raw)] {
				seen[string(c.Raw)] = true
				certs = append(certs, c.Raw)
			}
		}
		for _, s := range w.signers {
			add(s.Certificate)
		}
		for _, c := range w.opts.Certificates {
			add(c)
		}
		tail.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			for _, c := range certs {
				b.AddBytes(c)
			}
		})
	}
	tail.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, si := range infos {
			b.AddBytes(si)
		}
	})
	tb, err := tail.Bytes()
	if err != nil {
		return err
	}
	if w.chunks != nil {
		if err := w.chunks.Close(); err != nil {
			return err
		}
		// End the OCTET STRING, [0] eContent and EncapsulatedContentInfo.
		if err := ber.WriteEOC(w.dst, 3); err != nil {
			return err
		}
		if _, err := w.dst.Write(tb); err != nil {
			return err
		}
		// End SignedData, [0] content and ContentInfo.
		return ber.WriteEOC(w.dst, 3)
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OIDSignedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(w.version())
				w.digestAlgorithms(b)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(w.contentType)
				})
				b.AddBytes(tb)
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return err
	}
	_, err = w.dst.Write(out)
	return err
}

// marshalAttributes returns the DER SET OF the attributes, sorted.
func marshalAttributes(attrs []Attribute) ([]byte, error) {
	var enc [][]byte
	for _, a := range attrs {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(a.Type)
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				for _, v := range a.Values {
					b.AddBytes(v)
				}
			})
		})
		e, err := b.Bytes()
		if err != nil {
			return nil, err
		}
		enc = append(enc, e)
	}
	slices.SortFunc(enc, bytes.Compare)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, e := range enc {
			b.AddBytes(e)
		}
	})
	return b.Bytes()
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signingTimeValue encodes a time as UTCTime until 2049, GeneralizedTime after (RFC 5652 11.3).
func signingTimeValue(t time.Time) []byte {
	t = t.UTC().Truncate(time.Second)
	if t.Year() >= 1950 && t.Year() < 2050 {
		return mustMarshal(t)
	}
	b, _ := asn1.MarshalWithParams(t, "generalized")
	return b
}

func signerInfo(s *Signer, contentType asn1.ObjectIdentifier, digest []byte, rnd io.Reader) ([]byte, error) {
	attrs := []Attribute{
		{oidAttrContentType, [][]byte{mustMarshal(contentType)}},
		{oidAttrMessageDigest, [][]byte{mustMarshal(digest)}},
	}
	if !s.NoSigningTime {
		t := s.SigningTime
		if t.IsZero() {
			t = time.Now()
		}
		attrs = append(attrs, Attribute{oidAttrSigningTime, [][]byte{signingTimeValue(t)}})
	}
	attrs = append(attrs, s.ExtraAttributes...)
	signed, err := marshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	dh := s.digest()
	sigAlg, sigParams, sig, err := signBytes(s, dh, signed, rnd)
	if err != nil {
		return nil, err
	}
	dOID, err := oidFromHash(dh)
	if err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if s.SubjectKeyID {
			b.AddASN1Int64(3)
			b.AddASN1OctetString(s.Certificate.SubjectKeyId) // placeholder, replaced below
		} else {
			b.AddASN1Int64(1)
			addIssuerAndSerial(b, s.Certificate)
		}
		addAlgorithmIdentifier(b, dOID, nil)
		// [0] IMPLICIT SET OF Attribute: the signed bytes with the tag changed.
		implicit := append([]byte{0xa0}, signed[1:]...)
		b.AddBytes(implicit)
		addAlgorithmIdentifier(b, sigAlg, sigParams)
		b.AddASN1OctetString(sig)
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	if s.SubjectKeyID {
		out = retagSKI(out)
	}
	return out, nil
}

// retagSKI turns the OCTET STRING after the version into [0] IMPLICIT.
func retagSKI(si []byte) []byte {
	in := cryptobyte.String(si)
	var body cryptobyte.String
	in.ReadASN1(&body, cbasn1.SEQUENCE)
	var ver cryptobyte.String
	body.ReadASN1Element(&ver, cbasn1.INTEGER)
	var ski cryptobyte.String
	body.ReadASN1(&ski, cbasn1.OCTET_STRING)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(ver)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ski) })
		b.AddBytes(body)
	})
	return b.BytesOrPanic()
}

func addIssuerAndSerial(b *cryptobyte.Builder, c *x509.Certificate) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(c.RawIssuer)
		b.AddASN1BigInt(c.SerialNumber)
	})
}

// signBytes signs the DER signed attributes.
func signBytes(s *Signer, dh crypto.Hash, msg []byte, rnd io.Reader) (asn1.ObjectIdentifier, []byte, []byte, error) {
	switch pub := s.Key.Public().(type) {
	case ed25519.PublicKey:
		sig, err := s.Key.Sign(rnd, msg, crypto.Hash(0))
		return oidEd25519, nil, sig, err
	case *rsa.PublicKey:
		h := dh.New()
		h.Write(msg)
		d := h.Sum(nil)
		if s.PSS {
			sig, err := s.Key.Sign(rnd, d, &rsa.PSSOptions{SaltLength: dh.Size(), Hash: dh})
			return oidRSAPSS, pssParams(dh), sig, err
		}
		sig, err := s.Key.Sign(rnd, d, dh)
		return oidRSAEncryption, asn1Null, sig, err
	case *ecdsa.PublicKey:
		h := dh.New()
		h.Write(msg)
		sig, err := s.Key.Sign(rnd, h.Sum(nil), dh)
		oid := map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA256: oidECDSAWithSHA256, crypto.SHA384: oidECDSAWithSHA384, crypto.SHA512: oidECDSAWithSHA512}[dh]
		return oid, nil, sig, err
	default:
		return nil, nil, nil, unsupported("signing key type %T", pub)
	}
}

// pssParams encodes RSASSA-PSS-params for a hash (RFC 4055), salt = hash length.
func pssParams(h crypto.Hash) []byte { return rsaParams(h, true) }
