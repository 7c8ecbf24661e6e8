package ca

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/zmap/zlint/v3"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// statusDB is a Lookup over a map, safe for concurrent use.
type statusDB struct {
	mu   sync.Mutex
	m    map[string]CertStatus // issuer KeyID + serial
	fail bool
}

func (db *statusDB) set(issuer *x509.Certificate, serial *big.Int, s CertStatus) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.m == nil {
		db.m = map[string]CertStatus{}
	}
	db.m[KeyID(issuer)+serial.String()] = s
}

func (db *statusDB) lookup(issuer *x509.Certificate, serial *big.Int) (CertStatus, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.fail {
		return CertStatus{}, errors.New("database down")
	}
	return db.m[KeyID(issuer)+serial.String()], nil
}

// ocspFixture is a CA, a good and a revoked leaf, and a responder.
type ocspFixture struct {
	ca            *testCA
	good, revoked *x509.Certificate
	revokedAt     time.Time
	db            *statusDB
	responder     *Responder
	now           time.Time
}

func newOCSPFixture(t testing.TB, typ string) *ocspFixture {
	t.Helper()
	f := &ocspFixture{ca: newTestCA(t, typ), db: &statusDB{}, now: time.Now().UTC().Truncate(time.Second)}
	f.good, _ = f.ca.issue(t, "good@example.com", keyP256, Sign, Strict)
	f.revoked, _ = f.ca.issue(t, "revoked@example.com", keyP256, Encrypt, Multipurpose)
	f.revokedAt = f.now.Add(-time.Hour)
	f.db.set(f.ca.issuing, f.good.SerialNumber, CertStatus{Status: StatusGood})
	f.db.set(f.ca.issuing, f.revoked.SerialNumber, CertStatus{Status: StatusRevoked, RevokedAt: f.revokedAt, Reason: KeyCompromise})
	f.responder = &Responder{
		CAs:    []Authority{{Cert: f.ca.issuing, Key: f.ca.issuingKey}},
		Lookup: f.db.lookup,
		Now:    func() time.Time { return f.now },
	}
	return f
}

func createRequest(t testing.TB, cert, issuer *x509.Certificate, h crypto.Hash) []byte {
	t.Helper()
	der, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var hashOIDsByHash = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   {1, 3, 14, 3, 2, 26},
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
}

// buildRequest writes an OCSPRequest for serials of issuers, with a nonce
// extension when nonce is not nil.
func buildRequest(issuers []*x509.Certificate, serials []*big.Int, nonce []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for i, iss := range issuers {
					bits, _ := publicKeyBits(iss.RawSubjectPublicKeyInfo)
					nh, kh := sha1.Sum(iss.RawSubject), sha1.Sum(bits)
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1ObjectIdentifier(hashOIDsByHash[crypto.SHA1])
								b.AddASN1NULL()
							})
							b.AddASN1OctetString(nh[:])
							b.AddASN1OctetString(kh[:])
							b.AddASN1BigInt(serials[i])
						})
					})
				}
			})
			if nonce != nil {
				b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidNonce)
							b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
								b.AddASN1OctetString(nonce)
							})
						})
					})
				})
			}
		})
	})
	return b.BytesOrPanic()
}

