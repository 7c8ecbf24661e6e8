package upstream

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"sort"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
)

// CertsOnly encodes certificates as a PKCS #7 / CMS certs-only SignedData
// (RFC 5652 §5: no content, no signers) in DER, the form of
// userSMIMECertificate. Duplicates are left out; the certificates SET is
// in DER order, so the same certificates always give the same bytes.
func CertsOnly(certs []*x509.Certificate) []byte {
	var raws [][]byte
	seen := map[string]bool{}
	for _, c := range certs {
		if c == nil || seen[string(c.Raw)] {
			continue
		}
		seen[string(c.Raw)] = true
		raws = append(raws, c.Raw)
	}
	sort.Slice(raws, func(i, j int) bool { return bytes.Compare(raws[i], raws[j]) < 0 })

	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(ci *cryptobyte.Builder) {
		ci.AddASN1ObjectIdentifier(oidSignedData)
		ci.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(explicit *cryptobyte.Builder) {
			explicit.AddASN1(cbasn1.SEQUENCE, func(sd *cryptobyte.Builder) {
				sd.AddASN1Int64(1)
				sd.AddASN1(cbasn1.SET, func(*cryptobyte.Builder) {}) // digestAlgorithms
				sd.AddASN1(cbasn1.SEQUENCE, func(eci *cryptobyte.Builder) {
					eci.AddASN1ObjectIdentifier(oidData)
				})
				if len(raws) > 0 {
					sd.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(cs *cryptobyte.Builder) {
						for _, r := range raws {
							cs.AddBytes(r)
						}
					})
				}
				sd.AddASN1(cbasn1.SET, func(*cryptobyte.Builder) {}) // signerInfos
			})
		})
	})
	return b.BytesOrPanic()
}
