package pkcs12

import (
	"crypto/hmac"
	"crypto/pbkdf2"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// macData is a parsed MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET
// STRING, iterations INTEGER DEFAULT 1 }.
type macData struct {
	alg        algorithmIdentifier
	digest     []byte
	salt       []byte
	iterations int64
}

func parseMacData(s *cryptobyte.String) (*macData, error) {
	var seq, di, digest, salt cryptobyte.String
	m := new(macData)
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) ||
		!seq.ReadASN1(&di, cbasn1.SEQUENCE) ||
		!readAlgorithmIdentifier(&di, &m.alg) ||
		!di.ReadASN1(&digest, cbasn1.OCTET_STRING) || !di.Empty() ||
		!seq.ReadASN1(&salt, cbasn1.OCTET_STRING) ||
		!readOptionalInteger(&seq, &m.iterations, 1) || !seq.Empty() {
		return nil, malformedf("MacData")
	}
	m.digest, m.salt = digest, salt
	return m, nil
}

// macCheck is a MAC algorithm ready to be tried with passwords.
type macCheck struct {
	// bmp: the password goes in as a PKCS #12 BMPString (RFC 7292
	// Appendix B); otherwise as UTF-8 bytes (PBMAC1, RFC 9579).
	bmp  bool
	cost int64
	// mac computes the MAC of the authenticated safe with password.
	mac func(password []byte) ([]byte, error)
}

// newMacCheck prepares the verification of m over message, the content
// octets of the authSafe OCTET STRING.
func newMacCheck(m *macData, message []byte) (*macCheck, error) {
	if m.alg.oid.Equal(oidPBMAC1) {
		return newPBMAC1Check(m, message)
	}
	newHash, ok := digestFor(m.alg.oid)
	if !ok {
		return nil, unsupportedf("MAC digest algorithm %s", algorithmName(m.alg.oid))
	}
	if !m.alg.paramsNullOrAbsent() {
		return nil, malformedf("MAC digest algorithm parameters")
	}
	if err := checkSalt(m.salt); err != nil {
		return nil, err
	}
	if err := checkIterations(m.iterations); err != nil {
		return nil, err
	}
	iter := int(m.iterations)
	salt := m.salt
	return &macCheck{
		bmp:  true,
		cost: m.iterations,
		mac: func(password []byte) ([]byte, error) {
			key := pkcs12KDF(newHash, kdfMAC, password, salt, iter, newHash().Size())
			h := hmac.New(newHash, key)
			h.Write(message)
			return h.Sum(nil), nil
		},
	}, nil
}

// newPBMAC1Check handles PBMAC1 (RFC 8018 section 7.1, in PKCS #12 per
// RFC 9579): PBMAC1-params ::= SEQUENCE { keyDerivationFunc
// AlgorithmIdentifier, messageAuthScheme AlgorithmIdentifier }. The MacData
// salt and iteration count are ignored, as RFC 9579 says.
func newPBMAC1Check(m *macData, message []byte) (*macCheck, error) {
	params := m.alg.params
	var seq cryptobyte.String
	var kdf, scheme algorithmIdentifier
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() ||
		!readAlgorithmIdentifier(&seq, &kdf) || !readAlgorithmIdentifier(&seq, &scheme) || !seq.Empty() {
		return nil, malformedf("PBMAC1 parameters")
	}
	kp, err := parsePBKDF2(kdf)
	if err != nil {
		return nil, err
	}
	newHash, ok := hmacFor(scheme.oid)
	if !ok {
		return nil, unsupportedf("PBMAC1 message authentication scheme %s", algorithmName(scheme.oid))
	}
	if !scheme.paramsNullOrAbsent() {
		return nil, malformedf("PBMAC1 message authentication scheme parameters")
	}
	// RFC 9579 requires the key length; a short key would make the MAC
	// cheap to forge (RFC 9579 section 6 recommends at least 20 bytes).
	if kp.keyLength == 0 {
		return nil, malformedf("PBMAC1 without a PBKDF2 key length")
	}
	if kp.keyLength < 20 {
		return nil, malformedf("PBMAC1 key length %d is shorter than 20 bytes", kp.keyLength)
	}
	return &macCheck{
		cost: kp.cost(kp.keyLength),
		mac: func(password []byte) ([]byte, error) {
			key, err := pbkdf2.Key(kp.prf, string(password), kp.salt, kp.iter, kp.keyLength)
			if err != nil {
				return nil, err
			}
			h := hmac.New(newHash, key)
			h.Write(message)
			return h.Sum(nil), nil
		},
	}, nil
}
