package keystore

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// formatV1 is the first byte of Blob and WrappedKey in this format.
const formatV1 = 1

const (
	dataKeySize = 32
	gcmOverhead = 12 + 16 // random nonce + tag (cipher.NewGCMWithRandomNonce)
	labelBlob   = "signet-keystore v1 blob"
	labelWrap   = "signet-keystore v1 wrapped data key"
	// wrappedSize: version, master fingerprint, GCM(data key).
	wrappedSize = 1 + fingerprintSize + gcmOverhead + dataKeySize
)

// Sealed is one private key at rest. All three fields are safe to store in
// a database or file and to show to an operator; none is secret without the
// master key. Blob and WrappedKey are binary (use BLOB columns or base64).
//
//	Blob       = 0x01 ‖ nonce(12) ‖ AES-256-GCM_dataKey(PKCS #8 DER) ‖ tag(16)
//	WrappedKey = 0x01 ‖ masterFingerprint(8) ‖ nonce(12) ‖ AES-256-GCM_wrapKey(dataKey) ‖ tag(16)
//
// Both encryptions authenticate the id and Algorithm as additional data.
type Sealed struct {
	// Algorithm names the key type as the command line spells it:
	// "rsa-2048", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519",
	// "x25519", "ecdh-p256", … (see KeyAlgorithm).
	Algorithm  string
	Blob       []byte // the PKCS #8 key under the record's own data key
	WrappedKey []byte // the data key under the master key
}

// KeyAlgorithm returns the Algorithm name Seal records for key, or an
// error for a key type Seal does not take.
func KeyAlgorithm(key crypto.PrivateKey) (string, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k == nil || k.N == nil {
			break
		}
		return fmt.Sprintf("rsa-%d", k.N.BitLen()), nil
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve == nil {
			break
		}
		if name := nistName(k.Curve.Params().Name); name != "" {
			return "ecdsa-" + name, nil
		}
	case ed25519.PrivateKey:
		if len(k) == ed25519.PrivateKeySize {
			return "ed25519", nil
		}
	case *ecdh.PrivateKey:
		if k == nil {
			break
		}
		switch k.Curve() {
		case ecdh.X25519():
			return "x25519", nil
		case ecdh.P256():
			return "ecdh-p256", nil
		case ecdh.P384():
			return "ecdh-p384", nil
		case ecdh.P521():
			return "ecdh-p521", nil
		}
	}
	return "", fmt.Errorf("keystore: unsupported private key type %T", key)
}

func nistName(curve string) string {
	switch curve {
	case "P-256", "P-384", "P-521":
		return "p" + curve[2:]
	}
	return ""
}

// Seal encrypts key for storage under id, the name the caller files the
// record under (a certificate serial, a key's database row id, "ca/root"):
// a fresh random 256-bit data key encrypts the PKCS #8 form of key, and the
// master key wraps the data key, both with AES-256-GCM and with id and
// Algorithm as additional data, so a record moved to another id does not
// open. id must not be empty. The PKCS #8 buffer and the data key are
// zeroed before Seal returns.
func (m *MasterKey) Seal(id string, key crypto.PrivateKey) (*Sealed, error) {
	mm, err := m.material()
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errors.New("keystore: empty key id")
	}
	alg, err := KeyAlgorithm(key)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("keystore: encode key: %w", err)
	}
	defer clear(der)
	dk := make([]byte, dataKeySize)
	defer clear(dk)
	if _, err := io.ReadFull(rand.Reader, dk); err != nil {
		return nil, fmt.Errorf("keystore: random data key: %w", err)
	}
	blob, err := gcmSeal(dk, []byte{formatV1}, der, aad(labelBlob, id, alg))
	if err != nil {
		return nil, err
	}
	wrapped, err := gcmSeal(mm.wrap[:], append([]byte{formatV1}, mm.fingerprint()...), dk, aad(labelWrap, id, alg))
	if err != nil {
		return nil, err
	}
	return &Sealed{Algorithm: alg, Blob: blob, WrappedKey: wrapped}, nil
}

