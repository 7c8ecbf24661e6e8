//go:build cgo

package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/signet-smime/signet/ca"
)

// Where distributions put SoftHSM2's module. SIGNET_SOFTHSM2_MODULE
// overrides.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

const (
	testTokenLabel = "signet-test"
	testSOPIN      = "1234"
	testPIN        = "5678"
)

// needSoftHSM returns the SoftHSM2 module and softhsm2-util, skipping the
// test when they are missing (failing under CI=true).
func needSoftHSM(t testing.TB) (module, util string) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (apt-get install softhsm2)", what)
		}
		t.Skipf("%s not installed (apt-get install softhsm2)", what)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		missing("softhsm2-util")
	}
	cands := softHSMModules
	if m := os.Getenv("SIGNET_SOFTHSM2_MODULE"); m != "" {
		cands = []string{m}
	}
	for _, m := range cands {
		if _, err := os.Stat(m); err == nil {
			return m, util
		}
	}
	missing("the SoftHSM2 PKCS #11 module (libsofthsm2.so)")
	return "", ""
}

// newSoftToken makes a SoftHSM2 token in a fresh directory, points
// SOFTHSM2_CONF at it for this test, and returns its config (user PIN
// testPIN). Every Token opened on it must be closed by the end of the
// test, so the module is finalised and the next test's SOFTHSM2_CONF is
// read afresh.
func newSoftToken(t *testing.T) PKCS11Config {
	t.Helper()
	module, util := needSoftHSM(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command(util, "--init-token", "--free", "--label", testTokenLabel,
		"--so-pin", testSOPIN, "--pin", testPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return PKCS11Config{Module: module, TokenLabel: testTokenLabel, PIN: testPIN}
}

func openTestToken(t *testing.T, cfg PKCS11Config) *Token {
	t.Helper()
	tok, err := OpenToken(cfg)
	if err != nil {
		t.Fatalf("OpenToken: %v", err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// checkSigns signs a digest of the right hash for the key and verifies it
// with the public key, as crypto.Signer callers (x509, CMS) do.
func checkSigns(t *testing.T, s crypto.Signer) {
	t.Helper()
	msg := []byte("signet pkcs11 test message")
	switch pub := s.Public().(type) {
	case *ecdsa.PublicKey:
		var h crypto.Hash
		var d []byte
		switch pub.Curve {
		case elliptic.P256():
			sum := sha256.Sum256(msg)
			h, d = crypto.SHA256, sum[:]
		case elliptic.P384():
			sum := sha512.Sum384(msg)
			h, d = crypto.SHA384, sum[:]
		default:
			sum := sha512.Sum512(msg)
			h, d = crypto.SHA512, sum[:]
		}
		sig, err := s.Sign(rand.Reader, d, h)
		if err != nil {
			t.Fatalf("Sign(%v): %v", h, err)
		}
		if !ecdsa.VerifyASN1(pub, d, sig) {
			t.Fatalf("ECDSA %s/%v signature from the token does not verify", pub.Curve.Params().Name, h)
		}
		// A SHA-384 digest with a P-256 key is cut to 256 bits, as
		// crypto/ecdsa does.
		if pub.Curve == elliptic.P256() {
			sum := sha512.Sum384(msg)
			sig, err := s.Sign(rand.Reader, sum[:], crypto.SHA384)
			if err != nil || !ecdsa.VerifyASN1(pub, sum[:], sig) {
				t.Fatalf("P-256 over SHA-384: err %v, or does not verify", err)
			}
		}
	case *rsa.PublicKey:
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			hh := h.New()
			hh.Write(msg)
			d := hh.Sum(nil)
			sig, err := s.Sign(rand.Reader, d, h)
			if err != nil {
				t.Fatalf("Sign(%v): %v", h, err)
			}
			if err := rsa.VerifyPKCS1v15(pub, h, d, sig); err != nil {
				t.Fatalf("RSA PKCS #1 v1.5 %v signature does not verify: %v", h, err)
			}
		}
		sum := sha256.Sum256(msg)
		sig, err := s.Sign(rand.Reader, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
		if err != nil {
			t.Fatalf("Sign(PSS): %v", err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, nil); err != nil {
			t.Fatalf("RSA-PSS signature does not verify: %v", err)
		}
		if _, err := s.Sign(rand.Reader, sum[:], crypto.Hash(0)); err == nil {
			t.Fatal("raw RSA signature (hash 0) accepted")
		}
		if _, err := s.Sign(rand.Reader, sum[:20], crypto.SHA1); err == nil {
			t.Fatal("SHA-1 RSA signature accepted")
		}
	default:
		t.Fatalf("public key is a %T", pub)
	}
	// A digest of the wrong length for the hash named is refused.
	if _, err := s.Sign(rand.Reader, make([]byte, 20), crypto.SHA256); err == nil {
		t.Fatal("20-byte digest accepted as SHA-256")
	}
}

// checkStaysInToken reads the key's protection attributes through
// crypto11 and tries to read its secret value: the token must refuse.
func checkStaysInToken(t *testing.T, tok *Token, s crypto.Signer) {
	t.Helper()
	k := s.(*tokenSigner).s
	attrs, err := tok.ctx.GetAttributes(k, []crypto11.AttributeType{
		crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaAlwaysSensitive,
		crypto11.CkaNeverExtractable, crypto11.CkaPrivate, crypto11.CkaToken, crypto11.CkaDecrypt,
	})
	if err != nil {
		t.Fatalf("GetAttributes: %v", err)
	}
	want := map[crypto11.AttributeType]bool{
		crypto11.CkaSensitive: true, crypto11.CkaExtractable: false, crypto11.CkaAlwaysSensitive: true,
		crypto11.CkaNeverExtractable: true, crypto11.CkaPrivate: true, crypto11.CkaToken: true, crypto11.CkaDecrypt: false,
	}
	for a, w := range want {
		v := attrs[a]
		if v == nil || len(v.Value) != 1 || (v.Value[0] != 0) != w {
			t.Errorf("attribute %#x = %v, want %v", a, v, w)
		}
	}
	var secret []crypto11.AttributeType
	switch s.Public().(type) {
	case *ecdsa.PublicKey:
		secret = []crypto11.AttributeType{crypto11.CkaValue}
	case *rsa.PublicKey:
		secret = []crypto11.AttributeType{crypto11.CkaPrivateExponent, crypto11.CkaPrime1, crypto11.CkaPrime2,
			crypto11.CkaExponent1, crypto11.CkaExponent2, crypto11.CkaCoefficient}
	}
	for _, a := range secret {
		got, err := tok.ctx.GetAttribute(k, a)
		if err == nil {
			n := 0
			if got != nil {
				n = len(got.Value)
			}
			t.Fatalf("the token answered a read of private attribute %#x (%d bytes), want a refusal", a, n)
		}
		if !strings.Contains(err.Error(), "CKR_ATTRIBUTE_SENSITIVE") {
			t.Logf("reading private attribute %#x: %v (refused, though not with CKR_ATTRIBUTE_SENSITIVE)", a, err)
		}
	}
}

func TestPKCS11GenerateSignReopen(t *testing.T) {
	cfg := newSoftToken(t)
	tok := openTestToken(t, cfg)
	kinds := []string{"ecdsa-p384", "ecdsa-p256", "rsa-2048"}
	if !testing.Short() {
		kinds = append(kinds, "rsa-4096")
	}
	pubs := map[string]crypto.PublicKey{}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			s, err := tok.GenerateSigner("key-"+kind, kind)
			if err != nil {
				t.Fatalf("GenerateSigner(%s): %v", kind, err)
			}
			if got := KeyKind(s.Public()); got != kind {
				t.Fatalf("KeyKind = %q, want %q", got, kind)
			}
			checkSigns(t, s)
			checkStaysInToken(t, tok, s)
			pubs[kind] = s.Public()
		})
	}
	// One Token serves several goroutines at once.
	s, err := tok.Signer("key-ecdsa-p384")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum384([]byte("concurrent"))
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			sig, err := s.Sign(rand.Reader, sum[:], crypto.SHA384)
			if err == nil && !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), sum[:], sig) {
				err = errors.New("concurrent signature does not verify")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	if err := tok.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := tok.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := tok.Signer("key-ecdsa-p384"); !errors.Is(err, ErrTokenClosed) {
		t.Fatalf("Signer after Close: %v, want ErrTokenClosed", err)
	}

	// A new session (the module finalised and loaded again) finds the
	// keys by label.
	tok2 := openTestToken(t, cfg)
	for kind, pub := range pubs {
		s, err := tok2.Signer("key-" + kind)
		if err != nil {
			t.Fatalf("Signer(%s) after reopening: %v", kind, err)
		}
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
			t.Fatalf("Signer(%s) after reopening has another public key", kind)
		}
		checkSigns(t, s)
		checkStaysInToken(t, tok2, s)
	}
}

func TestPKCS11Errors(t *testing.T) {
	cfg := newSoftToken(t)

	bad := cfg
	bad.PIN = "0000"
	if tok, err := OpenToken(bad); !errors.Is(err, ErrWrongPIN) {
		tok.Close()
		t.Fatalf("wrong PIN: %v, want ErrWrongPIN", err)
	} else if strings.Contains(err.Error(), "0000") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("wrong PIN error %q shows the PIN or has several lines", err)
	}

	other := cfg
	other.TokenLabel = "no-such-token"
	if tok, err := OpenToken(other); !errors.Is(err, ErrTokenNotFound) {
		tok.Close()
		t.Fatalf("missing token: %v, want ErrTokenNotFound", err)
	}
	nomod := cfg
	nomod.Module = filepath.Join(t.TempDir(), "nope.so")
	if _, err := OpenToken(nomod); err == nil || !strings.Contains(err.Error(), "nope.so") {
		t.Fatalf("missing module: %v", err)
	}
	notmod := cfg
	notmod.Module = filepath.Join(t.TempDir(), "notmodule.so")
	os.WriteFile(notmod.Module, []byte("not a shared object"), 0o600)
	if _, err := OpenToken(notmod); err == nil || !strings.Contains(err.Error(), "cannot be loaded") {
		t.Fatalf("file that is not a module: %v", err)
	}
	nopin := cfg
	nopin.PIN = ""
	if _, err := OpenToken(nopin); err == nil || !strings.Contains(err.Error(), PKCS11PINEnv) {
		t.Fatalf("no PIN: %v", err)
	}

	tok := openTestToken(t, cfg)
	// While tok is logged in, the module would wave any PIN through
	// (CKR_USER_ALREADY_LOGGED_IN); OpenToken must still refuse a wrong one.
	if tok2, err := OpenToken(bad); !errors.Is(err, ErrWrongPIN) {
		tok2.Close()
		t.Fatalf("wrong PIN while another Token is open: %v, want ErrWrongPIN", err)
	}
	// The right PIN opens a second Token alongside the first; closing it
	// leaves the first working.
	tok2, err := OpenToken(cfg)
	if err != nil {
		t.Fatalf("second OpenToken: %v", err)
	}

	if _, err := tok.Signer("missing"); !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("missing label: %v, want ErrKeyNotFound naming it", err)
	}
	if _, err := tok.GenerateSigner("k", "ed25519"); err == nil {
		t.Fatal("ed25519 in a token accepted")
	}
	if _, err := tok.GenerateSigner("", "ecdsa-p256"); err == nil {
		t.Fatal("empty label accepted")
	}
	s, err := tok.GenerateSigner("dup", "ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.GenerateSigner("dup", "ecdsa-p384"); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("duplicate label: %v, want ErrKeyExists", err)
	}
	if _, err := tok2.GenerateSigner("dup", "rsa-2048"); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("duplicate label from another Token: %v, want ErrKeyExists", err)
	}
	if err := tok2.Close(); err != nil {
		t.Fatal(err)
	}
	// The first is still usable, and the original key is the one found.
	got, err := tok.Signer("dup")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Public().(*ecdsa.PublicKey).Equal(got.Public()) {
		t.Fatal("the duplicate attempt replaced the key")
	}
	checkSigns(t, got)

	// DeleteKey removes a key pair, after which the label is free again.
	if _, err := tok.GenerateSigner("doomed", "ecdsa-p256"); err != nil {
		t.Fatal(err)
	}
	if err := tok.DeleteKey("doomed"); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if _, err := tok.Signer("doomed"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Signer after DeleteKey: %v, want ErrKeyNotFound", err)
	}
	if err := tok.DeleteKey("doomed"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("DeleteKey twice: %v, want ErrKeyNotFound", err)
	}
	if _, err := tok.GenerateSigner("doomed", "ecdsa-p256"); err != nil {
		t.Fatalf("label reused after DeleteKey: %v", err)
	}

	// A key that could leave the token is refused by Signer.
	id := []byte("extractable-id")
	pub, _ := crypto11.NewAttributeSetWithIDAndLabel(id, []byte("loose"))
	priv := pub.Copy()
	priv.Set(crypto11.CkaSensitive, false)
	priv.Set(crypto11.CkaExtractable, true)
	if _, err := tok.ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P256()); err != nil {
		t.Fatalf("making an extractable key: %v", err)
	}
	if _, err := tok.Signer("loose"); err == nil || !strings.Contains(err.Error(), "exported") {
		t.Fatalf("extractable key: %v, want a refusal", err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); !errors.Is(err, ErrTokenClosed) {
		t.Fatalf("Sign after Close: %v, want ErrTokenClosed", err)
	}
}

