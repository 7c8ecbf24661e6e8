package cms

import (
	"crypto/x509"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// EncryptionKeyPreferenceAttribute builds the SMIMEEncryptionKeyPreference
// signed attribute (RFC 8551 2.5.3): it tells correspondents which
// certificate to encrypt to, identified by issuer and serial number.
func EncryptionKeyPreferenceAttribute(c *x509.Certificate) Attribute {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
		b.AddBytes(c.RawIssuer)
		b.AddASN1BigInt(c.SerialNumber)
	})
	return Attribute{Type: OIDAttrEncryptionKeyPreference, Values: [][]byte{b.BytesOrPanic()}}
}

// EncryptionKeyPreference is the certificate a signer asks to be encrypted
// to: by issuer and serial number, or by subject key identifier.
type EncryptionKeyPreference struct {
	Issuer       []byte // DER Name
	SerialNumber *big.Int
	SubjectKeyID []byte
}

// Matches reports whether c is the preferred certificate.
func (p *EncryptionKeyPreference) Matches(c *x509.Certificate) bool {
	return idMatches(c, p.Issuer, p.SerialNumber, p.SubjectKeyID)
}

// ParseEncryptionKeyPreference finds the SMIMEEncryptionKeyPreference in
// signed attributes; nil when absent or not understood.
func ParseEncryptionKeyPreference(attrs []Attribute) *EncryptionKeyPreference {
	for _, a := range attrs {
		if !a.Type.Equal(OIDAttrEncryptionKeyPreference) || len(a.Values) != 1 {
			continue
		}
		s := cryptobyte.String(a.Values[0])
		switch {
		case s.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific().Constructed()):
			var ias, name cryptobyte.String
			serial := new(big.Int)
			if s.ReadASN1(&ias, cbasn1.Tag(0).ContextSpecific().Constructed()) &&
				ias.ReadASN1Element(&name, cbasn1.SEQUENCE) && ias.ReadASN1Integer(serial) {
				return &EncryptionKeyPreference{Issuer: name, SerialNumber: serial}
			}
		case s.PeekASN1Tag(cbasn1.Tag(2).ContextSpecific()):
			var ski cryptobyte.String
			if s.ReadASN1(&ski, cbasn1.Tag(2).ContextSpecific()) {
				return &EncryptionKeyPreference{SubjectKeyID: ski}
			}
		}
	}
	return nil
}
