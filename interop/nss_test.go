package interop

// Interoperability with NSS, the engine of Thunderbird, through its
// command-line tools certutil, pk12util and cmsutil (Debian libnss3-tools,
// NSS 3.87). cmsutil works on DER CMS, not on MIME, so these tests take the
// CMS out of Signet's S/MIME messages and wrap cmsutil's CMS into messages.
//
// What NSS 3.87 cmsutil was seen to do (the tests below pin each of these):
//   - "cmsutil -D" prints "SMIME: \tlevel=1.2; type=signedData; nsigners=1; \n
//     \t\tsigner0.id=\"NAME@example.org\"; signer0.status=GoodSignature; \n..."
//     when given -h, then the content. The status covers the signature and the
//     certificate chain for e-mail signing (SigningCertNotTrusted without the
//     CA). It exits 0 whatever the status, even DigestMismatch, so the tests
//     read the status rather than the exit code.
//   - It verifies RSA PKCS #1 v1.5, RSASSA-PSS and ECDSA (P-256, P-384)
//     signatures with SHA-256, SHA-384 and SHA-512, and reads signers and
//     recipients named by subject key identifier.
//   - It decrypts EnvelopedData with AES-128-CBC and AES-256-CBC content for
//     RSA PKCS #1 v1.5 key transport, but not:
//     RSAES-OAEP key transport (SEC_ERROR_UNSUPPORTED_KEYALG),
//     AuthEnvelopedData / AES-GCM (SEC_ERROR_UNRECOGNIZED_OID),
//     ECDH key agreement (SEC_ERROR_BAD_DER; OpenSSL's ECDH envelopes fail the
//     same way, so this is NSS, not Signet).
//   - "cmsutil -E" picks AES-128-CBC with RSA PKCS #1 v1.5 key transport for a
//     recipient it has no S/MIME capabilities for, and refuses an EC recipient
//     ("cannot create CMS recipientInfo object", SEC_ERROR_INVALID_ALGORITHM).
//   - PKCS #12 files from OpenSSL 3's default "openssl pkcs12 -export"
//     (PBES2, PBKDF2 with HMAC-SHA-256, AES-256-CBC) import with pk12util.
//   - pk12util -o writes BER (indefinite lengths, also inside the
//     authenticated safe); see TestNSSPKCS12Export.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
)

// nssBody is the text the NSS tests sign and encrypt: short 7-bit lines
// ending in CRLF, which Signet's canonicalisation leaves as they are.
const nssBody = "Hello from the NSS interop test.\r\nSecond line, still 7-bit.\r\n"

// nssEntity is the MIME entity Signet protects for message(…, nssBody):
// the content header field and the body.
var nssEntity = []byte("Content-Type: text/plain; charset=us-ascii\r\n\r\n" + nssBody)

const nssP12Pass = "interop-pass"

// nssDB is an NSS certificate and key database that trusts the pki's CA.
type nssDB struct {
	p  *pki
	db string // sql:DIR
}

// newNSSDB makes an NSS database that trusts the CA for e-mail and holds the
// keys of the named identities, imported from PKCS #12 files that OpenSSL
// writes.
func newNSSDB(t *testing.T, p *pki, keys ...string) *nssDB {
	t.Helper()
	for _, tool := range []string{"certutil", "pk12util", "cmsutil", "openssl"} {
		needTool(t, tool)
	}
	n := &nssDB{p: p, db: "sql:" + t.TempDir()}
	mustRun(t, p.dir, nil, "certutil", "-N", "-d", n.db, "--empty-password")
	mustRun(t, p.dir, nil, "certutil", "-A", "-d", n.db, "-n", "ca", "-t", "C,C,C", "-i", "ca.crt")
	for _, name := range keys {
		p12 := name + ".p12"
		if _, err := os.Stat(filepath.Join(p.dir, p12)); err != nil {
			mustRun(t, p.dir, nil, "openssl", "pkcs12", "-export", "-name", name,
				"-in", name+".crt", "-inkey", name+".key", "-out", p12, "-passout", "pass:"+nssP12Pass)
		}
		mustRun(t, p.dir, nil, "pk12util", "-i", p12, "-d", n.db, "-W", nssP12Pass)
	}
	return n
}

// addCert imports the named identity's certificate, without its key, as a
// recipient.
func (n *nssDB) addCert(t *testing.T, name string) {
	t.Helper()
	mustRun(t, n.p.dir, nil, "certutil", "-A", "-d", n.db, "-n", name, "-t", ",,", "-i", name+".crt")
}

// cmsutil runs cmsutil in mode (-D, -S, -E) on this database.
func (n *nssDB) cmsutil(t *testing.T, mode string, args ...string) result {
	t.Helper()
	return run(t, n.p.dir, nil, "cmsutil", append([]string{mode, "-d", n.db, "-p", ""}, args...)...)
}

