package cms

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/shareddata"
	"github.com/signet-smime/signet/internal/testpki"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// fuzzDeadline bounds one input: Verify and Decrypt must finish (no hang)
// on any input, however malformed.
const fuzzDeadline = 20 * time.Second

// addCMSSeeds adds every file of the OpenSSL CMS fuzz corpus, and the
// given extra messages, as seeds.
func addCMSSeeds(f *testing.F, extra ...[]byte) {
	if n := shareddata.AddSeeds(f, "fuzz-cms/cms"); n < 1000 {
		f.Fatalf("only %d seeds in shared test data fuzz-cms/cms", n)
	}
	for _, b := range extra {
		f.Add(b)
	}
}

// within runs fn and fails when it does not return in time.
func within(t *testing.T, data []byte, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(fuzzDeadline):
		t.Fatalf("no result after %v for input %x", fuzzDeadline, data)
	}
}

// countingWriter counts what Verify passes on as content.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func FuzzVerify(f *testing.F) {
	var extra [][]byte
	if dir, ok := shareddata.Lookup("rfc4134"); ok {
		for _, n := range []string{"4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.10", "4.11"} {
			extra = append(extra, readFile(f, filepath.Join(dir, n+".bin")))
		}
	}
	addCMSSeeds(f, extra...)
	f.Fuzz(func(t *testing.T, data []byte) {
		within(t, data, func() {
			// Mode 1: attached content (or an error about its absence).
			var cw countingWriter
			sd, err := Verify(bytes.NewReader(data), &VerifyOptions{Content: &cw})
			if err == nil {
				checkSignedData(t, sd)
				if !sd.Detached && sd.ContentSize != cw.n {
					t.Errorf("ContentSize %d, but %d bytes written to Content", sd.ContentSize, cw.n)
				}
			}
			// Mode 2: a few bytes of detached content.
			sd, err = Verify(bytes.NewReader(data), &VerifyOptions{Detached: bytes.NewReader([]byte("detached\r\n"))})
			if err == nil {
				checkSignedData(t, sd)
				if !sd.Detached {
					t.Error("Verify accepted detached content for a SignedData that carries content")
				}
			}
		})
	})
}

func checkSignedData(t *testing.T, sd *SignedData) {
	t.Helper()
	if sd == nil {
		t.Fatal("nil SignedData without an error")
	}
	for i, s := range sd.Signers {
		if s == nil {
			t.Fatalf("signer %d is nil", i)
		}
		if s.Err == nil && s.Certificate == nil {
			t.Errorf("signer %d verified without a certificate", i)
		}
	}
}

var (
	fuzzIDsOnce sync.Once
	fuzzIDs     []*Identity
	fuzzMsgs    [][]byte
)

// fuzzIdentities returns recipients of every key type Decrypt handles, and
// messages encrypted for them (seeds that reach the content decryption).
func fuzzIdentities(f *testing.F) ([]*Identity, [][]byte) {
	fuzzIDsOnce.Do(func() {
		ca, err := testpki.NewCA("Fuzz CA")
		if err != nil {
			f.Fatal(err)
		}
		for i, kt := range []testpki.KeyType{testpki.RSA2048, testpki.P256, testpki.X25519} {
			id, err := ca.Issue("fuzz@example.org", kt, nil)
			if err != nil {
				f.Fatal(err)
			}
			fuzzIDs = append(fuzzIDs, &Identity{Certificate: id.Cert, Key: id.Key})
			r, err := NewRecipient(id.Cert, &RecipientOptions{SubjectKeyID: i == 1})
			if err != nil {
				f.Fatal(err)
			}
			for _, c := range []Cipher{AES128GCM, AES256CBC} {
				var buf bytes.Buffer
				w, err := Encrypt(&buf, &EncryptOptions{Cipher: c}, r)
				if err != nil {
					f.Fatal(err)
				}
				io.WriteString(w, "fuzz seed content\r\n")
				if err := w.Close(); err != nil {
					f.Fatal(err)
				}
				fuzzMsgs = append(fuzzMsgs, buf.Bytes())
			}
		}
	})
	return fuzzIDs, fuzzMsgs
}

