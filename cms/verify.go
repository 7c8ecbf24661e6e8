package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"slices"
	"time"

	"github.com/signet-smime/signet/internal/ber"
	"github.com/signet-smime/signet/internal/x509util"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ErrBadSignature is wrapped by SignerInfo.Err when a signature does not verify.
var ErrBadSignature = errors.New("cms: bad signature")

var errNoSignerCertificate = errors.New("cms: the signer's certificate is not in the message")

// MaxElementSize bounds every element other than the streamed content
// (certificates, CRLs, signer infos) so that hostile input cannot make the
// reader allocate without limit.
const MaxElementSize = 16 << 20

// SignedData is what Verify found.
type SignedData struct {
	Version      int
	ContentType  asn1.ObjectIdentifier
	Detached     bool  // the content was not inside (multipart/signed)
	ContentSize  int64 // bytes of content digested
	Certificates []*x509.Certificate
	CRLs         [][]byte // DER CertificateList elements as carried
	Signers      []*SignerInfo
}

// SignerInfo is one signer and the outcome of checking its signature.
// The certificate chain is not checked here: that is the trust package's job.
type SignerInfo struct {
	Certificate *x509.Certificate // nil when the signer's certificate is not available
	// Issuer and SerialNumber, or SubjectKeyID, identify the signer.
	Issuer              pkix.RDNSequence
	SerialNumber        *big.Int
	SubjectKeyID        []byte
	Digest              crypto.Hash
	SignatureAlgorithm  string
	HasSignedAttributes bool
	SigningTime         time.Time // zero when absent
	SignedAttributes    []Attribute
	// Err is nil when the signature over the content verifies.
	Err error
	// Weak lists weak algorithms or keys that the signature relies on.
	Weak []string
}

// VerifyOptions tell Verify where the content is and where it goes.
type VerifyOptions struct {
	// Detached is the content when the SignedData does not carry it.
	Detached io.Reader
	// Content receives encapsulated content as it is read, before any
	// signature has been checked: the caller must not release it until
	// Verify has returned and the signers have been judged.
	Content io.Writer
	// Certificates are searched for signers' certificates besides those
	// carried in the message.
	Certificates []*x509.Certificate
}

