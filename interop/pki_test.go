package interop

// The organisation's PKI (`signet init`, `ca …`, `cert …`, `serve`) against
// the real tools: PKCS #12 files Signet exports go into OpenSSL, NSS and
// gpgsm, whose imported identities then sign (Signet verifies) and decrypt
// (what Signet encrypted); `ca revoke` shows in `openssl crl` and in
// `openssl ocsp` against `signet serve`; no private key sits in plain text
// under the data folder; bad input changes nothing.
//
// Observed (OpenSSL 3.0.19, NSS 3.87 pk12util/cmsutil, gpgsm 2.2.40):
//   - `openssl pkcs12 -info` on the default export: PBES2/PBKDF2/AES-256-CBC
//     with hmacWithSHA256 for the key and the certificates, an HMAC-SHA-256
//     MAC; the key and the certificate carry a friendlyName ("Name <addr>")
//     and a localKeyID, the CA certificates no attributes. With --legacy:
//     pbeWithSHA1And3-KeyTripleDES-CBC and a SHA-1 MAC, 2048 iterations.
//   - pk12util imports the default export silently, under the friendly name.
//   - gpgsm imports the --legacy file only when the password comes through
//     --passphrase-fd (with --passphrase it says "possibly bad passphrase
//     given"), and refuses the default export ("encryptedData error at
//     pkcs5PBES2-params"). It trusts Signet's root with a plain "S"
//     trustlist entry (no "relax"), noting "non-critical certificate policy
//     not allowed". It signs with the digest of the certificate's own
//     signature: SHA-384 under Signet's P-384 issuing CA, even for RSA-2048.
//   - `openssl ocsp` against `signet serve`: "Response verify OK" with the
//     issuing CA as the responder (no delegated OCSP certificate), a nonce
//     echoed, and revocation reasons.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/pkcs12"
	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/keystore"
	"github.com/signet-smime/signet/store"
	"golang.org/x/crypto/ocsp"
)

const (
	orgP12Pass    = "p12-pass-Ünïcode"
	orgPassphrase = "correct horse battery staple"
)

// org is a Signet data folder and a work folder for the files the tests
// export and the tools read.
type org struct {
	t    *testing.T
	dir  string   // work folder (the tools run here)
	data string   // the --data folder
	env  []string // extra environment, e.g. SIGNET_PASSPHRASE
	port int      // of --public-url http://127.0.0.1:PORT
}

// newOrg runs `signet init` for "Example Org", example.org, with the public
// URL on a free local port, in a new folder.
func newOrg(t *testing.T, env ...string) *org {
	t.Helper()
	o := &org{t: t, dir: t.TempDir(), env: env, port: freePort(t)}
	o.data = filepath.Join(o.dir, "data")
	r := o.signet(nil, "init", "--org", "Example Org", "--domain", "example.org", "--public-url", o.url())
	if r.code != 0 {
		t.Fatalf("signet init: exit %d\n%s", r.code, r.stderr)
	}
	if len(env) == 0 && !bytes.Contains(r.stderr, []byte("trials only")) {
		t.Errorf("init without SIGNET_PASSPHRASE does not warn that the key file is for trials:\n%s", r.stderr)
	}
	if len(env) > 0 && len(r.stderr) != 0 {
		t.Errorf("init with SIGNET_PASSPHRASE printed:\n%s", r.stderr)
	}
	o.write("pass.txt", []byte(orgP12Pass+"\n"))
	o.must("ca", "export", "--pem", "ca.pem")
	// ca.pem is the issuing CA, then the root.
	certs := o.readCerts("ca.pem")
	if len(certs) != 2 || !certs[0].IsCA || !certs[1].IsCA || certs[0].CheckSignatureFrom(certs[1]) != nil {
		t.Fatalf("ca export --pem wrote %d certificates, want issuing then root", len(certs))
	}
	o.write("issuing.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}))
	o.write("root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[1].Raw}))
	return o
}

func (o *org) url() string { return fmt.Sprintf("http://127.0.0.1:%d", o.port) }

// with is o for a subtest: its failures go to t.
func (o *org) with(t *testing.T) *org {
	c := *o
	c.t = t
	return &c
}

// freePort returns a TCP port nothing listens on now and that no earlier
// call returned: a test that asks for several ports (HTTP, LDAP, SMTP)
// before starting anything must not get the same one twice.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !portsGiven[port] {
			portsGiven[port] = true
			return port
		}
	}
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// runEnv is run with extra environment variables.
func runEnv(t testing.TB, dir string, env []string, stdin []byte, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{out.Bytes(), errb.Bytes(), code}
}

// signet runs `signet --data DATA args…` in the work folder with o.env.
func (o *org) signet(stdin []byte, args ...string) result {
	o.t.Helper()
	env := append([]string{"SIGNET_PASSPHRASE="}, o.env...)
	return runEnv(o.t, o.dir, env, stdin, signetBin, append([]string{"--data", o.data}, args...)...)
}