// responseNonce digs the nonce out of a response's responseExtensions
// (golang.org/x/crypto/ocsp does not read them).
func responseNonce(t testing.TB, der []byte) []byte {
	t.Helper()
	var resp struct {
		Status asn1.Enumerated
		Bytes  struct {
			Type     asn1.ObjectIdentifier
			Response []byte
		} `asn1:"explicit,tag:0"`
	}
	var basic struct {
		TBS asn1.RawValue
	}
	var tbs struct {
		ID         asn1.RawValue
		ProducedAt time.Time `asn1:"generalized"`
		Responses  asn1.RawValue
		Extensions []struct {
			ID    asn1.ObjectIdentifier
			Value []byte
		} `asn1:"explicit,tag:1,optional"`
	}
	if _, err := asn1.Unmarshal(der, &resp); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(basic.TBS.FullBytes, &tbs); err != nil {
		t.Fatal(err)
	}
	for _, e := range tbs.Extensions {
		if e.ID.Equal(oidNonce) {
			var n []byte
			if _, err := asn1.Unmarshal(e.Value, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return nil
}

func TestOCSPStatuses(t *testing.T) {
	for _, typ := range caKeyTypes {
		t.Run(typ, func(t *testing.T) {
			f := newOCSPFixture(t, typ)
			unknown, _ := f.ca.issue(t, "unrecorded@example.com", keyP256, Sign, Strict)
			for _, tc := range []struct {
				cert   *x509.Certificate
				hash   crypto.Hash
				status int
			}{
				{f.good, crypto.SHA1, ocsp.Good},
				{f.good, crypto.SHA256, ocsp.Good},
				{f.revoked, crypto.SHA1, ocsp.Revoked},
				{unknown, crypto.SHA1, ocsp.Unknown},
			} {
				der, err := f.responder.Respond(createRequest(t, tc.cert, f.ca.issuing, tc.hash), f.now)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := ocsp.ParseResponseForCert(der, tc.cert, f.ca.issuing)
				if err != nil {
					t.Fatalf("%s: %v", tc.cert.Subject.CommonName, err)
				}
				if resp.Status != tc.status {
					t.Errorf("%s: status %d, want %d", tc.cert.Subject.CommonName, resp.Status, tc.status)
				}
				if resp.IssuerHash != tc.hash {
					t.Errorf("CertID hash %v, want the request's %v", resp.IssuerHash, tc.hash)
				}
				if !resp.ThisUpdate.Equal(f.now) || !resp.ProducedAt.Equal(f.now) || resp.NextUpdate.Sub(resp.ThisUpdate) != DefaultOCSPValidity {
					t.Errorf("producedAt %v thisUpdate %v nextUpdate %v (now %v)", resp.ProducedAt, resp.ThisUpdate, resp.NextUpdate, f.now)
				}
				if resp.SignatureAlgorithm != f.ca.issuing.SignatureAlgorithm {
					t.Errorf("signed with %v, want %v", resp.SignatureAlgorithm, f.ca.issuing.SignatureAlgorithm)
				}
				bits, _ := publicKeyBits(f.ca.issuing.RawSubjectPublicKeyInfo)
				if kh := sha1.Sum(bits); !bytes.Equal(resp.ResponderKeyHash, kh[:]) {
					t.Errorf("responder ID %x, want byKey %x", resp.ResponderKeyHash, kh)
				}
				if tc.status == ocsp.Revoked && (!resp.RevokedAt.Equal(f.revokedAt) || resp.RevocationReason != ocsp.KeyCompromise) {
					t.Errorf("revoked at %v for %d, want %v for keyCompromise", resp.RevokedAt, resp.RevocationReason, f.revokedAt)
				}
				rs := zlint.LintOcspResponse(resp)
				if len(rs.Results) == 0 {
					t.Error("no OCSP lint ran")
				}
				if rs := findings(rs); len(rs) > 0 {
					t.Errorf("zlint: %s", describe(rs))
				}
			}
		})
	}
}

func TestOCSPNonce(t *testing.T) {
	f := newOCSPFixture(t, keyP384)
	for _, n := range [][]byte{bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 32), {1}} {
		der, err := f.responder.Respond(buildRequest([]*x509.Certificate{f.ca.issuing}, []*big.Int{f.good.SerialNumber}, n), f.now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ocsp.ParseResponseForCert(der, f.good, f.ca.issuing); err != nil {
			t.Fatal(err)
		}
		if got := responseNonce(t, der); !bytes.Equal(got, n) {
			t.Errorf("nonce %x echoed as %x", n, got)
		}
	}
	// RFC 8954: nonces over 32 octets need not be echoed; the answer still comes.
	der, _ := f.responder.Respond(buildRequest([]*x509.Certificate{f.ca.issuing}, []*big.Int{f.good.SerialNumber}, make([]byte, 33)), f.now)
	if _, err := ocsp.ParseResponseForCert(der, f.good, f.ca.issuing); err != nil {
		t.Fatal(err)
	}
	if got := responseNonce(t, der); got != nil {
		t.Errorf("33-octet nonce echoed: %x", got)
	}
	// Without a nonce there is none in the answer.
	der, _ = f.responder.Respond(createRequest(t, f.good, f.ca.issuing, crypto.SHA1), f.now)
	if got := responseNonce(t, der); got != nil {
		t.Errorf("nonce %x in an answer to a request without one", got)
	}
}

func wantResponseError(t *testing.T, der []byte, want ocsp.ResponseStatus) {
	t.Helper()
	_, err := ocsp.ParseResponse(der, nil)
	var re ocsp.ResponseError
	if !errors.As(err, &re) || re.Status != want {
		t.Errorf("got %v, want response status %v", err, want)
	}
}

func TestOCSPErrors(t *testing.T) {
	f := newOCSPFixture(t, keyP384)
	other := newTestCA(t, keyRSA4096)
	foreign, _ := other.issue(t, "x@example.com", keyP256, Sign, Strict)
	good := createRequest(t, f.good, f.ca.issuing, crypto.SHA1)
	for name, req := range map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("hello"),
		"trailing data":  append(append([]byte{}, good...), 0),
		"truncated":      good[:len(good)-1],
		"no certificate": buildRequest(nil, nil, nil),
	} {
		t.Run(name, func(t *testing.T) {
			der, err := f.responder.Respond(req, f.now)
			if err != nil {
				t.Fatal(err)
			}
			wantResponseError(t, der, ocsp.Malformed)
		})
	}
	t.Run("other issuer", func(t *testing.T) {
		der, _ := f.responder.Respond(createRequest(t, foreign, other.issuing, crypto.SHA1), f.now)
		wantResponseError(t, der, ocsp.Unauthorized)
	})
	t.Run("root", func(t *testing.T) {
		// The root is not among the responder's CAs (its key is offline).
		der, _ := f.responder.Respond(createRequest(t, f.ca.issuing, f.ca.root, crypto.SHA1), f.now)
		wantResponseError(t, der, ocsp.Unauthorized)
	})
	t.Run("lookup fails", func(t *testing.T) {
		f.db.mu.Lock()
		f.db.fail = true
		f.db.mu.Unlock()
		defer func() { f.db.mu.Lock(); f.db.fail = false; f.db.mu.Unlock() }()
		der, _ := f.responder.Respond(good, f.now)
		wantResponseError(t, der, ocsp.TryLater)
	})
	t.Run("bad validity", func(t *testing.T) {
		r := *f.responder
		r.Validity = time.Hour
		if _, err := r.Respond(good, f.now); !errors.Is(err, ErrValidity) {
			t.Errorf("got %v, want ErrValidity", err)
		}
	})
}

func TestOCSPSeveralCAs(t *testing.T) {
	f := newOCSPFixture(t, keyP384)
	other := newTestCA(t, keyRSA4096)
	foreign, _ := other.issue(t, "x@example.com", keyP256, Sign, Strict)
	f.db.set(other.issuing, foreign.SerialNumber, CertStatus{Status: StatusRevoked, RevokedAt: f.now, Reason: Superseded})
	f.responder.CAs = append(f.responder.CAs, Authority{Cert: other.issuing, Key: other.issuingKey})

	der, _ := f.responder.Respond(createRequest(t, foreign, other.issuing, crypto.SHA1), f.now)
	resp, err := ocsp.ParseResponseForCert(der, foreign, other.issuing)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.Superseded || resp.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("status %d reason %d signed %v", resp.Status, resp.RevocationReason, resp.SignatureAlgorithm)
	}
	// Two certificates in one request: the first one's CA signs, and a
	// certificate of another CA gets unknown.
	f.responder.CAs = f.responder.CAs[:1]
	der, _ = f.responder.Respond(buildRequest(
		[]*x509.Certificate{f.ca.issuing, other.issuing},
		[]*big.Int{f.revoked.SerialNumber, foreign.SerialNumber}, nil), f.now)
	for cert, want := range map[*x509.Certificate]int{f.revoked: ocsp.Revoked, foreign: ocsp.Unknown} {
		resp, err := ocsp.ParseResponseForCert(der, cert, f.ca.issuing)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != want {
			t.Errorf("%s: status %d, want %d", cert.Subject.CommonName, resp.Status, want)
		}
	}
}
