package interop

// Interop with OpenSSL 3 `openssl cms`, in both directions: signing,
// verifying, encrypting and decrypting with every algorithm both sides
// support.
//
// Observed with OpenSSL 3.0.19 (Ubuntu), recorded in the tests below:
//   - OpenSSL 3.0 cannot verify Ed25519 SignedData (RFC 8419): it fails with
//     "eddsa_digest_signverify_init:invalid digest" (it wants to hash the
//     signed attributes with SHA-512 before calling EdDSA, which the
//     provider refuses). Signet's Ed25519 messages follow RFC 8419
//     (digestAlgorithm sha512, signatureAlgorithm id-Ed25519, no parameters).
//   - OpenSSL 3.0 cannot decrypt X25519 key agreement (RFC 8418): "CMS
//     routines:CMS_decrypt_set1_pkey_and_peer:no matching recipient"; it
//     cannot encrypt to an X25519 certificate either ("evp_pkey_asym_cipher_init:
//     operation not supported for this keytype").
//   - OpenSSL's default ECDH KDF is dhSinglePass-stdDH-sha1kdf-scheme, which
//     Signet decrypts with a "weak algorithm" warning; -keyopt ecdh_kdf_md:sha256
//     selects the SHA-256 scheme.
//   - RSA-OAEP without -keyopt rsa_oaep_md uses SHA-1 (Signet warns).
//   - `openssl cms -sign|-encrypt` with -from/-to/-subject writes a whole
//     message (To, From, Subject, MIME-Version, Content-Type) with LF line
//     endings; without them it writes a bare MIME entity that starts with
//     MIME-Version. Without -text the content is not a MIME entity at all.

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
)

// peerDecryptFailed is the single line Signet prints for every failure to decrypt.
const peerDecryptFailed = "signet: decryption failed"

// peerReport is the part of `signet verify --json` the tests look at.
type peerReport struct {
	OK      bool   `json:"ok"`
	Signed  bool   `json:"signed"`
	Opaque  bool   `json:"opaque"`
	From    string `json:"from"`
	Signers []struct {
		Subject            string   `json:"subject"`
		Emails             []string `json:"emails"`
		Digest             string   `json:"digest"`
		SignatureAlgorithm string   `json:"signature_algorithm"`
		SignatureOK        bool     `json:"signature_ok"`
		ChainOK            bool     `json:"chain_ok"`
		FromMatches        bool     `json:"from_matches"`
	} `json:"signers"`
}

// peerVerify runs `signet verify --json` in dir and decodes its report.
func peerVerify(t testing.TB, dir string, args ...string) (peerReport, result) {
	t.Helper()
	r := signet(t, dir, nil, append([]string{"verify", "--json"}, args...)...)
	var rep peerReport
	if err := json.Unmarshal(r.stdout, &rep); err != nil {
		t.Fatalf("signet verify %s: exit %d, report is not JSON: %v\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), r.code, err, r.stdout, r.stderr)
	}
	return rep, r
}

// peerGoodSigner asserts a passing report with one signer, email@example.org.
func peerGoodSigner(t testing.TB, rep peerReport, r result, email, digest, sigAlg string) {
	t.Helper()
	if r.code != 0 || !rep.OK || !rep.Signed {
		t.Fatalf("signet verify: exit %d ok=%v signed=%v\nstdout: %s\nstderr: %s", r.code, rep.OK, rep.Signed, r.stdout, r.stderr)
	}
	if len(rep.Signers) != 1 {
		t.Fatalf("signet verify: %d signers, want 1: %s", len(rep.Signers), r.stdout)
	}
	s := rep.Signers[0]
	if !peerContains(s.Emails, email) || !strings.Contains(s.Subject, email) {
		t.Errorf("signer %q %v, want %s", s.Subject, s.Emails, email)
	}
	if !s.SignatureOK || !s.ChainOK || !s.FromMatches {
		t.Errorf("signer checks: signature %v chain %v from %v", s.SignatureOK, s.ChainOK, s.FromMatches)
	}
	if digest != "" && s.Digest != digest {
		t.Errorf("digest %q, want %q", s.Digest, digest)
	}
	if sigAlg != "" && s.SignatureAlgorithm != sigAlg {
		t.Errorf("signature algorithm %q, want %q", s.SignatureAlgorithm, sigAlg)
	}
}

func peerContains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// peerRead returns a file from the pki folder.
func peerRead(p *pki, t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// peerExists says whether a file is in the pki folder.
func peerExists(p *pki, name string) bool {
	_, err := os.Stat(filepath.Join(p.dir, name))
	return err == nil
}

// peerRemove deletes a file from the pki folder, if it is there.
func peerRemove(p *pki, t testing.TB, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(p.dir, name)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// peerOtherCA writes the certificate of an unrelated CA as other-ca.crt.
func peerOtherCA(p *pki, t testing.TB) string {
	t.Helper()
	o := newPKI(t, nil)
	return p.write(t, "other-ca.crt", peerRead(o, t, "ca.crt"))
}

// peerHeader parses the header of a message (CRLF or LF).
func peerHeader(t testing.TB, msg []byte) mail.Header {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, msg)
	}
	return m.Header
}

// peerSplit splits a message into header block and body at the first
// empty line (CRLF or LF).
func peerSplit(t testing.TB, msg []byte) (head, body []byte) {
	t.Helper()
	end := -1
	for _, sep := range []string{"\n\r\n", "\n\n"} {
		if i := bytes.Index(msg, []byte(sep)); i >= 0 && (end < 0 || i+len(sep) < end) {
			end = i + len(sep)
		}
	}
	if end < 0 {
		t.Fatalf("no header/body separator in:\n%s", msg)
	}
	return msg[:end], msg[end:]
}

// peerPKCS7 returns the header block of an application/pkcs7-mime message
// and its decoded base64 body.
func peerPKCS7(t testing.TB, msg []byte) (head, der []byte) {
	t.Helper()
	head, body := peerSplit(t, msg)
	if ct := peerHeader(t, msg).Get("Content-Type"); !strings.Contains(strings.ToLower(ct), "pkcs7-mime") {
		t.Fatalf("Content-Type %q is not application/pkcs7-mime", ct)
	}
	return head, peerUnbase64(t, body)
}

// peerUnbase64 decodes base64 text in lines.
func peerUnbase64(t testing.TB, text []byte) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(text), nil)))
	if err != nil {
		t.Fatalf("base64: %v\n%s", err, text)
	}
	return b
}