func TestPKCS11IssuesCertificates(t *testing.T) {
	cfg := newSoftToken(t)
	tok := openTestToken(t, cfg)
	org := ca.Org{Name: "Example Org", Domains: []string{"example.org"}, PublicURL: "http://127.0.0.1:8080"}
	now := time.Now()
	for _, tc := range []struct {
		kind string
		alg  x509.SignatureAlgorithm
	}{{"ecdsa-p384", x509.ECDSAWithSHA384}, {"rsa-2048", x509.SHA256WithRSA}} {
		t.Run(tc.kind, func(t *testing.T) {
			rootKey, err := tok.GenerateSigner("root-"+tc.kind, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			issKey, err := tok.GenerateSigner("issuing-"+tc.kind, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			root, err := ca.NewRoot(org, rootKey, now)
			if err != nil {
				t.Fatalf("ca.NewRoot with a token key: %v", err)
			}
			if root.SignatureAlgorithm != tc.alg {
				t.Fatalf("root signed with %v, want %v", root.SignatureAlgorithm, tc.alg)
			}
			if err := root.CheckSignatureFrom(root); err != nil {
				t.Fatalf("root self-signature: %v", err)
			}
			if err := root.CheckSignature(root.SignatureAlgorithm, root.RawTBSCertificate, root.Signature); err != nil {
				t.Fatalf("root signature: %v", err)
			}
			iss, err := ca.NewIssuing(org, root, rootKey, issKey, now)
			if err != nil {
				t.Fatalf("ca.NewIssuing with token keys: %v", err)
			}
			if err := iss.CheckSignatureFrom(root); err != nil {
				t.Fatalf("issuing CA signature: %v", err)
			}
			leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			leaf, err := ca.Issue(org, iss, issKey, ca.Request{Email: "alice@example.org", PublicKey: leafKey.Public(),
				Usage: ca.Sign, Profile: ca.Strict, Now: now})
			if err != nil {
				t.Fatalf("ca.Issue with a token key: %v", err)
			}
			if err := leaf.CheckSignatureFrom(iss); err != nil {
				t.Fatalf("leaf signature: %v", err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(root)
			inter := x509.NewCertPool()
			inter.AddCert(iss)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, CurrentTime: now.Add(time.Minute)}); err != nil {
				t.Fatalf("chain does not verify: %v", err)
			}
		})
	}
}

func TestParsePKCS11URI(t *testing.T) {
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte("from-file\n"), 0o600)

	t.Setenv(PKCS11PINEnv, "from-env")
	for _, tc := range []struct {
		in   string
		want PKCS11Config
	}{
		{"/usr/lib/softhsm/libsofthsm2.so:signet", PKCS11Config{"/usr/lib/softhsm/libsofthsm2.so", "signet", "from-env"}},
		{"/m.so:label:with:colons", PKCS11Config{"/m.so", "label:with:colons", "from-env"}},
		{"pkcs11:token=signet?module-path=/usr/lib/softhsm/libsofthsm2.so",
			PKCS11Config{"/usr/lib/softhsm/libsofthsm2.so", "signet", "from-env"}},
		{"pkcs11:token=My%20CA?module-path=/opt/x%3By.so&pin-value=12%2634",
			PKCS11Config{"/opt/x;y.so", "My CA", "12&34"}},
		{"PKCS11:token=t?module-path=/m.so&pin-source=file:" + pinFile, PKCS11Config{"/m.so", "t", "from-file"}},
		{"pkcs11:token=t?pin-source=" + pinFile + "&module-path=/m.so", PKCS11Config{"/m.so", "t", "from-file"}},
	} {
		got, err := ParsePKCS11URI(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParsePKCS11URI(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"",
		"/usr/lib/softhsm/libsofthsm2.so",
		":label",
		"/m.so:",
		"/m.so:" + strings.Repeat("x", 33),
		"pkcs11:token=t",
		"pkcs11:?module-path=/m.so",
		"pkcs11:token=t;object=k?module-path=/m.so",
		"pkcs11:serial=1234?module-path=/m.so",
		"pkcs11:token=t;token=u?module-path=/m.so",
		"pkcs11:token=t?module-path=/m.so&module-name=softhsm2",
		"pkcs11:token=t?module-path=/m.so&pin-value=1&pin-source=" + pinFile,
		"pkcs11:token=t?module-path=/m.so&pin-source=relative/pin",
		"pkcs11:token=t?module-path=/m.so&pin-source=file:" + pinFile + ".missing",
		"pkcs11:token=%zz?module-path=/m.so",
		"pkcs11:token?module-path=/m.so",
	} {
		if got, err := ParsePKCS11URI(in); err == nil {
			t.Errorf("ParsePKCS11URI(%q) = %#v, want an error", in, got)
		} else if !strings.HasPrefix(err.Error(), "keystore: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParsePKCS11URI(%q) error %q is not one keystore: line", in, err)
		}
	}

	t.Setenv(PKCS11PINEnv, "")
	if _, err := ParsePKCS11URI("/m.so:signet"); err == nil || !strings.Contains(err.Error(), PKCS11PINEnv) {
		t.Errorf("no PIN anywhere: %v, want an error naming %s", err, PKCS11PINEnv)
	}

	// String is a URI that ParsePKCS11URI reads back (the PIN from the
	// environment, since String leaves it out).
	t.Setenv(PKCS11PINEnv, "env-pin")
	for _, c := range []PKCS11Config{
		{"/usr/lib/softhsm/libsofthsm2.so", "signet", "env-pin"},
		{"/opt/odd dir/a;b&c?.so", "My CA; 100%?&=", "env-pin"},
	} {
		u := c.String()
		if got, err := ParsePKCS11URI(u); err != nil || got != c {
			t.Errorf("ParsePKCS11URI(%q) = %#v, %v; want %#v", u, got, err, c)
		}
	}
	if got := (PKCS11Config{Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "signet"}).String(); got != "pkcs11:token=signet?module-path=/usr/lib/softhsm/libsofthsm2.so" {
		t.Errorf("String() = %q", got)
	}

	c := PKCS11Config{Module: "/m.so", TokenLabel: "t", PIN: "secret-pin"}
	for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, "secret-pin") {
			t.Errorf("formatting a PKCS11Config shows the PIN: %s", s)
		}
	}
}