// Open decrypts a record Seal made under the same id. Errors:
//
//   - ErrWrongPassphrase: the record was sealed under another master key.
//     It is recognised by an 8-byte fingerprint of the master key in
//     WrappedKey, so it is reported before any decryption is tried (an
//     altered fingerprint also reads as a wrong master key; Verify against
//     the stored verifier tells the two apart).
//   - ErrTampered: the master key is right but the record does not
//     authenticate: Blob or WrappedKey was altered or truncated, or the
//     record is opened under another id or Algorithm. AES-GCM cannot tell
//     which of these happened, so Open does not guess.
//   - ErrWiped: the master key was wiped.
//
// A NIST-curve *ecdh.PrivateKey comes back as *ecdh.PrivateKey, as it was
// sealed. The decrypted PKCS #8 buffer is zeroed before Open returns.
func (m *MasterKey) Open(id string, s *Sealed) (crypto.PrivateKey, error) {
	mm, err := m.material()
	if err != nil {
		return nil, err
	}
	dk, err := mm.unwrap(id, s)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	der, err := openBlob(dk, id, s)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w (sealed content is not a PKCS #8 key)", ErrTampered)
	}
	if ek, ok := key.(*ecdsa.PrivateKey); ok && strings.HasPrefix(s.Algorithm, "ecdh-") {
		if key, err = ek.ECDH(); err != nil {
			return nil, fmt.Errorf("%w (%v)", ErrTampered, err)
		}
	}
	if alg, err := KeyAlgorithm(key); err != nil || alg != s.Algorithm {
		return nil, fmt.Errorf("%w (sealed key is %s, record says %s)", ErrTampered, alg, s.Algorithm)
	}
	return key, nil
}

// Rewrap moves a record from master key m to master key to (a passphrase
// change, or leaving a trial key file) without decrypting the private key:
// only the data key is unwrapped and wrapped again, and Blob is reused.
// Blob is still checked to authenticate first (its plaintext is zeroed),
// so a damaged record is reported now rather than after the old master
// key is gone. Errors are those of Open.
func (m *MasterKey) Rewrap(to *MasterKey, id string, s *Sealed) (*Sealed, error) {
	mm, err := m.material()
	if err != nil {
		return nil, err
	}
	nm, err := to.material()
	if err != nil {
		return nil, err
	}
	dk, err := mm.unwrap(id, s)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	der, err := openBlob(dk, id, s)
	if err != nil {
		return nil, err
	}
	clear(der)
	wrapped, err := gcmSeal(nm.wrap[:], append([]byte{formatV1}, nm.fingerprint()...), dk, aad(labelWrap, id, s.Algorithm))
	if err != nil {
		return nil, err
	}
	return &Sealed{Algorithm: s.Algorithm, Blob: bytes.Clone(s.Blob), WrappedKey: wrapped}, nil
}

// unwrap returns the data key of s; the caller clears it.
func (mm *masterMaterial) unwrap(id string, s *Sealed) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("%w (no sealed record)", ErrTampered)
	}
	w := s.WrappedKey
	if len(w) == 0 || w[0] != formatV1 {
		return nil, errVersion("wrapped key", w)
	}
	if len(w) != wrappedSize {
		return nil, fmt.Errorf("%w (wrapped key is %d bytes, want %d)", ErrTampered, len(w), wrappedSize)
	}
	hdr := 1 + fingerprintSize
	if !bytes.Equal(w[1:hdr], mm.fingerprint()) {
		return nil, ErrWrongPassphrase
	}
	return gcmOpen(mm.wrap[:], w[:hdr], w[hdr:], aad(labelWrap, id, s.Algorithm))
}

func errVersion(what string, b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w (%s is empty)", ErrTampered, what)
	}
	return fmt.Errorf("%w (%s has format %d, this Signet reads %d)", ErrTampered, what, b[0], formatV1)
}

// aad is the additional data: a label, then id and algorithm each with a
// 4-byte length, so no two (id, algorithm) pairs give the same bytes.
func aad(label, id, alg string) []byte {
	b := make([]byte, 0, len(label)+8+len(id)+len(alg))
	b = append(b, label...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(id)))
	b = append(b, id...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(alg)))
	return append(b, alg...)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	g, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return g, nil
}

// gcmSeal returns header ‖ nonce ‖ ciphertext ‖ tag; header is also
// authenticated.
func gcmSeal(key, header, plain, ad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(header), len(header)+gcmOverhead+len(plain))
	copy(out, header)
	return g.Seal(out, nil, plain, append(ad, header...)), nil
}

// gcmOpen opens body (nonce ‖ ciphertext ‖ tag) that gcmSeal made with
// header.
func gcmOpen(key, header, body, ad []byte) ([]byte, error) {
	if len(body) < gcmOverhead {
		return nil, fmt.Errorf("%w (truncated)", ErrTampered)
	}
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := g.Open(nil, nil, body, append(ad, header...))
	if err != nil {
		return nil, ErrTampered
	}
	return plain, nil
}

// openBlob returns the PKCS #8 DER in s.Blob; the caller clears it.
func openBlob(dk []byte, id string, s *Sealed) ([]byte, error) {
	b := s.Blob
	if len(b) == 0 || b[0] != formatV1 {
		return nil, errVersion("blob", b)
	}
	return gcmOpen(dk, b[:1], b[1:], aad(labelBlob, id, s.Algorithm))
}
