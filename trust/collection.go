// Package trust holds what certificate validation trusts: the trust
// collection of anchors and intermediates, read from and written to the
// forms administrators exchange (Microsoft serialized stores, PKCS #7
// certs-only bundles, PEM and DER).
package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/signet-smime/signet/internal/keyfile"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Import formats, as [Import] reports them.
const (
	FormatSST   = "sst"
	FormatPKCS7 = "pkcs7"
	FormatPEM   = "pem"
	FormatDER   = "der"
)

// Kinds of collection certificates (the same strings as store.TrustAnchor
// and store.TrustIntermediate).
const (
	KindAnchor       = "anchor"
	KindIntermediate = "intermediate"
)

// ErrNotCA is returned for an end-entity certificate offered to the
// collection.
var ErrNotCA = errors.New("the trust collection holds CA certificates")

// Import reads the certificates of data, detecting its format: a
// serialized certificate store (SST), a PEM bundle (certificates or
// PKCS #7), a DER certificate (or several concatenated) or a DER/BER
// PKCS #7 certs-only bundle. Duplicates within data are dropped. A file
// with no certificate is an error.
func Import(data []byte) (certs []*x509.Certificate, format string, err error) {
	switch {
	case IsSST(data):
		certs, err = ParseSST(data)
		format = FormatSST
	case bytes.Contains(data, []byte("-----BEGIN")):
		certs, err = keyfile.ParseCertificates(data)
		format = FormatPEM
	default:
		if _, derr := x509.ParseCertificates(data); derr == nil {
			format = FormatDER
		} else {
			format = FormatPKCS7
		}
		certs, err = keyfile.ParseCertificates(data)
		if err != nil {
			err = errors.New("not a certificate file (SST, PKCS #7, PEM or DER expected)")
		}
	}
	if err != nil {
		return nil, "", err
	}
	certs = Dedup(certs)
	if len(certs) == 0 {
		return nil, "", fmt.Errorf("no certificate in the %s data", format)
	}
	return certs, format, nil
}

// Fingerprint is the lower-case SHA-256 hex of a certificate's DER.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Dedup returns certs without repeated certificates (same DER), keeping
// the first of each.
func Dedup(certs []*x509.Certificate) []*x509.Certificate {
	seen := map[string]bool{}
	var out []*x509.Certificate
	for _, c := range certs {
		if fp := Fingerprint(c); !seen[fp] {
			seen[fp] = true
			out = append(out, c)
		}
	}
	return out
}

// selfIssued reports whether c names itself as its issuer.
func selfIssued(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }

// isCA reports whether c may be in the collection: a CA certificate, or a
// self-issued certificate without basic constraints (old version 1 roots).
func isCA(c *x509.Certificate) bool {
	if c.BasicConstraintsValid {
		return c.IsCA
	}
	return selfIssued(c)
}

// issuedBy reports whether parent's name (and key identifier, when both
// carry one) matches c's issuer. Signatures are not checked here: a SHA-1
// signed intermediate is still an intermediate.
func issuedBy(c, parent *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
		return false
	}
	if len(c.AuthorityKeyId) > 0 && len(parent.SubjectKeyId) > 0 {
		return bytes.Equal(c.AuthorityKeyId, parent.SubjectKeyId)
	}
	return true
}

// Kind says what c is in a collection holding set: an anchor when it is
// self-issued or no other certificate of set issued it, an intermediate
// when one did. End-entity certificates are refused with [ErrNotCA].
func Kind(c *x509.Certificate, set []*x509.Certificate) (string, error) {
	if !isCA(c) {
		return "", fmt.Errorf("%w: %q is an end-entity certificate", ErrNotCA, c.Subject.String())
	}
	if selfIssued(c) {
		return KindAnchor, nil
	}
	for _, p := range set {
		if p != c && !bytes.Equal(p.Raw, c.Raw) && isCA(p) && issuedBy(c, p) {
			return KindIntermediate, nil
		}
	}
	return KindAnchor, nil
}

// Classify returns the kind of each of certs in a collection holding certs
// and existing; it fails on the first end-entity certificate.
func Classify(certs, existing []*x509.Certificate) ([]string, error) {
	set := append(slices.Clone(existing), certs...)
	kinds := make([]string, len(certs))
	for i, c := range certs {
		k, err := Kind(c, set)
		if err != nil {
			return nil, err
		}
		kinds[i] = k
	}
	return kinds, nil
}

var (
	oidSignedData = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02} // 1.2.840.113549.1.7.2
	oidData       = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01} // 1.2.840.113549.1.7.1
)

// WriteP7B writes certs as a DER PKCS #7 certs-only bundle (.p7b): a
// ContentInfo holding a version 1 SignedData with no digest algorithms, an
// id-data content without content, the certificates (in DER SET OF order)
// and no signers.
func WriteP7B(certs []*x509.Certificate) []byte {
	raws := make([][]byte, 0, len(certs))
	for _, c := range certs {
		raws = append(raws, c.Raw)
	}
	slices.SortFunc(raws, bytes.Compare)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(ci *cryptobyte.Builder) {
		ci.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(o *cryptobyte.Builder) { o.AddBytes(oidSignedData) })
		ci.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(e *cryptobyte.Builder) {
			e.AddASN1(cbasn1.SEQUENCE, func(sd *cryptobyte.Builder) {
				sd.AddASN1Int64(1)
				sd.AddASN1(cbasn1.SET, func(*cryptobyte.Builder) {})
				sd.AddASN1(cbasn1.SEQUENCE, func(eci *cryptobyte.Builder) {
					eci.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(o *cryptobyte.Builder) { o.AddBytes(oidData) })
				})
				sd.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(cs *cryptobyte.Builder) {
					for _, r := range raws {
						cs.AddBytes(r)
					}
				})
				sd.AddASN1(cbasn1.SET, func(*cryptobyte.Builder) {})
			})
		})
	})
	return b.BytesOrPanic()
}

// WritePEM writes certs as a PEM bundle of CERTIFICATE blocks.
func WritePEM(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}
