package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Status is what a CA knows of a serial number. The zero value is
// StatusUnknown, so that a lookup that finds nothing never answers good
// (BR 4.9.10).
type Status int

// Statuses.
const (
	StatusUnknown Status = iota // not issued by this CA, as far as it knows
	StatusGood
	StatusRevoked
)

// CertStatus is the answer to a Lookup.
type CertStatus struct {
	Status    Status
	RevokedAt time.Time // when StatusRevoked
	Reason    int       // when StatusRevoked: a reason constant (0: none given)
}

// Lookup reports the status of serial as issued by issuer. An error (a
// database failure, say) makes the responder answer tryLater.
type Lookup func(issuer *x509.Certificate, serial *big.Int) (CertStatus, error)

// Authority is a CA certificate with its key.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// OCSP response validity (BR 4.9.10: at least eight hours, at most ten
// days). Every answer is signed when asked, so it is always fresh.
const (
	DefaultOCSPValidity = 12 * time.Hour
	MinOCSPValidity     = 8 * time.Hour
	MaxOCSPValidity     = 10 * 24 * time.Hour
)

// MaxOCSPRequests is the most certificates one request may ask about.
const MaxOCSPRequests = 16

// Responder answers OCSP requests (RFC 6960, RFC 5019) for its CAs, each
// answer signed by the key of the CA that issued the certificate asked
// about. It is an [http.Handler]; a zero Now means time.Now and a zero
// Validity means DefaultOCSPValidity.
type Responder struct {
	CAs      []Authority
	Lookup   Lookup
	Now      func() time.Time
	Validity time.Duration
	Log      *slog.Logger // failures to sign; nil: slog.Default()
}

// OCSP response statuses (RFC 6960 4.2.1).
const (
	ocspSuccessful       = 0
	ocspMalformedRequest = 1
	ocspInternalError    = 2
	ocspTryLater         = 3
	ocspUnauthorized     = 6
)

// answer is a response with what the HTTP layer needs to know of it.
type answer struct {
	der                    []byte
	status                 int // OCSP response status
	thisUpdate, nextUpdate time.Time
	nonce                  bool
}

// Respond answers one DER OCSP request at now. The response is always a
// valid OCSPResponse to send back: malformedRequest for a request that does
// not parse, unauthorized when no CA of the responder issued the
// certificate, tryLater when the lookup fails. The error is non-nil only
// when signing failed (and the response is then internalError).
func (r *Responder) Respond(request []byte, now time.Time) ([]byte, error) {
	a, err := r.respond(request, now)
	return a.der, err
}

func (r *Responder) validity() (time.Duration, error) {
	v := r.Validity
	if v == 0 {
		v = DefaultOCSPValidity
	}
	if v < MinOCSPValidity || v > MaxOCSPValidity {
		return 0, fmt.Errorf("%w: OCSP validity %v (between %v and %v)", ErrValidity, v, MinOCSPValidity, MaxOCSPValidity)
	}
	return v, nil
}

func (r *Responder) respond(request []byte, now time.Time) (answer, error) {
	validity, err := r.validity()
	if err != nil {
		return errorAnswer(ocspInternalError), err
	}
	req, err := parseOCSPRequest(request)
	if err != nil {
		return errorAnswer(ocspMalformedRequest), nil
	}
	// The first certificate's issuer signs; other certificates from other
	// issuers are answered unknown (RFC 6960 2.2).
	ca, ok := r.find(req.ids[0])
	if !ok {
		return errorAnswer(ocspUnauthorized), nil
	}
	alg, err := signatureAlgorithm(ca.Key.Public())
	if err != nil {
		return errorAnswer(ocspInternalError), err
	}
	now = normalise(now)
	a := answer{status: ocspSuccessful, thisUpdate: now, nextUpdate: now.Add(validity), nonce: req.nonce != nil}
	singles := make([]single, 0, len(req.ids))
	for _, id := range req.ids {
		s := single{id: id, status: CertStatus{Status: StatusUnknown}}
		if id.matches(ca.Cert) {
			if r.Lookup == nil {
				return errorAnswer(ocspInternalError), errors.New("ca: responder has no lookup")
			}
			st, err := r.Lookup(ca.Cert, id.serial)
			if err != nil {
				return errorAnswer(ocspTryLater), nil
			}
			s.status = st
		}
		singles = append(singles, s)
	}
	tbs, err := responseData(ca.Cert, now, a.nextUpdate, singles, req.nonce)
	if err != nil {
		return errorAnswer(ocspInternalError), err
	}
	a.der, err = signResponse(ca.Key, alg, tbs)
	if err != nil {
		return errorAnswer(ocspInternalError), err
	}
	return a, nil
}

