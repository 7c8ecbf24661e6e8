//lint:file-ignore SA1019 RFC 4134 examples are DSA

package cms

import (
	"bufio"
	"bytes"
	"crypto/dsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/shareddata"
	"github.com/signet-smime/signet/internal/x509util"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pkcs7PEM decodes a "-----BEGIN PKCS7-----" file.
func pkcs7PEM(t testing.TB, path string) []byte {
	t.Helper()
	blk, _ := pem.Decode(readFile(t, path))
	if blk == nil || blk.Type != "PKCS7" {
		t.Fatalf("%s: no PKCS7 PEM block", path)
	}
	return blk.Bytes
}

// mimeBody returns the base64-decoded body of a single-part MIME message
// (header, empty line, base64), whatever its line endings.
func mimeBody(t testing.TB, path string) []byte {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(readFile(t, path)))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: no body", path)
		}
		if strings.TrimRight(line, "\r\n") == "" {
			break
		}
	}
	rest, _ := io.ReadAll(r)
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(rest)), ""))
	if err != nil {
		t.Fatalf("%s: body: %v", path, err)
	}
	return der
}

// rfc4134Certs parses the .cer files of the RFC 4134 folder. Diane's DSA
// certificate that inherits its parameters is not parsable by crypto/x509.
func rfc4134Certs(t *testing.T, dir string) map[string]*x509.Certificate {
	t.Helper()
	out := map[string]*x509.Certificate{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.cer"))
	for _, f := range files {
		// Diane's DSA key inherits its parameters (RFC 3279 2.3.2), which
		// crypto/x509 refuses; the lenient parser cms uses accepts it.
		c, err := x509util.ParseLenient(readFile(t, f))
		name := strings.TrimSuffix(filepath.Base(f), ".cer")
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[name] = c
	}
	if len(out) != 7 {
		t.Fatalf("found %d RFC 4134 certificates, want 7", len(out))
	}
	return out
}

func certList(m map[string]*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range m {
		out = append(out, c)
	}
	return out
}

func TestRFC4134Verify(t *testing.T) {
	dir := shareddata.Path(t, "rfc4134")
	certs := rfc4134Certs(t, dir)
	exContent := readFile(t, filepath.Join(dir, "ExContent.bin"))
	if string(exContent) != "This is some sample content." {
		t.Fatalf("ExContent.bin = %q", exContent)
	}
	type signer struct {
		cert string // certificate file expected to be found for the signer
		alg  string
		err  string // "" when the signature must verify
	}
	tests := []struct {
		name     string
		detached bool
		signers  []signer
		nCerts   int // certificates carried (parsable)
		nCRLs    int
		ski      bool // signer identified by subjectKeyIdentifier
	}{
		{name: "4.1", signers: []signer{{"AliceDSSSignByCarlNoInherit", "dsa", ""}}, nCerts: 1},
		{name: "4.2", signers: []signer{{"AliceRSASignByCarl", "rsa-pkcs1v15", ""}}, nCerts: 1},
		{name: "4.3", detached: true, signers: []signer{{"AliceDSSSignByCarlNoInherit", "dsa", ""}}, nCerts: 1},
		{name: "4.4", signers: []signer{{"AliceDSSSignByCarlNoInherit", "dsa", ""}}, nCerts: 3, nCRLs: 1},
		{name: "4.5", signers: []signer{{"AliceRSASignByCarl", "rsa-pkcs1v15", ""}}, nCerts: 2},
		// Diane's certificate has no DSA parameters (inherited from Carl's):
		// crypto/x509 rejects it, so her signature cannot be checked.
		{name: "4.6", signers: []signer{
			{"AliceDSSSignByCarlNoInherit", "dsa", ""},
			{"DianeDSSSignByCarlInherit", "dsa", ""},
		}, nCerts: 2},
		{name: "4.7", signers: []signer{{"AliceDSSSignByCarlNoInherit", "dsa", ""}}, nCerts: 1, ski: true},
		{name: "4.10", signers: []signer{{"AliceDSSSignByCarlNoInherit", "dsa", ""}}, nCerts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := readFile(t, filepath.Join(dir, tt.name+".bin"))
			var got bytes.Buffer
			opts := &VerifyOptions{Certificates: certList(certs), Content: &got}
			if tt.detached {
				opts.Detached = bytes.NewReader(exContent)
			}
			sd, err := Verify(bytes.NewReader(msg), opts)
			if err != nil {
				t.Fatal(err)
			}
			if sd.Detached != tt.detached || !sd.ContentType.Equal(OIDData) {
				t.Errorf("Detached %v, ContentType %v", sd.Detached, sd.ContentType)
			}
			if sd.ContentSize != int64(len(exContent)) {
				t.Errorf("ContentSize %d, want %d", sd.ContentSize, len(exContent))
			}
			if !tt.detached && !bytes.Equal(got.Bytes(), exContent) {
				t.Errorf("content %q, want %q", got.Bytes(), exContent)
			}
			if tt.detached && got.Len() != 0 {
				t.Errorf("detached content written to Content: %q", got.Bytes())
			}
			if len(sd.Certificates) != tt.nCerts || len(sd.CRLs) != tt.nCRLs {
				t.Errorf("%d certificates, %d CRLs; want %d, %d", len(sd.Certificates), len(sd.CRLs), tt.nCerts, tt.nCRLs)
			}
			if len(sd.Signers) != len(tt.signers) {
				t.Fatalf("%d signers, want %d", len(sd.Signers), len(tt.signers))
			}
			for i, want := range tt.signers {
				s := sd.Signers[i]
				if want.err == "" {
					if s.Err != nil {
						t.Errorf("signer %d: %v", i, s.Err)
					}
				} else if s.Err == nil || !strings.Contains(s.Err.Error(), want.err) || !errors.Is(s.Err, ErrUnsupported) {
					t.Errorf("signer %d: err = %v, want ErrUnsupported with %q", i, s.Err, want.err)
				}
				if want.cert == "" {
					if s.Certificate != nil {
						t.Errorf("signer %d: unexpected certificate %v", i, s.Certificate.Subject)
					}
				} else if s.Certificate == nil || !s.Certificate.Equal(certs[want.cert]) {
					t.Errorf("signer %d: certificate is not %s", i, want.cert)
				}
				if s.SignatureAlgorithm != want.alg {
					t.Errorf("signer %d: algorithm %q, want %q", i, s.SignatureAlgorithm, want.alg)
				}
				if (s.SubjectKeyID != nil) != tt.ski {
					t.Errorf("signer %d: SubjectKeyID %x", i, s.SubjectKeyID)
				}
				if !slices.Contains(s.Weak, "digest sha1") {
					t.Errorf("signer %d: SHA-1 not flagged weak: %v", i, s.Weak)
				}
			}
		})
	}
}