// Verify reads a ContentInfo holding SignedData from src, digests the
// content as it streams, and checks every signer's signature. The error is
// about the structure; each signer's outcome is in SignerInfo.Err.
func Verify(src io.Reader, opts *VerifyOptions) (*SignedData, error) {
	if opts == nil {
		opts = &VerifyOptions{}
	}
	d := ber.NewDecoder(src)
	_, inner, err := enterContentInfo(d, OIDSignedData)
	if err != nil {
		return nil, err
	}
	if err := d.Enter(inner); err != nil {
		return nil, err
	}
	sd := &SignedData{}
	// version
	h, err := d.Expect(ber.ClassUniversal, ber.TagInteger)
	if err != nil {
		return nil, err
	}
	v, err := d.ReadElement(h, 16)
	if err != nil {
		return nil, err
	}
	vs := cryptobyte.String(v)
	var version int64
	if !vs.ReadASN1Integer(&version) {
		return nil, syntaxError("bad version")
	}
	sd.Version = int(version)
	// digestAlgorithms
	if h, err = d.Expect(ber.ClassUniversal, ber.TagSet); err != nil {
		return nil, err
	}
	da, err := d.ReadElement(h, MaxElementSize)
	if err != nil {
		return nil, err
	}
	hashes, err := parseDigestAlgorithms(da)
	if err != nil {
		return nil, err
	}
	var writers []io.Writer
	for _, hh := range hashes {
		writers = append(writers, hh)
	}
	// encapContentInfo
	if h, err = d.Expect(ber.ClassUniversal, ber.TagSequence); err != nil {
		return nil, err
	}
	if err := d.Enter(h); err != nil {
		return nil, err
	}
	if h, err = d.Expect(ber.ClassUniversal, ber.TagOID); err != nil {
		return nil, err
	}
	if sd.ContentType, err = readOID(d, h); err != nil {
		return nil, err
	}
	more, err := d.More()
	if err != nil {
		return nil, err
	}
	if more {
		if h, err = d.Expect(ber.ClassContext, 0); err != nil {
			return nil, err
		}
		if err := d.Enter(h); err != nil {
			return nil, err
		}
		if h, err = d.Next(); err != nil {
			return nil, err
		}
		if opts.Detached != nil {
			return nil, syntaxError("the SignedData carries content but detached content was given too")
		}
		out := writers
		if opts.Content != nil {
			out = append(out, opts.Content)
		}
		var body io.Reader
		if h.Is(ber.ClassUniversal, ber.TagOctetString) {
			body = d.OctetStream(h)
		} else {
			// PKCS #7 v1.5 allowed any type: the content is the element's value.
			el, err := d.ReadElement(h, MaxElementSize)
			if err != nil {
				return nil, err
			}
			// Its header is the normalised one, not necessarily h.Raw.
			body = bytes.NewReader(ber.Contents(el))
		}
		if sd.ContentSize, err = copyPooled(io.MultiWriter(out...), body); err != nil {
			return nil, fmt.Errorf("cms: reading content: %w", err)
		}
		if err := d.Leave(); err != nil {
			return nil, err
		}
	} else {
		sd.Detached = true
		if opts.Detached != nil {
			if sd.ContentSize, err = copyPooled(io.MultiWriter(writers...), opts.Detached); err != nil {
				return nil, fmt.Errorf("cms: reading detached content: %w", err)
			}
		}
	}
	if err := d.Leave(); err != nil {
		return nil, err
	}
	var rawInfos []byte
	var unparsed []unparsedCert
	for {
		more, err := d.More()
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		h, err := d.Next()
		if err != nil {
			return nil, err
		}
		el, err := d.ReadElement(h, MaxElementSize)
		if err != nil {
			return nil, err
		}
		switch {
		case h.Is(ber.ClassContext, 0):
			if sd.Certificates, unparsed, err = parseCertificateSet(el); err != nil {
				return nil, err
			}
		case h.Is(ber.ClassContext, 1):
			sd.CRLs = parseCRLSet(el)
		case h.Is(ber.ClassUniversal, ber.TagSet):
			rawInfos = el
		default:
			return nil, syntaxError("unexpected element in SignedData")
		}
	}
	if rawInfos == nil {
		return nil, syntaxError("SignedData has no signerInfos")
	}
	if err := leaveContentInfo(d); err != nil {
		return nil, err
	}
	if sd.Detached && opts.Detached == nil && len(hashes) > 0 {
		return nil, errors.New("cms: the signature is detached and no content was given")
	}
	digests := map[crypto.Hash][]byte{}
	for h, hh := range hashes {
		digests[h] = hh.Sum(nil)
	}
	pool := append(append([]*x509.Certificate(nil), sd.Certificates...), opts.Certificates...)
	infos := cryptobyte.String(rawInfos)
	var set cryptobyte.String
	if !infos.ReadASN1(&set, cbasn1.SET) {
		return nil, syntaxError("bad signerInfos")
	}
	for !set.Empty() {
		var si cryptobyte.String
		if !set.ReadASN1Element(&si, cbasn1.SEQUENCE) {
			return nil, syntaxError("bad SignerInfo")
		}
		s, err := checkSignerInfo(si, sd.ContentType, digests, pool)
		if err != nil {
			return nil, err
		}
		if errors.Is(s.Err, errNoSignerCertificate) {
			// Say why, when the message does carry the certificate but
			// crypto/x509 rejected it (e.g. DSA parameters inherited from
			// the issuer, RFC 3279 2.3.2).
			for _, u := range unparsed {
				if u.matches(s) {
					s.Err = fmt.Errorf("%w: the signer's certificate is in the message but cannot be parsed: %v", ErrUnsupported, u.err)
					break
				}
			}
		}
		sd.Signers = append(sd.Signers, s)
	}
	return sd, nil
}

