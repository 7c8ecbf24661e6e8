//lint:file-ignore SA1019 DSA is verified only, for legacy certificates such as PKITS 4.1.4

package trust

import (
	"crypto"
	"crypto/dsa"
	"crypto/x509"
	"errors"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// checkDSA verifies a DSA signature, which Go's CheckSignature refuses.
func checkDSA(issuer *x509.Certificate, alg x509.SignatureAlgorithm, signed, sig []byte) error {
	k, ok := issuer.PublicKey.(*dsa.PublicKey)
	if !ok {
		return errors.New("DSA signature from a non-DSA key")
	}
	if k.P == nil || k.Q == nil || k.G == nil || k.Y == nil || k.P.Sign() <= 0 || k.Q.Sign() <= 0 {
		return errors.New("DSA key without parameters")
	}
	var h crypto.Hash
	switch alg {
	case x509.DSAWithSHA1:
		h = crypto.SHA1
	case x509.DSAWithSHA256:
		h = crypto.SHA256
	default:
		return errors.New("unsupported DSA signature algorithm")
	}
	hh := h.New()
	hh.Write(signed)
	digest := hh.Sum(nil)
	r, s := new(big.Int), new(big.Int)
	in := cryptobyte.String(sig)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return errors.New("malformed DSA signature")
	}
	if !dsa.Verify(k, digest, r, s) {
		return errors.New("DSA verification failed")
	}
	return nil
}