// find returns the CA a CertID names.
func (r *Responder) find(id certID) (Authority, bool) {
	for _, ca := range r.CAs {
		if ca.Cert != nil && ca.Key != nil && id.matches(ca.Cert) {
			return ca, true
		}
	}
	return Authority{}, false
}

func errorAnswer(status int) answer {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(int64(status))
	})
	return answer{der: b.BytesOrPanic(), status: status}
}

// certID is a parsed CertID with its DER, which the response repeats.
type certID struct {
	raw               []byte
	hash              crypto.Hash
	nameHash, keyHash []byte
	serial            *big.Int
	hashOK            bool // a known hash, with hashes of its size
}

var hashOIDs = map[string]crypto.Hash{
	"1.3.14.3.2.26":          crypto.SHA1,
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// matches reports whether the CertID's issuer hashes are ca's.
func (id certID) matches(ca *x509.Certificate) bool {
	if !id.hashOK {
		return false
	}
	bits, err := publicKeyBits(ca.RawSubjectPublicKeyInfo)
	if err != nil {
		return false
	}
	h := id.hash.New()
	h.Write(ca.RawSubject)
	if !bytes.Equal(h.Sum(nil), id.nameHash) {
		return false
	}
	h.Reset()
	h.Write(bits)
	return bytes.Equal(h.Sum(nil), id.keyHash)
}

type ocspRequest struct {
	ids   []certID
	nonce []byte // the whole extnValue of the nonce extension, to echo
}

var (
	oidNonce     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidOCSPBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
)

// parseOCSPRequest reads an OCSPRequest (RFC 6960 4.1.1). A signature, if
// any, is ignored: the responder does not require signed requests.
func parseOCSPRequest(der []byte) (*ocspRequest, error) {
	bad := errors.New("ca: malformed OCSP request")
	in := cryptobyte.String(der)
	var req, tbs cryptobyte.String
	if !in.ReadASN1(&req, cbasn1.SEQUENCE) || !in.Empty() || !req.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, bad
	}
	var version int64
	if !tbs.ReadOptionalASN1Integer(&version, cbasn1.Tag(0).Constructed().ContextSpecific(), int64(0)) || version != 0 {
		return nil, bad
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) { // requestorName
		return nil, bad
	}
	var list cryptobyte.String
	if !tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, bad
	}
	out := &ocspRequest{}
	for !list.Empty() {
		var one, raw cryptobyte.String
		if !list.ReadASN1(&one, cbasn1.SEQUENCE) || !one.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
			return nil, bad
		}
		id, ok := parseCertID(raw)
		if !ok || !one.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || !one.Empty() {
			return nil, bad
		}
		out.ids = append(out.ids, id)
	}
	if len(out.ids) == 0 || len(out.ids) > MaxOCSPRequests {
		return nil, bad
	}
	var exts cryptobyte.String
	var hasExts bool
	if !tbs.ReadOptionalASN1(&exts, &hasExts, cbasn1.Tag(2).Constructed().ContextSpecific()) || !tbs.Empty() {
		return nil, bad
	}
	if hasExts {
		nonce, err := findNonce(exts)
		if err != nil {
			return nil, bad
		}
		out.nonce = nonce
	}
	return out, nil
}

func parseCertID(raw cryptobyte.String) (certID, bool) {
	id := certID{raw: raw}
	var body, alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	var name, key []byte
	serial := new(big.Int)
	if !raw.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) ||
		!body.ReadASN1Bytes(&name, cbasn1.OCTET_STRING) || !body.ReadASN1Bytes(&key, cbasn1.OCTET_STRING) ||
		!body.ReadASN1Integer(serial) || !body.Empty() {
		return id, false
	}
	if !alg.Empty() && !alg.SkipASN1(cbasn1.NULL) || !alg.Empty() {
		return id, false
	}
	id.nameHash, id.keyHash, id.serial = name, key, serial
	id.hash, id.hashOK = hashOIDs[oid.String()]
	id.hashOK = id.hashOK && id.hash.Available() && len(name) == id.hash.Size() && len(key) == id.hash.Size()
	return id, true
}