// enterContentInfo reads the ContentInfo head, checks that its content type
// is one of want (the first is named in the error), and returns the type
// and the header of the inner content, with the decoder inside [0].
func enterContentInfo(d *ber.Decoder, want ...asn1.ObjectIdentifier) (asn1.ObjectIdentifier, ber.Header, error) {
	h, err := d.Expect(ber.ClassUniversal, ber.TagSequence)
	if err != nil {
		return nil, h, fmt.Errorf("cms: not a CMS ContentInfo: %w", err)
	}
	if err := d.Enter(h); err != nil {
		return nil, h, err
	}
	if h, err = d.Expect(ber.ClassUniversal, ber.TagOID); err != nil {
		return nil, h, err
	}
	oid, err := readOID(d, h)
	if err != nil {
		return nil, h, err
	}
	if !slices.ContainsFunc(want, oid.Equal) {
		return nil, h, &ContentTypeError{Got: oid, Want: want[0]}
	}
	if h, err = d.Expect(ber.ClassContext, 0); err != nil {
		return nil, h, err
	}
	if err := d.Enter(h); err != nil {
		return nil, h, err
	}
	h, err = d.Expect(ber.ClassUniversal, ber.TagSequence)
	return oid, h, err
}

// leaveContentInfo leaves the inner SEQUENCE, [0] and ContentInfo.
func leaveContentInfo(d *ber.Decoder) error {
	for i := 0; i < 3; i++ {
		if err := d.Leave(); err != nil {
			return err
		}
	}
	return nil
}

// ContentTypeError says the ContentInfo holds another type than expected.
type ContentTypeError struct{ Got, Want asn1.ObjectIdentifier }

func (e *ContentTypeError) Error() string {
	return fmt.Sprintf("cms: content type is %s (%s), expected %s", ContentTypeName(e.Got), e.Got, ContentTypeName(e.Want))
}

// ContentTypeName names the CMS content types.
func ContentTypeName(oid asn1.ObjectIdentifier) string {
	switch {
	case oid.Equal(OIDData):
		return "data"
	case oid.Equal(OIDSignedData):
		return "signed-data"
	case oid.Equal(OIDEnvelopedData):
		return "enveloped-data"
	case oid.Equal(OIDAuthEnvelopedData):
		return "authEnveloped-data"
	}
	return "unknown"
}

func readOID(d *ber.Decoder, h ber.Header) (asn1.ObjectIdentifier, error) {
	el, err := d.ReadElement(h, 256)
	if err != nil {
		return nil, err
	}
	var oid asn1.ObjectIdentifier
	s := cryptobyte.String(el)
	if !s.ReadASN1ObjectIdentifier(&oid) {
		return nil, syntaxError("bad object identifier")
	}
	return oid, nil
}

func parseDigestAlgorithms(der []byte) (map[crypto.Hash]hash.Hash, error) {
	s := cryptobyte.String(der)
	var set cryptobyte.String
	if !s.ReadASN1(&set, cbasn1.SET) {
		return nil, syntaxError("bad digestAlgorithms")
	}
	out := map[crypto.Hash]hash.Hash{}
	for !set.Empty() {
		a, err := parseAlgorithmIdentifier(&set)
		if err != nil {
			return nil, err
		}
		if h, ok := hashFromOID(a.OID); ok && h.Available() {
			if _, dup := out[h]; !dup {
				out[h] = h.New()
			}
		}
	}
	return out, nil
}

// unparsedCert is a certificate of the message that crypto/x509 rejected,
// kept to explain a signer whose certificate is then missing.
type unparsedCert struct {
	issuer pkix.RDNSequence
	serial *big.Int
	err    error
}

func (u unparsedCert) matches(si *SignerInfo) bool {
	if si.SerialNumber == nil || u.serial.Cmp(si.SerialNumber) != 0 {
		return false
	}
	var a, b pkix.Name
	a.FillFromRDNSequence(&u.issuer)
	b.FillFromRDNSequence(&si.Issuer)
	return a.String() == b.String()
}