// TestRFC4134VerifyDetectsChanges makes sure the verifications above can
// fail: altered content, missing detached content, missing certificate.
func TestRFC4134VerifyDetectsChanges(t *testing.T) {
	dir := shareddata.Path(t, "rfc4134")
	certs := certList(rfc4134Certs(t, dir))
	exContent := readFile(t, filepath.Join(dir, "ExContent.bin"))
	for _, name := range []string{"4.1", "4.2", "4.4", "4.5", "4.7", "4.10"} {
		msg := readFile(t, filepath.Join(dir, name+".bin"))
		i := bytes.Index(msg, []byte("sample content"))
		if i < 0 {
			t.Fatalf("%s: content not found", name)
		}
		msg[i+1] = 'i' // "simple content"
		sd, err := Verify(bytes.NewReader(msg), &VerifyOptions{Certificates: certs})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(sd.Signers) != 1 || !errors.Is(sd.Signers[0].Err, ErrBadSignature) {
			t.Errorf("%s with altered content: signer error %v, want ErrBadSignature", name, sd.Signers[0].Err)
		}
	}
	msg := readFile(t, filepath.Join(dir, "4.3.bin"))
	if _, err := Verify(bytes.NewReader(msg), &VerifyOptions{Certificates: certs}); err == nil || !strings.Contains(err.Error(), "detached") {
		t.Errorf("4.3 without its content: err = %v", err)
	}
	sd, err := Verify(bytes.NewReader(msg), &VerifyOptions{Certificates: certs, Detached: strings.NewReader(string(exContent) + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(sd.Signers[0].Err, ErrBadSignature) {
		t.Errorf("4.3 with other content: signer error %v", sd.Signers[0].Err)
	}
	// The signer's certificate must come from somewhere: 4.2 carries
	// Alice's; without it (certificates [0] removed) the signer has none.
	msg = readFile(t, filepath.Join(dir, "4.2.bin"))
	sd, err = Verify(bytes.NewReader(msg), nil)
	if err != nil || sd.Signers[0].Err != nil {
		t.Fatalf("4.2 with its own certificates only: %v, %v", err, sd.Signers[0].Err)
	}
	stripped := stripCertificates(t, msg)
	sd, err = Verify(bytes.NewReader(stripped), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Certificates) != 0 || sd.Signers[0].Certificate != nil || !errors.Is(sd.Signers[0].Err, errNoSignerCertificate) {
		t.Errorf("4.2 without certificates: %d certificates, signer error %v", len(sd.Certificates), sd.Signers[0].Err)
	}
	sd, err = Verify(bytes.NewReader(stripped), &VerifyOptions{Certificates: certs})
	if err != nil || sd.Signers[0].Err != nil {
		t.Errorf("4.2 without certificates, given the folder's: %v, %v", err, sd.Signers[0].Err)
	}
}

// stripCertificates removes the certificates [0] of a DER SignedData.
func stripCertificates(t *testing.T, der []byte) []byte {
	t.Helper()
	s := cryptobyte.String(der)
	var ci, oid, explicit, sd cryptobyte.String
	if !s.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1Element(&oid, cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&explicit, cbasn1.Tag(0).ContextSpecific().Constructed()) || !explicit.ReadASN1(&sd, cbasn1.SEQUENCE) {
		t.Fatal("not a DER SignedData")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(oid)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for !sd.Empty() {
					var el cryptobyte.String
					var tag cbasn1.Tag
					if !sd.ReadAnyASN1Element(&el, &tag) {
						t.Fatal("bad SignedData element")
					}
					if tag != cbasn1.Tag(0).ContextSpecific().Constructed() {
						b.AddBytes(el)
					}
				}
			})
		})
	})
	return b.BytesOrPanic()
}

