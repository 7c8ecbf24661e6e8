//lint:file-ignore SA1019 DSA is read only, for legacy signatures such as RFC 4134's

package cms

import (
	"bytes"
	"crypto"
	"crypto/dsa"
	"crypto/x509"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// verifyDSA checks a legacy DSA signature; DSA is never used to sign.
func verifyDSA(pub crypto.PublicKey, digest, sig []byte) error {
	k, ok := pub.(*dsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: DSA signature from a non-DSA key", ErrBadSignature)
	}
	if k.P == nil || k.Q == nil || k.G == nil || k.Y == nil {
		// Parameters inherited from the issuer (RFC 3279 2.3.2) are not
		// in the key itself.
		return unsupported("DSA key whose parameters are inherited from its issuer")
	}
	r, s := new(big.Int), new(big.Int)
	in := cryptobyte.String(sig)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return fmt.Errorf("%w: malformed DSA signature", ErrBadSignature)
	}
	if !dsa.Verify(k, digest, r, s) {
		return fmt.Errorf("%w: DSA verification failed", ErrBadSignature)
	}
	return nil
}

// inheritDSAParameters returns the certificate's public key, with DSA
// parameters taken from the nearest issuer up the chain (found in pool by
// name) whose key has them, when the certificate's own key has none
// (RFC 3279 2.3.2; RFC 4134 4.6, PKITS 4.1.5).
func inheritDSAParameters(c *x509.Certificate, pool []*x509.Certificate) crypto.PublicKey {
	k, ok := c.PublicKey.(*dsa.PublicKey)
	if !ok || k.P != nil {
		return c.PublicKey
	}
	cur := c
	for depth := 0; depth < 8; depth++ {
		var next *x509.Certificate
		for _, p := range pool {
			if p != cur && bytes.Equal(p.RawSubject, cur.RawIssuer) {
				if _, ok := p.PublicKey.(*dsa.PublicKey); ok {
					next = p
					break
				}
			}
		}
		if next == nil {
			break
		}
		if pk := next.PublicKey.(*dsa.PublicKey); pk.P != nil {
			return &dsa.PublicKey{Parameters: pk.Parameters, Y: k.Y}
		}
		cur = next
	}
	return c.PublicKey
}