// peerBase64Lines encodes data as base64 in CRLF-terminated lines of 76.
func peerBase64Lines(data []byte) []byte {
	s := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.Bytes()
}

// peerCountField counts the header fields called name (case-insensitive) in
// the header block of msg.
func peerCountField(t testing.TB, msg []byte, name string) int {
	t.Helper()
	head, _ := peerSplit(t, msg)
	n := 0
	for _, line := range strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n") {
		if i := strings.IndexByte(line, ':'); i > 0 && strings.EqualFold(strings.TrimSpace(line[:i]), name) {
			n++
		}
	}
	return n
}

// peerWrongKey writes NAME-wrong.crt and NAME-wrong.key: a certificate with
// the subject key identifier and address of NAME's, issued by the same CA,
// for a new key of type kt.
func peerWrongKey(t testing.TB, p *pki, name string, kt testpki.KeyType) {
	t.Helper()
	real := p.ids[name].Cert
	key, err := testpki.NewKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   new(big.Int).Add(real.SerialNumber, big.NewInt(1)),
		Subject:        real.Subject,
		NotBefore:      real.NotBefore,
		NotAfter:       real.NotAfter,
		KeyUsage:       real.KeyUsage,
		ExtKeyUsage:    real.ExtKeyUsage,
		EmailAddresses: real.EmailAddresses,
		SubjectKeyId:   real.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca.Cert, key.(crypto.Signer).Public(), p.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := testpki.KeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, name+"-wrong.crt", testpki.CertPEM(cert))
	p.write(t, name+"-wrong.key", kp)
}

// TestOpenSSLVerifiesSignet: Signet signs, `openssl cms -verify` verifies.
func TestOpenSSLVerifiesSignet(t *testing.T) {
	openssl := needTool(t, "openssl")
	p := newPKI(t, map[string]testpki.KeyType{
		"rsa": testpki.RSA2048, "p256": testpki.P256, "p384": testpki.P384, "p521": testpki.P521, "ed": testpki.Ed25519,
	})
	other := peerOtherCA(p, t)

	cases := []struct {
		name, signer string
		args         []string
		digest       string // OpenSSL's name in -print
		sigAlg       string
	}{
		{"rsa-pkcs1-sha256", "rsa", nil, "sha256", "rsaEncryption"},
		{"rsa-pkcs1-sha384", "rsa", []string{"--digest", "sha384"}, "sha384", "rsaEncryption"},
		{"rsa-pkcs1-sha512", "rsa", []string{"--digest", "sha512"}, "sha512", "rsaEncryption"},
		{"rsa-pss-sha256", "rsa", []string{"--pss"}, "sha256", "rsassaPss"},
		{"rsa-pss-sha384", "rsa", []string{"--pss", "--digest", "sha384"}, "sha384", "rsassaPss"},
		{"rsa-pss-sha512", "rsa", []string{"--pss", "--digest", "sha512"}, "sha512", "rsassaPss"},
		{"p256-sha256", "p256", nil, "sha256", "ecdsa-with-SHA256"},
		{"p256-sha384", "p256", []string{"--digest", "sha384"}, "sha384", "ecdsa-with-SHA384"},
		{"p256-sha512", "p256", []string{"--digest", "sha512"}, "sha512", "ecdsa-with-SHA512"},
		{"p384-sha384", "p384", []string{"--digest", "sha384"}, "sha384", "ecdsa-with-SHA384"},
		{"p384-sha256", "p384", nil, "sha256", "ecdsa-with-SHA256"},
		{"p521-sha512", "p521", []string{"--digest", "sha512"}, "sha512", "ecdsa-with-SHA512"},
		{"p521-sha256", "p521", nil, "sha256", "ecdsa-with-SHA256"},
		{"rsa-ski", "rsa", []string{"--ski"}, "sha256", "rsaEncryption"},
		{"p256-ski", "p256", []string{"--ski"}, "sha256", "ecdsa-with-SHA256"},
		{"p384-no-chain", "p384", []string{"--no-chain"}, "sha256", "ecdsa-with-SHA256"},
	}
	for _, tc := range cases {
		for _, opaque := range []bool{false, true} {
			mode := map[bool]string{false: "clear", true: "opaque"}[opaque]
			t.Run("ok/"+tc.name+"/"+mode, func(t *testing.T) {
				body := "Signed by Signet " + tc.name + " " + mode + ", checked by OpenSSL.\r\n"
				in := p.write(t, "in.eml", message(tc.signer, "bob", body))
				args := []string{"sign", "--cert", tc.signer + ".crt", "--key", tc.signer + ".key", "--in", in, "--out", "signed.eml"}
				if opaque {
					args = append(args, "--opaque")
				}
				mustSignet(t, p.dir, nil, append(args, tc.args...)...)
				ct := strings.ToLower(peerHeader(t, peerRead(p, t, "signed.eml")).Get("Content-Type"))
				if want := map[bool]string{false: "multipart/signed", true: "application/pkcs7-mime"}[opaque]; !strings.HasPrefix(ct, want) {
					t.Fatalf("Content-Type %q, want %s", ct, want)
				}

				r := run(t, p.dir, nil, openssl, "cms", "-verify", "-CAfile", "ca.crt", "-purpose", "smimesign", "-in", "signed.eml")
				if r.code != 0 || !bytes.Contains(r.stderr, []byte("Verification successful")) {
					t.Fatalf("openssl cms -verify: exit %d\nstderr: %s", r.code, r.stderr)
				}
				if !bytes.Contains(r.stdout, []byte(strings.TrimSpace(body))) {
					t.Errorf("OpenSSL's verified content lacks the body:\n%s", r.stdout)
				}
				// OpenSSL sees the algorithms Signet was asked for.
				dump := string(mustRun(t, p.dir, nil, openssl, "cms", "-cmsout", "-print", "-in", "signed.eml"))
				if !strings.Contains(dump, "algorithm: "+tc.digest+" (") || !strings.Contains(dump, "algorithm: "+tc.sigAlg+" (") {
					t.Errorf("OpenSSL does not see digest %s and signature %s:\n%s", tc.digest, tc.sigAlg, dump)
				}
			})
		}
	}

	for _, signer := range []string{"rsa", "p256"} {
		t.Run("fail/untrusted-ca/"+signer, func(t *testing.T) {
			in := p.write(t, "in.eml", message(signer, "bob", "Trust me.\r\n"))
			mustSignet(t, p.dir, nil, "sign", "--cert", signer+".crt", "--key", signer+".key", "--in", in, "--out", "signed.eml")
			r := run(t, p.dir, nil, openssl, "cms", "-verify", "-CAfile", other, "-purpose", "smimesign", "-in", "signed.eml")
			if r.code == 0 || !bytes.Contains(r.stderr, []byte("Verification failure")) {
				t.Fatalf("openssl verified against an unrelated CA: exit %d\n%s", r.code, r.stderr)
			}
		})
		t.Run("fail/altered-content/"+signer, func(t *testing.T) {
			in := p.write(t, "in.eml", message(signer, "bob", "Pay Mallory 10 EUR.\r\n"))
			mustSignet(t, p.dir, nil, "sign", "--cert", signer+".crt", "--key", signer+".key", "--in", in, "--out", "signed.eml")
			signed := peerRead(p, t, "signed.eml")
			altered := bytes.Replace(signed, []byte("10 EUR"), []byte("99 EUR"), 1)
			if bytes.Equal(signed, altered) {
				t.Fatal("the body is not in the clear-signed message")
			}
			p.write(t, "altered.eml", altered)
			r := run(t, p.dir, nil, openssl, "cms", "-verify", "-CAfile", "ca.crt", "-purpose", "smimesign", "-in", "altered.eml")
			if r.code == 0 || !bytes.Contains(r.stderr, []byte("Verification failure")) {
				t.Fatalf("openssl verified altered content: exit %d\n%s", r.code, r.stderr)
			}
		})
	}

	// Ed25519 (RFC 8419). OpenSSL 3.0.19 fails to verify it with
	//   CMS Verification failure
	//   ...:error:1C80007A:Provider routines:eddsa_digest_signverify_init:invalid digest:
	//   ../providers/implementations/signature/eddsa_sig.c:99:
	// a limitation of OpenSSL 3.0's CMS code, not of the message. When the
	// installed OpenSSL verifies it, the test requires the content; when it
	// does not, the failure must be that known one and Signet must verify its
	// own message (so that a broken Ed25519 signature cannot hide behind it).
	for _, opaque := range []bool{false, true} {
		mode := map[bool]string{false: "clear", true: "opaque"}[opaque]
		t.Run("ok/ed25519/"+mode, func(t *testing.T) {
			body := "Signed with Ed25519.\r\n"
			in := p.write(t, "in.eml", message("ed", "bob", body))
			args := []string{"sign", "--cert", "ed.crt", "--key", "ed.key", "--in", in, "--out", "signed.eml"}
			if opaque {
				args = append(args, "--opaque")
			}
			mustSignet(t, p.dir, nil, args...)
			dump := string(mustRun(t, p.dir, nil, openssl, "cms", "-cmsout", "-print", "-in", "signed.eml"))
			if !strings.Contains(dump, "algorithm: ED25519 (1.3.101.112)") || !strings.Contains(dump, "algorithm: sha512 (") {
				t.Errorf("not an RFC 8419 Ed25519 signature (id-Ed25519 with SHA-512):\n%s", dump)
			}
			r := run(t, p.dir, nil, openssl, "cms", "-verify", "-CAfile", "ca.crt", "-purpose", "smimesign", "-in", "signed.eml")
			if r.code == 0 {
				if !bytes.Contains(r.stdout, []byte(strings.TrimSpace(body))) {
					t.Errorf("OpenSSL's verified content lacks the body:\n%s", r.stdout)
				}
				return
			}
			if !bytes.Contains(r.stderr, []byte("eddsa_digest_signverify_init:invalid digest")) {
				t.Fatalf("openssl cms -verify failed other than by its known Ed25519 limitation: exit %d\n%s", r.code, r.stderr)
			}
			t.Logf("OpenSSL cannot verify Ed25519 CMS (known limitation of 3.0): %s", peerFirstLine(r.stderr, "error"))
			rep, vr := peerVerify(t, p.dir, "--trust", "ca.crt", "--in", "signed.eml")
			peerGoodSigner(t, rep, vr, "ed@example.org", "sha512", "")
		})
	}
}