// TestRFC4134DSAParameterInheritance checks that Diane's signature in 4.6
// is valid once her key takes p, q, g from Carl's certificate (RFC 3279
// 2.3.2): the only gap is crypto/x509 refusing the certificate.
// TestRFC4134DSAParameterInheritance: in 4.6, Diane's DSA key has no
// parameters; they are inherited from her issuer Carl (RFC 3279 2.3.2).
// With Carl's certificate at hand both signatures verify; without it
// Diane's is unsupported; with wrong parameters under Carl's name it fails.
func TestRFC4134DSAParameterInheritance(t *testing.T) {
	dir := shareddata.Path(t, "rfc4134")
	certs := rfc4134Certs(t, dir)
	msg := readFile(t, filepath.Join(dir, "4.6.bin"))
	carl := certs["CarlDSSSelf"]
	sd, err := Verify(bytes.NewReader(msg), &VerifyOptions{Certificates: []*x509.Certificate{carl}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Signers) != 2 {
		t.Fatalf("%d signers", len(sd.Signers))
	}
	for i, si := range sd.Signers {
		if si.Err != nil {
			t.Errorf("signer %d: %v", i, si.Err)
		}
	}
	if c := sd.Signers[1].Certificate; c == nil || c.Subject.CommonName != "DianeDSS" {
		t.Fatalf("the second signer is not Diane: %v", c)
	}
	sd, err = Verify(bytes.NewReader(msg), nil)
	if err != nil || !errors.Is(sd.Signers[1].Err, ErrUnsupported) {
		t.Errorf("without Carl: %v, %v", err, sd.Signers[1].Err)
	}
	cp := carl.PublicKey.(*dsa.PublicKey)
	fake := &x509.Certificate{RawSubject: carl.RawSubject, PublicKey: &dsa.PublicKey{
		Parameters: dsa.Parameters{P: cp.P, Q: cp.Q, G: new(big.Int).Add(cp.G, big.NewInt(1))}, Y: cp.Y}}
	sd, err = Verify(bytes.NewReader(msg), &VerifyOptions{Certificates: []*x509.Certificate{fake}})
	if err != nil || !errors.Is(sd.Signers[1].Err, ErrBadSignature) {
		t.Errorf("with wrong inherited parameters: %v, %v", err, sd.Signers[1].Err)
	}
}

func TestRFC4134CertificatesOnly(t *testing.T) {
	dir := shareddata.Path(t, "rfc4134")
	var got bytes.Buffer
	sd, err := Verify(bytes.NewReader(readFile(t, filepath.Join(dir, "4.11.bin"))), &VerifyOptions{Content: &got})
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Signers) != 0 {
		t.Fatalf("%d signers, want none", len(sd.Signers))
	}
	if !sd.Detached || got.Len() != 0 {
		t.Errorf("Detached %v, content %q", sd.Detached, got.Bytes())
	}
	var names []string
	for _, c := range sd.Certificates {
		names = append(names, c.Subject.CommonName)
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "AliceDSS,CarlDSS" || len(sd.CRLs) != 1 {
		t.Fatalf("certificates %v, %d CRLs", names, len(sd.CRLs))
	}
	// The CRL is carried as is: it is one of the folder's CRL files
	// (a v1 CRL, which crypto/x509 does not parse).
	var match []string
	crls, _ := filepath.Glob(filepath.Join(dir, "*.crl"))
	for _, f := range crls {
		if bytes.Equal(readFile(t, f), sd.CRLs[0]) {
			match = append(match, filepath.Base(f))
		}
	}
	if len(match) != 1 {
		t.Errorf("the CRL matches %v of the folder's CRL files", match)
	}
}

func bobIdentity(t *testing.T, dir string) *Identity {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(readFile(t, filepath.Join(dir, "BobPrivRSAEncrypt.pri")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(readFile(t, filepath.Join(dir, "BobRSASignByCarl.cer")))
	if err != nil {
		t.Fatal(err)
	}
	return &Identity{Certificate: c, Key: k}
}

func TestRFC4134Decrypt(t *testing.T) {
	dir := shareddata.Path(t, "rfc4134")
	bob := bobIdentity(t, dir)
	exContent := readFile(t, filepath.Join(dir, "ExContent.bin"))
	for name, msg := range map[string][]byte{
		"5.1.bin": readFile(t, filepath.Join(dir, "5.1.bin")),
		"5.3.eml": mimeBody(t, filepath.Join(dir, "5.3.eml")),
	} {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			info, err := Decrypt(bytes.NewReader(msg), &got, bob)
			if err != nil {
				t.Fatal(err)
			}
			want := exContent // 5.3 too: its content is the bare text, not a MIME entity
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("plaintext %q, want %q", got.Bytes(), want)
			}
			if info.Cipher != DES3CBC || !info.Cipher.Weak() || !slices.Contains(info.Weak, "cipher des-ede3-cbc") {
				t.Errorf("3DES not flagged: %+v", info)
			}
			if info.KeyDelivery != "rsa-pkcs1v15" || info.Recipients != 1 || info.Authenticated {
				t.Errorf("info %+v", info)
			}
			// Someone else's key: the uniform error, nothing written.
			alice, err := x509.ParseCertificate(readFile(t, filepath.Join(dir, "AliceRSASignByCarl.cer")))
			if err != nil {
				t.Fatal(err)
			}
			ak, err := x509.ParsePKCS8PrivateKey(readFile(t, filepath.Join(dir, "AlicePrivRSASign.pri")))
			if err != nil {
				t.Fatal(err)
			}
			got.Reset()
			if _, err := Decrypt(bytes.NewReader(msg), &got, &Identity{Certificate: alice, Key: ak}); !isUniformDecryptError(err) || got.Len() != 0 {
				t.Errorf("Alice decrypting Bob's message: %v, %d bytes", err, got.Len())
			}
			// Bob's certificate with Alice's key: implicit rejection.
			got.Reset()
			_, err = Decrypt(bytes.NewReader(msg), &got, &Identity{Certificate: bob.Certificate, Key: ak})
			if err == nil && bytes.Equal(got.Bytes(), want) {
				t.Error("decrypted with the wrong private key")
			}
			if err != nil && !isUniformDecryptError(err) {
				t.Errorf("wrong private key: %v", err)
			}
		})
	}
	t.Run("5.2.bin RC2", func(t *testing.T) {
		var got bytes.Buffer
		_, err := Decrypt(bytes.NewReader(readFile(t, filepath.Join(dir, "5.2.bin"))), &got, bob)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "1.2.840.113549.3.2") {
			t.Fatalf("err = %v, want ErrUnsupported naming the RC2 OID", err)
		}
		if got.Len() != 0 {
			t.Fatalf("%d bytes written", got.Len())
		}
	})
}

