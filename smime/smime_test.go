package smime

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/testpki"
)

type pki struct {
	ca    *testpki.Identity
	alice *testpki.Identity
	bob   *testpki.Identity
	roots *x509.CertPool
}

func newPKI(t testing.TB, kt testpki.KeyType) *pki {
	t.Helper()
	ca, err := testpki.NewCA("Signet Test Root")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ca.Issue("alice@example.org", kt, nil)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ca.Issue("bob@example.org", kt, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return &pki{ca, alice, bob, roots}
}

const plainMsg = "From: Alice <alice@example.org>\n" +
	"To: Bob <bob@example.org>\n" +
	"Subject: Lunch\n" +
	"Date: Fri, 04 Dec 2026 12:00:00 +0000\n" +
	"Message-ID: <1@example.org>\n" +
	"Content-Type: text/plain; charset=utf-8\n" +
	"\n" +
	"Shall we meet at noon? Café at the corner.\n" +
	"From here it is a short walk.\n"

func signMsg(t testing.TB, p *pki, msg string, opaque bool) []byte {
	t.Helper()
	var out bytes.Buffer
	s := &cms.Signer{Certificate: p.alice.Cert, Key: p.alice.Signer()}
	if err := Sign(&out, strings.NewReader(msg), &SignOptions{Opaque: opaque}, s); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestSignVerify(t *testing.T) {
	for _, kt := range []testpki.KeyType{testpki.RSA2048, testpki.P256, testpki.Ed25519} {
		for _, opaque := range []bool{false, true} {
			t.Run(string(kt)+map[bool]string{true: "/opaque", false: "/clear"}[opaque], func(t *testing.T) {
				p := newPKI(t, kt)
				signed := signMsg(t, p, plainMsg, opaque)
				head := string(signed[:bytes.Index(signed, []byte("\r\n\r\n"))])
				for _, f := range []string{"From: Alice", "To: Bob", "Subject: Lunch", "Message-ID: <1@example.org>"} {
					if !strings.Contains(head, f) {
						t.Fatalf("outer header lost %q:\n%s", f, head)
					}
				}
				if bytes.ContainsAny(signed, "\xc3") && !opaque {
					t.Fatal("8-bit byte in a clear-signed message")
				}
				var out bytes.Buffer
				v, err := Verify(&out, bytes.NewReader(signed), &VerifyOptions{Roots: p.roots})
				if err != nil {
					t.Fatal(err)
				}
				if !v.OK() || v.Opaque != opaque || v.Part != "root" {
					t.Fatalf("not OK: %s (%+v)", v.Reason(), v.Signers[0])
				}
				if !strings.Contains(out.String(), "Subject: Lunch") || !strings.Contains(out.String(), "Content-Transfer-Encoding: quoted-printable") {
					t.Fatalf("inner message:\n%s", out.String())
				}
				// A stranger's trust anchor: chain fails, nothing else.
				other := newPKI(t, kt)
				v, err = Verify(nil, bytes.NewReader(signed), &VerifyOptions{Roots: other.roots})
				if err != nil || v.OK() || !v.Signers[0].SignatureOK || v.Signers[0].ChainOK {
					t.Fatalf("verified against the wrong root: %v %+v", err, v)
				}
			})
		}
	}
}

func TestSignRefusesForeignFrom(t *testing.T) {
	p := newPKI(t, testpki.P256)
	msg := strings.Replace(plainMsg, "alice@example.org>", "mallory@example.org>", 1)
	s := &cms.Signer{Certificate: p.alice.Cert, Key: p.alice.Signer()}
	err := Sign(&bytes.Buffer{}, strings.NewReader(msg), nil, s)
	var fm *FromMismatchError
	if !errors.As(err, &fm) {
		t.Fatalf("err = %v", err)
	}
}

func TestVerifyFromMismatch(t *testing.T) {
	p := newPKI(t, testpki.P256)
	signed := signMsg(t, p, plainMsg, false)
	forged := bytes.Replace(signed, []byte("From: Alice <alice@example.org>"), []byte("From: Alice <ceo@example.org>"), 1)
	var out bytes.Buffer
	v, err := Verify(&out, bytes.NewReader(forged), &VerifyOptions{Roots: p.roots})
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() || v.Signers[0].FromMatches || !strings.Contains(v.Reason(), "not in the certificate") {
		t.Fatalf("forged From accepted: %s", v.Reason())
	}
}

func TestVerifyTamperedBodyReleasesNothing(t *testing.T) {
	p := newPKI(t, testpki.P256)
	for _, opaque := range []bool{false, true} {
		signed := signMsg(t, p, plainMsg+strings.Repeat("line of text\n", 20), opaque)
		var tampered []byte
		if opaque {
			// Flip a base64 character inside the content.
			i := bytes.Index(signed, []byte("\r\n\r\n")) + 200
			tampered = append([]byte(nil), signed...)
			if tampered[i] == 'A' {
				tampered[i] = 'B'
			} else {
				tampered[i] = 'A'
			}
		} else {
			tampered = bytes.Replace(signed, []byte("noon"), []byte("nine"), 1)
		}
		var out bytes.Buffer
		v, err := Verify(&out, bytes.NewReader(tampered), &VerifyOptions{Roots: p.roots})
		if err == nil && v.OK() {
			t.Fatalf("opaque=%v: tampered message verified", opaque)
		}
		if out.Len() != 0 {
			t.Fatalf("opaque=%v: released %d bytes of unauthenticated content", opaque, out.Len())
		}
	}
}

func TestEncryptDecrypt(t *testing.T) {
	for _, kt := range []testpki.KeyType{testpki.RSA2048, testpki.P384, testpki.X25519} {
		for _, c := range []cms.Cipher{cms.AES256GCM, cms.AES128CBC} {
			t.Run(string(kt)+"/"+c.String(), func(t *testing.T) {
				p := newPKI(t, kt)
				r, err := cms.NewRecipient(p.bob.Cert, nil)
				if err != nil {
					t.Fatal(err)
				}
				var enc bytes.Buffer
				if err := Encrypt(&enc, strings.NewReader(plainMsg), &EncryptOptions{Cipher: c}, r); err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(enc.Bytes(), []byte("noon")) {
					t.Fatal("plaintext visible")
				}
				wantType := map[bool]string{true: "smime-type=authEnveloped-data", false: "smime-type=enveloped-data"}[c.Authenticated()]
				if !bytes.Contains(enc.Bytes(), []byte(wantType)) || !bytes.Contains(enc.Bytes(), []byte("Subject: Lunch")) {
					t.Fatalf("bad outer header:\n%s", enc.String()[:400])
				}
				var out bytes.Buffer
				d, err := Decrypt(&out, bytes.NewReader(enc.Bytes()), nil, &cms.Identity{Certificate: p.bob.Cert, Key: p.bob.Key})
				if err != nil {
					t.Fatal(err)
				}
				if d.Authenticated != c.Authenticated() || !strings.Contains(out.String(), "Shall we meet at noon? Café") {
					t.Fatalf("decrypted:\n%s", out.String())
				}
				// Alice's key cannot open it; the error is the uniform one and nothing is written.
				out.Reset()
				_, err = Decrypt(&out, bytes.NewReader(enc.Bytes()), nil, &cms.Identity{Certificate: p.alice.Cert, Key: p.alice.Key})
				if !errors.Is(err, cms.ErrDecrypt) || out.Len() != 0 {
					t.Fatalf("wrong key: %v, %d bytes out", err, out.Len())
				}
			})
		}
	}
}

func TestSignThenEncryptThenVerify(t *testing.T) {
	p := newPKI(t, testpki.P256)
	signed := signMsg(t, p, plainMsg, false)
	r, _ := cms.NewRecipient(p.bob.Cert, nil)
	var enc bytes.Buffer
	if err := Encrypt(&enc, bytes.NewReader(signed), nil, r); err != nil {
		t.Fatal(err)
	}
	var dec bytes.Buffer
	d, err := Decrypt(&dec, &enc, nil, &cms.Identity{Certificate: p.bob.Cert, Key: p.bob.Key})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Signed() {
		t.Fatalf("inner type %q not reported as signed", d.InnerType)
	}
	v, err := Verify(nil, &dec, &VerifyOptions{Roots: p.roots})
	if err != nil || !v.OK() {
		t.Fatalf("verify after decrypt: %v %s", err, v.Reason())
	}
}

func TestPartiallySignedIsNotSigned(t *testing.T) {
	p := newPKI(t, testpki.P256)
	signed := signMsg(t, p, plainMsg, false)
	// Forward the signed message as the second part of a multipart/mixed.
	i := bytes.Index(signed, []byte("MIME-Version"))
	inner := signed[i:]
	msg := "From: Mallory <alice@example.org>\r\nSubject: look\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XYZ\r\n\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nPay mallory now.\r\n--XYZ\r\n" +
		string(inner) + "\r\n--XYZ--\r\n"
	v, err := Verify(nil, strings.NewReader(msg), &VerifyOptions{Roots: p.roots})
	if err != nil {
		t.Fatal(err)
	}
	if v.OK() || v.Signed || !strings.Contains(v.Note, "only part 2") {
		t.Fatalf("partially signed message: signed=%v note=%q", v.Signed, v.Note)
	}
}

func TestMultipartSignedWithEmbeddedContentRefused(t *testing.T) {
	p := newPKI(t, testpki.P256)
	// An attached SignedData over other content, presented as the
	// signature of a multipart/signed: the shown part is not what was signed.
	var sd bytes.Buffer
	w, _ := cms.Sign(&sd, nil, &cms.Signer{Certificate: p.alice.Cert, Key: p.alice.Signer()})
	w.Write([]byte("Content-Type: text/plain\r\n\r\nharmless\r\n"))
	w.Close()
	var b64 strings.Builder
	enc := base64Lines(sd.Bytes())
	b64.WriteString(enc)
	msg := "From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nPay mallory now.\r\n--B\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64.String() + "\r\n--B--\r\n"
	_, err := Verify(nil, strings.NewReader(msg), &VerifyOptions{Roots: p.roots, At: time.Now()})
	if err == nil {
		t.Fatal("multipart/signed with embedded content accepted")
	}
}

func TestTripleWrap(t *testing.T) {
	p := newPKI(t, testpki.P256)
	s := &cms.Signer{Certificate: p.alice.Cert, Key: p.alice.Signer()}
	r, _ := cms.NewRecipient(p.bob.Cert, nil)
	// sign, encrypt, sign (RFC 2634 triple wrapping)
	var inner, enc, outer bytes.Buffer
	if err := Sign(&inner, strings.NewReader(plainMsg), nil, s); err != nil {
		t.Fatal(err)
	}
	if err := Encrypt(&enc, &inner, nil, r); err != nil {
		t.Fatal(err)
	}
	if err := Sign(&outer, &enc, nil, s); err != nil {
		t.Fatal(err)
	}
	// unwrap: verify, decrypt, verify
	var afterVerify, afterDecrypt, plain bytes.Buffer
	v, err := Verify(&afterVerify, &outer, &VerifyOptions{Roots: p.roots})
	if err != nil || !v.OK() || v.InnerType != "application/pkcs7-mime" {
		t.Fatalf("outer signature: %v %s inner=%q", err, v.Reason(), v.InnerType)
	}
	d, err := Decrypt(&afterDecrypt, &afterVerify, nil, &cms.Identity{Certificate: p.bob.Cert, Key: p.bob.Key})
	if err != nil || !d.Signed() {
		t.Fatalf("decrypt: %v, signed inner: %v", err, d != nil && d.Signed())
	}
	v, err = Verify(&plain, &afterDecrypt, &VerifyOptions{Roots: p.roots})
	if err != nil || !v.OK() {
		t.Fatalf("inner signature: %v %s", err, v.Reason())
	}
	if !strings.Contains(plain.String(), "Subject: Lunch") || !strings.Contains(plain.String(), "noon? Caf=C3=A9") {
		t.Fatalf("plaintext after triple unwrap:\n%s", plain.String())
	}
}

func TestEpilogueKept(t *testing.T) {
	p := newPKI(t, testpki.P256)
	msg := "From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b--\r\nEpilogue line.\r\n"
	r, _ := cms.NewRecipient(p.bob.Cert, nil)
	var enc, dec bytes.Buffer
	if err := Encrypt(&enc, strings.NewReader(msg), nil, r); err != nil {
		t.Fatal(err)
	}
	if _, err := Decrypt(&dec, &enc, nil, &cms.Identity{Certificate: p.bob.Cert, Key: p.bob.Key}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(dec.String(), "--b--\r\nEpilogue line.\r\n") {
		t.Fatalf("epilogue lost:\n%q", dec.String())
	}
}

func TestDecryptNonMIMEContent(t *testing.T) {
	p := newPKI(t, testpki.P256)
	r, _ := cms.NewRecipient(p.bob.Cert, nil)
	// A bare CMS content that is not a MIME entity, wrapped in a message.
	var der bytes.Buffer
	w, _ := cms.Encrypt(&der, nil, r)
	w.Write([]byte("just bytes, no header"))
	w.Close()
	msg := "From: alice@example.org\r\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64Lines(der.Bytes()) + "\r\n"
	var out bytes.Buffer
	d, err := Decrypt(&out, strings.NewReader(msg), nil, &cms.Identity{Certificate: p.bob.Cert, Key: p.bob.Key})
	if err != nil || !d.NotMIME || !strings.HasSuffix(out.String(), "\r\n\r\njust bytes, no header") {
		t.Fatalf("%v %+v %q", err, d, out.String())
	}
}

// onlyReader hides Seek, as a pipe does.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestSignSeekableAndStreamedAgree signs the same messages from a seekable
// source (classified in place) and from a pipe (spooled): both verify and
// sign the same canonical entity.
func TestSignSeekableAndStreamedAgree(t *testing.T) {
	p := newPKI(t, testpki.P256)
	s := &cms.Signer{Certificate: p.alice.Cert, Key: p.alice.Signer()}
	ascii := strings.ReplaceAll(strings.ReplaceAll(plainMsg, "é", "e"), "\n", "\r\n")
	multipart := "From: alice@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nnaïve\n--b\n" +
		"Content-Type: text/plain\n\n" + strings.Repeat("x", 1200) + "\n--b--\n"
	for name, msg := range map[string]string{"8bit": plainMsg, "ascii": ascii, "multipart-8bit-long-line": multipart} {
		var a, b bytes.Buffer
		if err := Sign(&a, strings.NewReader(msg), nil, s); err != nil {
			t.Fatal(err)
		}
		if err := Sign(&b, onlyReader{strings.NewReader(msg)}, nil, s); err != nil {
			t.Fatal(err)
		}
		var ea, eb bytes.Buffer
		va, err1 := Verify(&ea, &a, &VerifyOptions{Roots: p.roots})
		vb, err2 := Verify(&eb, &b, &VerifyOptions{Roots: p.roots})
		if err1 != nil || err2 != nil || !va.OK() || !vb.OK() {
			t.Fatalf("%s: %v %v %s %s", name, err1, err2, va.Reason(), vb.Reason())
		}
		if ea.String() != eb.String() {
			t.Fatalf("%s: the two paths signed different entities:\n%q\n%q", name, ea.String(), eb.String())
		}
		if bytes.ContainsAny(ea.Bytes(), "\xc3\xa9\xc3\xaf") || strings.Contains(ea.String(), strings.Repeat("x", 999)) {
			t.Fatalf("%s: signed entity is not 7-bit safe:\n%s", name, ea.String())
		}
	}
}

// TestVerifyAtSigningTime: a certificate that has expired since the mail
// was signed validates at the claimed signing time when asked to, and the
// report says which time was used.
func TestVerifyAtSigningTime(t *testing.T) {
	ca, err := testpki.NewCA("Signing-time CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	alice, err := ca.Issue("alice@example.org", testpki.P256, &testpki.Options{NotBefore: now.Add(-50 * time.Minute), NotAfter: now.Add(-10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	signedAt := now.Add(-30 * time.Minute).Truncate(time.Second)
	var signed bytes.Buffer
	s := &cms.Signer{Certificate: alice.Cert, Key: alice.Signer(), SigningTime: signedAt}
	if err := Sign(&signed, strings.NewReader(plainMsg), nil, s); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	v, err := Verify(nil, bytes.NewReader(signed.Bytes()), &VerifyOptions{Roots: roots})
	if err != nil || v.OK() {
		t.Fatalf("an expired certificate passed at the current time: %v", err)
	}
	v, err = Verify(nil, bytes.NewReader(signed.Bytes()), &VerifyOptions{Roots: roots, AtSigningTime: true})
	if err != nil || !v.OK() {
		t.Fatalf("at the signing time: %v %s", err, v.Reason())
	}
	if !v.Signers[0].ValidatedAt.Equal(signedAt) {
		t.Fatalf("validated at %v, want the signing time %v", v.Signers[0].ValidatedAt, signedAt)
	}
}
