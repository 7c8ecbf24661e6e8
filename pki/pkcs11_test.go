//go:build cgo

package pki_test

// The CA keys in a SoftHSM2 token: InitWithToken, then issuing, CRLs and
// OCSP with the keys found by label in the token.

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/keystore"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"golang.org/x/crypto/ocsp"
)

var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// newSoftToken makes a SoftHSM2 token (label signet-test, user PIN 5678)
// in a temporary folder for this test; skipped without SoftHSM2, failing
// under CI=true.
func newSoftToken(t *testing.T) keystore.PKCS11Config {
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
	module := ""
	cands := softHSMModules
	if m := os.Getenv("SIGNET_SOFTHSM2_MODULE"); m != "" {
		cands = []string{m}
	}
	for _, m := range cands {
		if _, err := os.Stat(m); err == nil {
			module = m
			break
		}
	}
	if module == "" {
		missing("libsofthsm2.so")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command(util, "--init-token", "--free", "--label", "signet-test", "--so-pin", "1234", "--pin", "5678").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return keystore.PKCS11Config{Module: module, TokenLabel: "signet-test", PIN: "5678"}
}

func openToken(t *testing.T, cfg keystore.PKCS11Config) *keystore.Token {
	t.Helper()
	tok, err := keystore.OpenToken(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

func TestInitWithToken(t *testing.T) {
	ctx := context.Background()
	cfg := newSoftToken(t)
	tok := openToken(t, cfg)
	s := newService(t)
	s.Token = tok
	info, err := s.InitWithToken(ctx, pki.InitOptions{Org: "Example Org", Domains: []string{"Example.ORG."}, PublicURL: publicURL + "/"}, tok)
	if err != nil {
		t.Fatalf("InitWithToken: %v", err)
	}
	if info.Org != "Example Org" || len(info.Domains) != 1 || info.Domains[0] != "example.org" {
		t.Fatalf("CA info %+v", info)
	}

	// The key records hold only the token labels.
	for id, label := range map[string]string{pki.RootKeyID: pki.RootTokenLabel, pki.IssuingKeyID: pki.IssuingTokenLabel} {
		k, err := s.Store.GetKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if k.Backend != store.BackendPKCS11 || k.Label != label || k.Algorithm != "ecdsa-p384" || len(k.Sealed) != 0 || len(k.Wrapped) != 0 {
			t.Fatalf("key record %s = %+v", id, k)
		}
	}
	if v, ok, _ := s.Store.GetSetting(ctx, pki.SettingPKCS11Token); !ok || !strings.Contains(v, "token=signet-test") || strings.Contains(v, "5678") {
		t.Fatalf("setting %s = %q", pki.SettingPKCS11Token, v)
	}

	_, root, iss, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if root.SignatureAlgorithm != x509.ECDSAWithSHA384 || iss.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Fatalf("CA signature algorithms %v, %v; want ECDSA-SHA384", root.SignatureAlgorithm, iss.SignatureAlgorithm)
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		t.Fatalf("root self-signature: %v", err)
	}
	if err := iss.CheckSignatureFrom(root); err != nil {
		t.Fatalf("issuing CA signature: %v", err)
	}
	rootSigner, err := tok.Signer(pki.RootTokenLabel)
	if err != nil {
		t.Fatal(err)
	}
	if !root.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(rootSigner.Public()) {
		t.Fatal("the root certificate does not carry the token's root key")
	}

	// Issuing, the CRLs and OCSP sign with the token's keys.
	issued, err := s.Issue(ctx, pki.IssueOptions{Email: "alice@example.org", Key: "ecdsa-p256"})
	if err != nil {
		t.Fatalf("Issue with the issuing key in the token: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	inter.AddCert(iss)
	for _, is := range issued {
		if _, err := is.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
			t.Fatalf("%s certificate does not verify: %v", is.Usage, err)
		}
	}
	for name, f := range map[string]func(context.Context) ([]byte, time.Time, error){"CRL": s.CRL, "RootCRL": s.RootCRL} {
		der, _, err := f(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		signer := iss
		if name == "RootCRL" {
			signer = root
		}
		if err := crl.CheckSignatureFrom(signer); err != nil {
			t.Fatalf("%s signature: %v", name, err)
		}
	}
	r, err := s.Responder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ocsp.CreateRequest(issued[0].Cert, iss, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.Respond(req, time.Now())
	if err != nil {
		t.Fatalf("OCSP: %v", err)
	}
	resp, err := ocsp.ParseResponseForCert(raw, issued[0].Cert, iss)
	if err != nil || resp.Status != ocsp.Good {
		t.Fatalf("OCSP response: %v, %+v", err, resp)
	}

	// A folder whose CA keys are in a token says so when the token is
	// not given.
	s.Token = nil
	if _, err := s.Issue(ctx, pki.IssueOptions{Email: "bob@example.org"}); err == nil ||
		!strings.Contains(err.Error(), "PKCS #11") || !strings.Contains(err.Error(), "signet-test") {
		t.Fatalf("Issue without the token: %v", err)
	} else {
		t.Logf("Issue without the token: %v", err)
	}

	// A new session on the token (the module loaded again) finds the keys.
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	s.Token = openToken(t, cfg)
	if _, err := s.Issue(ctx, pki.IssueOptions{Email: "bob@example.org", Usage: "sign"}); err != nil {
		t.Fatalf("Issue after reopening the token: %v", err)
	}
}

func TestInitWithTokenRefusals(t *testing.T) {
	ctx := context.Background()
	cfg := newSoftToken(t)
	tok := openToken(t, cfg)
	o := func() pki.InitOptions {
		return pki.InitOptions{Org: "Example Org", Domains: []string{"example.org"}, PublicURL: publicURL}
	}

	// A bad organisation: refused, and nothing left in the token or store.
	bad := newService(t)
	before := snap(t, bad)
	badOpts := o()
	badOpts.Domains = []string{"not a domain"}
	if _, err := bad.InitWithToken(ctx, badOpts, tok); err == nil {
		t.Fatal("InitWithToken with a bad domain succeeded")
	}
	unchanged(t, bad, before, "InitWithToken with a bad domain")
	for _, label := range []string{pki.RootTokenLabel, pki.IssuingTokenLabel} {
		if _, err := tok.Signer(label); !errors.Is(err, keystore.ErrKeyNotFound) {
			t.Fatalf("after a failed init, token key %s: %v (want it rolled back)", label, err)
		}
	}
	badKind := o()
	badKind.CAKey = "ecdsa-p256"
	if _, err := bad.InitWithToken(ctx, badKind, tok); err == nil || !strings.Contains(err.Error(), "--ca-key") {
		t.Fatalf("CA key ecdsa-p256: %v", err)
	}

	// RSA-4096 works too.
	if !testing.Short() {
		rsaSvc := newService(t)
		rsaSvc.Token = tok
		rsaOpts := o()
		rsaOpts.CAKey = "rsa-4096"
		if _, err := rsaSvc.InitWithToken(ctx, rsaOpts, tok); err != nil {
			t.Fatalf("InitWithToken rsa-4096: %v", err)
		}
		if _, err := rsaSvc.Issue(ctx, pki.IssueOptions{Email: "carol@example.org", Usage: "both"}); err != nil {
			t.Fatalf("Issue under an RSA token CA: %v", err)
		}
		for _, label := range []string{pki.RootTokenLabel, pki.IssuingTokenLabel} {
			if err := tok.DeleteKey(label); err != nil {
				t.Fatal(err)
			}
		}
	}

	s := newService(t)
	s.Token = tok
	if _, err := s.InitWithToken(ctx, o(), tok); err != nil {
		t.Fatal(err)
	}
	// Again in the same folder: refused.
	if _, err := s.InitWithToken(ctx, o(), tok); err == nil || !strings.Contains(err.Error(), "already has a CA") {
		t.Fatalf("second init in one folder: %v", err)
	}
	// Another folder with the same token: the labels are taken; refused
	// before anything is generated or stored.
	other := newService(t)
	before = snap(t, other)
	if _, err := other.InitWithToken(ctx, o(), tok); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("init into a token that already has Signet CA keys: %v", err)
	}
	unchanged(t, other, before, "InitWithToken into a token holding Signet CA keys")
	// The first folder's keys survived.
	if _, err := s.Issue(ctx, pki.IssueOptions{Email: "dave@example.org", Usage: "sign"}); err != nil {
		t.Fatalf("Issue after the refused init: %v", err)
	}

	// A token key that is not the CA certificate's: the label now names
	// a new key (the CA's was destroyed and made again), so signing in the
	// CA's name is refused.
	if err := tok.DeleteKey(pki.IssuingTokenLabel); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.GenerateSigner(pki.IssuingTokenLabel, "ecdsa-p384"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Issue(ctx, pki.IssueOptions{Email: "erin@example.org", Usage: "sign"}); err == nil ||
		!strings.Contains(err.Error(), "not the key of the CA certificate") {
		t.Fatalf("Issue with a substituted token key: %v", err)
	}
	if err := tok.DeleteKey(pki.IssuingTokenLabel); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.GenerateSigner(pki.IssuingTokenLabel, "rsa-2048"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Issue(ctx, pki.IssueOptions{Email: "erin@example.org", Usage: "sign"}); err == nil ||
		!strings.Contains(err.Error(), "recorded as ecdsa-p384") {
		t.Fatalf("Issue with a token key of another type: %v", err)
	}
}