// peerFirstLine returns the first line of out containing sub, or out's first line.
func peerFirstLine(out []byte, sub string) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return lines[0]
}

// TestSignetVerifiesOpenSSL: `openssl cms -sign` signs, Signet verifies.
func TestSignetVerifiesOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl")
	p := newPKI(t, map[string]testpki.KeyType{
		"rsa": testpki.RSA2048, "p256": testpki.P256, "p384": testpki.P384, "p521": testpki.P521,
	})
	other := peerOtherCA(p, t)
	const body = "Signed by OpenSSL, checked by Signet.\r\nSecond line.\r\n"
	p.write(t, "content.txt", []byte(body))

	// opensslSign makes a whole signed message with OpenSSL.
	opensslSign := func(t *testing.T, signer, subject string, opaque bool, extra ...string) {
		t.Helper()
		args := []string{"cms", "-sign", "-signer", signer + ".crt", "-inkey", signer + ".key", "-in", "content.txt", "-text",
			"-from", signer + "@example.org", "-to", "bob@example.org", "-subject", subject, "-out", "signed.eml"}
		if opaque {
			args = append(args, "-nodetach")
		}
		mustRun(t, p.dir, nil, openssl, append(args, extra...)...)
		// With -from/-to/-subject OpenSSL writes a whole message.
		h := peerHeader(t, peerRead(p, t, "signed.eml"))
		if h.Get("From") != signer+"@example.org" || h.Get("To") != "bob@example.org" || h.Get("Subject") != subject {
			t.Fatalf("OpenSSL's message header: From %q To %q Subject %q", h.Get("From"), h.Get("To"), h.Get("Subject"))
		}
		ct := strings.ToLower(h.Get("Content-Type"))
		if want := map[bool]string{false: "multipart/signed", true: "application/pkcs7-mime"}[opaque]; !strings.HasPrefix(ct, want) {
			t.Fatalf("OpenSSL's Content-Type %q, want %s", ct, want)
		}
	}

	cases := []struct {
		name, signer string
		args         []string
		digest       string // Signet's report
		sigAlg       string
	}{
		{"rsa-pkcs1-sha256", "rsa", nil, "sha256", "rsa-pkcs1v15"},
		{"rsa-pkcs1-sha384", "rsa", []string{"-md", "sha384"}, "sha384", "rsa-pkcs1v15"},
		{"rsa-pkcs1-sha512", "rsa", []string{"-md", "sha512"}, "sha512", "rsa-pkcs1v15"},
		{"rsa-pss-sha256", "rsa", []string{"-keyopt", "rsa_padding_mode:pss"}, "sha256", "rsa-pss"},
		{"rsa-pss-sha384", "rsa", []string{"-md", "sha384", "-keyopt", "rsa_padding_mode:pss"}, "sha384", "rsa-pss"},
		{"rsa-pss-sha512-saltlen-max", "rsa", []string{"-md", "sha512", "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:max"}, "sha512", "rsa-pss"},
		{"p256-sha256", "p256", nil, "sha256", "ecdsa"},
		{"p256-sha384", "p256", []string{"-md", "sha384"}, "sha384", "ecdsa"},
		{"p384-sha384", "p384", []string{"-md", "sha384"}, "sha384", "ecdsa"},
		{"p384-sha512", "p384", []string{"-md", "sha512"}, "sha512", "ecdsa"},
		{"p521-sha512", "p521", []string{"-md", "sha512"}, "sha512", "ecdsa"},
		{"p521-sha256", "p521", nil, "sha256", "ecdsa"},
		{"p256-keyid", "p256", []string{"-keyid"}, "sha256", "ecdsa"},
		{"rsa-no-signed-attributes", "rsa", []string{"-noattr"}, "sha256", "rsa-pkcs1v15"},
		{"p384-no-signed-attributes", "p384", []string{"-noattr", "-md", "sha384"}, "sha384", "ecdsa"},
	}
	for _, tc := range cases {
		for _, opaque := range []bool{false, true} {
			mode := map[bool]string{false: "clear", true: "opaque"}[opaque]
			subject := "OpenSSL interop " + tc.name
			t.Run("ok/"+tc.name+"/"+mode, func(t *testing.T) {
				opensslSign(t, tc.signer, subject, opaque, tc.args...)
				peerRemove(p, t, "inner.eml")
				rep, r := peerVerify(t, p.dir, "--trust", "ca.crt", "--in", "signed.eml", "--out", "inner.eml")
				peerGoodSigner(t, rep, r, tc.signer+"@example.org", tc.digest, tc.sigAlg)
				if rep.Opaque != opaque {
					t.Errorf("report says opaque=%v", rep.Opaque)
				}
				inner := peerRead(p, t, "inner.eml")
				if !bytes.Contains(inner, []byte("Second line.")) || peerHeader(t, inner).Get("Subject") != subject {
					t.Errorf("signet verify --out:\n%s", inner)
				}
			})
			t.Run("fail/untrusted-ca/"+tc.name+"/"+mode, func(t *testing.T) {
				opensslSign(t, tc.signer, subject, opaque, tc.args...)
				rep, r := peerVerify(t, p.dir, "--trust", other, "--in", "signed.eml")
				if r.code != 1 || rep.OK {
					t.Fatalf("signet verify with an unrelated CA: exit %d ok=%v\n%s", r.code, rep.OK, r.stderr)
				}
				if len(rep.Signers) != 1 || !rep.Signers[0].SignatureOK || rep.Signers[0].ChainOK {
					t.Errorf("want a good signature on an untrusted chain: %s", r.stdout)
				}
			})
		}
	}

	t.Run("fail/altered-content", func(t *testing.T) {
		opensslSign(t, "p256", "altered", false)
		signed := peerRead(p, t, "signed.eml")
		altered := bytes.Replace(signed, []byte("Second line."), []byte("Second lime."), 1)
		if bytes.Equal(signed, altered) {
			t.Fatal("the body is not in the clear-signed message")
		}
		p.write(t, "altered.eml", altered)
		peerRemove(p, t, "inner.eml")
		rep, r := peerVerify(t, p.dir, "--trust", "ca.crt", "--in", "altered.eml", "--out", "inner.eml")
		if r.code != 1 || rep.OK || len(rep.Signers) != 1 || rep.Signers[0].SignatureOK {
			t.Fatalf("signet verify of altered content: exit %d\n%s", r.code, r.stdout)
		}
		if peerExists(p, "inner.eml") {
			t.Error("--out was written for a bad signature")
		}
	})

	// -nocerts: the message carries no certificate; the signer's comes
	// from outside. Without it the signature cannot be checked.
	t.Run("fail/no-certificates", func(t *testing.T) {
		opensslSign(t, "rsa", "nocerts", false, "-nocerts")
		rep, r := peerVerify(t, p.dir, "--trust", "ca.crt", "--in", "signed.eml")
		if r.code != 1 || rep.OK {
			t.Fatalf("signet verify without the signer's certificate: exit %d\n%s", r.code, r.stdout)
		}
	})
	// BUG: `signet verify --certfile` documents "extra ... certificates" and
	// smime.VerifyOptions.Intermediates "add to the certificates carried in
	// the message", but smime.Verify never hands them to cms.Verify
	// (cms.VerifyOptions.Certificates), so the signer of a message signed
	// without certificates (openssl cms -sign -nocerts, or any sender that
	// omits its certificate) can never be found: "cms: the signer's
	// certificate is not in the message". `openssl cms -verify -certfile`
	// accepts the same message.
	t.Run("ok/no-certificates-signer-from-certfile", func(t *testing.T) {
		opensslSign(t, "rsa", "nocerts", false, "-nocerts")
		mustRun(t, p.dir, nil, openssl, "cms", "-verify", "-CAfile", "ca.crt", "-certfile", "rsa.crt", "-purpose", "smimesign", "-in", "signed.eml")
		rep, r := peerVerify(t, p.dir, "--trust", "ca.crt", "--certfile", "rsa.crt", "--in", "signed.eml")
		peerGoodSigner(t, rep, r, "rsa@example.org", "sha256", "rsa-pkcs1v15")
	})
}