func pycaIdentity(t *testing.T, dir string) *Identity {
	t.Helper()
	k, err := keyfile.LoadPrivateKey(filepath.Join(dir, "custom-ca", "rsa_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := keyfile.LoadCertificates(filepath.Join(dir, "custom-ca", "rsa_ca.pem"))
	if err != nil || len(cs) != 1 {
		t.Fatalf("rsa_ca.pem: %v", err)
	}
	if _, ok := k.(*rsa.PrivateKey); !ok {
		t.Fatalf("rsa_key.pem holds %T", k)
	}
	return &Identity{Certificate: cs[0], Key: k}
}

func TestPycaDecrypt(t *testing.T) {
	dir := shareddata.Path(t, "pyca-pkcs7")
	id := pycaIdentity(t, dir)
	// Expected plaintexts as `openssl cms -decrypt` prints them (checked
	// with OpenSSL 3.0: the 3DES and AES-CBC vectors end in CRLF).
	tests := []struct {
		file     string
		want     string
		cipher   Cipher
		delivery string
		weak     []string
	}{
		{"enveloped-triple-des.pem", "Hello, World!\r\n", DES3CBC, "rsa-pkcs1v15", []string{"cipher des-ede3-cbc"}},
		{"enveloped-rsa-oaep.pem", "Hello, world!", AES128CBC, "rsa-oaep", []string{"RSA-OAEP with SHA-1"}},
		{"index-extra/enveloped-aes-192-cbc.pem", "Hello world!\r\n", AES192CBC, "rsa-pkcs1v15", nil},
		{"index-extra/enveloped-aes-256-cbc.pem", "Hello world!\r\n", AES256CBC, "rsa-pkcs1v15", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			msg := pkcs7PEM(t, filepath.Join(dir, tt.file))
			var got bytes.Buffer
			info, err := Decrypt(bytes.NewReader(msg), &got, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("plaintext %q, want %q", got.String(), tt.want)
			}
			if info.Cipher != tt.cipher || info.KeyDelivery != tt.delivery || !slices.Equal(info.Weak, tt.weak) {
				t.Errorf("info %+v; want cipher %v, delivery %s, weak %v", info, tt.cipher, tt.delivery, tt.weak)
			}
			if info.Cipher.Weak() != (tt.cipher == DES3CBC) {
				t.Errorf("Cipher.Weak() = %v", info.Cipher.Weak())
			}
		})
	}
	t.Run("enveloped-no-content.der", func(t *testing.T) {
		var got bytes.Buffer
		info, err := Decrypt(bytes.NewReader(readFile(t, filepath.Join(dir, "enveloped-no-content.der"))), &got, id)
		if err == nil || info != nil || got.Len() != 0 {
			t.Fatalf("info %+v, err %v, %d bytes", info, err, got.Len())
		}
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "no encrypted content") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("enveloped.pem for other recipients", func(t *testing.T) {
		var got bytes.Buffer
		if _, err := Decrypt(bytes.NewReader(pkcs7PEM(t, filepath.Join(dir, "enveloped.pem"))), &got, id); !isUniformDecryptError(err) || got.Len() != 0 {
			t.Fatalf("err = %v, %d bytes", err, got.Len())
		}
	})
}

func TestPycaSignedOpaqueWithoutContent(t *testing.T) {
	dir := shareddata.Path(t, "pyca-pkcs7")
	msg := mimeBody(t, filepath.Join(dir, "index-extra", "signed-opaque.msg"))
	var got bytes.Buffer
	sd, err := Verify(bytes.NewReader(msg), &VerifyOptions{Content: &got})
	if err == nil || !strings.Contains(err.Error(), "detached and no content") {
		t.Fatalf("Verify = %+v, %v; want the detached/no content error", sd, err)
	}
	if got.Len() != 0 {
		t.Fatalf("content written: %q", got.Bytes())
	}
	// Given some content, the structure reads and the signer's certificate
	// is found, but the signature is not over that content.
	sd, err = Verify(bytes.NewReader(msg), &VerifyOptions{Detached: strings.NewReader("Hello")})
	if err != nil {
		t.Fatal(err)
	}
	if !sd.Detached || len(sd.Signers) != 1 {
		t.Fatalf("Detached %v, %d signers", sd.Detached, len(sd.Signers))
	}
	s := sd.Signers[0]
	if s.Certificate == nil || !slices.Contains(s.Certificate.EmailAddresses, "demo1@trisoft.com.pl") {
		t.Fatalf("signer certificate %v", s.Certificate)
	}
	if !errors.Is(s.Err, ErrBadSignature) {
		t.Fatalf("signer error %v, want ErrBadSignature", s.Err)
	}
}

func TestPycaCertificatesOnly(t *testing.T) {
	dir := shareddata.Path(t, "pyca-pkcs7")
	tests := []struct {
		file string
		der  []byte
		want []string
	}{
		{"amazon-roots.der", readFile(t, filepath.Join(dir, "amazon-roots.der")), []string{"Amazon Root CA 2", "Amazon Root CA 3"}},
		// Despite its name this file is BER (indefinite lengths, an
		// empty eContent), not PEM.
		{"amazon-roots.p7b", readFile(t, filepath.Join(dir, "amazon-roots.p7b")), []string{"Amazon Root CA 2", "Amazon Root CA 3"}},
		{"isrg.pem", pkcs7PEM(t, filepath.Join(dir, "isrg.pem")), []string{"ISRG Root X1"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			sd, err := Verify(bytes.NewReader(tt.der), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(sd.Signers) != 0 {
				t.Errorf("%d signers", len(sd.Signers))
			}
			var names []string
			for _, c := range sd.Certificates {
				names = append(names, c.Subject.CommonName)
				if !c.IsCA {
					t.Errorf("%s is not a CA certificate", c.Subject)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) {
				t.Errorf("certificates %v, want %v", names, tt.want)
			}
		})
	}
}