func (o *org) must(args ...string) []byte {
	o.t.Helper()
	r := o.signet(nil, args...)
	if r.code != 0 {
		o.t.Fatalf("signet %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func (o *org) write(name string, data []byte) string {
	o.t.Helper()
	if err := os.WriteFile(filepath.Join(o.dir, name), data, 0o600); err != nil {
		o.t.Fatal(err)
	}
	return name
}

func (o *org) read(name string) []byte {
	o.t.Helper()
	b, err := os.ReadFile(filepath.Join(o.dir, name))
	if err != nil {
		o.t.Fatal(err)
	}
	return b
}

// readCerts parses every certificate of a PEM file in the work folder.
func (o *org) readCerts(name string) []*x509.Certificate {
	o.t.Helper()
	var certs []*x509.Certificate
	rest := o.read(name)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			o.t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		o.t.Fatalf("%s holds no certificate", name)
	}
	return certs
}

// issuedRow is one line of `ca issue --json` and `cert list --json`.
type issuedRow struct {
	Email      string `json:"email"`
	Usage      string `json:"usage"`
	Serial     string `json:"serial"`
	SHA256     string `json:"sha256"`
	Key        string `json:"key"`
	Status     string `json:"status"`
	KeyHeld    bool   `json:"key_held"`
	ThirdParty bool   `json:"third_party"`
}

// issue runs `ca issue --json` and returns its rows by usage.
func (o *org) issue(email string, args ...string) map[string]issuedRow {
	o.t.Helper()
	out := o.must(append([]string{"ca", "issue", "--email", email, "--json"}, args...)...)
	var rows []issuedRow
	if err := json.Unmarshal(out, &rows); err != nil {
		o.t.Fatalf("ca issue --json: %v\n%s", err, out)
	}
	m := map[string]issuedRow{}
	for _, r := range rows {
		m[r.Usage] = r
	}
	return m
}

// list is `cert list --json --all`.
func (o *org) list() []issuedRow {
	o.t.Helper()
	out := o.must("cert", "list", "--json", "--all")
	var rows []issuedRow
	if err := json.Unmarshal(out, &rows); err != nil {
		o.t.Fatalf("cert list --json: %v\n%s", err, out)
	}
	return rows
}

// exportP12 writes name.p12 for the address and usage ("" for the newest).
func (o *org) exportP12(email, usage, name string, legacy bool) string {
	o.t.Helper()
	args := []string{"cert", "export", "--email", email, "--p12", name + ".p12", "--pass-file", "pass.txt"}
	if usage != "" {
		args = append(args, "--usage", usage)
	}
	if legacy {
		args = append(args, "--legacy")
	}
	o.must(args...)
	return name + ".p12"
}

// exportPEM writes name.pem: the certificate and its chain.
func (o *org) exportPEM(email, usage, name string) string {
	o.t.Helper()
	args := []string{"cert", "export", "--email", email, "--pem", name + ".pem"}
	if usage != "" {
		args = append(args, "--usage", usage)
	}
	o.must(args...)
	return name + ".pem"
}

// opensslSplit has OpenSSL open a PKCS #12 and writes name.key (PKCS #8
// PEM), name.crt (the certificate) and name-chain.crt (the CA
// certificates); it returns `openssl pkcs12 -info` output followed by the
// PEM dump with its bag attributes.
func (o *org) opensslSplit(openssl, p12, name string) string {
	o.t.Helper()
	mustRun(o.t, o.dir, nil, openssl, "pkcs12", "-in", p12, "-passin", "file:pass.txt", "-nodes", "-out", name+"-all.pem")
	r := run(o.t, o.dir, nil, openssl, "pkcs12", "-in", p12, "-passin", "file:pass.txt", "-nodes", "-info", "-noout")
	mustRun(o.t, o.dir, nil, openssl, "pkcs12", "-in", p12, "-passin", "file:pass.txt", "-nodes", "-nocerts", "-out", name+".key")
	mustRun(o.t, o.dir, nil, openssl, "pkcs12", "-in", p12, "-passin", "file:pass.txt", "-clcerts", "-nokeys", "-out", name+".crt")
	mustRun(o.t, o.dir, nil, openssl, "pkcs12", "-in", p12, "-passin", "file:pass.txt", "-cacerts", "-nokeys", "-out", name+"-chain.crt")
	all := string(o.read(name + "-all.pem"))
	if !strings.Contains(all, "-----BEGIN PRIVATE KEY-----") || strings.Count(all, "-----BEGIN CERTIFICATE-----") != 3 {
		o.t.Fatalf("openssl pkcs12 -nodes of %s: want a key and three certificates:\n%s", p12, all)
	}
	return string(r.stdout) + string(r.stderr) + all
}

// fileState is the names, sizes and SHA-256 of every file under a folder.
func fileState(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		m[rel] = fmt.Sprintf("%d %x", len(b), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPKIOpenSSL: modern PKCS #12 exports open in OpenSSL; the identity
// signs with `openssl cms -sign` and Signet verifies; Signet encrypts to the
// exported encryption certificate and `openssl cms -decrypt` decrypts.
func TestPKIOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := needTool(t, "openssl")
	o := newOrg(t)
	o.write("ca.crt", o.read("ca.pem"))
	const body = "Signed by OpenSSL with a key from Signet.\r\nSecond line.\r\n"
	o.write("content.txt", []byte(body))
	people := []struct{ name, key, digest, sigAlg string }{
		{"alice", "ecdsa-p256", "sha256", "ecdsa"},
		{"bob", "rsa-2048", "sha256", "rsa-pkcs1v15"},
		{"carol", "ecdsa-p384", "sha384", "ecdsa"},
	}
	for _, p := range people {
		t.Run(p.name+"-"+p.key, func(t *testing.T) {
			o := o.with(t)
			email := p.name + "@example.org"
			display := strings.ToUpper(p.name[:1]) + p.name[1:] + " Example"
			rows := o.issue(email, "--key", p.key, "--name", display)
			if len(rows) != 2 || rows["sign"].Serial == "" || rows["encrypt"].Serial == "" {
				t.Fatalf("ca issue (pair) gave %+v", rows)
			}
			info := o.opensslSplit(openssl, o.exportP12(email, "sign", p.name+"-sign", false), p.name+"-sign")
			for _, want := range []string{"PBES2, PBKDF2, AES-256-CBC", "PRF hmacWithSHA256", "MAC: sha256", "Shrouded Keybag"} {
				if !strings.Contains(info, want) {
					t.Errorf("openssl pkcs12 -info lacks %q:\n%s", want, info)
				}
			}
			if leaf := o.readCerts(p.name + "-sign.crt")[0]; leaf.SerialNumber.Text(16) != rows["sign"].Serial {
				t.Errorf("the PKCS #12 holds serial %x, want the signing certificate %s", leaf.SerialNumber, rows["sign"].Serial)
			}
			if chain := o.readCerts(p.name + "-sign-chain.crt"); len(chain) != 2 {
				t.Errorf("the PKCS #12 carries %d CA certificates, want the issuing CA and the root", len(chain))
			}
			// The file carries a friendly name: the display name given at
			// issuance, with the address.
			var names []string
			for _, line := range strings.Split(info, "\n") {
				if _, v, ok := strings.Cut(line, "friendlyName: "); ok {
					names = append(names, v)
				}
			}
			if len(names) < 2 || !strings.Contains(names[0], display) || !strings.Contains(names[0], email) {
				t.Errorf("friendlyName bag attributes %q, want the key's and the certificate's to name %q and %s", names, display, email)
			}

			// OpenSSL signs; Signet verifies.
			md := []string{}
			if p.digest != "sha256" {
				md = []string{"-md", p.digest}
			}
			for _, opaque := range []bool{false, true} {
				args := append([]string{"cms", "-sign", "-signer", p.name + "-sign.crt", "-inkey", p.name + "-sign.key",
					"-certfile", p.name + "-sign-chain.crt", "-in", "content.txt", "-text",
					"-from", email, "-to", "bob@example.org", "-subject", "PKI interop", "-out", p.name + "-signed.eml"}, md...)
				if opaque {
					args = append(args, "-nodetach")
				}
				mustRun(t, o.dir, nil, openssl, args...)
				rep, r := peerVerify(t, o.dir, "--trust", "ca.pem", "--in", p.name+"-signed.eml")
				peerGoodSigner(t, rep, r, email, p.digest, p.sigAlg)
				// Trusting only the root works too: the chain goes through
				// the issuing CA the message carries.
				rep, r = peerVerify(t, o.dir, "--trust", "root.pem", "--in", p.name+"-signed.eml")
				peerGoodSigner(t, rep, r, email, p.digest, p.sigAlg)
			}

			// Signet encrypts to the exported encryption certificate;
			// OpenSSL decrypts with the exported key.
			o.exportPEM(email, "encrypt", p.name+"-enc-cert")
			o.opensslSplit(openssl, o.exportP12(email, "encrypt", p.name+"-enc", false), p.name+"-enc")
			for _, cipher := range []string{"aes256-gcm", "aes256-cbc"} {
				text := "Encrypted by Signet to " + p.name + " with " + cipher + ".\r\n"
				in := o.write("msg.eml", message("bob", p.name, text))
				o.must("encrypt", "--to", p.name+"-enc-cert.pem", "--cipher", cipher, "--in", in, "--out", p.name+"-enc.eml")
				r := run(t, o.dir, nil, openssl, "cms", "-decrypt", "-recip", p.name+"-enc.crt", "-inkey", p.name+"-enc.key", "-in", p.name+"-enc.eml")
				if r.code != 0 || !bytes.Contains(r.stdout, []byte(strings.TrimSpace(text))) {
					t.Errorf("openssl cms -decrypt (%s): exit %d\n%s\n%s", cipher, r.code, r.stdout, r.stderr)
				}
			}
		})
	}

	// An Ed25519 pair: the signing key is Ed25519 and the encryption key
	// ECDH P-256; both PKCS #12 files open in OpenSSL with keys that match.
	t.Run("dave-ed25519", func(t *testing.T) {
		o := o.with(t)
		rows := o.issue("dave@example.org", "--key", "ed25519")
		if rows["sign"].Key != "ed25519" || rows["encrypt"].Key != "ecdsa-p256" {
			t.Fatalf("ed25519 pair: %+v", rows)
		}
		for _, usage := range []string{"sign", "encrypt"} {
			name := "dave-" + usage
			o.opensslSplit(openssl, o.exportP12("dave@example.org", usage, name, false), name)
			keyPub := mustRun(t, o.dir, nil, openssl, "pkey", "-in", name+".key", "-pubout")
			certPub := mustRun(t, o.dir, nil, openssl, "x509", "-in", name+".crt", "-noout", "-pubkey")
			if !bytes.Equal(keyPub, certPub) {
				t.Errorf("%s: the key in the PKCS #12 is not the certificate's", usage)
			}
		}
	})

	// BUG (see the report): `ca issue --json` says key_held false for the
	// keys Signet has just sealed and holds; `cert list --json` says true.
	t.Run("issue-json-key-held", func(t *testing.T) {
		o := o.with(t)
		rows := o.issue("erin@example.org")
		for _, l := range o.list() {
			if r, ok := rows[l.Usage]; ok && l.Email == "erin@example.org" && r.KeyHeld != l.KeyHeld {
				t.Errorf("ca issue --json says key_held=%v for erin's %s certificate, cert list --json says %v", r.KeyHeld, l.Usage, l.KeyHeld)
			}
		}
	})
}

// nssNickname returns the nickname under which the database holds the
// key of the address (the line with trust "u,u,u").
func nssNickname(t *testing.T, db, email string) string {
	t.Helper()
	out := mustRun(t, "", nil, "certutil", "-L", "-d", db)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), "u,u,u") && strings.Contains(line, email) {
			return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "u,u,u"))
		}
	}
	t.Fatalf("no identity for %s in the NSS database:\n%s", email, out)
	return ""
}