// TestOpenSSLDecryptsSignet: Signet encrypts, `openssl cms -decrypt` decrypts.
func TestOpenSSLDecryptsSignet(t *testing.T) {
	openssl := needTool(t, "openssl")
	p := newPKI(t, map[string]testpki.KeyType{
		"rsa": testpki.RSA2048, "p256": testpki.P256, "p384": testpki.P384, "p521": testpki.P521, "x": testpki.X25519,
	})
	ciphers := []struct{ name, oid, content string }{
		{"aes256-gcm", "aes-256-gcm", "id-smime-ct-authEnvelopedData"},
		{"aes128-gcm", "aes-128-gcm", "id-smime-ct-authEnvelopedData"},
		{"aes256-cbc", "aes-256-cbc", "pkcs7-envelopedData"},
		{"aes128-cbc", "aes-128-cbc", "pkcs7-envelopedData"},
	}
	recipients := []struct {
		name, id string
		args     []string
		keyAlg   string // as OpenSSL prints it
	}{
		{"rsa-pkcs1", "rsa", nil, "rsaEncryption"},
		{"rsa-oaep", "rsa", []string{"--rsa-oaep"}, "rsaesOaep"},
		{"rsa-ski", "rsa", []string{"--ski"}, "rsaEncryption"},
		{"p256", "p256", nil, "dhSinglePass-stdDH-sha256kdf-scheme"},
		{"p384", "p384", nil, "dhSinglePass-stdDH-sha384kdf-scheme"},
		{"p521", "p521", nil, "dhSinglePass-stdDH-sha512kdf-scheme"},
		{"p256-ski", "p256", []string{"--ski"}, "dhSinglePass-stdDH-sha256kdf-scheme"},
	}
	// decrypt has OpenSSL decrypt enc.eml as id and checks the content.
	decrypt := func(t *testing.T, id, body string) {
		t.Helper()
		r := run(t, p.dir, nil, openssl, "cms", "-decrypt", "-recip", id+".crt", "-inkey", id+".key", "-in", "enc.eml")
		if r.code != 0 {
			t.Fatalf("openssl cms -decrypt as %s: exit %d\n%s", id, r.code, r.stderr)
		}
		if !bytes.Contains(r.stdout, []byte(strings.TrimSpace(body))) || !bytes.Contains(r.stdout, []byte("Content-Type: text/plain")) {
			t.Errorf("OpenSSL decrypted as %s:\n%s", id, r.stdout)
		}
	}
	for _, c := range ciphers {
		for _, rc := range recipients {
			t.Run("ok/"+c.name+"/"+rc.name, func(t *testing.T) {
				body := "Encrypted by Signet with " + c.name + " for " + rc.name + ".\r\n"
				in := p.write(t, "in.eml", message("alice", rc.id, body))
				mustSignet(t, p.dir, nil, append([]string{"encrypt", "--to", rc.id + ".crt", "--cipher", c.name, "--in", in, "--out", "enc.eml"}, rc.args...)...)
				dump := string(mustRun(t, p.dir, nil, openssl, "cms", "-cmsout", "-print", "-in", "enc.eml"))
				for _, want := range []string{c.content, "algorithm: " + c.oid + " (", "algorithm: " + rc.keyAlg + " ("} {
					if !strings.Contains(dump, want) {
						t.Errorf("OpenSSL does not see %q:\n%s", want, dump)
					}
				}
				decrypt(t, rc.id, body)
			})
		}
		// One message, recipients of every key type; each NIST/RSA
		// recipient decrypts it with OpenSSL, whatever OpenSSL makes of
		// the X25519 RecipientInfo next to theirs.
		for _, oaep := range []bool{false, true} {
			name := "ok/" + c.name + "/several"
			if oaep {
				name += "-rsa-oaep"
			}
			t.Run(name, func(t *testing.T) {
				body := "One message for five recipients.\r\n"
				in := p.write(t, "in.eml", message("alice", "bob", body))
				args := []string{"encrypt", "--cipher", c.name, "--in", in, "--out", "enc.eml",
					"--to", "rsa.crt", "--to", "p256.crt", "--to", "x.crt", "--to", "p384.crt", "--to", "p521.crt"}
				if oaep {
					args = append(args, "--rsa-oaep")
				}
				mustSignet(t, p.dir, nil, args...)
				for _, id := range []string{"rsa", "p256", "p384", "p521"} {
					decrypt(t, id, body)
				}
			})
		}
		// X25519 (RFC 8418). OpenSSL 3.0.19 answers
		//   Error decrypting CMS using private key
		//   ...:error:17000084:CMS routines:CMS_decrypt_set1_pkey_and_peer:no matching recipient:../crypto/cms/cms_smime.c:777:
		// as it has no X25519 key agreement for CMS. If the installed
		// OpenSSL decrypts, the content must be right; if not, the failure
		// must be that one, and Signet must decrypt its own message.
		t.Run("ok/"+c.name+"/x25519", func(t *testing.T) {
			body := "Encrypted for X25519.\r\n"
			in := p.write(t, "in.eml", message("alice", "x", body))
			mustSignet(t, p.dir, nil, "encrypt", "--to", "x.crt", "--cipher", c.name, "--in", in, "--out", "enc.eml")
			dump := string(mustRun(t, p.dir, nil, openssl, "cms", "-cmsout", "-print", "-in", "enc.eml"))
			if !strings.Contains(dump, "algorithm: X25519 (1.3.101.110)") {
				t.Errorf("the originator key is not X25519:\n%s", dump)
			}
			r := run(t, p.dir, nil, openssl, "cms", "-decrypt", "-recip", "x.crt", "-inkey", "x.key", "-in", "enc.eml")
			if r.code == 0 {
				if !bytes.Contains(r.stdout, []byte(strings.TrimSpace(body))) {
					t.Errorf("OpenSSL decrypted X25519:\n%s", r.stdout)
				}
				return
			}
			if !bytes.Contains(r.stderr, []byte("no matching recipient")) {
				t.Fatalf("openssl cms -decrypt failed other than by its known X25519 limitation: exit %d\n%s", r.code, r.stderr)
			}
			t.Logf("OpenSSL cannot decrypt X25519 CMS (known limitation of 3.0): %s", peerFirstLine(r.stderr, "error"))
			out := mustSignet(t, p.dir, nil, "decrypt", "--cert", "x.crt", "--key", "x.key", "--in", "enc.eml")
			if !bytes.Contains(out, []byte(strings.TrimSpace(body))) {
				t.Errorf("signet decrypt X25519:\n%s", out)
			}
		})
	}
	t.Run("fail/not-a-recipient", func(t *testing.T) {
		in := p.write(t, "in.eml", message("alice", "rsa", "Not for p384.\r\n"))
		mustSignet(t, p.dir, nil, "encrypt", "--to", "rsa.crt", "--to", "p256.crt", "--in", in, "--out", "enc.eml")
		r := run(t, p.dir, nil, openssl, "cms", "-decrypt", "-recip", "p384.crt", "-inkey", "p384.key", "-in", "enc.eml")
		if r.code == 0 || bytes.Contains(r.stdout, []byte("Not for p384")) {
			t.Fatalf("OpenSSL decrypted a message not for its key: exit %d\n%s", r.code, r.stdout)
		}
	})
}

