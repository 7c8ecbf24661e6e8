package pkcs12

import (
	"crypto"
	"crypto/x509"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// parsePrivateKey parses a PKCS #8 PrivateKeyInfo (or OneAsymmetricKey)
// with crypto/x509, after checking for the key kinds that crypto/x509
// cannot represent so that they get a clear error.
func parsePrivateKey(der []byte) (crypto.PrivateKey, error) {
	input := cryptobyte.String(der)
	var seq, privKey cryptobyte.String
	var version int64
	var alg algorithmIdentifier
	if !input.ReadASN1(&seq, cbasn1.SEQUENCE) || !input.Empty() ||
		!seq.ReadASN1Integer(&version) ||
		!readAlgorithmIdentifier(&seq, &alg) ||
		!seq.ReadASN1(&privKey, cbasn1.OCTET_STRING) {
		return nil, malformedf("PKCS #8 private key")
	}
	switch {
	case alg.oid.Equal(oidDSA):
		return nil, ErrDSAKey
	case alg.oid.Equal(oidECPublicKey):
		if len(alg.params) > 0 && alg.params[0] == 0x30 {
			return nil, ErrExplicitECParameters
		}
		// ECPrivateKey ::= SEQUENCE { version, privateKey OCTET STRING,
		// parameters [0] ECParameters OPTIONAL, publicKey [1] OPTIONAL }
		var ecSeq, ecParams cryptobyte.String
		var ecVersion int64
		var skip cryptobyte.String
		var hasParams bool
		if privKey.ReadASN1(&ecSeq, cbasn1.SEQUENCE) &&
			ecSeq.ReadASN1Integer(&ecVersion) &&
			ecSeq.ReadASN1(&skip, cbasn1.OCTET_STRING) &&
			ecSeq.ReadOptionalASN1(&ecParams, &hasParams, cbasn1.Tag(0).Constructed().ContextSpecific()) &&
			hasParams && ecParams.PeekASN1Tag(cbasn1.SEQUENCE) {
			return nil, ErrExplicitECParameters
		}
	case alg.oid.Equal(oidRSASSAPSS):
		return nil, unsupportedf("RSASSA-PSS private keys (id-RSASSA-PSS PKCS #8)")
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("pkcs12: private key (%s): %w", algorithmName(alg.oid), err)
	}
	return key, nil
}