func parseCertificateSet(el []byte) ([]*x509.Certificate, []unparsedCert, error) {
	s := cryptobyte.String(el)
	var set cryptobyte.String
	if !s.ReadASN1(&set, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, nil, syntaxError("bad certificates")
	}
	var out []*x509.Certificate
	var bad []unparsedCert
	for !set.Empty() {
		var c cryptobyte.String
		var tag cbasn1.Tag
		if !set.ReadAnyASN1Element(&c, &tag) {
			return nil, nil, syntaxError("bad certificate in set")
		}
		if tag != cbasn1.SEQUENCE {
			continue // attribute or other certificate formats
		}
		cert, err := x509util.ParseLenient(c)
		if err != nil {
			// An unparsable extra certificate must not hide the rest.
			if u, ok := certIssuerSerial(c); ok {
				u.err = err
				bad = append(bad, u)
			}
			continue
		}
		out = append(out, cert)
	}
	return out, bad, nil
}

// certIssuerSerial reads the issuer and serial number of a certificate
// that crypto/x509 does not parse.
func certIssuerSerial(der []byte) (unparsedCert, bool) {
	s := cryptobyte.String(der)
	var cert, tbs, issuer cryptobyte.String
	u := unparsedCert{serial: new(big.Int)}
	if !s.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!tbs.ReadASN1Integer(u.serial) || !tbs.SkipASN1(cbasn1.SEQUENCE) ||
		!tbs.ReadASN1Element(&issuer, cbasn1.SEQUENCE) {
		return u, false
	}
	if rest, err := asn1.Unmarshal(issuer, &u.issuer); err != nil || len(rest) > 0 {
		return u, false
	}
	return u, true
}

func parseCRLSet(el []byte) [][]byte {
	s := cryptobyte.String(el)
	var set cryptobyte.String
	if !s.ReadASN1(&set, cbasn1.Tag(1).ContextSpecific().Constructed()) {
		return nil
	}
	var out [][]byte
	for !set.Empty() {
		var c cryptobyte.String
		var tag cbasn1.Tag
		if !set.ReadAnyASN1Element(&c, &tag) {
			break
		}
		if tag == cbasn1.SEQUENCE {
			out = append(out, c)
		}
	}
	return out
}

func checkSignerInfo(der []byte, contentType asn1.ObjectIdentifier, digests map[crypto.Hash][]byte, pool []*x509.Certificate) (*SignerInfo, error) {
	s := cryptobyte.String(der)
	var body cryptobyte.String
	var version int64
	if !s.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1Integer(&version) {
		return nil, syntaxError("bad SignerInfo")
	}
	si := &SignerInfo{}
	switch {
	case body.PeekASN1Tag(cbasn1.SEQUENCE):
		var ias cryptobyte.String
		var name cryptobyte.String
		si.SerialNumber = new(big.Int)
		if !body.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadASN1Element(&name, cbasn1.SEQUENCE) || !ias.ReadASN1Integer(si.SerialNumber) {
			return nil, syntaxError("bad issuerAndSerialNumber")
		}
		if _, err := asn1.Unmarshal(name, &si.Issuer); err != nil {
			return nil, syntaxError("bad issuer name")
		}
		si.Certificate = findByIssuerSerial(pool, name, si.SerialNumber)
	case body.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()):
		var ski cryptobyte.String
		if !body.ReadASN1(&ski, cbasn1.Tag(0).ContextSpecific()) {
			return nil, syntaxError("bad subjectKeyIdentifier")
		}
		si.SubjectKeyID = append([]byte(nil), ski...)
		si.Certificate = findBySKI(pool, ski)
	default:
		return nil, syntaxError("bad signer identifier")
	}
	dAlg, err := parseAlgorithmIdentifier(&body)
	if err != nil {
		return nil, err
	}
	var signedRaw []byte
	if body.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific().Constructed()) {
		var el cryptobyte.String
		if !body.ReadASN1Element(&el, cbasn1.Tag(0).ContextSpecific().Constructed()) {
			return nil, syntaxError("bad signedAttrs")
		}
		signedRaw = append([]byte{0x31}, el[1:]...)
		si.HasSignedAttributes = true
	}
	sigAlg, err := parseAlgorithmIdentifier(&body)
	if err != nil {
		return nil, err
	}
	var sig cryptobyte.String
	if !body.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return nil, syntaxError("bad signature value")
	}
	// unsignedAttrs are ignored.
	dh, ok := hashFromOID(dAlg.OID)
	if !ok {
		si.Err = unsupported("digest algorithm %v", dAlg.OID)
		return si, nil
	}
	si.Digest = dh
	if IsWeakHash(dh) {
		si.Weak = append(si.Weak, "digest "+hashName(dh))
	}
	si.Err = si.verify(contentType, digests, dh, signedRaw, sigAlg, sig, pool)
	if si.Err == nil && si.Certificate != nil {
		if pub, ok := si.Certificate.PublicKey.(*rsa.PublicKey); ok && pub.N.BitLen() < 2048 {
			si.Weak = append(si.Weak, fmt.Sprintf("RSA key of %d bits", pub.N.BitLen()))
		}
	}
	return si, nil
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "sha1"
	case crypto.SHA224:
		return "sha224"
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	case crypto.MD5:
		return "md5"
	}
	return h.String()
}

