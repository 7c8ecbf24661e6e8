package pkcs12

import (
	"crypto/aes"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/rc4"
	"crypto/sha1"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// errBadPadding is returned when decryption produced no validly padded
// plaintext: the usual sign of a wrong password.
var errBadPadding = errors.New("pkcs12: decryption failed (bad padding)")

// blockDecrypter is the part of cipher.Block that CBC decryption needs.
type blockDecrypter interface {
	BlockSize() int
	Decrypt(dst, src []byte)
}

// cbcDecrypt decrypts ciphertext in CBC mode and strips the PKCS #5 padding.
func cbcDecrypt(b blockDecrypter, iv, ciphertext []byte) ([]byte, error) {
	bs := b.BlockSize()
	if len(iv) != bs {
		return nil, fmt.Errorf("%w: IV of %d bytes, want %d", ErrMalformed, len(iv), bs)
	}
	if len(ciphertext) == 0 || len(ciphertext)%bs != 0 {
		return nil, errBadPadding
	}
	out := make([]byte, len(ciphertext))
	prev := iv
	for i := 0; i < len(ciphertext); i += bs {
		blk := ciphertext[i : i+bs]
		b.Decrypt(out[i:i+bs], blk)
		for k := 0; k < bs; k++ {
			out[i+k] ^= prev[k]
		}
		prev = blk
	}
	n := int(out[len(out)-1])
	if n == 0 || n > bs {
		return nil, errBadPadding
	}
	for _, c := range out[len(out)-n:] {
		if int(c) != n {
			return nil, errBadPadding
		}
	}
	return out[:len(out)-n], nil
}

// decryption is a parsed encryption AlgorithmIdentifier bound to its
// ciphertext, ready to be tried with a password.
type decryption struct {
	name string
	// bmp: the password goes in as a PKCS #12 BMPString (PKCS #12 PBE);
	// otherwise as its UTF-8 bytes (PBES2, as OpenSSL, Java and .NET do).
	bmp bool
	// cost is the number of hash (or HMAC) computations one attempt costs.
	cost int64
	run  func(password []byte) ([]byte, error)
}

// pkcs12PBE lists the PKCS #12 PBE schemes of RFC 7292 Appendix C. All derive
// key and IV with the Appendix B KDF over SHA-1.
var pkcs12PBE = []struct {
	oid      asn1.ObjectIdentifier
	name     string
	keyLen   int
	newBlock func(key []byte) (blockDecrypter, error) // nil: RC4, a stream cipher
}{
	{oidPBEWithSHA3DES, "pbeWithSHAAnd3-KeyTripleDES-CBC", 24,
		func(k []byte) (blockDecrypter, error) { return des.NewTripleDESCipher(k) }},
	{oidPBEWithSHA2DES, "pbeWithSHAAnd2-KeyTripleDES-CBC", 16,
		func(k []byte) (blockDecrypter, error) {
			k3 := make([]byte, 0, 24)
			k3 = append(append(k3, k[:16]...), k[:8]...) // K1 K2 K1
			return des.NewTripleDESCipher(k3)
		}},
	{oidPBEWithSHA128RC2, "pbeWithSHAAnd128BitRC2-CBC", 16,
		func(k []byte) (blockDecrypter, error) { return newRC2Decrypter(k, 128) }},
	{oidPBEWithSHA40RC2, "pbeWithSHAAnd40BitRC2-CBC", 5,
		func(k []byte) (blockDecrypter, error) { return newRC2Decrypter(k, 40) }},
	{oidPBEWithSHA128RC4, "pbeWithSHAAnd128BitRC4", 16, nil},
	{oidPBEWithSHA40RC4, "pbeWithSHAAnd40BitRC4", 5, nil},
}

// newDecryption parses the encryption algorithm alg for ciphertext.
func newDecryption(alg algorithmIdentifier, ciphertext []byte) (*decryption, error) {
	for _, s := range pkcs12PBE {
		if !alg.oid.Equal(s.oid) {
			continue
		}
		salt, iter, err := parsePKCS12PBEParams(alg.params)
		if err != nil {
			return nil, fmt.Errorf("%s parameters: %w", s.name, err)
		}
		keyLen, newBlock := s.keyLen, s.newBlock
		blocks := (keyLen + sha1.Size - 1) / sha1.Size
		if newBlock != nil {
			blocks++ // the IV
		}
		return &decryption{
			name: s.name,
			bmp:  true,
			cost: int64(blocks) * int64(iter),
			run: func(password []byte) ([]byte, error) {
				key := pkcs12KDF(sha1.New, kdfKey, password, salt, iter, keyLen)
				if newBlock == nil {
					c, err := rc4.NewCipher(key)
					if err != nil {
						return nil, err
					}
					out := make([]byte, len(ciphertext))
					c.XORKeyStream(out, ciphertext)
					return out, nil
				}
				iv := pkcs12KDF(sha1.New, kdfIV, password, salt, iter, 8)
				b, err := newBlock(key)
				if err != nil {
					return nil, err
				}
				return cbcDecrypt(b, iv, ciphertext)
			},
		}, nil
	}
	if alg.oid.Equal(oidPBES2) {
		return newPBES2Decryption(alg, ciphertext)
	}
	return nil, unsupportedf("encryption algorithm %s", algorithmName(alg.oid))
}

// parsePKCS12PBEParams parses pkcs-12PbeParams ::= SEQUENCE { salt OCTET
// STRING, iterations INTEGER }.
func parsePKCS12PBEParams(params cryptobyte.String) (salt []byte, iter int, err error) {
	var seq, s cryptobyte.String
	var it int64
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() ||
		!seq.ReadASN1(&s, cbasn1.OCTET_STRING) || !seq.ReadASN1Integer(&it) || !seq.Empty() {
		return nil, 0, malformedf("PBE parameters")
	}
	if err := checkSalt(s); err != nil {
		return nil, 0, err
	}
	if err := checkIterations(it); err != nil {
		return nil, 0, err
	}
	return s, int(it), nil
}

func checkIterations(it int64) error {
	if it < 1 || it > MaxIterations {
		return fmt.Errorf("%w: iteration count %d outside 1..%d", ErrMalformed, it, MaxIterations)
	}
	return nil
}

func checkSalt(s []byte) error {
	if len(s) > maxSaltLen {
		return fmt.Errorf("%w: salt of %d bytes (at most %d)", ErrMalformed, len(s), maxSaltLen)
	}
	return nil
}

// pbkdf2Params is a parsed PBKDF2-params (RFC 8018 appendix A.2).
type pbkdf2Params struct {
	salt      []byte
	iter      int
	keyLength int // 0 when absent
	prf       func() hash.Hash
}

// cost is the number of HMAC computations deriving keyLen bytes takes.
func (p *pbkdf2Params) cost(keyLen int) int64 {
	size := p.prf().Size()
	return int64(p.iter) * int64((keyLen+size-1)/size)
}

// parsePBKDF2 parses the KDF AlgorithmIdentifier of PBES2 or PBMAC1.
func parsePBKDF2(kdf algorithmIdentifier) (*pbkdf2Params, error) {
	if kdf.oid.Equal(oidScrypt) {
		return nil, unsupportedf("key derivation function scrypt")
	}
	if !kdf.oid.Equal(oidPBKDF2) {
		return nil, unsupportedf("key derivation function %s", kdf.oid)
	}
	params := kdf.params
	var seq, salt cryptobyte.String
	var it, kl int64
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() {
		return nil, malformedf("PBKDF2 parameters")
	}
	if seq.PeekASN1Tag(cbasn1.SEQUENCE) {
		return nil, unsupportedf("PBKDF2 salt from another source (otherSource)")
	}
	if !seq.ReadASN1(&salt, cbasn1.OCTET_STRING) || !seq.ReadASN1Integer(&it) ||
		!readOptionalInteger(&seq, &kl, 0) {
		return nil, malformedf("PBKDF2 parameters")
	}
	p := &pbkdf2Params{salt: salt, prf: sha1.New}
	if !seq.Empty() {
		var prf algorithmIdentifier
		if !readAlgorithmIdentifier(&seq, &prf) || !seq.Empty() || !prf.paramsNullOrAbsent() {
			return nil, malformedf("PBKDF2 PRF")
		}
		h, ok := hmacFor(prf.oid)
		if !ok {
			return nil, unsupportedf("PBKDF2 PRF %s", algorithmName(prf.oid))
		}
		p.prf = h
	}
	if err := checkSalt(salt); err != nil {
		return nil, err
	}
	if err := checkIterations(it); err != nil {
		return nil, err
	}
	if kl < 0 || kl > 64 {
		return nil, fmt.Errorf("%w: PBKDF2 key length %d", ErrMalformed, kl)
	}
	p.iter, p.keyLength = int(it), int(kl)
	return p, nil
}

// newPBES2Decryption parses PBES2-params (RFC 8018 appendix A.4): PBKDF2
// and one of AES-CBC, DES-EDE3-CBC, DES-CBC or RC2-CBC.
func newPBES2Decryption(alg algorithmIdentifier, ciphertext []byte) (*decryption, error) {
	params := alg.params
	var seq cryptobyte.String
	var kdf, enc algorithmIdentifier
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() ||
		!readAlgorithmIdentifier(&seq, &kdf) || !readAlgorithmIdentifier(&seq, &enc) || !seq.Empty() {
		return nil, malformedf("PBES2 parameters")
	}
	kp, err := parsePBKDF2(kdf)
	if err != nil {
		return nil, err
	}
	var (
		name     string
		keyLen   int
		iv       cryptobyte.String
		newBlock func(key []byte) (blockDecrypter, error)
	)
	readIV := func(n int) error {
		p := enc.params
		if !p.ReadASN1(&iv, cbasn1.OCTET_STRING) || !p.Empty() || len(iv) != n {
			return malformedf("%s IV", name)
		}
		return nil
	}
	switch {
	case enc.oid.Equal(oidAES128CBC), enc.oid.Equal(oidAES192CBC), enc.oid.Equal(oidAES256CBC):
		keyLen = map[int]int{2: 16, 22: 24, 42: 32}[enc.oid[len(enc.oid)-1]]
		name = fmt.Sprintf("AES-%d-CBC", keyLen*8)
		newBlock = func(k []byte) (blockDecrypter, error) { return aes.NewCipher(k) }
		err = readIV(16)
	case enc.oid.Equal(oidDESEDE3CBC):
		name, keyLen = "DES-EDE3-CBC", 24
		newBlock = func(k []byte) (blockDecrypter, error) { return des.NewTripleDESCipher(k) }
		err = readIV(8)
	case enc.oid.Equal(oidDESCBC):
		name, keyLen = "DES-CBC", 8
		newBlock = func(k []byte) (blockDecrypter, error) { return des.NewCipher(k) }
		err = readIV(8)
	case enc.oid.Equal(oidRC2CBC):
		name = "RC2-CBC"
		// RC2-CBC-Parameter ::= SEQUENCE { rc2ParameterVersion INTEGER
		// OPTIONAL, iv OCTET STRING (SIZE(8)) }; the key length comes from
		// the PBKDF2 parameters (default 16 bytes, as OpenSSL).
		var bits int
		bits, iv, err = parseRC2CBCParams(enc.params)
		keyLen = kp.keyLength
		if keyLen == 0 {
			keyLen = 16
		}
		newBlock = func(k []byte) (blockDecrypter, error) { return newRC2Decrypter(k, bits) }
	default:
		return nil, unsupportedf("PBES2 encryption scheme %s", algorithmName(enc.oid))
	}
	if err != nil {
		return nil, err
	}
	if kp.keyLength != 0 && kp.keyLength != keyLen {
		return nil, fmt.Errorf("%w: PBKDF2 key length %d for %s", ErrMalformed, kp.keyLength, name)
	}
	return &decryption{
		name: "PBES2/PBKDF2/" + name,
		cost: kp.cost(keyLen),
		run: func(password []byte) ([]byte, error) {
			key, err := pbkdf2.Key(kp.prf, string(password), kp.salt, kp.iter, keyLen)
			if err != nil {
				return nil, err
			}
			b, err := newBlock(key)
			if err != nil {
				return nil, err
			}
			return cbcDecrypt(b, iv, ciphertext)
		},
	}, nil
}

// parseRC2CBCParams returns the effective key bits and the IV of an
// RC2-CBC-Parameter (RFC 8018 appendix B.2.3).
func parseRC2CBCParams(params cryptobyte.String) (int, []byte, error) {
	var seq, iv cryptobyte.String
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() {
		return 0, nil, malformedf("RC2-CBC parameters")
	}
	bits := 32 // version absent
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		var v int64
		if !seq.ReadASN1Integer(&v) {
			return 0, nil, malformedf("RC2-CBC parameters")
		}
		switch {
		case v == 160:
			bits = 40
		case v == 120:
			bits = 64
		case v == 58:
			bits = 128
		case v >= 256 && v <= 1024:
			bits = int(v)
		default:
			return 0, nil, unsupportedf("RC2 parameter version %d", v)
		}
	}
	if !seq.ReadASN1(&iv, cbasn1.OCTET_STRING) || !seq.Empty() || len(iv) != 8 {
		return 0, nil, malformedf("RC2-CBC parameters")
	}
	return bits, iv, nil
}

// algorithmName names an algorithm OID for error messages.
func algorithmName(oid asn1.ObjectIdentifier) string {
	names := []struct {
		oid  asn1.ObjectIdentifier
		name string
	}{
		{oidPBEWithMD5DESCBC, "pbeWithMD5AndDES-CBC (PBES1)"},
		{oidPBEWithSHA1DESCBC, "pbeWithSHA1AndDES-CBC (PBES1)"},
		{oidPBEWithMD5RC2CBC, "pbeWithMD5AndRC2-CBC (PBES1)"},
		{oidPBEWithSHA1RC2CBC, "pbeWithSHA1AndRC2-CBC (PBES1)"},
		{oidScrypt, "scrypt"},
		{oidPBMAC1, "PBMAC1"},
	}
	for _, n := range names {
		if oid.Equal(n.oid) {
			return n.name + " (" + oid.String() + ")"
		}
	}
	for _, s := range pkcs12PBE {
		if oid.Equal(s.oid) {
			return s.name
		}
	}
	for _, d := range digestByOID {
		if oid.Equal(d.oid) {
			return d.name
		}
		if oid.Equal(d.hmac) {
			return "HMAC-" + d.name
		}
	}
	return oid.String()
}
