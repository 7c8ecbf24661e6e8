package pkcs12

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"hash"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	// PKCS #7 content types.
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}

	// PKCS #12 bag types.
	oidKeyBag            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidSafeContentsBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 6}
	oidX509Certificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidLocalKeyID        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidPBEWithSHA128RC4  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 1}
	oidPBEWithSHA40RC4   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 2}
	oidPBEWithSHA3DES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBEWithSHA2DES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 4}
	oidPBEWithSHA128RC2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHA40RC2   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidPBES2             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBMAC1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidScrypt            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidPBEWithMD5DESCBC  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 3}
	oidPBEWithSHA1DESCBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 10}
	oidPBEWithMD5RC2CBC  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 6}
	oidPBEWithSHA1RC2CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 11}
	oidAES128CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC        = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidDESCBC            = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 7}
	oidRC2CBC            = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 2}
	oidECPublicKey       = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidDSA               = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidRSASSAPSS         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
)

// digestByOID maps the digest algorithms of a PKCS #12 MacData (and, as some
// writers put them there, the matching HMAC identifiers) to hash functions.
var digestByOID = []struct {
	oid  asn1.ObjectIdentifier
	hmac asn1.ObjectIdentifier
	name string
	new  func() hash.Hash
}{
	{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}, "SHA-1", sha1.New},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}, "SHA-224", sha256.New224},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, "SHA-256", sha256.New},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}, "SHA-384", sha512.New384},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}, "SHA-512", sha512.New},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 5}, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 12}, "SHA-512/224", sha512.New512_224},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 6}, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 13}, "SHA-512/256", sha512.New512_256},
}

// digestFor returns the hash function of a digest algorithm OID.
func digestFor(oid asn1.ObjectIdentifier) (func() hash.Hash, bool) {
	for _, d := range digestByOID {
		if oid.Equal(d.oid) || oid.Equal(d.hmac) {
			return d.new, true
		}
	}
	return nil, false
}

// hmacFor returns the hash function of an HMAC algorithm OID (a PBKDF2 PRF
// or a PBMAC1 message authentication scheme).
func hmacFor(oid asn1.ObjectIdentifier) (func() hash.Hash, bool) {
	for _, d := range digestByOID {
		if oid.Equal(d.hmac) {
			return d.new, true
		}
	}
	return nil, false
}

// algorithmIdentifier is an AlgorithmIdentifier; params is the whole
// parameters element (tag and length included), nil when absent.
type algorithmIdentifier struct {
	oid    asn1.ObjectIdentifier
	params cryptobyte.String
}

// paramsNullOrAbsent reports whether the parameters are absent or NULL.
func (a algorithmIdentifier) paramsNullOrAbsent() bool {
	return a.params == nil || (len(a.params) == 2 && a.params[0] == 5 && a.params[1] == 0)
}

// readAlgorithmIdentifier reads an AlgorithmIdentifier SEQUENCE from s.
func readAlgorithmIdentifier(s *cryptobyte.String, out *algorithmIdentifier) bool {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&out.oid) {
		return false
	}
	out.params = nil
	if seq.Empty() {
		return true
	}
	var p cryptobyte.String
	if !seq.ReadAnyASN1Element(&p, nil) || !seq.Empty() {
		return false
	}
	out.params = p
	return true
}

// readOptionalInteger reads an INTEGER that may be absent (DEFAULT def).
// (cryptobyte's ReadOptionalASN1Integer is for EXPLICIT-tagged integers.)
func readOptionalInteger(s *cryptobyte.String, out *int64, def int64) bool {
	if !s.PeekASN1Tag(cbasn1.INTEGER) {
		*out = def
		return true
	}
	return s.ReadASN1Integer(out)
}