// TestPKINSS: modern PKCS #12 exports import into a fresh NSS database
// with pk12util; cmsutil signs with the identity and Signet verifies; NSS
// decrypts what Signet encrypted to an RSA dual-use certificate.
func TestPKINSS(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"certutil", "pk12util", "cmsutil"} {
		needTool(t, tool)
	}
	o := newOrg(t)
	o.write("ca.crt", o.read("ca.pem")) // for nssSignetVerify
	o.issue("bob@example.org", "--key", "rsa-2048", "--usage", "both")
	o.issue("alice@example.org", "--key", "ecdsa-p256")
	n := &nssDB{p: &pki{dir: o.dir}, db: "sql:" + t.TempDir()}
	mustRun(t, o.dir, nil, "certutil", "-N", "-d", n.db, "--empty-password")
	mustRun(t, o.dir, nil, "certutil", "-A", "-d", n.db, "-n", "Example Org root", "-t", "C,C,C", "-i", "root.pem")
	for _, id := range []struct{ email, usage, name string }{
		{"bob@example.org", "", "bob"}, {"alice@example.org", "sign", "alice-sign"},
	} {
		p12 := o.exportP12(id.email, id.usage, id.name, false)
		r := run(t, o.dir, nil, "pk12util", "-i", p12, "-d", n.db, "-W", orgP12Pass)
		if r.code != 0 || !bytes.Contains(r.stdout, []byte("PKCS12 IMPORT SUCCESSFUL")) {
			t.Fatalf("pk12util -i %s: exit %d\n%s%s", p12, r.code, r.stdout, r.stderr)
		}
		t.Logf("pk12util -i %s: %s", p12, bytes.TrimSpace(append(r.stdout, r.stderr...)))
	}

	for _, s := range []struct{ email, alg string }{{"bob", "rsa-pkcs1v15, sha256"}, {"alice", "ecdsa, sha256"}} {
		for _, detached := range []bool{true, false} {
			t.Run(fmt.Sprintf("nss-signs/%s/detached=%v", s.email, detached), func(t *testing.T) {
				nick := nssNickname(t, n.db, s.email+"@example.org")
				sig := n.sign(t, nick, "SHA256", detached, nssEntity)
				var msg []byte
				if detached {
					if got := n.verify(t, sig, nssEntity, s.email); !bytes.Equal(got, nssEntity) {
						t.Fatalf("NSS does not verify its own signature")
					}
					msg = nssMessage(s.email, nssClearEntity("sha-256", nssEntity, sig))
				} else {
					msg = nssMessage(s.email, nssOpaqueEntity("signed-data", sig))
				}
				nssSignetVerify(t, n.p, msg, s.alg, nssEntity)
			})
		}
	}

	t.Run("nss-decrypts", func(t *testing.T) {
		o := o.with(t)
		o.exportPEM("bob@example.org", "", "bob-cert")
		for _, cipher := range []string{"aes256-cbc", "aes128-cbc"} {
			enc := o.must("encrypt", "--cipher", cipher, "--to", "bob-cert.pem", "--in", o.write("msg.eml", message("alice", "bob", nssBody)))
			typ, der := nssPKCS7MIME(t, enc)
			if typ != "enveloped-data" {
				t.Fatalf("smime-type %q", typ)
			}
			if got := n.decrypt(t, der); !bytes.Equal(got, nssEntity) {
				t.Errorf("NSS decrypted (%s)\n%q\nwant\n%q", cipher, got, nssEntity)
			}
		}
	})
}