func (n *nssDB) mustCmsutil(t *testing.T, mode string, args ...string) []byte {
	t.Helper()
	r := n.cmsutil(t, mode, args...)
	if r.code != 0 {
		t.Fatalf("cmsutil %s %s: exit %d\nstderr: %s", mode, strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// decode has cmsutil -D -h 1 decode der (with detached content when not
// nil) and returns the status header and the content.
func (n *nssDB) decode(t *testing.T, der, detached []byte) (string, []byte) {
	t.Helper()
	args := []string{"-h", "1", "-i", nssFile(t, "in.p7m", der)}
	if detached != nil {
		args = append(args, "-c", nssFile(t, "content", detached))
	}
	return nssSplit(n.mustCmsutil(t, "-D", args...))
}

// verify has cmsutil check signed-data and returns its content; it fails
// unless NSS reports one signer, signer@example.org, with a good signature.
func (n *nssDB) verify(t *testing.T, der, detached []byte, signer string) []byte {
	t.Helper()
	h, content := n.decode(t, der, detached)
	want := fmt.Sprintf(`signer0.id="%s@example.org"; signer0.status=GoodSignature;`, signer)
	if !strings.Contains(h, "type=signedData; nsigners=1;") || !strings.Contains(h, want) {
		t.Fatalf("cmsutil -D did not report a good signature by %s:\n%s", signer, h)
	}
	return content
}

// decrypt has cmsutil decrypt enveloped-data and returns its content.
func (n *nssDB) decrypt(t *testing.T, der []byte) []byte {
	t.Helper()
	h, content := n.decode(t, der, nil)
	if !strings.Contains(h, "type=envelopedData;") {
		t.Fatalf("cmsutil -D did not see enveloped-data:\n%s", h)
	}
	return content
}

// decodeFails asserts that cmsutil -D cannot read der and says why with the
// NSS error code want; it returns cmsutil's complaint.
func (n *nssDB) decodeFails(t *testing.T, der []byte, want string) string {
	t.Helper()
	r := n.cmsutil(t, "-D", "-h", "1", "-i", nssFile(t, "in.p7m", der))
	if r.code == 0 {
		t.Fatalf("cmsutil -D read it (if NSS learnt something new, update the test and the notes at the top):\n%s", r.stdout)
	}
	if !bytes.Contains(r.stderr, []byte(want)) {
		t.Fatalf("cmsutil -D failed with %q, want %s", r.stderr, want)
	}
	return string(bytes.TrimSpace(r.stderr))
}

// unsupported is decodeFails for a feature NSS 3.87 lacks.
func (n *nssDB) unsupported(t *testing.T, der []byte, want string) {
	t.Helper()
	t.Logf("NSS limitation, as expected: %s", n.decodeFails(t, der, want))
}

// sign has cmsutil sign content as nick, detached (-T) or not, with the
// extra options, by default -G -P (signing time, S/MIME capabilities).
func (n *nssDB) sign(t *testing.T, nick, hash string, detached bool, content []byte, extra ...string) []byte {
	t.Helper()
	if extra == nil {
		extra = []string{"-G", "-P"}
	}
	args := append([]string{"-N", nick, "-H", hash, "-i", nssFile(t, "content", content)}, extra...)
	if detached {
		args = append(args, "-T")
	}
	return n.mustCmsutil(t, "-S", args...)
}

// envelope has cmsutil encrypt content for the recipients (nicknames).
func (n *nssDB) envelope(t *testing.T, content []byte, recipients ...string) []byte {
	t.Helper()
	return n.mustCmsutil(t, "-E", "-r", strings.Join(recipients, ","), "-i", nssFile(t, "content", content))
}

// nssFile writes data to a new temporary folder and returns its path.
func nssFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// nssSplit separates cmsutil -h output into the "SMIME:" header lines and
// the content after them.
func nssSplit(out []byte) (string, []byte) {
	if !bytes.HasPrefix(out, []byte("SMIME: ")) {
		return "", out
	}
	rest := out
	for first := true; first || bytes.HasPrefix(rest, []byte("\t")); first = false {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return string(out), nil
		}
		rest = rest[i+1:]
	}
	return string(out[:len(out)-len(rest)]), rest
}

// nssReadEntity parses a message or MIME entity and returns its
// Content-Type media type, parameters and raw body.
func nssReadEntity(t *testing.T, msg []byte) (string, map[string]string, []byte, mail.Header) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("parsing entity: %v\n%s", err, msg)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mt, params, body, m.Header
}

// nssBase64Body decodes a base64 body; it requires the transfer encoding.
func nssBase64Body(t *testing.T, h mail.Header, body []byte) []byte {
	t.Helper()
	if cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); cte != "base64" {
		t.Fatalf("Content-Transfer-Encoding %q, want base64", cte)
	}
	der, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body)))
	if err != nil {
		t.Fatalf("base64 body: %v", err)
	}
	return der
}

// nssPKCS7MIME returns the smime-type and the DER of an
// application/pkcs7-mime message or entity.
func nssPKCS7MIME(t *testing.T, msg []byte) (string, []byte) {
	t.Helper()
	mt, params, body, h := nssReadEntity(t, msg)
	if mt != "application/pkcs7-mime" {
		t.Fatalf("Content-Type %s, want application/pkcs7-mime", mt)
	}
	return params["smime-type"], nssBase64Body(t, h, body)
}

