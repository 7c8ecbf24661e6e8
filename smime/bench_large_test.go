package smime

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/testpki"
)

// largeMsg is a text message of about n bytes in 76-character lines.
func largeMsg(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@example.org\r\nTo: bob@example.org\r\nSubject: big\r\nContent-Type: text/plain\r\n\r\n")
	line := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789ab", 1) + "\r\n"
	for b.Len() < n {
		b.WriteString(line)
	}
	return b.Bytes()
}

const largeSize = 16 << 20

func BenchmarkSignLarge(b *testing.B) {
	id := benchIdentity(b, testpki.P256)
	msg := largeMsg(largeSize)
	s := &cms.Signer{Certificate: id.Cert, Key: id.Signer()}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := Sign(io.Discard, bytes.NewReader(msg), nil, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptLarge(b *testing.B) {
	id := benchIdentity(b, testpki.RSA2048)
	msg := largeMsg(largeSize)
	r, _ := cms.NewRecipient(id.Cert, nil)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := Encrypt(io.Discard, bytes.NewReader(msg), nil, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptLarge(b *testing.B) {
	id := benchIdentity(b, testpki.RSA2048)
	msg := largeMsg(largeSize)
	r, _ := cms.NewRecipient(id.Cert, nil)
	var enc bytes.Buffer
	if err := Encrypt(&enc, bytes.NewReader(msg), nil, r); err != nil {
		b.Fatal(err)
	}
	ident := &cms.Identity{Certificate: id.Cert, Key: id.Key}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Decrypt(io.Discard, bytes.NewReader(enc.Bytes()), nil, ident); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyLarge(b *testing.B) {
	id := benchIdentity(b, testpki.P256)
	msg := largeMsg(largeSize)
	var signed bytes.Buffer
	if err := Sign(&signed, bytes.NewReader(msg), nil, &cms.Signer{Certificate: id.Cert, Key: id.Signer()}); err != nil {
		b.Fatal(err)
	}
	roots := poolOf(id.Chain...)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		v, err := Verify(io.Discard, bytes.NewReader(signed.Bytes()), &VerifyOptions{Roots: roots})
		if err != nil || !v.OK() {
			b.Fatal(err)
		}
	}
}