func (si *SignerInfo) verify(contentType asn1.ObjectIdentifier, digests map[crypto.Hash][]byte, dh crypto.Hash, signedRaw []byte, sigAlg algorithmIdentifier, sig []byte, pool []*x509.Certificate) error {
	digest, ok := digests[dh]
	if !ok {
		return syntaxError("the signer's digest algorithm is not listed in digestAlgorithms")
	}
	if si.Certificate == nil {
		return errNoSignerCertificate
	}
	var msg []byte // what the signature covers: the DER signed attributes
	if signedRaw != nil {
		attrs, err := parseAttributes(signedRaw)
		if err != nil {
			return err
		}
		si.SignedAttributes = attrs
		if err := checkSignedAttributes(si, attrs, contentType, digest); err != nil {
			return err
		}
		msg = signedRaw
	} else if !contentType.Equal(OIDData) {
		return syntaxError("signed attributes are required for content other than id-data")
	}
	return verifySignature(si, inheritDSAParameters(si.Certificate, pool), dh, msg, digest, sigAlg, sig)
}

func checkSignedAttributes(si *SignerInfo, attrs []Attribute, contentType asn1.ObjectIdentifier, digest []byte) error {
	var gotCT, gotMD bool
	for _, a := range attrs {
		switch {
		case a.Type.Equal(oidAttrContentType):
			var oid asn1.ObjectIdentifier
			if gotCT || len(a.Values) != 1 {
				return syntaxError("content-type attribute must appear once with one value")
			}
			if rest, err := asn1.Unmarshal(a.Values[0], &oid); err != nil || len(rest) > 0 {
				return syntaxError("bad content-type attribute")
			}
			if !oid.Equal(contentType) {
				return fmt.Errorf("%w: content-type attribute %v does not match content type %v", ErrBadSignature, oid, contentType)
			}
			gotCT = true
		case a.Type.Equal(oidAttrMessageDigest):
			var md []byte
			if gotMD || len(a.Values) != 1 {
				return syntaxError("message-digest attribute must appear once with one value")
			}
			if rest, err := asn1.Unmarshal(a.Values[0], &md); err != nil || len(rest) > 0 {
				return syntaxError("bad message-digest attribute")
			}
			if !bytes.Equal(md, digest) {
				return fmt.Errorf("%w: the content does not match the message-digest attribute (content altered)", ErrBadSignature)
			}
			gotMD = true
		case a.Type.Equal(oidAttrSigningTime):
			if len(a.Values) == 1 {
				var t time.Time
				if _, err := asn1.Unmarshal(a.Values[0], &t); err == nil {
					si.SigningTime = t
				}
			}
		}
	}
	if !gotCT || !gotMD {
		return syntaxError("signed attributes lack content-type or message-digest")
	}
	return nil
}

func parseAttributes(set []byte) ([]Attribute, error) {
	s := cryptobyte.String(set)
	var body cryptobyte.String
	if !s.ReadASN1(&body, cbasn1.SET) {
		return nil, syntaxError("bad attributes")
	}
	var out []Attribute
	for !body.Empty() {
		var a, vals cryptobyte.String
		var at Attribute
		if !body.ReadASN1(&a, cbasn1.SEQUENCE) || !a.ReadASN1ObjectIdentifier(&at.Type) || !a.ReadASN1(&vals, cbasn1.SET) {
			return nil, syntaxError("bad attribute")
		}
		for !vals.Empty() {
			var v cryptobyte.String
			var tag cbasn1.Tag
			if !vals.ReadAnyASN1Element(&v, &tag) {
				return nil, syntaxError("bad attribute value")
			}
			at.Values = append(at.Values, v)
		}
		out = append(out, at)
	}
	return out, nil
}