// nssClearSigned returns the micalg, the exact bytes of the signed first
// part (between the CRLF ending the first boundary line and the CRLF before
// the next) and the DER signature of a multipart/signed message or entity.
func nssClearSigned(t *testing.T, msg []byte) (string, []byte, []byte) {
	t.Helper()
	mt, params, body, _ := nssReadEntity(t, msg)
	if mt != "multipart/signed" || params["protocol"] != "application/pkcs7-signature" || params["boundary"] == "" {
		t.Fatalf("want multipart/signed with the pkcs7-signature protocol, got %s %v", mt, params)
	}
	delim := []byte("\r\n--" + params["boundary"])
	s := append([]byte("\r\n"), body...) // a delimiter may open the body
	i := bytes.Index(s, append(delim, '\r', '\n'))
	if i < 0 {
		t.Fatalf("no first boundary in\n%s", body)
	}
	start := i + len(delim) + 2
	n := bytes.Index(s[start:], delim)
	if n < 0 {
		t.Fatalf("no second boundary in\n%s", body)
	}
	content := s[start : start+n]
	rest := s[start+n+len(delim):]
	if !bytes.HasPrefix(rest, []byte("\r\n")) {
		t.Fatalf("second boundary line not followed by CRLF")
	}
	end := bytes.Index(rest, append(append([]byte{}, delim...), '-', '-'))
	if end < 0 {
		t.Fatalf("no closing boundary in\n%s", body)
	}
	smt, _, sbody, sh := nssReadEntity(t, rest[2:end])
	if smt != "application/pkcs7-signature" {
		t.Fatalf("second part is %s, want application/pkcs7-signature", smt)
	}
	return params["micalg"], content, nssBase64Body(t, sh, sbody)
}

// nssBase64 encodes der in CRLF-terminated lines of 76 characters.
func nssBase64(der []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(der)
	var b bytes.Buffer
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

// nssOpaqueEntity wraps DER CMS in an application/pkcs7-mime entity.
func nssOpaqueEntity(smimeType string, der []byte) []byte {
	return append([]byte("Content-Type: application/pkcs7-mime; smime-type="+smimeType+"; name=smime.p7m\r\n"+
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7m\r\n\r\n"),
		nssBase64(der)...)
}

// nssClearEntity builds a multipart/signed entity from the signed content
// and a detached signature.
func nssClearEntity(micalg string, content, sig []byte) []byte {
	const boundary = "nss-interop-7f3a9c"
	var b bytes.Buffer
	fmt.Fprintf(&b, "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=%s;\r\n"+
		" boundary=\"%s\"\r\n\r\nThis is a cryptographically signed message in MIME format.\r\n\r\n--%s\r\n", micalg, boundary, boundary)
	b.Write(content)
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"+
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7s\r\n\r\n", boundary)
	b.Write(nssBase64(sig))
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// nssMessage puts message header fields from one person to bob above an entity.
func nssMessage(from string, entity []byte) []byte {
	return append([]byte("From: "+from+"@example.org\r\nTo: bob@example.org\r\nSubject: interop test\r\n"+
		"Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <nss-interop@example.org>\r\nMIME-Version: 1.0\r\n"),
		entity...)
}

// nssSignetVerify has Signet verify msg and returns its report; it fails
// unless Signet accepts the message, reports the signature algorithm and
// writes the signed inner message ending with entity.
func nssSignetVerify(t *testing.T, p *pki, msg []byte, alg string, entity []byte) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "inner.eml")
	r := signet(t, p.dir, msg, "verify", "--trust", "ca.crt", "--out", out)
	if r.code != 0 {
		t.Fatalf("signet verify: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if re := regexp.MustCompile(`signature:\s+good \(` + regexp.QuoteMeta(alg) + `\)`); !re.Match(r.stdout) {
		t.Errorf("signet verify report lacks %q:\n%s", "good ("+alg+")", r.stdout)
	}
	inner, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(inner, entity) {
		t.Errorf("signet verify --out wrote\n%.300q\nwant it to end with\n%.300q", inner, entity)
	}
	return r.stdout
}

var (
	nssOIDAES128CBC = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02}
	nssOIDAES256CBC = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a}
	nssOIDRSA       = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}
)

// nssShape is a MIME entity to sign or encrypt besides nssEntity.
type nssShape struct {
	name     string
	entity   []byte
	sevenBit bool // 7-bit with CRLF lines: Signet must sign it unchanged
}

func nssShapes() []nssShape {
	var big bytes.Buffer
	big.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	for i := 0; big.Len() < 300<<10; i++ {
		fmt.Fprintf(&big, "Line %06d of a long message, plain 7-bit text.\r\n", i)
	}
	big.WriteString(nssBody)
	return []nssShape{
		{"8bit-utf8", []byte("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
			"Gr\u00fc\u00dfe aus N\u00fcrnberg, \u00e7a va? \u2014 \u65e5\u672c\r\n" + nssBody), false},
		{"multipart-mixed", []byte("Content-Type: multipart/mixed; boundary=\"inner-7\"\r\n\r\n" +
			"--inner-7\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n" + nssBody +
			"--inner-7\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n" +
			"Content-Disposition: attachment; filename=a.bin\r\n\r\nAAECAwQFBgcICQoLDA0ODw==\r\n--inner-7--\r\n"), true},
		{"large", big.Bytes(), true},
	}
}

