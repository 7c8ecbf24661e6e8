package cms

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// algorithmIdentifier is a parsed AlgorithmIdentifier.
type algorithmIdentifier struct {
	OID    asn1.ObjectIdentifier
	Params []byte // the parameters element, DER, nil when absent
}

func (a algorithmIdentifier) hasParams() bool {
	return len(a.Params) > 0 && !(len(a.Params) == 2 && a.Params[0] == 5 && a.Params[1] == 0)
}

func parseAlgorithmIdentifier(s *cryptobyte.String) (algorithmIdentifier, error) {
	var seq cryptobyte.String
	var a algorithmIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.OID) {
		return a, syntaxError("bad AlgorithmIdentifier")
	}
	if !seq.Empty() {
		var p cryptobyte.String
		if !seq.ReadASN1Element(&p, peekTag(seq)) || !seq.Empty() {
			return a, syntaxError("bad AlgorithmIdentifier parameters")
		}
		a.Params = p
	}
	return a, nil
}

func peekTag(s cryptobyte.String) cbasn1.Tag {
	if len(s) == 0 {
		return 0
	}
	return cbasn1.Tag(s[0])
}

func addAlgorithmIdentifier(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, params []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if params != nil {
			b.AddBytes(params)
		}
	})
}

var asn1Null = []byte{5, 0}

// Digests.

var digestOIDs = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}{
	{oidSHA256, crypto.SHA256},
	{oidSHA384, crypto.SHA384},
	{oidSHA512, crypto.SHA512},
	{oidSHA224, crypto.SHA224},
	{oidSHA1, crypto.SHA1},
	{oidMD5, crypto.MD5},
}

func hashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, d := range digestOIDs {
		if d.oid.Equal(oid) {
			return d.hash, true
		}
	}
	return 0, false
}

func oidFromHash(h crypto.Hash) (asn1.ObjectIdentifier, error) {
	for _, d := range digestOIDs {
		if d.hash == h {
			return d.oid, nil
		}
	}
	return nil, fmt.Errorf("cms: unsupported digest %v", h)
}

// IsWeakHash reports whether a digest is too weak for new signatures.
func IsWeakHash(h crypto.Hash) bool { return h == crypto.SHA1 || h == crypto.MD5 || h == crypto.SHA224 }

// Cipher is a content-encryption algorithm.
type Cipher int

// Content-encryption algorithms. The CBC modes give no integrity; the GCM
// modes are written as AuthEnvelopedData (RFC 5083). DES3CBC is read only.
const (
	AES256GCM Cipher = iota + 1
	AES128GCM
	AES256CBC
	AES128CBC
	AES192GCM
	AES192CBC
	DES3CBC
)

type cipherInfo struct {
	c      Cipher
	name   string
	oid    asn1.ObjectIdentifier
	keyLen int
	aead   bool
	legacy bool // read only
}

var ciphers = []cipherInfo{
	{AES256GCM, "aes256-gcm", oidAES256GCM, 32, true, false},
	{AES128GCM, "aes128-gcm", oidAES128GCM, 16, true, false},
	{AES256CBC, "aes256-cbc", oidAES256CBC, 32, false, false},
	{AES128CBC, "aes128-cbc", oidAES128CBC, 16, false, false},
	{AES192GCM, "aes192-gcm", oidAES192GCM, 24, true, false},
	{AES192CBC, "aes192-cbc", oidAES192CBC, 24, false, false},
	{DES3CBC, "des-ede3-cbc", oidDES3CBC, 24, false, true},
}

func (c Cipher) info() (cipherInfo, bool) {
	for _, ci := range ciphers {
		if ci.c == c {
			return ci, true
		}
	}
	return cipherInfo{}, false
}

func (c Cipher) String() string {
	if ci, ok := c.info(); ok {
		return ci.name
	}
	return fmt.Sprintf("cipher(%d)", int(c))
}

// Authenticated reports whether the cipher protects integrity (AES-GCM).
func (c Cipher) Authenticated() bool { ci, _ := c.info(); return ci.aead }

// Weak reports whether the cipher is read only for legacy mail.
func (c Cipher) Weak() bool { ci, _ := c.info(); return ci.legacy }

// ParseCipher maps a name such as "aes256-gcm" to a Cipher.
func ParseCipher(name string) (Cipher, error) {
	for _, ci := range ciphers {
		if ci.name == name && !ci.legacy {
			return ci.c, nil
		}
	}
	return 0, fmt.Errorf("unknown cipher %q (want aes256-gcm, aes128-gcm, aes256-cbc or aes128-cbc)", name)
}

func cipherFromOID(oid asn1.ObjectIdentifier) (cipherInfo, bool) {
	for _, ci := range ciphers {
		if ci.oid.Equal(oid) {
			return ci, true
		}
	}
	return cipherInfo{}, false
}

// ErrSyntax is wrapped by errors about malformed CMS structures.
var ErrSyntax = errors.New("cms: malformed structure")

func syntaxError(msg string) error { return fmt.Errorf("%w: %s", ErrSyntax, msg) }

// ErrUnsupported is wrapped by errors about algorithms or forms the package
// does not implement.
var ErrUnsupported = errors.New("cms: unsupported")

func unsupported(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, a...)...)
}

// CapabilitiesAttribute builds the SMIMECapabilities signed attribute
// (RFC 8551 2.5.2) listing the ciphers in order of preference.
func CapabilitiesAttribute(cs ...Cipher) Attribute {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, c := range cs {
			if ci, ok := c.info(); ok {
				addAlgorithmIdentifier(b, ci.oid, nil)
			}
		}
	})
	return Attribute{Type: OIDAttrSMIMECapabilities, Values: [][]byte{b.BytesOrPanic()}}
}

// ParseCapabilities reads the ciphers an SMIMECapabilities attribute
// announces, in order, skipping the ones this package does not know.
func ParseCapabilities(attrs []Attribute) []Cipher {
	var out []Cipher
	for _, a := range attrs {
		if !a.Type.Equal(OIDAttrSMIMECapabilities) || len(a.Values) != 1 {
			continue
		}
		s := cryptobyte.String(a.Values[0])
		var seq cryptobyte.String
		if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
			return nil
		}
		for !seq.Empty() {
			alg, err := parseAlgorithmIdentifier(&seq)
			if err != nil {
				break
			}
			if ci, ok := cipherFromOID(alg.OID); ok {
				out = append(out, ci.c)
			}
		}
	}
	return out
}

// copyBufs recycles the copy buffers of the streaming paths.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyPooled is io.Copy with a pooled buffer.
func copyPooled(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(dst, src, *bp)
}