// findNonce returns the extnValue of the nonce extension (RFC 8954), if its
// nonce is 1 to 32 octets long; longer or odd nonces are not echoed.
func findNonce(exts cryptobyte.String) ([]byte, error) {
	var list cryptobyte.String
	if !exts.ReadASN1(&list, cbasn1.SEQUENCE) || !exts.Empty() {
		return nil, errors.New("bad extensions")
	}
	for !list.Empty() {
		var ext cryptobyte.String
		var oid asn1.ObjectIdentifier
		var critical bool
		var value []byte
		if !list.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
			!ext.ReadOptionalASN1Boolean(&critical, cbasn1.BOOLEAN, false) ||
			!ext.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
			return nil, errors.New("bad extension")
		}
		if !oid.Equal(oidNonce) {
			continue
		}
		inner := cryptobyte.String(value)
		var n []byte
		if inner.ReadASN1Bytes(&n, cbasn1.OCTET_STRING) && inner.Empty() && len(n) >= 1 && len(n) <= 32 {
			return value, nil
		}
		return nil, nil
	}
	return nil, nil
}

type single struct {
	id     certID
	status CertStatus
}

// responseData builds the ResponseData (RFC 6960 4.2.1) with a byKey
// responder ID.
func responseData(ca *x509.Certificate, now, next time.Time, singles []single, nonce []byte) ([]byte, error) {
	bits, err := publicKeyBits(ca.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, err
	}
	keyHash := sha1.Sum(bits) // RFC 6960 4.2.1: KeyHash is SHA-1
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(keyHash[:])
		})
		b.AddASN1GeneralizedTime(now)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, s := range singles {
				addSingle(b, s, now, next)
			}
		})
		if nonce != nil {
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidNonce)
						b.AddASN1OctetString(nonce)
					})
				})
			})
		}
	})
	return b.Bytes()
}

func addSingle(b *cryptobyte.Builder, s single, now, next time.Time) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(s.id.raw)
		switch s.status.Status {
		case StatusGood:
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(*cryptobyte.Builder) {})
		case StatusRevoked:
			at := s.status.RevokedAt.UTC().Truncate(time.Second)
			if at.After(now) || at.IsZero() {
				at = now
			}
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1GeneralizedTime(at)
				// BR 7.3: a reason must be one allowed in CRLs, where
				// unspecified (0) is written as no reason at all.
				if _, ok := reasonNames[s.status.Reason]; ok && s.status.Reason != Unspecified {
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1Enum(int64(s.status.Reason))
					})
				}
			})
		default:
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(*cryptobyte.Builder) {})
		}
		b.AddASN1GeneralizedTime(now)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1GeneralizedTime(next)
		})
	})
}

// Signature AlgorithmIdentifiers, byte for byte as BR 7.1.3.2 give them.
var sigAlgIDs = map[x509.SignatureAlgorithm][]byte{
	x509.SHA256WithRSA:   {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00},
	x509.ECDSAWithSHA256: {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02},
	x509.ECDSAWithSHA384: {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03},
	x509.ECDSAWithSHA512: {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04},
	x509.PureEd25519:     {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70},
}

var sigHashes = map[x509.SignatureAlgorithm]crypto.Hash{
	x509.SHA256WithRSA:   crypto.SHA256,
	x509.ECDSAWithSHA256: crypto.SHA256,
	x509.ECDSAWithSHA384: crypto.SHA384,
	x509.ECDSAWithSHA512: crypto.SHA512,
	x509.PureEd25519:     0,
}

// signResponse wraps the signed ResponseData in a BasicOCSPResponse and an
// OCSPResponse.
func signResponse(key crypto.Signer, alg x509.SignatureAlgorithm, tbs []byte) ([]byte, error) {
	h := sigHashes[alg]
	digest := tbs
	if h != 0 {
		d := h.New()
		d.Write(tbs)
		digest = d.Sum(nil)
	}
	// A plain hash as SignerOpts: PKCS#1 v1.5 for RSA, as BR 7.1.3.2.1
	// allow; 0 for Ed25519, which signs the message itself.
	sig, err := key.Sign(rand.Reader, digest, h)
	if err != nil {
		return nil, fmt.Errorf("ca: signing the OCSP response: %w", err)
	}
	basic := cryptobyte.NewBuilder(nil)
	basic.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(sigAlgIDs[alg])
		b.AddASN1BitString(sig)
	})
	basicDER, err := basic.Bytes()
	if err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(ocspSuccessful)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidOCSPBasic)
				b.AddASN1OctetString(basicDER)
			})
		})
	})
	return b.Bytes()
}