// nssSignetSigns has Signet sign msg as signer with the extra sign options
// and NSS verify the result; it returns the content NSS verified. For a
// clear signature it checks that micalg names the digest (sha256 unless
// --digest says otherwise) and that NSS saw the exact first part.
func nssSignetSigns(t *testing.T, p *pki, db *nssDB, signer string, msg []byte, extra ...string) []byte {
	t.Helper()
	args := append([]string{"sign", "--cert", signer + ".crt", "--key", signer + ".key"}, extra...)
	signed := mustSignet(t, p.dir, msg, args...)
	if slices.Contains(extra, "--opaque") {
		typ, der := nssPKCS7MIME(t, signed)
		if typ != "signed-data" {
			t.Fatalf("smime-type %q, want signed-data", typ)
		}
		return db.verify(t, der, nil, signer)
	}
	micalg, content, sig := nssClearSigned(t, signed)
	digest := "sha256"
	if i := slices.Index(extra, "--digest"); i >= 0 {
		digest = extra[i+1]
	}
	if want := "sha-" + strings.TrimPrefix(digest, "sha"); micalg != want {
		t.Errorf("micalg %q, want %q", micalg, want)
	}
	if got := db.verify(t, sig, content, signer); !bytes.Equal(got, content) {
		t.Fatalf("NSS content\n%q\nwant the first part\n%q", got, content)
	}
	return content
}

// Signet signs, NSS verifies: every key type and digest, clear and opaque.
func TestNSSVerifiesSignetSignatures(t *testing.T) {
	t.Parallel()
	p := newPKI(t, map[string]testpki.KeyType{"rsa": testpki.RSA2048, "p256": testpki.P256, "p384": testpki.P384})
	db := newNSSDB(t, p)
	signers := []struct{ name, label, flag string }{
		{"rsa", "rsa-pkcs1v15", ""}, {"rsa", "rsa-pss", "--pss"}, {"p256", "ecdsa-p256", ""}, {"p384", "ecdsa-p384", ""},
	}
	for _, s := range signers {
		for _, digest := range []string{"sha256", "sha384", "sha512"} {
			for _, form := range []string{"clear", "opaque"} {
				t.Run(s.label+"/"+digest+"/"+form, func(t *testing.T) {
					args := []string{"--digest", digest}
					if s.flag != "" {
						args = append(args, s.flag)
					}
					if form == "opaque" {
						args = append(args, "--opaque")
					}
					got := nssSignetSigns(t, p, db, s.name, message(s.name, "bob", nssBody), args...)
					if !bytes.Equal(got, nssEntity) {
						t.Fatalf("NSS verified\n%q\nwant\n%q", got, nssEntity)
					}
				})
			}
		}
	}

	// The signer named by subject key identifier (SignerInfo version 3).
	for _, form := range []string{"clear", "opaque"} {
		t.Run("ski/"+form, func(t *testing.T) {
			args := []string{"--ski"}
			if form == "opaque" {
				args = append(args, "--opaque")
			}
			if got := nssSignetSigns(t, p, db, "rsa", message("rsa", "bob", nssBody), args...); !bytes.Equal(got, nssEntity) {
				t.Fatalf("NSS verified\n%q\nwant\n%q", got, nssEntity)
			}
		})
	}

	// Other contents: 8-bit text (Signet makes it 7-bit before signing),
	// multipart/mixed with an attachment, and a large message.
	for _, c := range nssShapes() {
		for _, form := range []string{"clear", "opaque"} {
			t.Run(c.name+"/"+form, func(t *testing.T) {
				var args []string
				if form == "opaque" {
					args = append(args, "--opaque")
				}
				got := nssSignetSigns(t, p, db, "p256", nssMessage("p256", c.entity), args...)
				if c.sevenBit {
					if !bytes.Equal(got, c.entity) {
						t.Fatalf("NSS verified\n%.300q\nwant\n%.300q", got, c.entity)
					}
					return
				}
				if i := bytes.IndexFunc(got, func(r rune) bool { return r >= 0x80 }); i >= 0 {
					t.Fatalf("Signet signed 8-bit content (byte %d):\n%q", i, got)
				}
			})
		}
	}

	// A control: NSS notices an altered first part, so GoodSignature above
	// means something. cmsutil still exits 0; only the status tells.
	t.Run("altered-content-is-caught", func(t *testing.T) {
		signed := mustSignet(t, p.dir, message("p256", "bob", nssBody), "sign", "--cert", "p256.crt", "--key", "p256.key")
		_, content, sig := nssClearSigned(t, signed)
		altered := bytes.Replace(content, []byte("Second"), []byte("Sec0nd"), 1)
		h, _ := db.decode(t, sig, altered)
		if !strings.Contains(h, "signer0.status=DigestMismatch;") {
			t.Fatalf("cmsutil on altered content:\n%s", h)
		}
	})

	// Another: without the CA, NSS does not call the signature good.
	t.Run("untrusted-ca-is-caught", func(t *testing.T) {
		needTool(t, "certutil")
		bare := &nssDB{p: p, db: "sql:" + t.TempDir()}
		mustRun(t, p.dir, nil, "certutil", "-N", "-d", bare.db, "--empty-password")
		signed := mustSignet(t, p.dir, message("rsa", "bob", nssBody), "sign", "--opaque", "--cert", "rsa.crt", "--key", "rsa.key")
		_, der := nssPKCS7MIME(t, signed)
		h, _ := bare.decode(t, der, nil)
		if !strings.Contains(h, "signer0.status=SigningCertNotTrusted;") {
			t.Fatalf("cmsutil without the CA:\n%s", h)
		}
	})
}