func FuzzDecrypt(f *testing.F) {
	ids, msgs := fuzzIdentities(f)
	if dir, ok := shareddata.Lookup("rfc4134"); ok {
		msgs = append(msgs, readFile(f, filepath.Join(dir, "5.1.bin")), readFile(f, filepath.Join(dir, "5.2.bin")))
		k, err := x509.ParsePKCS8PrivateKey(readFile(f, filepath.Join(dir, "BobPrivRSAEncrypt.pri")))
		if err != nil {
			f.Fatal(err)
		}
		c, err := x509.ParseCertificate(readFile(f, filepath.Join(dir, "BobRSASignByCarl.cer")))
		if err != nil {
			f.Fatal(err)
		}
		ids = append(ids, &Identity{Certificate: c, Key: k})
	}
	addCMSSeeds(f, msgs...)
	f.Fuzz(func(t *testing.T, data []byte) {
		within(t, data, func() {
			info, err := Decrypt(bytes.NewReader(data), io.Discard, ids...)
			if err == nil && (info == nil || info.Recipients < 1 || info.Cipher == 0) {
				t.Errorf("Decrypt succeeded with info %+v", info)
			}
			if err != nil && info != nil {
				t.Errorf("Decrypt returned info %+v with error %v", info, err)
			}
		})
	})
}

// withEContent rebuilds a detached DER SignedData with rawContent (any BER
// element, as PKCS #7 v1.5 allowed) as its [0] eContent.
func withEContent(t *testing.T, detached, rawContent []byte) []byte {
	t.Helper()
	in := cryptobyte.String(detached)
	var ci, oid, explicit, sd cryptobyte.String
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1Element(&oid, cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&explicit, cbasn1.Tag(0).ContextSpecific().Constructed()) || !explicit.ReadASN1(&sd, cbasn1.SEQUENCE) {
		t.Fatal("not a DER SignedData")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(oid)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for !sd.Empty() {
					var el, eci, ct cryptobyte.String
					var tag cbasn1.Tag
					if !sd.ReadAnyASN1Element(&el, &tag) {
						t.Fatal("bad SignedData")
					}
					if tag != cbasn1.SEQUENCE {
						b.AddBytes(el)
						continue
					}
					// encapContentInfo: eContentType, then the content.
					if !el.ReadASN1(&eci, cbasn1.SEQUENCE) || !eci.ReadASN1Element(&ct, cbasn1.OBJECT_IDENTIFIER) || !eci.Empty() {
						t.Fatal("bad encapContentInfo")
					}
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddBytes(ct)
						b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
							b.AddBytes(rawContent)
						})
					})
				}
			})
		})
	})
	return b.BytesOrPanic()
}

// TestVerifyAnyTypeContent: a content that is not an OCTET STRING is
// digested over the contents octets of its DER form, whatever the header
// looked like on the wire. A non-minimal length made Verify slice with the
// wire header's length (panic: slice bounds out of range, found by
// smime.FuzzVerify on a mutation of RFC 4134 4.9).
func TestVerifyAnyTypeContent(t *testing.T) {
	id := newIdentity(t, testpki.P256)
	inner := []byte{0x02, 0x01, 0x05} // INTEGER 5: the contents octets that are signed
	ct := asn1.ObjectIdentifier{1, 2, 3, 4}
	detached := signContent(t, inner, &SignOptions{Detached: true, ContentType: ct}, &Signer{Certificate: id.Cert, Key: id.Signer()})
	for _, enc := range []string{
		"30 03 02 01 05",             // DER
		"30 81 03 02 01 05",          // non-minimal length (the panic)
		"30 84 00 00 00 03 02 01 05", // more so
		"30 80 02 01 05 00 00",       // indefinite
		"3f 10 03 02 01 05",          // SEQUENCE tag in high-tag form
	} {
		raw, _ := hex.DecodeString(strings.ReplaceAll(enc, " ", ""))
		msg := withEContent(t, detached, raw)
		var got bytes.Buffer
		sd, err := Verify(bytes.NewReader(msg), &VerifyOptions{Content: &got})
		if err != nil {
			t.Errorf("%s: %v", enc, err)
			continue
		}
		if sd.Detached || !sd.ContentType.Equal(ct) || !bytes.Equal(got.Bytes(), inner) || sd.ContentSize != 3 {
			t.Errorf("%s: detached %v, type %v, content %x", enc, sd.Detached, sd.ContentType, got.Bytes())
		}
		if len(sd.Signers) != 1 || sd.Signers[0].Err != nil {
			t.Errorf("%s: signers %d, %v", enc, len(sd.Signers), sd.Signers[0].Err)
		}
	}
	// Other contents octets do not verify.
	msg := withEContent(t, detached, []byte{0x30, 0x81, 0x03, 0x02, 0x01, 0x06})
	sd, err := Verify(bytes.NewReader(msg), nil)
	if err != nil || len(sd.Signers) != 1 || !errors.Is(sd.Signers[0].Err, ErrBadSignature) {
		t.Errorf("altered content: %v, %+v", err, sd)
	}
}