func findByIssuerSerial(pool []*x509.Certificate, issuer []byte, serial *big.Int) *x509.Certificate {
	for _, c := range pool {
		if c.SerialNumber.Cmp(serial) == 0 && bytes.Equal(c.RawIssuer, issuer) {
			return c
		}
	}
	var want pkix.RDNSequence
	if _, err := asn1.Unmarshal(issuer, &want); err != nil {
		return nil
	}
	var wn pkix.Name
	wn.FillFromRDNSequence(&want)
	for _, c := range pool {
		if c.SerialNumber.Cmp(serial) == 0 && c.Issuer.String() == wn.String() {
			return c
		}
	}
	return nil
}

func findBySKI(pool []*x509.Certificate, ski []byte) *x509.Certificate {
	for _, c := range pool {
		if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, ski) {
			return c
		}
	}
	return nil
}

// verifySignature checks sig over msg (the DER signed attributes) or, when
// msg is nil, over the content digest.
func verifySignature(si *SignerInfo, pub crypto.PublicKey, dh crypto.Hash, msg, contentDigest []byte, alg algorithmIdentifier, sig []byte) error {
	digestOf := func(h crypto.Hash) []byte {
		if msg == nil {
			return contentDigest
		}
		hh := h.New()
		hh.Write(msg)
		return hh.Sum(nil)
	}
	bad := func(err error) error {
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		return nil
	}
	switch {
	case alg.OID.Equal(oidRSAEncryption), alg.OID.Equal(oidSHA256WithRSA), alg.OID.Equal(oidSHA384WithRSA),
		alg.OID.Equal(oidSHA512WithRSA), alg.OID.Equal(oidSHA1WithRSA), alg.OID.Equal(oidSHA224WithRSA), alg.OID.Equal(oidMD5WithRSA):
		si.SignatureAlgorithm = "rsa-pkcs1v15"
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: RSA signature from a non-RSA key", ErrBadSignature)
		}
		if h := rsaSigHash(alg.OID); h != 0 && h != dh {
			if msg == nil {
				return fmt.Errorf("%w: signature and digest algorithms disagree", ErrBadSignature)
			}
			dh = h
		}
		return bad(rsa.VerifyPKCS1v15(k, dh, digestOf(dh), sig))
	case alg.OID.Equal(oidRSAPSS):
		si.SignatureAlgorithm = "rsa-pss"
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: RSA-PSS signature from a non-RSA key", ErrBadSignature)
		}
		ph, salt, err := parsePSSParams(alg.Params)
		if err != nil {
			return err
		}
		if IsWeakHash(ph) {
			si.Weak = append(si.Weak, "PSS hash "+hashName(ph))
		}
		if msg == nil && ph != dh {
			return fmt.Errorf("%w: signature and digest algorithms disagree", ErrBadSignature)
		}
		return bad(rsa.VerifyPSS(k, ph, digestOf(ph), sig, &rsa.PSSOptions{SaltLength: salt, Hash: ph}))
	case alg.OID.Equal(oidECPublicKey), alg.OID.Equal(oidECDSAWithSHA256), alg.OID.Equal(oidECDSAWithSHA384),
		alg.OID.Equal(oidECDSAWithSHA512), alg.OID.Equal(oidECDSAWithSHA1), alg.OID.Equal(oidECDSAWithSHA224):
		si.SignatureAlgorithm = "ecdsa"
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: ECDSA signature from a non-EC key", ErrBadSignature)
		}
		if h := ecdsaSigHash(alg.OID); h != 0 && h != dh && msg != nil {
			dh = h
		}
		if !ecdsa.VerifyASN1(k, digestOf(dh), sig) {
			return fmt.Errorf("%w: ECDSA verification failed", ErrBadSignature)
		}
		return nil
	case alg.OID.Equal(oidEd25519):
		si.SignatureAlgorithm = "ed25519"
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("%w: Ed25519 signature from another key type", ErrBadSignature)
		}
		if msg == nil {
			return unsupported("Ed25519 signature without signed attributes")
		}
		if !ed25519.Verify(k, msg, sig) {
			return fmt.Errorf("%w: Ed25519 verification failed", ErrBadSignature)
		}
		return nil
	case alg.OID.Equal(oidDSA), alg.OID.Equal(oidDSAWithSHA1), alg.OID.Equal(oidDSAWithSHA256):
		si.SignatureAlgorithm = "dsa"
		si.Weak = append(si.Weak, "DSA signature")
		return verifyDSA(pub, digestOf(dh), sig)
	}
	return unsupported("signature algorithm %v", alg.OID)
}

