package smime

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/shareddata"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	cs, err := keyfile.LoadCertificates(path)
	if err != nil || len(cs) != 1 {
		t.Fatalf("%s: %d certificates, %v", path, len(cs), err)
	}
	return cs[0]
}

// signedAt is when thunderbird-signed.txt was signed (its signing-time
// attribute says 2013-11-02 20:28:04 UTC).
var signedAt = time.Date(2013, 11, 2, 21, 0, 0, 0, time.UTC)

func TestThunderbirdSigned(t *testing.T) {
	dir := shareddata.Path(t, "mimekit-smime")
	msg := readFile(t, filepath.Join(dir, "thunderbird-signed.txt"))
	if bytes.Contains(msg, []byte("\r\n")) {
		t.Fatal("thunderbird-signed.txt is expected with LF line endings")
	}
	root := loadCert(t, filepath.Join(dir, "StartComCertificationAuthority.crt"))
	inter := loadCert(t, filepath.Join(dir, "StartComClass1PrimaryIntermediateClientCA.crt"))
	roots := x509.NewCertPool()
	roots.AddCert(root)
	opts := &VerifyOptions{Roots: roots, Intermediates: []*x509.Certificate{inter}, At: signedAt}

	check := func(t *testing.T, msg []byte) *Signer {
		var out bytes.Buffer
		v, err := Verify(&out, bytes.NewReader(msg), opts)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Signed || v.Opaque || len(v.Signers) != 1 || v.From != "fejj@gnome.org" {
			t.Fatalf("report %+v", v)
		}
		s := v.Signers[0]
		if !s.SignatureOK {
			t.Fatalf("signature: %s", s.SignatureErr)
		}
		if s.Digest != "sha1" || s.Algorithm != "rsa-pkcs1v15" || !slices.Contains(s.Weak, "digest sha1") {
			t.Errorf("digest %q, algorithm %q, weak %v", s.Digest, s.Algorithm, s.Weak)
		}
		if !s.FromMatches || !slices.Contains(s.Emails, "fejj@gnome.org") {
			t.Errorf("From does not match: %v", s.Emails)
		}
		if want := time.Date(2013, 11, 2, 20, 28, 4, 0, time.UTC); !s.SigningTime.Equal(want) {
			t.Errorf("signing time %v, want %v", s.SigningTime, want)
		}
		if v.InnerType != "multipart/mixed" {
			t.Errorf("inner type %q", v.InnerType)
		}
		// The released entity is the signed one: canonical CRLF.
		got := out.String()
		if !strings.Contains(got, "Subject: This is a test of signing with S/MIME\r\n") ||
			!strings.Contains(got, "\r\nHopefully this works...\r\n") ||
			strings.Contains(strings.ReplaceAll(got, "\r\n", ""), "\n") {
			t.Errorf("released message is not the canonical signed entity:\n%.600s", got)
		}
		return s
	}
	var s *Signer
	t.Run("as stored (LF)", func(t *testing.T) { s = check(t, msg) })
	t.Run("no output", func(t *testing.T) {
		v, err := Verify(nil, bytes.NewReader(msg), opts)
		if err != nil || len(v.Signers) != 1 || !v.Signers[0].SignatureOK || v.InnerType != "multipart/mixed" {
			t.Fatalf("%v, %+v", err, v)
		}
	})
	t.Run("CRLF", func(t *testing.T) {
		check(t, bytes.ReplaceAll(msg, []byte("\n"), []byte("\r\n")))
	})
	if s == nil {
		t.FailNow()
	}

	// The chain: Go's crypto/x509 refuses SHA-1 certificate signatures, and
	// the StartCom intermediate is signed sha1WithRSAEncryption. Check that
	// this is the only obstacle: by hand, every signature in the chain
	// verifies, every certificate is valid at signedAt, and the leaf may
	// protect e-mail.
	if s.ChainOK {
		t.Logf("chain verified: %v", s.Chain)
	} else {
		if !strings.Contains(s.ChainErr, "insecure algorithm SHA1-RSA") || !strings.Contains(s.ChainErr, "StartCom Class 1 Primary Intermediate Client CA") {
			t.Fatalf("chain error %q, want the SHA-1 refusal for the StartCom intermediate", s.ChainErr)
		}
		t.Logf("chain not verified by crypto/x509 (documented limitation): %s", s.ChainErr)
	}
	leaf := s.Certificate
	if inter.SignatureAlgorithm != x509.SHA1WithRSA || leaf.SignatureAlgorithm != x509.SHA1WithRSA {
		t.Errorf("intermediate signed with %v, leaf with %v; expected SHA1-RSA", inter.SignatureAlgorithm, leaf.SignatureAlgorithm)
	}
	for _, link := range []struct{ child, parent *x509.Certificate }{{leaf, inter}, {inter, root}, {root, root}} {
		if err := checkSignatureAnyHash(link.child, link.parent); err != nil {
			t.Errorf("%s signed by %s: %v", link.child.Subject.CommonName, link.parent.Subject.CommonName, err)
		}
		if signedAt.Before(link.child.NotBefore) || signedAt.After(link.child.NotAfter) {
			t.Errorf("%s is not valid at %v", link.child.Subject.CommonName, signedAt)
		}
		if !bytes.Equal(link.child.RawIssuer, link.parent.RawSubject) {
			t.Errorf("%s is not issued by %s", link.child.Subject.CommonName, link.parent.Subject.CommonName)
		}
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) {
		t.Errorf("leaf EKU %v lacks emailProtection", leaf.ExtKeyUsage)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		t.Errorf("leaf key usage %v lacks digitalSignature", leaf.KeyUsage)
	}
	if !inter.IsCA || inter.KeyUsage&x509.KeyUsageCertSign == 0 || len(inter.ExtKeyUsage) != 0 && !slices.Contains(inter.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) {
		t.Errorf("intermediate: CA %v, key usage %v, EKU %v", inter.IsCA, inter.KeyUsage, inter.ExtKeyUsage)
	}
	t.Logf("leaf: signed %v, key usage %v, EKU %v; intermediate: signed %v, EKU %v",
		leaf.SignatureAlgorithm, leaf.KeyUsage, leaf.ExtKeyUsage, inter.SignatureAlgorithm, inter.ExtKeyUsage)
}