// TestSignetDecryptsOpenSSL: `openssl cms -encrypt` encrypts, Signet decrypts.
func TestSignetDecryptsOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl")
	p := newPKI(t, map[string]testpki.KeyType{
		"rsa": testpki.RSA2048, "rsa2": testpki.RSA2048, "p256": testpki.P256, "p384": testpki.P384, "p521": testpki.P521,
	})
	const body = "Encrypted by OpenSSL, decrypted by Signet.\r\n"
	p.write(t, "content.txt", []byte(body))
	peerWrongKey(t, p, "rsa", testpki.RSA2048)
	peerWrongKey(t, p, "p256", testpki.P256)

	// opensslEncrypt makes a whole encrypted message with OpenSSL; recips
	// are -recip/-keyopt arguments.
	opensslEncrypt := func(t *testing.T, cipher, to, subject string, recips ...string) {
		t.Helper()
		args := []string{"cms", "-encrypt", "-" + cipher, "-in", "content.txt", "-text",
			"-from", "alice@example.org", "-to", to + "@example.org", "-subject", subject, "-out", "enc.eml"}
		mustRun(t, p.dir, nil, openssl, append(args, recips...)...)
		h := peerHeader(t, peerRead(p, t, "enc.eml"))
		if h.Get("From") != "alice@example.org" || h.Get("Subject") != subject ||
			!strings.HasPrefix(strings.ToLower(h.Get("Content-Type")), "application/pkcs7-mime") {
			t.Fatalf("OpenSSL's message header: %v", h)
		}
	}
	// signetDecrypt decrypts enc.eml as id and checks the message.
	signetDecrypt := func(t *testing.T, id, subject string, args ...string) result {
		t.Helper()
		if len(args) == 0 {
			args = []string{"--cert", id + ".crt", "--key", id + ".key"}
		}
		peerRemove(p, t, "dec.eml")
		r := signet(t, p.dir, nil, append([]string{"decrypt", "--in", "enc.eml", "--out", "dec.eml"}, args...)...)
		if r.code != 0 {
			t.Fatalf("signet decrypt as %s: exit %d\n%s", id, r.code, r.stderr)
		}
		dec := peerRead(p, t, "dec.eml")
		h := peerHeader(t, dec)
		if h.Get("Subject") != subject || h.Get("From") != "alice@example.org" || !bytes.Contains(dec, []byte(strings.TrimSpace(body))) {
			t.Errorf("signet decrypt as %s:\n%s", id, dec)
		}
		return r
	}

	ciphers := []struct{ openssl, signet string }{
		{"aes-256-gcm", "aes256-gcm"}, {"aes-128-gcm", "aes128-gcm"}, {"aes-256-cbc", "aes256-cbc"}, {"aes-128-cbc", "aes128-cbc"},
	}
	recipients := []struct {
		name, id string
		args     []string
		weak     string // the weak-algorithm warning Signet must give, if any
	}{
		{"rsa-pkcs1", "rsa", nil, ""},
		{"rsa-oaep-sha1", "rsa", []string{"-keyopt", "rsa_padding_mode:oaep"}, "RSA-OAEP with SHA-1"},
		{"rsa-oaep-sha256", "rsa", []string{"-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"}, ""},
		{"rsa-oaep-sha384-mgf1-sha256", "rsa", []string{"-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha384", "-keyopt", "rsa_mgf1_md:sha256"}, ""},
		{"p256", "p256", nil, "ECDH KDF with sha1"},
		{"p256-kdf-sha256", "p256", []string{"-keyopt", "ecdh_kdf_md:sha256"}, ""},
		{"p384", "p384", nil, "ECDH KDF with sha1"},
		{"p384-kdf-sha384", "p384", []string{"-keyopt", "ecdh_kdf_md:sha384"}, ""},
		{"p521-kdf-sha512", "p521", []string{"-keyopt", "ecdh_kdf_md:sha512"}, ""},
	}
	for _, c := range ciphers {
		for _, rc := range recipients {
			t.Run("ok/"+c.openssl+"/"+rc.name, func(t *testing.T) {
				subject := "OpenSSL " + c.openssl + " " + rc.name
				opensslEncrypt(t, c.openssl, rc.id, subject, append([]string{"-recip", rc.id + ".crt"}, rc.args...)...)
				r := signetDecrypt(t, rc.id, subject)
				cbcNote := "encrypted with " + c.signet + ", which does not protect integrity"
				if strings.HasSuffix(c.signet, "-cbc") != bytes.Contains(r.stderr, []byte(cbcNote)) {
					t.Errorf("integrity note for %s: %s", c.signet, r.stderr)
				}
				if rc.weak != "" && !bytes.Contains(r.stderr, []byte("weak algorithm: "+rc.weak)) {
					t.Errorf("no warning about %s: %s", rc.weak, r.stderr)
				}
				if rc.weak == "" && bytes.Contains(r.stderr, []byte("weak")) {
					t.Errorf("unexpected warning: %s", r.stderr)
				}
			})
		}
		t.Run("ok/"+c.openssl+"/keyid", func(t *testing.T) {
			subject := "OpenSSL -keyid"
			opensslEncrypt(t, c.openssl, "bob", subject, "-keyid", "-recip", "rsa.crt", "-recip", "p256.crt")
			for _, id := range []string{"rsa", "p256"} {
				signetDecrypt(t, id, subject)
			}
		})
		t.Run("ok/"+c.openssl+"/several", func(t *testing.T) {
			subject := "OpenSSL several recipients"
			opensslEncrypt(t, c.openssl, "bob", subject,
				"-recip", "rsa.crt", "-recip", "p256.crt", "-keyopt", "ecdh_kdf_md:sha256",
				"-recip", "rsa2.crt", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256",
				"-recip", "p384.crt", "-recip", "p521.crt")
			for _, id := range []string{"rsa", "p256", "rsa2", "p384", "p521"} {
				signetDecrypt(t, id, subject)
			}
		})
	}

	// PKCS #12 files made by OpenSSL: the 3.0 default (PBES2, AES-256-CBC,
	// PBKDF2, HMAC-SHA-256) and -legacy (3DES, RC2-40, SHA-1 MAC).
	p.write(t, "pass.txt", []byte("s3cret pass\n"))
	for _, legacy := range []bool{false, true} {
		for _, id := range []string{"rsa", "p384"} {
			name := "ok/pkcs12/" + id + map[bool]string{false: "/default", true: "/legacy"}[legacy]
			t.Run(name, func(t *testing.T) {
				args := []string{"pkcs12", "-export", "-in", id + ".crt", "-inkey", id + ".key", "-certfile", "ca.crt",
					"-passout", "pass:s3cret pass", "-out", id + ".p12"}
				if legacy {
					args = append(args, "-legacy")
				}
				mustRun(t, p.dir, nil, openssl, args...)
				subject := "OpenSSL PKCS12"
				opensslEncrypt(t, "aes-256-gcm", id, subject, "-recip", id+".crt")
				signetDecrypt(t, id, subject, "--p12", id+".p12", "--pass-file", "pass.txt")
			})
		}
	}

	// Failures: a message that is not for the key, altered ciphertext and
	// an altered tag all give the same one line on standard error, exit 1,
	// nothing on standard output and no --out file.
	failRun := func(t *testing.T, file, id string) string {
		t.Helper()
		peerRemove(p, t, "dec.eml")
		r := signet(t, p.dir, nil, "decrypt", "--cert", id+".crt", "--key", id+".key", "--in", file, "--out", "dec.eml")
		if r.code != 1 {
			t.Fatalf("signet decrypt %s as %s: exit %d, want 1\n%s", file, id, r.code, r.stderr)
		}
		if peerExists(p, "dec.eml") {
			t.Errorf("signet decrypt %s as %s created --out", file, id)
		}
		if len(r.stdout) != 0 {
			t.Errorf("signet decrypt wrote to standard output: %q", r.stdout)
		}
		line := strings.TrimSpace(string(r.stderr))
		if strings.Count(line, "\n") != 0 || !strings.HasPrefix(line, peerDecryptFailed) {
			t.Errorf("stderr %q, want one line starting %q", r.stderr, peerDecryptFailed)
		}
		return line
	}
	// alter re-encodes enc.eml as DER, flips one byte counted from the end,
	// and writes the message as name.
	alter := func(t *testing.T, name string, fromEnd int) {
		t.Helper()
		head, _ := peerPKCS7(t, peerRead(p, t, "enc.eml"))
		der := mustRun(t, p.dir, nil, openssl, "cms", "-cmsout", "-outform", "DER", "-in", "enc.eml")
		der[len(der)-fromEnd] ^= 0x01
		p.write(t, name, append(append([]byte(nil), head...), peerBase64Lines(der)...))
	}
	for _, c := range ciphers {
		t.Run("fail/"+c.openssl+"/wrong-key-or-altered-same-error", func(t *testing.T) {
			opensslEncrypt(t, c.openssl, "rsa", "fail", "-recip", "rsa.crt", "-recip", "p256.crt")
			signetDecrypt(t, "rsa", "fail") // the message itself is fine
			lines := map[string]string{
				"rsa2 (RSA, not a recipient)":  failRun(t, "enc.eml", "rsa2"),
				"p384 (EC, not a recipient)":   failRun(t, "enc.eml", "p384"),
				"p521 (EC, another curve too)": failRun(t, "enc.eml", "p521"),
			}
			if strings.HasSuffix(c.signet, "-gcm") {
				// DER AuthEnvelopedData ends: encryptedContent, then the
				// 16-byte mac OCTET STRING (04 10 ...).
				alter(t, "altered-tag.eml", 5)
				alter(t, "altered-ct.eml", 19)
				lines["rsa, altered tag"] = failRun(t, "altered-tag.eml", "rsa")
				lines["p256, altered tag"] = failRun(t, "altered-tag.eml", "p256")
				lines["rsa, altered ciphertext"] = failRun(t, "altered-ct.eml", "rsa")
				lines["p256, altered ciphertext"] = failRun(t, "altered-ct.eml", "p256")
			}
			// A wrong key for a RecipientInfo that names the identity:
			// OpenSSL identifies the recipients by subject key identifier
			// (-keyid), and the "-wrong" certificates carry the real
			// recipients' identifiers with other keys. RSA implicit
			// rejection yields a random content key, which fails the GCM
			// tag (with CBC, padding could pass by chance: GCM only); the
			// ECDH key unwrap fails its integrity check, for every cipher.
			opensslEncrypt(t, c.openssl, "rsa", "fail", "-keyid", "-recip", "rsa.crt", "-recip", "p256.crt")
			signetDecrypt(t, "rsa", "fail")
			signetDecrypt(t, "p256", "fail")
			lines["p256-wrong (EC, right identifier, wrong key)"] = failRun(t, "enc.eml", "p256-wrong")
			if strings.HasSuffix(c.signet, "-gcm") {
				lines["rsa-wrong (RSA, right identifier, wrong key)"] = failRun(t, "enc.eml", "rsa-wrong")
			}
			want := lines["rsa2 (RSA, not a recipient)"]
			for k, l := range lines {
				if l != want {
					t.Errorf("%s: stderr %q, differs from %q", k, l, want)
				}
			}
		})
	}
}

