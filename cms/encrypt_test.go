package cms

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
)

func encryptContent(t testing.TB, content []byte, opts *EncryptOptions, rs ...Recipient) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := Encrypt(&out, opts, rs...)
	if err != nil {
		t.Fatal(err)
	}
	// Write in uneven pieces to exercise the streaming paths.
	for p := content; len(p) > 0; {
		n := min(len(p), 7777)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	content := make([]byte, 100_003)
	rand.Read(content)
	keyTypes := []testpki.KeyType{testpki.RSA2048, testpki.P256, testpki.P384, testpki.P521, testpki.X25519}
	ciphers := []Cipher{AES256GCM, AES128GCM, AES256CBC, AES128CBC}
	for _, kt := range keyTypes {
		id := newIdentity(t, kt)
		for _, c := range ciphers {
			for _, ski := range []bool{false, true} {
				for _, oaep := range []bool{false, true} {
					if oaep && kt != testpki.RSA2048 {
						continue
					}
					name := fmt.Sprintf("ok/%s/%s/ski=%v/oaep=%v", kt, c, ski, oaep)
					t.Run(name, func(t *testing.T) {
						r, err := NewRecipient(id.Cert, &RecipientOptions{OAEP: oaep, SubjectKeyID: ski})
						if err != nil {
							t.Fatal(err)
						}
						msg := encryptContent(t, content, &EncryptOptions{Cipher: c}, r)
						var got bytes.Buffer
						info, err := Decrypt(bytes.NewReader(msg), &got, &Identity{Certificate: id.Cert, Key: id.Key})
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got.Bytes(), content) {
							t.Fatal("plaintext differs")
						}
						if info.Cipher != c || info.Authenticated != c.Authenticated() {
							t.Fatalf("info %+v", info)
						}
					})
				}
			}
		}
	}
}

func TestDecryptSeveralRecipients(t *testing.T) {
	a := newIdentity(t, testpki.RSA2048)
	b := newIdentity(t, testpki.P256)
	c := newIdentity(t, testpki.X25519)
	var rs []Recipient
	for _, id := range []*testpki.Identity{a, b, c} {
		r, err := NewRecipient(id.Cert, nil)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	msg := encryptContent(t, []byte("for three"), nil, rs...)
	for i, id := range []*testpki.Identity{a, b, c} {
		var got bytes.Buffer
		info, err := Decrypt(bytes.NewReader(msg), &got, &Identity{Certificate: id.Cert, Key: id.Key})
		if err != nil || got.String() != "for three" || info.Recipients != 3 {
			t.Fatalf("recipient %d: %v %q %+v", i, err, got.String(), info)
		}
	}
}

func TestDecryptFailuresAreUniform(t *testing.T) {
	content := bytes.Repeat([]byte("secret "), 10000)
	for _, kt := range []testpki.KeyType{testpki.RSA2048, testpki.P256} {
		for _, c := range []Cipher{AES256GCM, AES256CBC} {
			alice := newIdentity(t, kt)
			mallory := newIdentity(t, kt)
			r, _ := NewRecipient(alice.Cert, nil)
			msg := encryptContent(t, content, &EncryptOptions{Cipher: c}, r)
			cases := map[string]func() ([]byte, *Identity){
				"fail/other-certificate": func() ([]byte, *Identity) {
					return msg, &Identity{Certificate: mallory.Cert, Key: mallory.Key}
				},
				"fail/right-certificate-wrong-key": func() ([]byte, *Identity) {
					return msg, &Identity{Certificate: alice.Cert, Key: mallory.Key}
				},
				"fail/tampered-last-block": func() ([]byte, *Identity) {
					m := append([]byte(nil), msg...)
					// GCM: a byte of ciphertext; CBC: the last byte of the
					// penultimate block, which is the padding byte once decrypted.
					i := len(m) - 60
					if !c.Authenticated() {
						i = len(m) - 10 - 16 - 1
					}
					m[i] ^= 0x40
					return m, &Identity{Certificate: alice.Cert, Key: alice.Key}
				},
			}
			for name, mk := range cases {
				t.Run(fmt.Sprintf("%s/%s/%s", name, kt, c), func(t *testing.T) {
					m, id := mk()
					var got bytes.Buffer
					_, err := Decrypt(bytes.NewReader(m), &got, id)
					if err == nil && !c.Authenticated() && !bytes.Equal(got.Bytes(), content) {
						// CBC has no integrity: a wrong key yields garbage whose
						// padding happens to be valid about once in 256 tries.
						return
					}
					if !errors.Is(err, ErrDecrypt) || err.Error() != ErrDecrypt.Error() {
						t.Fatalf("err = %v", err)
					}
				})
			}
		}
	}
}