func rsaSigHash(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(oidSHA256WithRSA):
		return crypto.SHA256
	case oid.Equal(oidSHA384WithRSA):
		return crypto.SHA384
	case oid.Equal(oidSHA512WithRSA):
		return crypto.SHA512
	case oid.Equal(oidSHA1WithRSA):
		return crypto.SHA1
	case oid.Equal(oidSHA224WithRSA):
		return crypto.SHA224
	case oid.Equal(oidMD5WithRSA):
		return crypto.MD5
	}
	return 0
}

func ecdsaSigHash(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(oidECDSAWithSHA256):
		return crypto.SHA256
	case oid.Equal(oidECDSAWithSHA384):
		return crypto.SHA384
	case oid.Equal(oidECDSAWithSHA512):
		return crypto.SHA512
	case oid.Equal(oidECDSAWithSHA1):
		return crypto.SHA1
	case oid.Equal(oidECDSAWithSHA224):
		return crypto.SHA224
	}
	return 0
}

// parsePSSParams reads RSASSA-PSS-params; the MGF must be MGF1 with the same hash.
func parsePSSParams(p []byte) (crypto.Hash, int, error) {
	h, salt := crypto.SHA1, 20
	if len(p) == 0 {
		return h, salt, nil
	}
	s := cryptobyte.String(p)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return 0, 0, syntaxError("bad RSASSA-PSS parameters")
	}
	mgfHash := crypto.SHA1
	if seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific().Constructed()) {
		var x cryptobyte.String
		seq.ReadASN1(&x, cbasn1.Tag(0).ContextSpecific().Constructed())
		a, err := parseAlgorithmIdentifier(&x)
		if err != nil {
			return 0, 0, err
		}
		var ok bool
		if h, ok = hashFromOID(a.OID); !ok {
			return 0, 0, unsupported("PSS hash %v", a.OID)
		}
	}
	if seq.PeekASN1Tag(cbasn1.Tag(1).ContextSpecific().Constructed()) {
		var x cryptobyte.String
		seq.ReadASN1(&x, cbasn1.Tag(1).ContextSpecific().Constructed())
		a, err := parseAlgorithmIdentifier(&x)
		if err != nil || !a.OID.Equal(oidMGF1) {
			return 0, 0, unsupported("PSS mask generation function")
		}
		ps := cryptobyte.String(a.Params)
		inner, err := parseAlgorithmIdentifier(&ps)
		if err != nil {
			return 0, 0, err
		}
		var ok bool
		if mgfHash, ok = hashFromOID(inner.OID); !ok {
			return 0, 0, unsupported("MGF1 hash %v", inner.OID)
		}
	}
	if seq.PeekASN1Tag(cbasn1.Tag(2).ContextSpecific().Constructed()) {
		var x cryptobyte.String
		var n int64
		if !seq.ReadASN1(&x, cbasn1.Tag(2).ContextSpecific().Constructed()) || !x.ReadASN1Integer(&n) || n < 0 || n > 1024 {
			return 0, 0, syntaxError("bad PSS salt length")
		}
		salt = int(n)
	}
	if mgfHash != h {
		return 0, 0, unsupported("PSS with MGF1 hash different from the message hash")
	}
	return h, salt, nil
}
