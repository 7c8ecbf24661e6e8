//lint:file-ignore SA1019 DSA keys are read for legacy certificates (PKITS 4.1.5)

package x509util

import (
	"crypto/dsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidDSA = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidCDP = asn1.ObjectIdentifier{2, 5, 29, 31}
)

// ParseLenient parses a DER certificate like x509.ParseCertificate, but
// also accepts two valid RFC 5280 forms Go's parser refuses: a
// cRLDistributionPoints extension using nameRelativeToCRLIssuer or
// non-URI names (the extension is kept in Extensions and processed by
// Validate), and a DSA key whose parameters are inherited from the issuer
// (PublicKey is then a *dsa.PublicKey with only Y set; Validate fills in
// the parameters from the issuing certificate).
func ParseLenient(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return c, nil
	}
	c2, err2 := parseLenient(der)
	if err2 != nil {
		return nil, err
	}
	return c2, nil
}

func parseLenient(der []byte) (*x509.Certificate, error) {
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("malformed certificate")
	}
	var tbsRaw cryptobyte.String
	if !cert.ReadASN1Element(&tbsRaw, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed tbsCertificate")
	}
	rest := []byte(cert)
	tbs = tbsRaw
	if !tbs.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed tbsCertificate")
	}
	var elems [][]byte
	var tags []cbasn1.Tag
	for !tbs.Empty() {
		var e cryptobyte.String
		var tag cbasn1.Tag
		if !tbs.ReadAnyASN1Element(&e, &tag) {
			return nil, errors.New("malformed tbsCertificate")
		}
		elems = append(elems, e)
		tags = append(tags, tag)
	}
	spkiIdx := 5
	if len(tags) > 0 && tags[0] == cbasn1.Tag(0).ContextSpecific().Constructed() {
		spkiIdx = 6
	}
	if len(elems) <= spkiIdx {
		return nil, errors.New("short tbsCertificate")
	}
	var dsaY *big.Int
	var exts []pkix.Extension
	changed := false
	// Negative serial number (RFC 5280 says positive; PKITS 4.4.15 has one
	// on a CRL): Go refuses it, so parse a stand-in and restore it.
	var negSerial *big.Int
	serialIdx := spkiIdx - 5
	{
		var n *big.Int
		if _, err := asn1.Unmarshal(elems[serialIdx], &n); err == nil && n.Sign() < 0 {
			negSerial = n
			elems[serialIdx], _ = asn1.Marshal(big.NewInt(1))
			changed = true
		}
	}
	// DSA key without parameters.
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(elems[spkiIdx], &spki); err == nil && spki.Algorithm.Algorithm.Equal(oidDSA) && len(spki.Algorithm.Parameters.FullBytes) == 0 {
		dsaY = new(big.Int)
		if _, err := asn1.Unmarshal(spki.Key.Bytes, &dsaY); err != nil {
			return nil, err
		}
		params, _ := asn1.Marshal(struct{ P, Q, G *big.Int }{big.NewInt(1), big.NewInt(1), big.NewInt(1)})
		spki.Algorithm.Parameters = asn1.RawValue{FullBytes: params}
		nb, err := asn1.Marshal(spki)
		if err != nil {
			return nil, err
		}
		elems[spkiIdx] = nb
		changed = true
	}
	// Extensions: drop cRLDistributionPoints for Go's parser.
	last := len(elems) - 1
	if tags[last] == cbasn1.Tag(3).ContextSpecific().Constructed() {
		var wrapper asn1.RawValue
		if _, err := asn1.Unmarshal(elems[last], &wrapper); err != nil {
			return nil, err
		}
		if _, err := asn1.Unmarshal(wrapper.Bytes, &exts); err != nil {
			return nil, err
		}
		var kept []pkix.Extension
		for _, e := range exts {
			if e.Id.Equal(oidCDP) {
				changed = true
				continue
			}
			kept = append(kept, e)
		}
		inner, err := asn1.Marshal(kept)
		if err != nil {
			return nil, err
		}
		nb, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 3, IsCompound: true, Bytes: inner})
		if err != nil {
			return nil, err
		}
		elems[last] = nb
	}
	if !changed {
		return nil, errors.New("nothing to work around")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, e := range elems {
				b.AddBytes(e)
			}
		})
		b.AddBytes(rest)
	})
	nder, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(nder)
	if err != nil {
		return nil, err
	}
	// Restore the original encoding so signatures and fingerprints hold.
	c.Raw = append([]byte(nil), der...)
	c.RawTBSCertificate = []byte(tbsRaw)
	if exts != nil {
		c.Extensions = exts
	}
	if negSerial != nil {
		c.SerialNumber = negSerial
	}
	if dsaY != nil {
		c.PublicKey = &dsa.PublicKey{Y: dsaY}
		c.RawSubjectPublicKeyInfo = originalSPKI(der, spkiIdx)
	}
	return c, nil
}

func originalSPKI(der []byte, idx int) []byte {
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	in.ReadASN1(&cert, cbasn1.SEQUENCE)
	cert.ReadASN1(&tbs, cbasn1.SEQUENCE)
	for i := 0; !tbs.Empty(); i++ {
		var e cryptobyte.String
		var tag cbasn1.Tag
		if !tbs.ReadAnyASN1Element(&e, &tag) {
			return nil
		}
		if i == idx {
			return []byte(e)
		}
	}
	return nil
}
