//lint:file-ignore SA1019 DSA keys are read for legacy certificates (PKITS 4.1.5)

package trust

import (
	"crypto/dsa"
	"crypto/x509"

	"github.com/signet-smime/signet/internal/x509util"
)

// ParseCertificate parses a DER certificate like x509.ParseCertificate, but
// also accepts the valid RFC 5280 forms Go's parser refuses (see
// x509util.ParseLenient): distribution points relative to the CRL issuer,
// DSA keys whose parameters are inherited from the issuer, negative serials.
func ParseCertificate(der []byte) (*x509.Certificate, error) { return x509util.ParseLenient(der) }

// withInheritedDSA returns c, or a shallow copy of c whose DSA key is
// completed with the parameters of issuer's key when c's key has none
// (RFC 5280 §6.1.4 (l)-(m), working_public_key_parameters).
func withInheritedDSA(c, issuer *x509.Certificate) *x509.Certificate {
	k, ok := c.PublicKey.(*dsa.PublicKey)
	if !ok || k.P != nil {
		return c
	}
	ik, ok := issuer.PublicKey.(*dsa.PublicKey)
	if !ok || ik.P == nil {
		return c
	}
	cc := *c
	cc.PublicKey = &dsa.PublicKey{Parameters: ik.Parameters, Y: k.Y}
	return &cc
}