// checkSignatureAnyHash checks an RSA certificate signature, SHA-1 included.
func checkSignatureAnyHash(c, parent *x509.Certificate) error {
	h := map[x509.SignatureAlgorithm]crypto.Hash{
		x509.SHA1WithRSA: crypto.SHA1, x509.SHA256WithRSA: crypto.SHA256,
		x509.SHA384WithRSA: crypto.SHA384, x509.SHA512WithRSA: crypto.SHA512,
	}[c.SignatureAlgorithm]
	pub, ok := parent.PublicKey.(*rsa.PublicKey)
	if h == 0 || !ok {
		return errors.New("not an RSA PKCS #1 v1.5 signature")
	}
	hh := h.New()
	hh.Write(c.RawTBSCertificate)
	return rsa.VerifyPKCS1v15(pub, h, hh.Sum(nil), c.Signature)
}

func TestThunderbirdSignedTampered(t *testing.T) {
	dir := shareddata.Path(t, "mimekit-smime")
	msg := readFile(t, filepath.Join(dir, "thunderbird-signed.txt"))
	for _, m := range [][]byte{
		bytes.Replace(msg, []byte("Hopefully this works"), []byte("Hopefully this worked"), 1),
		bytes.Replace(msg, []byte("Jeff\n"), []byte("Jeff \n"), 1),
	} {
		if bytes.Equal(m, msg) {
			t.Fatal("tampering changed nothing")
		}
		var out bytes.Buffer
		v, err := Verify(&out, bytes.NewReader(m), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Signers) != 1 || v.Signers[0].SignatureOK || out.Len() != 0 {
			t.Fatalf("tampered message: signers %d, released %d bytes", len(v.Signers), out.Len())
		}
	}
}