// TestPKIGpgsm: a --legacy PKCS #12 of an RSA identity imports into gpgsm,
// which then signs (Signet verifies) and decrypts what Signet encrypted.
func TestPKIGpgsm(t *testing.T) {
	t.Parallel()
	gpgsm := needTool(t, "gpgsm")
	openssl := needTool(t, "openssl")
	o := newOrg(t)
	o.issue("carol@example.org", "--key", "rsa-2048", "--usage", "both")
	legacy := o.exportP12("carol@example.org", "", "carol-legacy", true)
	info := run(t, o.dir, nil, openssl, "pkcs12", "-in", legacy, "-passin", "file:pass.txt", "-info", "-noout", "-legacy")
	t.Logf("openssl pkcs12 -info of the --legacy file:\n%s%s", info.stdout, info.stderr)
	for _, want := range []string{"pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"} {
		if !bytes.Contains(append(info.stdout, info.stderr...), []byte(want)) {
			t.Errorf("--legacy PKCS #12 is not %s", want)
		}
	}
	o.exportPEM("carol@example.org", "", "carol")

	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	root := o.readCerts("root.pem")[0]
	for name, data := range map[string]string{
		"gpg-agent.conf": "allow-loopback-pinentry\n",
		"gpgsm.conf":     "disable-dirmngr\ndisable-crl-checks\n",
		"trustlist.txt":  gpgsmFingerprint(root) + " S\n",
	} {
		if err := os.WriteFile(filepath.Join(home, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if gpgconf, err := exec.LookPath("gpgconf"); err == nil {
			exec.Command(gpgconf, "--homedir", home, "--kill", "all").Run()
		}
	})
	// gpgsm reads the passphrases (the PKCS #12 password, then the one
	// protecting the imported key) from standard input.
	g := func(t *testing.T, args ...string) result {
		t.Helper()
		base := []string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--status-fd", "1", "--passphrase-fd", "0"}
		return run(t, o.dir, []byte(orgP12Pass+"\n"), gpgsm, append(base, args...)...)
	}
	must := func(t *testing.T, args ...string) result {
		t.Helper()
		r := g(t, args...)
		if r.code != 0 {
			t.Fatalf("gpgsm %s: exit %d\n%s\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	must(t, "--import", "root.pem", "issuing.pem")
	r := must(t, "--import", legacy)
	if !bytes.Contains(r.stdout, []byte("[GNUPG:] IMPORT_OK")) || !bytes.Contains(r.stderr, []byte("secret keys imported: 1")) {
		t.Fatalf("gpgsm --import %s:\n%s\n%s", legacy, r.stdout, r.stderr)
	}
	r = must(t, "--with-colons", "--list-secret-keys", "carol@example.org")
	if !bytes.Contains(r.stdout, []byte("crs:")) {
		t.Fatalf("gpgsm has no secret key for carol:\n%s", r.stdout)
	}

	t.Run("gpgsm-signs", func(t *testing.T) {
		o := o.with(t)
		content := nssEntity
		o.write("content", content)
		r := must(t, "--local-user", "carol@example.org", "--detach-sign", "--output", "carol.sig", "content")
		// "SIG_CREATED D 1 9 …": RSA (1) with SHA-384 (9). gpgsm 2.2 signs
		// with the digest of the certificate's own signature, here the
		// issuing CA's ECDSA with SHA-384.
		if !bytes.Contains(r.stdout, []byte("[GNUPG:] SIG_CREATED D 1 9 ")) {
			t.Errorf("gpgsm did not sign with RSA and SHA-384:\n%s", r.stdout)
		}
		sig := o.read("carol.sig")
		msg := gpgsmSignedMessage("carol", "sha-384", content, sig)
		rep, vr := peerVerify(t, o.dir, "--trust", "ca.pem", "--in", o.write("gpgsm-signed.eml", msg))
		peerGoodSigner(t, rep, vr, "carol@example.org", "sha384", "rsa-pkcs1v15")
		// gpgsm's own check of its signature, as a control.
		gpgsmGoodSig(t, g(t, "--verify", "carol.sig", "content"), "carol")
	})

	t.Run("gpgsm-decrypts", func(t *testing.T) {
		o := o.with(t)
		text := "Encrypted by Signet, decrypted by gpgsm.\r\n"
		enc := o.must("encrypt", "--cipher", "aes256-cbc", "--to", "carol.pem", "--in", o.write("msg.eml", message("bob", "carol", text)))
		_, der := peerPKCS7(t, enc)
		o.write("enc.p7m", der)
		r := must(t, "--decrypt", "--output", "dec.txt", "enc.p7m")
		if !bytes.Contains(r.stdout, []byte("[GNUPG:] DECRYPTION_OKAY")) {
			t.Errorf("gpgsm --decrypt status:\n%s", r.stdout)
		}
		if dec := o.read("dec.txt"); !bytes.Contains(dec, []byte(strings.TrimSpace(text))) {
			t.Errorf("gpgsm decrypted:\n%s", dec)
		}
	})

	// For the record: what gpgsm 2.2 makes of the default (PBES2) export.
	t.Run("modern-p12", func(t *testing.T) {
		o := o.with(t)
		o.issue("dan@example.org", "--key", "rsa-2048", "--usage", "both")
		modern := o.exportP12("dan@example.org", "", "dan", false)
		r := g(t, "--import", modern)
		t.Logf("gpgsm --import of the modern PKCS #12: exit %d\n%s", r.code, lastLines(r.stderr, 4))
	})
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// serve starts `signet serve` on the organisation's port, waits until it
// answers /healthz, and stops it when the test ends. It returns the file
// that collects the server's standard error.
func (o *org) serve(t *testing.T) string {
	t.Helper()
	_, errFile := o.startServe(t)
	return errFile
}

// startServe starts `signet serve` (with extra flags) on the
// organisation's port and waits
// until it answers /healthz. It returns a function that stops the server
// (also called when the test ends) and the file that collects its
// standard error.
func (o *org) startServe(t *testing.T, extra ...string) (stop func(), errFile string) {
	t.Helper()
	errFile = filepath.Join(t.TempDir(), "serve.stderr")
	f, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(signetBin, append([]string{"--data", o.data, "serve", "--http", fmt.Sprintf("127.0.0.1:%d", o.port)}, extra...)...)
	cmd.Dir = o.dir
	cmd.Env = append(append(os.Environ(), "SIGNET_PASSPHRASE="), o.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); f.Close() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Kill()
		<-done
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(o.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, errFile
			}
		}
		select {
		case err := <-done:
			stopped = true
			b, _ := os.ReadFile(errFile)
			t.Fatalf("signet serve exited: %v\n%s", err, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(errFile)
			t.Fatalf("signet serve did not answer /healthz within 15s\n%s", b)
		}
	}
}

// TestPKIRevocation: `ca revoke` shows in the CRL (`openssl crl`), in OCSP
// from `signet serve` (`openssl ocsp`) and in the CRL served at the URL in
// the certificates.
func TestPKIRevocation(t *testing.T) {
	t.Parallel()
	openssl := needTool(t, "openssl")
	o := newOrg(t)
	dave := o.issue("dave@example.org")
	erin := o.issue("erin@example.org", "--key", "rsa-2048", "--usage", "both")
	o.exportPEM("dave@example.org", "sign", "dave-sign")
	o.exportPEM("dave@example.org", "encrypt", "dave-enc")
	o.exportPEM("erin@example.org", "", "erin")
	revoked := dave["sign"].Serial
	out := o.must("ca", "revoke", "--serial", revoked, "--reason", "keyCompromise")
	if !bytes.Contains(out, []byte(revoked)) || !bytes.Contains(out, []byte("keyCompromise")) {
		t.Errorf("ca revoke printed %q", out)
	}
	if got := o.list(); !slices.ContainsFunc(got, func(r issuedRow) bool { return r.Serial == revoked && r.Status == "revoked" }) {
		t.Errorf("cert list --all does not show %s revoked: %+v", revoked, got)
	}
	// opensslSerial is how `openssl crl -text` prints a serial.
	opensslSerial := func(hexSerial string) string {
		if len(hexSerial)%2 == 1 {
			hexSerial = "0" + hexSerial
		}
		return strings.ToUpper(hexSerial)
	}

	t.Run("openssl-crl", func(t *testing.T) {
		o := o.with(t)
		o.must("ca", "crl", "--out", "issuing.crl")
		text := string(mustRun(t, o.dir, nil, openssl, "crl", "-inform", "DER", "-in", "issuing.crl", "-text", "-noout"))
		i := strings.Index(text, "Serial Number: "+opensslSerial(revoked))
		if i < 0 {
			t.Fatalf("openssl crl does not list %s:\n%s", opensslSerial(revoked), text)
		}
		entry := text[i:]
		if j := strings.Index(entry[1:], "Serial Number:"); j > 0 {
			entry = entry[:j+1]
		}
		if !strings.Contains(entry, "X509v3 CRL Reason Code:") || !strings.Contains(entry, "Key Compromise") {
			t.Errorf("the CRL entry of %s has no keyCompromise reason:\n%s", revoked, entry)
		}
		for _, s := range []string{erin["both"].Serial, dave["encrypt"].Serial} {
			if strings.Contains(text, opensslSerial(s)) {
				t.Errorf("the CRL lists the valid certificate %s", s)
			}
		}
		// The CRL verifies against the issuing CA.
		r := run(t, o.dir, nil, openssl, "crl", "-inform", "DER", "-in", "issuing.crl", "-CAfile", "ca.pem", "-noout")
		if r.code != 0 || !bytes.Contains(append(r.stdout, r.stderr...), []byte("verify OK")) {
			t.Errorf("openssl crl -CAfile: exit %d %s%s", r.code, r.stdout, r.stderr)
		}
		// The CRL number goes up with each CRL.
		o.must("ca", "crl", "--out", "issuing2.crl")
		n1 := mustRun(t, o.dir, nil, openssl, "crl", "-inform", "DER", "-in", "issuing.crl", "-noout", "-crlnumber")
		n2 := mustRun(t, o.dir, nil, openssl, "crl", "-inform", "DER", "-in", "issuing2.crl", "-noout", "-crlnumber")
		if bytes.Equal(n1, n2) {
			t.Errorf("two CRLs with the same number: %s", n1)
		}
	})

	o.serve(t)
	ocspCheck := func(t *testing.T, certs map[string]string) string {
		t.Helper()
		o := o.with(t)
		args := []string{"ocsp", "-issuer", "issuing.pem", "-url", o.url() + "/ocsp", "-CAfile", "ca.pem"}
		for _, f := range slices.Sorted(maps.Keys(certs)) {
			args = append(args, "-cert", f)
		}
		r := run(t, o.dir, nil, openssl, args...)
		all := string(r.stdout) + string(r.stderr)
		if r.code != 0 || !strings.Contains(all, "Response verify OK") {
			t.Fatalf("openssl ocsp: exit %d\n%s", r.code, all)
		}
		for f, status := range certs {
			if !strings.Contains(all, f+": "+status+"\n") {
				t.Errorf("openssl ocsp does not report %s %s:\n%s", f, status, all)
			}
		}
		return all
	}

	t.Run("openssl-ocsp", func(t *testing.T) {
		o := o.with(t)
		all := ocspCheck(t, map[string]string{"dave-sign.pem": "revoked", "dave-enc.pem": "good", "erin.pem": "good"})
		if !strings.Contains(all, "Reason: keyCompromise") {
			t.Errorf("openssl ocsp gives no keyCompromise reason:\n%s", all)
		}
		// The response names the responder and is signed by the issuing
		// CA itself (RFC 6960 2.6), with a nonce echoed.
		r := mustRun(t, o.dir, nil, openssl, "ocsp", "-issuer", "issuing.pem", "-cert", "erin.pem", "-url", o.url()+"/ocsp",
			"-CAfile", "ca.pem", "-resp_text")
		for _, want := range []string{"Response Type: Basic OCSP Response", "Responder Id:", "OCSP Nonce:", "Cert Status: good"} {
			if !bytes.Contains(r, []byte(want)) {
				t.Errorf("openssl ocsp -resp_text lacks %q:\n%s", want, r)
			}
		}
	})

	// RFC 6960 A.1 GET (URL-encoded base64 after the responder URL), and
	// POST, from Go.
	t.Run("ocsp-get-and-post", func(t *testing.T) {
		o := o.with(t)
		iss := o.readCerts("issuing.pem")[0]
		for _, c := range []struct {
			file   string
			status int
		}{{"dave-sign.pem", ocsp.Revoked}, {"erin.pem", ocsp.Good}} {
			leaf := o.readCerts(c.file)[0]
			req, err := ocsp.CreateRequest(leaf, iss, nil)
			if err != nil {
				t.Fatal(err)
			}
			get := leaf.OCSPServer[0] + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(req))
			post := func() (*http.Response, error) {
				return http.Post(leaf.OCSPServer[0], "application/ocsp-request", bytes.NewReader(req))
			}
			for method, do := range map[string]func() (*http.Response, error){"GET": func() (*http.Response, error) { return http.Get(get) }, "POST": post} {
				resp, err := do()
				if err != nil {
					t.Fatal(err)
				}
				der, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/ocsp-response" {
					t.Errorf("%s %s: %s %q", method, c.file, resp.Status, resp.Header.Get("Content-Type"))
				}
				r, err := ocsp.ParseResponseForCert(der, leaf, iss)
				if err != nil {
					t.Fatalf("%s %s: %v", method, c.file, err)
				}
				if r.Status != c.status {
					t.Errorf("%s %s: status %d, want %d", method, c.file, r.Status, c.status)
				}
			}
		}
	})

	// The CRL at the certificate's CRL distribution point, fetched over HTTP.
	crlAt := func(t *testing.T) *x509.RevocationList {
		t.Helper()
		o := o.with(t)
		leaf := o.readCerts("erin.pem")[0]
		if len(leaf.CRLDistributionPoints) != 1 || !strings.HasPrefix(leaf.CRLDistributionPoints[0], o.url()+"/") {
			t.Fatalf("CRL distribution points %v, want one under %s", leaf.CRLDistributionPoints, o.url())
		}
		resp, err := http.Get(leaf.CRLDistributionPoints[0])
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		der, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v", leaf.CRLDistributionPoints[0], resp.Status, err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("the served CRL does not parse: %v", err)
		}
		if err := crl.CheckSignatureFrom(o.readCerts("issuing.pem")[0]); err != nil {
			t.Errorf("the served CRL is not signed by the issuing CA: %v", err)
		}
		return crl
	}
	reasons := func(crl *x509.RevocationList) map[string]int {
		m := map[string]int{}
		for _, e := range crl.RevokedCertificateEntries {
			m[e.SerialNumber.Text(16)] = e.ReasonCode
		}
		return m
	}
	t.Run("served-crl", func(t *testing.T) {
		o := o.with(t)
		got := reasons(crlAt(t))
		if reason, ok := got[revoked]; !ok || reason != 1 {
			t.Errorf("served CRL entries %v, want %s with reason 1 (keyCompromise)", got, revoked)
		}
		if _, ok := got[erin["both"].Serial]; ok {
			t.Errorf("the served CRL lists erin's valid certificate")
		}
		// The AIA caIssuers URL serves the issuing CA.
		leaf := o.readCerts("erin.pem")[0]
		resp, err := http.Get(leaf.IssuingCertificateURL[0])
		if err != nil {
			t.Fatal(err)
		}
		der, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(der, o.readCerts("issuing.pem")[0].Raw) {
			t.Errorf("GET %s did not give the issuing CA (%s, %d bytes)", leaf.IssuingCertificateURL[0], resp.Status, len(der))
		}
	})

	// A revocation while the server runs shows at once in OCSP and in the
	// served CRL.
	t.Run("revoke-while-serving", func(t *testing.T) {
		o := o.with(t)
		o.must("ca", "revoke", "--email", "erin@example.org", "--reason", "superseded")
		all := ocspCheck(t, map[string]string{"erin.pem": "revoked", "dave-enc.pem": "good"})
		if !strings.Contains(all, "Reason: superseded") {
			t.Errorf("openssl ocsp gives no superseded reason:\n%s", all)
		}
		got := reasons(crlAt(t))
		if got[erin["both"].Serial] != 4 || got[revoked] != 1 {
			t.Errorf("served CRL entries after revoking erin: %v", got)
		}
	})
}

// keyMaterial is a private key as the tests look for it in files.
type keyMaterial struct {
	name string
	der  []byte // PKCS #8
	spki []byte // the public key, which certificates carry in the open
}

func newKeyMaterial(t *testing.T, name string, key crypto.PrivateKey) keyMaterial {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("%s: %T: %v", name, key, err)
	}
	var pub crypto.PublicKey
	switch k := key.(type) {
	case *ecdh.PrivateKey:
		pub = k.PublicKey()
	case crypto.Signer:
		pub = k.Public()
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return keyMaterial{name, der, spki}
}

// findKeys lists where files under dir hold a key's PKCS #8 DER, its PEM
// body (whole, or any of its 64-character lines), or any 32-byte window of
// the DER. Windows that lie wholly inside the encoding of the public key
// are left out: a PKCS #8 EC key carries its public point and an RSA key
// its modulus, which the certificates in signet.db carry too.
func findKeys(t *testing.T, dir string, keys []keyMaterial) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, k := range keys {
			if bytes.Contains(data, k.der) {
				found = append(found, fmt.Sprintf("%s holds the PKCS #8 DER of %s", rel, k.name))
				continue
			}
			body := base64.StdEncoding.EncodeToString(k.der)
			if bytes.Contains(data, []byte(body)) {
				found = append(found, fmt.Sprintf("%s holds the PEM body of %s", rel, k.name))
				continue
			}
			line := -1
			for i := 0; i+64 <= len(body) && line < 0; i += 64 {
				if bytes.Contains(data, []byte(body[i:i+64])) {
					line = i/64 + 1
				}
			}
			if line > 0 {
				found = append(found, fmt.Sprintf("%s holds line %d of the PEM of %s", rel, line, k.name))
				continue
			}
			windows := map[string]bool{}
			for i := 0; i+32 <= len(k.der); i++ {
				if w := k.der[i : i+32]; !bytes.Contains(k.spki, w) {
					windows[string(w)] = true
				}
			}
			if len(windows) < len(k.der)/4 {
				t.Fatalf("%s: only %d private windows in %d bytes of PKCS #8", k.name, len(windows), len(k.der))
			}
			for i := 0; i+32 <= len(data); i++ {
				if windows[string(data[i:i+32])] {
					found = append(found, fmt.Sprintf("%s holds 32 bytes of the PKCS #8 DER of %s at offset %d", rel, k.name, i))
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestPKINoPlaintextKeys: no issued key, and no CA key, appears in plain
// text in any file under the data folder, with a key file and with a
// passphrase.
func TestPKINoPlaintextKeys(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"keyfile", "passphrase"} {
		t.Run(mode, func(t *testing.T) {
			var env []string
			if mode == "passphrase" {
				env = []string{"SIGNET_PASSPHRASE=" + orgPassphrase}
			}
			o := newOrg(t, env...)
			o.issue("alice@example.org")                                       // ecdsa-p256 pair
			o.issue("bob@example.org", "--key", "rsa-2048", "--usage", "both") // one RSA key
			o.issue("dave@example.org", "--key", "ed25519")                    // Ed25519 + ECDH P-256
			o.issue("carol@example.org", "--key", "ecdsa-p384", "--usage", "sign")
			var keys []keyMaterial
			for _, id := range []struct{ email, usage string }{
				{"alice@example.org", "sign"}, {"alice@example.org", "encrypt"}, {"bob@example.org", ""},
				{"dave@example.org", "sign"}, {"dave@example.org", "encrypt"}, {"carol@example.org", "sign"},
			} {
				name := strings.TrimSuffix(id.email, "@example.org") + "-" + id.usage
				p12 := o.exportP12(id.email, id.usage, name, false)
				key, cert, _, err := pkcs12.Decode(o.read(p12), orgP12Pass)
				if err != nil {
					t.Fatalf("decoding %s: %v", p12, err)
				}
				if _, ok := key.(*ecdh.PrivateKey); ok && id.usage != "encrypt" {
					t.Errorf("%s holds an X25519 key for %s", p12, id.usage)
				}
				keys = append(keys, newKeyMaterial(t, name+" ("+cert.Subject.CommonName+")", key))
			}
			// The encryption keys stay (escrow): the folder must still be
			// free of them. The CA keys too, opened through the key file.
			if mode == "keyfile" {
				keys = append(keys, caKeys(t, o.data)...)
			}
			if len(keys) < 6 {
				t.Fatalf("only %d keys to look for", len(keys))
			}
			if _, err := os.Stat(filepath.Join(o.data, "signet.db")); err != nil {
				t.Fatal(err)
			}
			for _, f := range findKeys(t, o.data, keys) {
				t.Error(f)
			}

			// Controls: the search finds a key written in the forms an
			// implementation might leak (PKCS #1 or SEC 1 DER, PEM).
			ctl := t.TempDir()
			for i, k := range keys[:3] {
				key, err := x509.ParsePKCS8PrivateKey(k.der)
				if err != nil {
					t.Fatal(err)
				}
				var inner []byte
				switch kk := key.(type) {
				case *rsa.PrivateKey:
					inner = x509.MarshalPKCS1PrivateKey(kk)
				case *ecdsa.PrivateKey:
					if inner, err = x509.MarshalECPrivateKey(kk); err != nil {
						t.Fatal(err)
					}
				default:
					inner = k.der
				}
				leak := append(append([]byte("junk before"), inner...), "junk after"...)
				if i == 2 {
					leak = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k.der})
				}
				if err := os.WriteFile(filepath.Join(ctl, fmt.Sprintf("leak%d", i)), leak, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			found := strings.Join(findKeys(t, ctl, keys), "\n")
			for i := range 3 {
				if !strings.Contains(found, fmt.Sprintf("leak%d holds", i)) {
					t.Errorf("the search misses the key planted in leak%d: %s", i, found)
				}
			}
		})
	}
}

// caKeys opens the CA keys of a key-file data folder with the store and
// keystore packages.
func caKeys(t *testing.T, data string) []keyMaterial {
	t.Helper()
	ctx := context.Background()
	m, err := keystore.LoadKeyFile(filepath.Join(data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(data, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []keyMaterial
	sealed, err := st.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sealed {
		key, err := m.Open(k.ID, &keystore.Sealed{Algorithm: k.Algorithm, Blob: k.Sealed, WrappedKey: k.Wrapped})
		if err != nil {
			t.Fatalf("opening %s: %v", k.ID, err)
		}
		out = append(out, newKeyMaterial(t, "stored key "+k.ID, key))
	}
	if !slices.ContainsFunc(out, func(k keyMaterial) bool { return strings.HasSuffix(k.name, "ca-root") }) {
		t.Fatalf("no root CA key among %d stored keys", len(out))
	}
	return out
}

// TestPKIBadInput: bad input gives one clear line on standard error, exit
// 1 (2 for a wrong command line), and changes nothing.
func TestPKIBadInput(t *testing.T) {
	t.Parallel()
	good := "SIGNET_PASSPHRASE=" + orgPassphrase
	o := newOrg(t, good)
	if _, err := os.Stat(filepath.Join(o.data, "master.key")); err == nil {
		t.Errorf("init with SIGNET_PASSPHRASE made a key file")
	}
	alice := o.issue("alice@example.org")
	o.issue("bob@example.org", "--key", "rsa-2048", "--usage", "both")
	o.must("ca", "revoke", "--serial", alice["sign"].Serial, "--reason", "keyCompromise")
	p12 := o.exportP12("bob@example.org", "", "bob", false)
	valid := o.read(p12)
	o.write("junk.p12", bytes.Repeat([]byte{0x30, 0x82, 0x13}, 100))
	o.write("truncated.p12", valid[:len(valid)/2])
	flipped := slices.Clone(valid)
	flipped[len(flipped)-10] ^= 0x55 // inside the MAC
	o.write("flipped.p12", flipped)
	o.write("wrong-pass.txt", []byte("not the password\n"))
	o.write("empty.txt", nil)

	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string // in the line on standard error
	}{
		{"wrong-passphrase-issue", []string{"SIGNET_PASSPHRASE=wrong"}, []string{"ca", "issue", "--email", "carol@example.org"}, 1, "wrong SIGNET_PASSPHRASE"},
		{"wrong-passphrase-revoke", []string{"SIGNET_PASSPHRASE=wrong"}, []string{"ca", "revoke", "--serial", alice["encrypt"].Serial}, 1, "wrong SIGNET_PASSPHRASE"},
		{"wrong-passphrase-export", []string{"SIGNET_PASSPHRASE=wrong"}, []string{"cert", "export", "--email", "bob@example.org", "--p12", "x.p12", "--pass-file", "pass.txt"}, 1, "wrong SIGNET_PASSPHRASE"},
		{"wrong-passphrase-crl", []string{"SIGNET_PASSPHRASE=wrong"}, []string{"ca", "crl", "--out", "x.crl"}, 1, "wrong SIGNET_PASSPHRASE"},
		{"no-passphrase", nil, []string{"ca", "issue", "--email", "carol@example.org"}, 1, "SIGNET_PASSPHRASE"},
		{"malformed-p12", []string{good}, []string{"cert", "import", "junk.p12", "--pass-file", "pass.txt"}, 1, "junk.p12"},
		{"truncated-p12", []string{good}, []string{"cert", "import", "truncated.p12", "--pass-file", "pass.txt"}, 1, "truncated.p12"},
		{"altered-p12", []string{good}, []string{"cert", "import", "flipped.p12", "--pass-file", "pass.txt"}, 1, "flipped.p12"},
		{"p12-wrong-password", []string{good}, []string{"cert", "import", p12, "--pass-file", "wrong-pass.txt"}, 1, "password"},
		{"p12-no-password", []string{good}, []string{"cert", "import", p12}, 1, p12},
		{"import-ca-certificate", []string{good}, []string{"cert", "import", "ca.pem"}, 1, "CA certificate"},
		{"outside-domains", []string{good}, []string{"ca", "issue", "--email", "mallory@evil.example"}, 1, "not in the organisation's domains"},
		{"outside-domains-rsa", []string{good}, []string{"ca", "issue", "--email", "mallory@example.org.evil.example", "--key", "rsa-2048", "--usage", "both"}, 1, "not in the organisation's domains"},
		{"revoked-again", []string{good}, []string{"ca", "revoke", "--serial", alice["sign"].Serial, "--reason", "superseded"}, 1, "already revoked"},
		{"revoke-unknown-serial", []string{good}, []string{"ca", "revoke", "--serial", "123456789abcdef"}, 1, "no certificate with serial"},
		{"ed25519-both", []string{good}, []string{"ca", "issue", "--email", "carol@example.org", "--key", "ed25519", "--usage", "both"}, 1, "Ed25519"},
		{"ed25519-encrypt", []string{good}, []string{"ca", "issue", "--email", "carol@example.org", "--key", "ed25519", "--usage", "encrypt"}, 1, "Ed25519"},
		{"unknown-key", []string{good}, []string{"ca", "issue", "--email", "carol@example.org", "--key", "rsa-1024"}, 1, "rsa-1024"},
		{"export-empty-password", []string{good}, []string{"cert", "export", "--email", "bob@example.org", "--p12", "x.p12", "--pass-file", "empty.txt"}, 1, "password"},
		{"init-again", []string{good}, []string{"init", "--org", "Other", "--domain", "other.example"}, 1, "already"},
		{"usage-no-email", []string{good}, []string{"ca", "issue"}, 2, "--email"},
		{"usage-bad-reason", []string{good}, []string{"ca", "revoke", "--serial", alice["encrypt"].Serial, "--reason", "bored"}, 2, "bored"},
		{"usage-serial-and-email", []string{good}, []string{"ca", "revoke", "--serial", alice["encrypt"].Serial, "--email", "alice@example.org"}, 2, "exactly one"},
	}
	// What every case must leave as it is (each case compares with it, so
	// a change is pinned on the case that made it).
	before, beforeFiles := o.list(), fileState(t, o.data)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := o.with(t)
			beforeWork := fileState(t, o.dir)
			o.env = tc.env
			r := o.signet(nil, tc.args...)
			o.env = []string{good}
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			line := strings.TrimRight(string(r.stderr), "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, "signet: ") || !strings.Contains(line, tc.want) {
				t.Errorf("standard error %q: want one line \"signet: …\" that says %q", r.stderr, tc.want)
			}
			if len(r.stdout) != 0 {
				t.Errorf("standard output %q", r.stdout)
			}
			afterFiles := fileState(t, o.data)
			if fmt.Sprint(afterFiles) != fmt.Sprint(beforeFiles) {
				t.Errorf("the data folder changed:\n%v\n->\n%v", beforeFiles, afterFiles)
				before, beforeFiles = o.list(), afterFiles // pin later changes on later cases
			}
			if after := o.list(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("cert list --all changed:\n%+v\n->\n%+v", before, after)
				before = after
			}
			// The list ran with the right passphrase: it must not have
			// changed the folder either.
			if f := fileState(t, o.data); fmt.Sprint(f) != fmt.Sprint(beforeFiles) {
				t.Errorf("cert list changed the data folder")
				beforeFiles = f
			}
			// No output file appeared (x.p12, x.crl, temporary files).
			afterWork := fileState(t, o.dir)
			for f := range afterWork {
				if _, ok := beforeWork[f]; !ok && !strings.HasPrefix(f, "data"+string(filepath.Separator)) {
					t.Errorf("%s appeared", f)
				}
			}
		})
	}
	// After all that, the right passphrase still opens everything.
	o.issue("carol@example.org")
}

// TestPKIServeTrial: `signet serve` on an empty folder sets up the trial
// organisation, says how to set up a real one, and serves it.
func TestPKIServeTrial(t *testing.T) {
	t.Parallel()
	o := &org{t: t, dir: t.TempDir(), port: freePort(t)}
	o.data = filepath.Join(o.dir, "trial")
	errFile := o.serve(t)
	stderr, err := os.ReadFile(errFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TRIAL", "Signet Trial", "example.org", "SIGNET_PASSPHRASE", "signet --data NEWDIR init --org", "--public-url",
		"warning", "trials only", fmt.Sprintf("http://127.0.0.1:%d", o.port)} {
		if !bytes.Contains(stderr, []byte(want)) {
			t.Errorf("serve on an empty folder did not say %q:\n%s", want, stderr)
		}
	}
	show := string(o.must("ca", "show"))
	for _, want := range []string{"organisation: Signet Trial", "domains:      example.org", "public URL:   " + o.url(), "root CA:", "issuing CA:"} {
		if !strings.Contains(show, want) {
			t.Errorf("ca show lacks %q:\n%s", want, show)
		}
	}
	// The trial works: issue while the server runs, then ask it.
	rows := o.issue("alice@example.org", "--usage", "both")
	o.must("ca", "export", "--pem", "ca.pem")
	o.exportPEM("alice@example.org", "", "alice")
	leaf, iss := o.readCerts("alice.pem")[0], o.readCerts("ca.pem")[0]
	if leaf.SerialNumber.Text(16) != rows["both"].Serial {
		t.Fatalf("exported %x, issued %s", leaf.SerialNumber, rows["both"].Serial)
	}
	if !strings.HasPrefix(leaf.OCSPServer[0], o.url()) {
		t.Errorf("trial certificates point OCSP at %v, not at the server %s", leaf.OCSPServer, o.url())
	}
	if openssl, err := exec.LookPath("openssl"); err == nil {
		o.write("issuing.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.Raw}))
		r := run(t, o.dir, nil, openssl, "ocsp", "-issuer", "issuing.pem", "-cert", "alice.pem", "-url", o.url()+"/ocsp", "-CAfile", "ca.pem")
		if all := string(r.stdout) + string(r.stderr); r.code != 0 || !strings.Contains(all, "alice.pem: good") || !strings.Contains(all, "Response verify OK") {
			t.Errorf("openssl ocsp against the trial: exit %d\n%s", r.code, all)
		}
	}
	// A second serve on a folder that is not empty and not Signet's refuses.
	t.Run("non-empty-folder", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		before := fileState(t, dir)
		r := signet(t, dir, nil, "--data", dir, "serve", "--http", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		line := strings.TrimRight(string(r.stderr), "\n")
		if r.code != 1 || strings.Contains(line, "\n") || !strings.Contains(line, "not empty") {
			t.Errorf("serve on a foreign folder: exit %d %q", r.code, r.stderr)
		}
		if fmt.Sprint(fileState(t, dir)) != fmt.Sprint(before) {
			t.Errorf("serve changed a foreign folder")
		}
	})
}

// TestPKIImportThirdParty: `cert import` keeps another CA's certificate,
// alone or with its key from a PKCS #12; a file with a certificate and its
// CA either imports the mailbox certificate or changes nothing.
func TestPKIImportThirdParty(t *testing.T) {
	t.Parallel()
	openssl := needTool(t, "openssl")
	o := newOrg(t)
	other, err := testpki.NewCA("Partner CA")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, id *testpki.Identity) {
		t.Helper()
		if _, _, _, err := id.WriteFiles(o.dir, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []struct {
		name string
		kt   testpki.KeyType
	}{{"dave", testpki.RSA2048}, {"erin", testpki.P256}, {"zed", testpki.P256}} {
		id, err := other.Issue(n.name+"@partner.example", n.kt, nil)
		if err != nil {
			t.Fatal(err)
		}
		write(n.name, id)
	}
	o.write("partner-ca.crt", testpki.CertPEM(other.Cert))
	find := func(email string) (issuedRow, bool) {
		for _, r := range o.list() {
			if r.Email == email {
				return r, true
			}
		}
		return issuedRow{}, false
	}

	t.Run("certificate", func(t *testing.T) {
		o := o.with(t)
		o.must("cert", "import", "dave.crt")
		r, ok := find("dave@partner.example")
		if !ok || !r.ThirdParty || r.KeyHeld || r.Key != "rsa-2048" {
			t.Fatalf("after import: %+v %v", r, ok)
		}
		// Signet encrypts to it from its own records.
		o.exportPEM("dave@partner.example", "", "dave-export")
		if !bytes.Equal(o.readCerts("dave-export.pem")[0].Raw, o.readCerts("dave.crt")[0].Raw) {
			t.Error("cert export gives another certificate than the one imported")
		}
	})

	t.Run("pkcs12", func(t *testing.T) {
		o := o.with(t)
		mustRun(t, o.dir, nil, openssl, "pkcs12", "-export", "-in", "erin.crt", "-inkey", "erin.key", "-certfile", "partner-ca.crt",
			"-passout", "file:pass.txt", "-out", "erin.p12")
		o.must("cert", "import", "erin.p12", "--pass-file", "pass.txt")
		r, ok := find("erin@partner.example")
		if !ok || !r.ThirdParty || !r.KeyHeld {
			t.Fatalf("after import: %+v %v", r, ok)
		}
		// The key is usable: export it again and check it is erin's.
		out := o.exportP12("erin@partner.example", "", "erin-again", false)
		key, cert, _, err := pkcs12.Decode(o.read(out), orgP12Pass)
		if err != nil {
			t.Fatal(err)
		}
		want := o.readCerts("erin.crt")[0]
		if !cert.Equal(want) || !key.(*ecdsa.PrivateKey).PublicKey.Equal(want.PublicKey) {
			t.Error("the re-exported PKCS #12 is not erin's certificate and key")
		}
	})

	// BUG (see the report): cert import of a PEM with a mailbox
	// certificate followed by its CA imports the first, then fails on the
	// CA with exit 1: a failure that changed the data folder.
	t.Run("certificate-and-its-ca", func(t *testing.T) {
		o := o.with(t)
		o.write("zed-chain.pem", append(o.read("zed.crt"), o.read("partner-ca.crt")...))
		before := fileState(t, o.data)
		r := o.signet(nil, "cert", "import", "zed-chain.pem")
		_, imported := find("zed@partner.example")
		switch {
		case r.code == 0 && !imported:
			t.Errorf("exit 0 but zed's certificate is not imported")
		case r.code != 0 && imported:
			t.Errorf("exit %d (%s) yet zed's certificate was imported: a failure must change nothing", r.code, bytes.TrimSpace(r.stderr))
		case r.code != 0 && fmt.Sprint(fileState(t, o.data)) != fmt.Sprint(before):
			t.Errorf("exit %d and the data folder changed", r.code)
		}
	})
}
