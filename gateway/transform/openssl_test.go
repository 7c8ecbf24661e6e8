package transform

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/peertest"
	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/policy"
)

type ossl struct {
	t   *testing.T
	bin string
	dir string
}

func newOSSL(t *testing.T) *ossl {
	return &ossl{t: t, bin: peertest.NeedTool(t, "openssl"), dir: t.TempDir()}
}

func (o *ossl) file(name string, data []byte) string {
	o.t.Helper()
	p := filepath.Join(o.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		o.t.Fatal(err)
	}
	return p
}

// ident writes an identity's certificate and key and returns their paths.
func (o *ossl) ident(name string, id *testpki.Identity) (crt, key string) {
	o.t.Helper()
	crt, key, _, err := id.WriteFiles(o.dir, name)
	if err != nil {
		o.t.Fatal(err)
	}
	return crt, key
}

func (o *ossl) run(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(o.bin, args...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		o.t.Logf("openssl %s: %s", strings.Join(args, " "), ee.Stderr)
	}
	return out, err
}

func (o *ossl) must(stdin []byte, args ...string) []byte {
	o.t.Helper()
	out, err := o.run(stdin, args...)
	if err != nil {
		o.t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Outbound output decrypts with openssl cms for each recipient — AES-CBC
// for an external recipient, AES-GCM for one known to read it — and the
// inner signature verifies with openssl cms -verify.
func TestOpenSSLOutbound(t *testing.T) {
	o := newOSSL(t)
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	dave := w.user("dave@other.test", w.ca) // issued by Signet: known to read GCM
	w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
	caFile := o.file("cas.pem", testpki.CertPEM(w.ca.Cert, w.partner.Cert))
	for _, tc := range []struct {
		id     *testpki.Identity
		addr   string
		smtype string
	}{
		{bob, "bob@partner.test", "smime-type=enveloped-data"},
		{dave, "dave@other.test", "smime-type=authEnveloped-data"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			msg := strings.Replace(plainMsg, "To: bob@partner.test", "To: "+tc.addr, 1)
			_, _, sink := w.run("alice@example.org", []string{tc.addr}, msg)
			out := sink.outFor(t, tc.addr).data
			if !strings.Contains(contentType(out), tc.smtype) {
				t.Fatalf("content type %s, want %s", contentType(out), tc.smtype)
			}
			crt, key := o.ident(strings.Split(tc.addr, "@")[0], tc.id)
			in := o.file("out.eml", out)
			inner := o.must(nil, "cms", "-decrypt", "-recip", crt, "-inkey", key, "-in", in)
			if !strings.Contains(string(inner), "multipart/signed") {
				t.Fatalf("decrypted content is not signed:\n%s", inner)
			}
			content := o.must(inner, "cms", "-verify", "-CAfile", caFile, "-purpose", "smimesign")
			if !strings.Contains(string(content), "The numbers are good.") {
				t.Fatalf("verified content:\n%s", content)
			}
			// Tampering is noticed: the check can fail.
			bad := strings.Replace(string(inner), "The numbers are good.", "The numbers are bad..", 1)
			if _, err := o.run([]byte(bad), "cms", "-verify", "-CAfile", caFile); err == nil {
				t.Fatal("openssl verified tampered content")
			}
		})
	}
}

// Inbound: a message signed and encrypted by openssl cms for a local user
// is decrypted and gets X-Signet-Signature: valid; a tampered signature is
// reported invalid but delivered; a message for a key Signet does not hold
// is delivered as it came with X-Signet-Encryption: not decrypted.
func TestOpenSSLInbound(t *testing.T) {
	o := newOSSL(t)
	w := newWorld(t)
	alice := w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	stranger, err := w.partner.Issue("stranger@example.org", testpki.P256, nil)
	if err != nil {
		t.Fatal(err)
	}
	aliceCrt, _ := o.ident("alice", alice)
	bobCrt, bobKey := o.ident("bob", bob)
	strangerCrt, _ := o.ident("stranger", stranger)
	partnerCA := o.file("partner.pem", testpki.CertPEM(w.partner.Cert))
	body := o.file("body.txt", []byte("Hello Alice,\nthe contract is attached.\n"))
	signed := o.must(nil, "cms", "-sign", "-in", body, "-text", "-signer", bobCrt, "-inkey", bobKey, "-certfile", partnerCA,
		"-from", "bob@partner.test", "-to", "alice@example.org", "-subject", "Contract")
	// The entity to encrypt carries no message fields: they go outside.
	signedFile := o.file("signed.eml", o.must(nil, "cms", "-sign", "-in", body, "-text", "-signer", bobCrt, "-inkey", bobKey, "-certfile", partnerCA))

	for _, c := range []struct{ flag, want string }{{"-aes-256-cbc", "aes-256-cbc"}, {"-aes-256-gcm", "aes-256-gcm"}} {
		t.Run(c.want, func(t *testing.T) {
			enc := o.must(nil, "cms", "-encrypt", "-in", signedFile, c.flag, "-from", "bob@partner.test", "-to", "alice@example.org",
				"-subject", "Contract", aliceCrt)
			rej, rep, sink := w.run("bob@partner.test", []string{"alice@example.org"}, string(enc))
			if len(rej) != 0 || len(sink.outs) != 1 {
				t.Fatalf("rejections %v outputs %v", rej, sink.summary())
			}
			out := sink.outs[0].data
			if e := headerOf(out, fieldEncryption); len(e) != 1 || e[0] != "decrypted; cipher="+c.want {
				t.Fatalf("encryption %v; report %+v", e, rep)
			}
			if s := headerOf(out, fieldSignature); len(s) != 1 || !strings.HasPrefix(s[0], "valid; signer=bob@partner.test; cert-sha256=") {
				t.Fatalf("signature %v; report %+v\n%s", s, rep, out)
			}
			if !strings.Contains(string(out), "the contract is attached") {
				t.Fatalf("not decrypted:\n%s", out)
			}
			if s := headerOf(out, "Subject"); len(s) != 1 || s[0] != "Contract" {
				t.Fatalf("subject %v", s)
			}
		})
	}

	t.Run("tampered", func(t *testing.T) {
		bad := strings.Replace(string(signed), "the contract is attached", "the contract is detached", 1)
		if bad == string(signed) {
			t.Fatal("nothing tampered")
		}
		_, _, sink := w.run("bob@partner.test", []string{"alice@example.org"}, bad)
		out := sink.outs[0].data
		if s := headerOf(out, fieldSignature); len(s) != 1 || !strings.HasPrefix(s[0], "invalid; reason=") {
			t.Fatalf("signature %v", s)
		}
		if s := headerOf(out, "Subject"); len(s) != 1 || s[0] != "[UNVERIFIED] Contract" {
			t.Fatalf("subject %v", s)
		}
		if !strings.Contains(string(out), "the contract is detached") {
			t.Fatal("the tampered message was not delivered")
		}
	})

	t.Run("unknown key", func(t *testing.T) {
		enc := o.must(nil, "cms", "-encrypt", "-in", signedFile, "-aes-256-cbc", "-from", "bob@partner.test", "-to", "alice@example.org",
			"-subject", "Contract", strangerCrt)
		_, _, sink := w.run("bob@partner.test", []string{"alice@example.org"}, string(enc))
		out := sink.outs[0].data
		if e := headerOf(out, fieldEncryption); len(e) != 1 || !strings.HasPrefix(e[0], "not decrypted; reason=") {
			t.Fatalf("encryption %v", e)
		}
		if len(headerOf(out, fieldSignature)) != 0 || strings.Contains(string(out), "contract is attached") {
			t.Fatal("claims about content that was not decrypted")
		}
		i := strings.Index(string(enc), "\n\n")
		if !strings.HasSuffix(string(out), string(enc)[i+2:]) {
			t.Fatal("the encrypted body was not delivered unchanged")
		}
	})
}