func TestMixedLineEndingsBinarySignature(t *testing.T) {
	dir := shareddata.Path(t, "mimekit-smime")
	msg := readFile(t, filepath.Join(dir, "octet-stream-with-mixed-line-endings.dat"))
	const signed = "Content-Type: application/octet-stream\r\n\r\nThis is a test from OT GXS. Please ignore.\n"
	if !bytes.Contains(msg, []byte(signed+"\r\n--")) || !bytes.Contains(msg, []byte("Content-Type: application/pkcs7-signature\r\nContent-Length: 1953\r\n\r\n0\x80")) {
		t.Fatal("the message is not laid out as expected (bare LF in the signed part, raw DER signature)")
	}
	var out bytes.Buffer
	v, err := Verify(&out, bytes.NewReader(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Signed || len(v.Signers) != 1 {
		t.Fatalf("report %+v", v)
	}
	s := v.Signers[0]
	if !s.SignatureOK {
		t.Fatalf("signature: %s", s.SignatureErr)
	}
	if s.Certificate == nil || s.Certificate.Subject.CommonName != "Open Text" {
		t.Errorf("signer %v", s.Subject)
	}
	// The signed part is released exactly as signed: the bare LF stays.
	if v.InnerType != "application/octet-stream" || !strings.HasSuffix(out.String(), "\r\n\r\nThis is a test from OT GXS. Please ignore.\n") {
		t.Errorf("inner type %q, released %q", v.InnerType, out.String())
	}
	// The signature covers those exact bytes: made CRLF, they fail.
	canon := bytes.Replace(msg, []byte("ignore.\n\r\n--"), []byte("ignore.\r\n\r\n--"), 1)
	out.Reset()
	v, err = Verify(&out, bytes.NewReader(canon), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Signers) != 1 || v.Signers[0].SignatureOK || out.Len() != 0 {
		t.Fatalf("canonicalised signed part still verifies (%+v) or was released", v.Signers)
	}
	// base64 transfer encoding of the same signature verifies alike.
	i := bytes.Index(msg, []byte("Content-Length: 1953\r\n\r\n"))
	j := bytes.LastIndex(msg, []byte("\r\n--1587563323443GXS-AS2Message--"))
	der := msg[i+len("Content-Length: 1953\r\n\r\n") : j]
	if len(der) != 1953 {
		t.Fatalf("signature is %d bytes, Content-Length says 1953", len(der))
	}
	b64 := append(append(append([]byte(nil), msg[:i]...), "Content-Transfer-Encoding: base64\r\n\r\n"+base64Lines(der)...), msg[j:]...)
	v, err = Verify(nil, bytes.NewReader(b64), nil)
	if err != nil || len(v.Signers) != 1 || !v.Signers[0].SignatureOK {
		t.Fatalf("base64 signature part: %v, %+v", err, v)
	}
}

func TestRFC4134SignedMessages(t *testing.T) {
	dir := shareddata.Path(t, "rfc4134")
	carl, err := x509.ParseCertificate(readFile(t, filepath.Join(dir, "CarlDSSSelf.cer")))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"4.8.eml", "4.9.eml"} {
		t.Run(name, func(t *testing.T) {
			msg := readFile(t, filepath.Join(dir, name))
			roots := x509.NewCertPool()
			roots.AddCert(carl)
			var out bytes.Buffer
			v, err := Verify(&out, bytes.NewReader(msg), &VerifyOptions{Roots: roots, At: time.Date(2002, 10, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			if !v.Signed || v.Opaque != (name == "4.9.eml") || len(v.Signers) != 1 {
				t.Fatalf("report %+v", v)
			}
			s := v.Signers[0]
			if !s.SignatureOK || s.Algorithm != "dsa" || s.Subject != "CN=AliceDSS" {
				t.Fatalf("signer %+v", s)
			}
			// crypto/x509 does not verify DSA certificate signatures.
			if s.ChainOK {
				t.Logf("chain: %v", s.Chain)
			} else if !strings.Contains(s.ChainErr, "x509:") {
				t.Errorf("chain error %q", s.ChainErr)
			}
			if !strings.HasSuffix(out.String(), "\r\n\r\nThis is some sample content.") || !strings.Contains(out.String(), "Subject: Example 4.") {
				t.Errorf("released %q", out.String())
			}
			// Altered content fails and releases nothing.
			bad := bytes.Replace(msg, []byte("sample content"), []byte("simple content"), 1)
			if name == "4.9.eml" {
				// The content is inside the base64 signed-data: "c2FtcGxl" is "sample".
				bad = bytes.Replace(msg, []byte("IHNvbWUgc2FtcGxl"), []byte("IHNvbWUgc2ltcGxl"), 1)
			}
			if bytes.Equal(bad, msg) {
				t.Fatal("tampering changed nothing")
			}
			out.Reset()
			v, err = Verify(&out, bytes.NewReader(bad), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Signers) != 1 || v.Signers[0].SignatureOK || out.Len() != 0 {
				t.Fatalf("altered message verified or released: %+v", v.Signers[0])
			}
		})
	}
}

func TestRFC4134EncryptedMessage(t *testing.T) {
	dir := shareddata.Path(t, "rfc4134")
	key, err := x509.ParsePKCS8PrivateKey(readFile(t, filepath.Join(dir, "BobPrivRSAEncrypt.pri")))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(readFile(t, filepath.Join(dir, "BobRSASignByCarl.cer")))
	if err != nil {
		t.Fatal(err)
	}
	msg := readFile(t, filepath.Join(dir, "5.3.eml"))
	var out bytes.Buffer
	d, err := Decrypt(&out, bytes.NewReader(msg), nil, &cms.Identity{Certificate: cert, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	// The enveloped content is the bare text, not a MIME entity.
	want := "Subject: Example 5.3\r\n\r\nThis is some sample content."
	if !strings.HasSuffix(out.String(), want) || !strings.HasPrefix(out.String(), "Message-Id: <00103112005203.00349@amyemily.ig.com>\r\n") {
		t.Errorf("decrypted message %q", out.String())
	}
	if !d.NotMIME || d.Cipher != cms.DES3CBC || !slices.Contains(d.Weak, "cipher des-ede3-cbc") || d.Signed() {
		t.Errorf("report %+v", d)
	}
	// Someone else's key: the uniform error and nothing released.
	alice, err := x509.ParseCertificate(readFile(t, filepath.Join(dir, "AliceRSASignByCarl.cer")))
	if err != nil {
		t.Fatal(err)
	}
	ak, err := x509.ParsePKCS8PrivateKey(readFile(t, filepath.Join(dir, "AlicePrivRSASign.pri")))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*cms.Identity{{Certificate: alice, Key: ak}, {Certificate: cert, Key: ak}} {
		out.Reset()
		if _, err := Decrypt(&out, bytes.NewReader(msg), nil, id); !errors.Is(err, cms.ErrDecrypt) || err.Error() != cms.ErrDecrypt.Error() || out.Len() != 0 {
			t.Errorf("wrong key: %v, released %q", err, out.String())
		}
	}
}

func TestPycaSignedOpaqueWithoutContent(t *testing.T) {
	dir := shareddata.Path(t, "pyca-pkcs7")
	var out bytes.Buffer
	v, err := Verify(&out, bytes.NewReader(readFile(t, filepath.Join(dir, "index-extra", "signed-opaque.msg"))), nil)
	if err == nil || !strings.Contains(err.Error(), "no content") || out.Len() != 0 {
		t.Fatalf("Verify = %+v, %v, released %d bytes; want an error about the missing content", v, err, out.Len())
	}
}