// TestOpenSSLSignEncrypt: sign then encrypt, one side to the other.
func TestOpenSSLSignEncrypt(t *testing.T) {
	openssl := needTool(t, "openssl")
	p := newPKI(t, map[string]testpki.KeyType{
		"rsa": testpki.RSA2048, "p256": testpki.P256, "p384": testpki.P384,
	})

	signetCases := []struct {
		name, signer, recip, cipher string
		signArgs, encArgs           []string
	}{
		{"p256-to-rsa-aes256-gcm", "p256", "rsa", "aes256-gcm", nil, nil},
		{"rsa-pss-to-p384-aes128-cbc", "rsa", "p384", "aes128-cbc", []string{"--pss"}, nil},
		{"p384-sha384-opaque-to-p256-aes128-gcm", "p384", "p256", "aes128-gcm", []string{"--digest", "sha384", "--opaque"}, nil},
		{"rsa-to-rsa-oaep-aes256-cbc", "rsa", "rsa", "aes256-cbc", nil, []string{"--rsa-oaep"}},
	}
	for _, tc := range signetCases {
		t.Run("ok/signet-to-openssl/"+tc.name, func(t *testing.T) {
			body := "Signed and encrypted by Signet: " + tc.name + ".\r\n"
			in := p.write(t, "in.eml", message(tc.signer, tc.recip, body))
			mustSignet(t, p.dir, nil, append([]string{"sign", "--cert", tc.signer + ".crt", "--key", tc.signer + ".key", "--in", in, "--out", "signed.eml"}, tc.signArgs...)...)
			mustSignet(t, p.dir, nil, append([]string{"encrypt", "--to", tc.recip + ".crt", "--cipher", tc.cipher, "--in", "signed.eml", "--out", "enc.eml"}, tc.encArgs...)...)
			mustRun(t, p.dir, nil, openssl, "cms", "-decrypt", "-recip", tc.recip+".crt", "-inkey", tc.recip+".key", "-in", "enc.eml", "-out", "dec.eml")
			r := run(t, p.dir, nil, openssl, "cms", "-verify", "-CAfile", "ca.crt", "-purpose", "smimesign", "-in", "dec.eml")
			if r.code != 0 || !bytes.Contains(r.stdout, []byte(strings.TrimSpace(body))) {
				t.Fatalf("openssl cms -verify of the decrypted content: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}

	opensslCases := []struct {
		name, signer, recip, cipher string
		signArgs, encArgs           []string
		sigAlg                      string
	}{
		{"p384-sha384-to-rsa-aes256-cbc", "p384", "rsa", "aes-256-cbc", []string{"-md", "sha384"}, nil, "ecdsa"},
		{"rsa-pss-to-p256-aes256-gcm", "rsa", "p256", "aes-256-gcm", []string{"-keyopt", "rsa_padding_mode:pss"}, []string{"-keyopt", "ecdh_kdf_md:sha256"}, "rsa-pss"},
		{"p256-opaque-to-rsa-oaep-aes128-gcm", "p256", "rsa", "aes-128-gcm", []string{"-nodetach"}, []string{"-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"}, "ecdsa"},
	}
	for _, tc := range opensslCases {
		// OpenSSL signs without -from/-to (a bare MIME entity, as the
		// content of the encryption), then encrypts it into a whole message.
		signEncrypt := func(t *testing.T) {
			t.Helper()
			body := "Signed and encrypted by OpenSSL: " + tc.name + ".\r\n"
			p.write(t, "content.txt", []byte(body))
			mustRun(t, p.dir, nil, openssl, append([]string{"cms", "-sign", "-signer", tc.signer + ".crt", "-inkey", tc.signer + ".key",
				"-in", "content.txt", "-text", "-out", "signed.part"}, tc.signArgs...)...)
			mustRun(t, p.dir, nil, openssl, append([]string{"cms", "-encrypt", "-" + tc.cipher, "-in", "signed.part",
				"-from", tc.signer + "@example.org", "-to", tc.recip + "@example.org", "-subject", "sign+encrypt " + tc.name,
				"-out", "enc.eml", "-recip", tc.recip + ".crt"}, tc.encArgs...)...)
			peerRemove(p, t, "dec.eml")
			r := signet(t, p.dir, nil, "decrypt", "--cert", tc.recip+".crt", "--key", tc.recip+".key", "--in", "enc.eml", "--out", "dec.eml")
			if r.code != 0 || !bytes.Contains(r.stderr, []byte("the decrypted content is signed")) {
				t.Fatalf("signet decrypt: exit %d\n%s", r.code, r.stderr)
			}
		}
		t.Run("ok/openssl-to-signet/"+tc.name, func(t *testing.T) {
			signEncrypt(t)
			peerRemove(p, t, "inner.eml")
			rep, r := peerVerify(t, p.dir, "--trust", "ca.crt", "--in", "dec.eml", "--out", "inner.eml")
			peerGoodSigner(t, rep, r, tc.signer+"@example.org", "", tc.sigAlg)
			inner := peerRead(p, t, "inner.eml")
			if !bytes.Contains(inner, []byte("Signed and encrypted by OpenSSL")) || peerHeader(t, inner).Get("Subject") != "sign+encrypt "+tc.name {
				t.Errorf("signet verify --out:\n%s", inner)
			}
		})
		// BUG: OpenSSL's signed entity starts with its own "MIME-Version:
		// 1.0"; smime.Decrypt (smime/encrypt.go) writes the outer fields,
		// then "MIME-Version: 1.0", then the decrypted entity's header
		// verbatim, so the decrypted message has two MIME-Version fields
		// (RFC 2045 section 4 defines one).
		t.Run("ok/openssl-to-signet/"+tc.name+"/one-mime-version", func(t *testing.T) {
			signEncrypt(t)
			if n := peerCountField(t, peerRead(p, t, "dec.eml"), "MIME-Version"); n != 1 {
				head, _ := peerSplit(t, peerRead(p, t, "dec.eml"))
				t.Errorf("signet decrypt wrote %d MIME-Version fields, want 1:\n%s", n, head)
			}
		})
	}

	// The same in smime.Verify (smime/verify.go) for --out when the signed
	// entity carries MIME-Version, as an entity signed whole does.
	t.Run("ok/openssl-opaque-signed-entity/verify-out-one-mime-version", func(t *testing.T) {
		p.write(t, "entity.txt", []byte("MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nA whole MIME entity.\r\n"))
		mustRun(t, p.dir, nil, openssl, "cms", "-sign", "-nodetach", "-signer", "p256.crt", "-inkey", "p256.key", "-in", "entity.txt",
			"-from", "p256@example.org", "-to", "bob@example.org", "-subject", "entity", "-out", "signed.eml")
		peerRemove(p, t, "inner.eml")
		rep, r := peerVerify(t, p.dir, "--trust", "ca.crt", "--in", "signed.eml", "--out", "inner.eml")
		peerGoodSigner(t, rep, r, "p256@example.org", "sha256", "ecdsa")
		if n := peerCountField(t, peerRead(p, t, "inner.eml"), "MIME-Version"); n != 1 {
			head, _ := peerSplit(t, peerRead(p, t, "inner.eml"))
			t.Errorf("signet verify --out wrote %d MIME-Version fields, want 1:\n%s", n, head)
		}
	})
}