// nssSigns has NSS sign entity as signer (opaque or detached, with cmsutil's
// extra options) and Signet verify the message built around it.
func nssSigns(t *testing.T, p *pki, db *nssDB, signer, hash string, detached bool, entity []byte, alg string, extra ...string) {
	t.Helper()
	der := db.sign(t, signer, hash, detached, entity, extra...)
	var msg []byte
	if detached {
		micalg := "sha-" + strings.TrimPrefix(strings.ToLower(hash), "sha")
		msg = nssMessage(signer, nssClearEntity(micalg, entity, der))
	} else {
		msg = nssMessage(signer, nssOpaqueEntity("signed-data", der))
	}
	nssSignetVerify(t, p, msg, alg, entity)
}

// NSS signs, Signet verifies: RSA and ECDSA, opaque and detached.
func TestNSSSignsSignetVerifies(t *testing.T) {
	t.Parallel()
	p := newPKI(t, map[string]testpki.KeyType{"rsa": testpki.RSA2048, "p256": testpki.P256, "p384": testpki.P384})
	db := newNSSDB(t, p, "rsa", "p256", "p384")
	cases := []struct{ signer, hash, alg string }{
		{"rsa", "SHA256", "rsa-pkcs1v15, sha256"},
		{"rsa", "SHA384", "rsa-pkcs1v15, sha384"},
		{"rsa", "SHA512", "rsa-pkcs1v15, sha512"},
		{"p256", "SHA256", "ecdsa, sha256"},
		{"p256", "SHA512", "ecdsa, sha512"},
		{"p384", "SHA384", "ecdsa, sha384"},
	}
	for _, c := range cases {
		for _, detached := range []bool{false, true} {
			form := "opaque"
			if detached {
				form = "detached"
			}
			t.Run(c.signer+"/"+c.hash+"/"+form, func(t *testing.T) {
				nssSigns(t, p, db, c.signer, c.hash, detached, nssEntity, c.alg)
			})
		}
	}

	// Only contentType and messageDigest: no signing time, no S/MIME
	// capabilities, no encryption key preference.
	t.Run("minimal-attributes", func(t *testing.T) {
		nssSigns(t, p, db, "rsa", "SHA256", false, nssEntity, "rsa-pkcs1v15, sha256", "-Y", "NONE")
	})

	// Other contents, including 8-bit text NSS signs as it is.
	for _, c := range nssShapes() {
		for _, detached := range []bool{false, true} {
			form := "opaque"
			if detached {
				form = "detached"
			}
			t.Run(c.name+"/"+form, func(t *testing.T) {
				nssSigns(t, p, db, "p256", "SHA256", detached, c.entity, "ecdsa, sha256")
			})
		}
	}

	// A control: Signet refuses the detached signature over other content.
	t.Run("altered-content-is-caught", func(t *testing.T) {
		sig := db.sign(t, "p256", "SHA256", true, nssEntity)
		altered := bytes.Replace(nssEntity, []byte("Second"), []byte("Sec0nd"), 1)
		r := signet(t, p.dir, nssMessage("p256", nssClearEntity("sha-256", altered, sig)), "verify", "--trust", "ca.crt")
		if r.code != 1 {
			t.Fatalf("signet verify of altered content: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

// nssSizes are entities whose lengths put the last AES block at every edge
// of CBC padding: one byte short of a block, a whole block, one byte more.
func nssSizes() []nssShape {
	const head = "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	var out []nssShape
	for _, n := range []int{63, 64, 65} {
		out = append(out, nssShape{fmt.Sprintf("%d-bytes", n), []byte(head + strings.Repeat("x", n-len(head))), true})
	}
	return out
}

// Signet encrypts, NSS decrypts: AES-CBC with RSA PKCS #1 v1.5 works; the
// rest are NSS 3.87 limitations, shown by cmsutil failing while Signet itself
// decrypts the same message.
func TestNSSDecryptsSignetEnvelopes(t *testing.T) {
	t.Parallel()
	p := newPKI(t, map[string]testpki.KeyType{"bob": testpki.RSA2048, "carol": testpki.RSA2048, "p256": testpki.P256})
	bobDB := newNSSDB(t, p, "bob")
	carolDB := newNSSDB(t, p, "carol")
	ecDB := newNSSDB(t, p, "p256")

	// encrypt has Signet encrypt entity and decrypt the result itself as
	// the first recipient (so a failure of NSS's is NSS's); it returns the
	// DER and the content Signet decrypted.
	encrypt := func(t *testing.T, entity []byte, args ...string) ([]byte, []byte) {
		t.Helper()
		out := mustSignet(t, p.dir, nssMessage("alice", entity), append([]string{"encrypt"}, args...)...)
		typ, der := nssPKCS7MIME(t, out)
		if typ != "enveloped-data" && typ != "authEnveloped-data" {
			t.Fatalf("smime-type %q", typ)
		}
		first := strings.TrimSuffix(args[slices.Index(args, "--to")+1], ".crt")
		dec := mustSignet(t, p.dir, out, "decrypt", "--cert", first+".crt", "--key", first+".key")
		_, after, ok := bytes.Cut(dec, []byte("MIME-Version: 1.0\r\n"))
		if !ok {
			t.Fatalf("signet decrypt gave\n%.300q", dec)
		}
		return der, after
	}
	standard := func(t *testing.T, args ...string) []byte {
		t.Helper()
		der, own := encrypt(t, nssEntity, args...)
		if !bytes.Equal(own, nssEntity) {
			t.Fatalf("signet decrypt of its own message gave\n%q", own)
		}
		return der
	}

	for _, cipher := range []string{"aes256-cbc", "aes128-cbc"} {
		t.Run(cipher+"/rsa-pkcs1v15", func(t *testing.T) {
			der := standard(t, "--cipher", cipher, "--to", "bob.crt")
			if got := bobDB.decrypt(t, der); !bytes.Equal(got, nssEntity) {
				t.Fatalf("NSS decrypted\n%q\nwant\n%q", got, nssEntity)
			}
		})
	}

	// The recipient named by subject key identifier (KeyTransRecipientInfo
	// version 2).
	t.Run("ski", func(t *testing.T) {
		der := standard(t, "--cipher", "aes256-cbc", "--ski", "--to", "bob.crt")
		if got := bobDB.decrypt(t, der); !bytes.Equal(got, nssEntity) {
			t.Fatalf("NSS decrypted\n%q\nwant\n%q", got, nssEntity)
		}
	})

	t.Run("two-recipients", func(t *testing.T) {
		der := standard(t, "--cipher", "aes256-cbc", "--to", "bob.crt", "--to", "carol.crt")
		for name, db := range map[string]*nssDB{"bob": bobDB, "carol": carolDB} {
			if got := db.decrypt(t, der); !bytes.Equal(got, nssEntity) {
				t.Fatalf("NSS decrypted as %s\n%q\nwant\n%q", name, got, nssEntity)
			}
		}
	})

	// Other contents and sizes at the CBC padding edges: NSS decrypts what
	// Signet does, and a 7-bit entity is encrypted as it is.
	for _, c := range append(nssShapes(), nssSizes()...) {
		t.Run(c.name, func(t *testing.T) {
			der, own := encrypt(t, c.entity, "--cipher", "aes128-cbc", "--to", "bob.crt")
			if c.sevenBit && !bytes.Equal(own, c.entity) {
				t.Fatalf("signet decrypt of its own message gave\n%.300q\nwant\n%.300q", own, c.entity)
			}
			if got := bobDB.decrypt(t, der); !bytes.Equal(got, own) {
				t.Fatalf("NSS decrypted\n%.300q\nSignet\n%.300q", got, own)
			}
		})
	}

	// A control: cmsutil needs the recipient's key, so the decryptions
	// above used the key Signet encrypted for.
	t.Run("not-a-recipient", func(t *testing.T) {
		der := standard(t, "--cipher", "aes256-cbc", "--to", "bob.crt")
		carolDB.decodeFails(t, der, "SEC_ERROR_NOT_A_RECIPIENT")
	})

	t.Run("rsa-oaep-unsupported-by-nss", func(t *testing.T) {
		der := standard(t, "--cipher", "aes256-cbc", "--rsa-oaep", "--to", "bob.crt")
		bobDB.unsupported(t, der, "SEC_ERROR_UNSUPPORTED_KEYALG")
	})

	for _, cipher := range []string{"aes256-gcm", "aes128-gcm"} {
		t.Run(cipher+"-unsupported-by-nss", func(t *testing.T) {
			der := standard(t, "--cipher", cipher, "--to", "bob.crt")
			bobDB.unsupported(t, der, "SEC_ERROR_UNRECOGNIZED_OID")
		})
	}

	t.Run("ecdh-unsupported-by-nss", func(t *testing.T) {
		der := standard(t, "--cipher", "aes256-cbc", "--to", "p256.crt")
		ecDB.unsupported(t, der, "SEC_ERROR_BAD_DER")
		// OpenSSL's ECDH envelope fails the same way: the limit is NSS's.
		mustRun(t, p.dir, nssEntity, "openssl", "cms", "-encrypt", "-binary", "-aes256", "-outform", "DER",
			"-out", "openssl-ecdh.p7m", "p256.crt")
		ossl, err := os.ReadFile(filepath.Join(p.dir, "openssl-ecdh.p7m"))
		if err != nil {
			t.Fatal(err)
		}
		ecDB.unsupported(t, ossl, "SEC_ERROR_BAD_DER")
	})
}

// NSS encrypts, Signet decrypts.
func TestNSSEnvelopesSignetDecrypts(t *testing.T) {
	t.Parallel()
	p := newPKI(t, map[string]testpki.KeyType{"bob": testpki.RSA2048, "carol": testpki.RSA2048, "p256": testpki.P256})
	sender := newNSSDB(t, p)
	for _, name := range []string{"bob", "carol", "p256"} {
		sender.addCert(t, name)
	}

	decrypt := func(t *testing.T, der, entity []byte, as string) {
		t.Helper()
		r := signet(t, p.dir, nssMessage("alice", nssOpaqueEntity("enveloped-data", der)),
			"decrypt", "--cert", as+".crt", "--key", as+".key")
		if r.code != 0 {
			t.Fatalf("signet decrypt as %s: exit %d\n%s", as, r.code, r.stderr)
		}
		if !bytes.HasSuffix(r.stdout, entity) || !bytes.HasPrefix(r.stdout, []byte("From: alice@example.org\r\n")) {
			t.Fatalf("signet decrypt as %s gave\n%.300q\nwant it to end with\n%.300q", as, r.stdout, entity)
		}
		if !bytes.Contains(r.stderr, []byte("aes128-cbc")) {
			t.Errorf("signet decrypt did not note aes128-cbc: %s", r.stderr)
		}
	}

	t.Run("one-recipient", func(t *testing.T) {
		der := sender.envelope(t, nssEntity, "bob")
		// NSS's default for a recipient with no known capabilities:
		// AES-128-CBC, key by RSA PKCS #1 v1.5.
		if !bytes.Contains(der, nssOIDAES128CBC) || !bytes.Contains(der, nssOIDRSA) {
			t.Fatalf("cmsutil -E no longer picks AES-128-CBC with RSA PKCS #1 v1.5")
		}
		decrypt(t, der, nssEntity, "bob")
	})

	t.Run("two-recipients", func(t *testing.T) {
		der := sender.envelope(t, nssEntity, "bob", "carol")
		decrypt(t, der, nssEntity, "bob")
		decrypt(t, der, nssEntity, "carol")
	})

	for _, c := range append(nssShapes(), nssSizes()...) {
		t.Run(c.name, func(t *testing.T) {
			decrypt(t, sender.envelope(t, c.entity, "bob"), c.entity, "bob")
		})
	}

	t.Run("ec-recipient-refused-by-nss", func(t *testing.T) {
		r := sender.cmsutil(t, "-E", "-r", "p256", "-i", nssFile(t, "content", nssEntity))
		if r.code == 0 || !bytes.Contains(r.stderr, []byte("SEC_ERROR_INVALID_ALGORITHM")) {
			t.Fatalf("cmsutil -E for an EC recipient: exit %d\n%s", r.code, r.stderr)
		}
		t.Logf("NSS limitation, as expected: %s", bytes.TrimSpace(r.stderr))
	})
}

// Sign then encrypt, in both directions: the inner signed entity survives
// the envelope and the peer verifies it.
func TestNSSSignThenEncrypt(t *testing.T) {
	t.Parallel()
	p := newPKI(t, map[string]testpki.KeyType{"bob": testpki.RSA2048, "carol": testpki.RSA2048, "rsa": testpki.RSA2048, "p256": testpki.P256, "p384": testpki.P384})
	bobDB := newNSSDB(t, p, "bob")
	carolDB := newNSSDB(t, p, "carol")

	t.Run("signet-clear-p256-to-nss", func(t *testing.T) {
		signed := mustSignet(t, p.dir, message("p256", "bob", nssBody), "sign", "--cert", "p256.crt", "--key", "p256.key")
		enc := mustSignet(t, p.dir, signed, "encrypt", "--cipher", "aes256-cbc", "--to", "bob.crt")
		_, der := nssPKCS7MIME(t, enc)
		if !bytes.Contains(der, nssOIDAES256CBC) {
			t.Fatalf("not AES-256-CBC")
		}
		inner := bobDB.decrypt(t, der)
		_, content, sig := nssClearSigned(t, inner)
		if got := bobDB.verify(t, sig, content, "p256"); !bytes.Equal(got, nssEntity) {
			t.Fatalf("NSS content\n%q\nwant\n%q", got, nssEntity)
		}
	})

	t.Run("signet-opaque-rsa-pss-to-nss-two-recipients", func(t *testing.T) {
		signed := mustSignet(t, p.dir, message("rsa", "bob", nssBody), "sign", "--opaque", "--pss", "--digest", "sha384",
			"--cert", "rsa.crt", "--key", "rsa.key")
		enc := mustSignet(t, p.dir, signed, "encrypt", "--cipher", "aes128-cbc", "--to", "bob.crt", "--to", "carol.crt")
		_, der := nssPKCS7MIME(t, enc)
		for _, db := range []*nssDB{bobDB, carolDB} {
			inner := db.decrypt(t, der)
			typ, sd := nssPKCS7MIME(t, inner)
			if typ != "signed-data" {
				t.Fatalf("inner smime-type %q", typ)
			}
			if got := db.verify(t, sd, nil, "rsa"); !bytes.Equal(got, nssEntity) {
				t.Fatalf("NSS content\n%q\nwant\n%q", got, nssEntity)
			}
		}
	})

	// NSS signs (opaque or detached), wraps the signature in S/MIME, and
	// encrypts that entity; Signet decrypts and verifies.
	signer := newNSSDB(t, p, "rsa", "p384")
	signer.addCert(t, "bob")
	for _, c := range []struct {
		name, signer, hash, alg string
		detached                bool
	}{
		{"nss-opaque-rsa-to-signet", "rsa", "SHA256", "rsa-pkcs1v15, sha256", false},
		{"nss-detached-p384-to-signet", "p384", "SHA384", "ecdsa, sha384", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sd := signer.sign(t, c.signer, c.hash, c.detached, nssEntity)
			entity := nssOpaqueEntity("signed-data", sd)
			if c.detached {
				entity = nssClearEntity("sha-"+strings.TrimPrefix(strings.ToLower(c.hash), "sha"), nssEntity, sd)
			}
			env := signer.envelope(t, entity, "bob")
			msg := nssMessage(c.signer, nssOpaqueEntity("enveloped-data", env))
			dec := mustSignet(t, p.dir, msg, "decrypt", "--cert", "bob.crt", "--key", "bob.key")
			if !bytes.HasSuffix(dec, entity) {
				t.Fatalf("signet decrypt gave\n%q\nwant it to end with\n%q", dec, entity)
			}
			nssSignetVerify(t, p, dec, c.alg, nssEntity)
		})
	}
}

// PKCS #12 files that NSS writes (pk12util -o; Thunderbird's and Firefox's
// certificate "Backup" use the same NSS PKCS #12 encoder) are how a
// Thunderbird user carries an identity to Signet. NSS 3.87 writes them in
// BER with indefinite lengths, outside and inside the authenticated safe
// ("openssl pkcs12 -info" shows PBES2/AES-256-CBC shrouded keys, AES-128-CBC
// encrypted certificates, an HMAC-SHA-256 MAC, 600000 iterations).
//
// Signet bug, shown by the "nss" subtests: keyfile.LoadPKCS12 decodes with
// software.sslmate.com/src/go-pkcs12, which accepts DER only, so --p12
// fails with "pkcs12: error reading P12 data: asn1: syntax error:
// indefinite length found (not DER)".
func TestNSSPKCS12Export(t *testing.T) {
	t.Parallel()
	p := newPKI(t, map[string]testpki.KeyType{"bob": testpki.RSA2048, "p256": testpki.P256})
	db := newNSSDB(t, p, "bob", "p256")
	pass := p.write(t, "pass.txt", []byte(nssP12Pass+"\n"))
	for _, name := range []string{"bob", "p256"} {
		mustRun(t, p.dir, nil, "pk12util", "-o", name+"-nss.p12", "-n", name, "-d", db.db, "-W", nssP12Pass)
		data, err := os.ReadFile(filepath.Join(p.dir, name+"-nss.p12"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte{0x30, 0x80}) {
			t.Fatalf("pk12util -o no longer writes an indefinite-length PFX: % x", data[:4])
		}
	}
	encrypted := mustSignet(t, p.dir, message("alice", "bob", nssBody), "encrypt", "--cipher", "aes256-cbc", "--to", "bob.crt")

	// "openssl" is the control: the DER files newNSSDB made with
	// "openssl pkcs12 -export" and NSS imported. "nss" are NSS's exports of
	// the same identities.
	for _, kind := range []string{"openssl", "nss"} {
		file := func(name string) string {
			if kind == "nss" {
				return name + "-nss.p12"
			}
			return name + ".p12"
		}
		t.Run(kind+"/decrypt", func(t *testing.T) {
			r := signet(t, p.dir, encrypted, "decrypt", "--p12", file("bob"), "--pass-file", pass)
			if r.code != 0 {
				t.Fatalf("signet decrypt --p12 %s: exit %d: %s", file("bob"), r.code, r.stderr)
			}
			if !bytes.HasSuffix(r.stdout, nssEntity) {
				t.Fatalf("signet decrypt gave\n%q", r.stdout)
			}
		})
		t.Run(kind+"/sign", func(t *testing.T) {
			r := signet(t, p.dir, message("p256", "bob", nssBody), "sign", "--opaque", "--p12", file("p256"), "--pass-file", pass)
			if r.code != 0 {
				t.Fatalf("signet sign --p12 %s: exit %d: %s", file("p256"), r.code, r.stderr)
			}
			_, der := nssPKCS7MIME(t, r.stdout)
			if got := db.verify(t, der, nil, "p256"); !bytes.Equal(got, nssEntity) {
				t.Fatalf("NSS verified\n%q", got)
			}
		})
	}
}
