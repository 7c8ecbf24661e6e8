package ca

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of a command, skipping the test when it is
// missing (failing under CI=true, where ./test.sh installs it).
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (./test.sh installs it): %v", name, err)
		}
		t.Skipf("%s not installed: run ./test.sh to install the peers", name)
	}
	return p
}

// runTool runs a command and returns its combined output and error.
func runTool(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(needTool(t, name), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenSSLVerify(t *testing.T) {
	needTool(t, "openssl")
	for _, caType := range caKeyTypes {
		c := newTestCA(t, caType)
		dir := t.TempDir()
		root := writePEM(t, dir, "root.pem", "CERTIFICATE", c.root.Raw)
		iss := writePEM(t, dir, "issuing.pem", "CERTIFICATE", c.issuing.Raw)
		for _, tc := range []struct {
			key     string
			usage   Usage
			purpose string
		}{
			{keyP256, Sign, "smimesign"},
			{keyP384, Both, "smimesign"},
			{keyRSA2048, Sign, "smimesign"},
			{keyRSA3072, Both, "smimesign"},
			{keyRSA3072, Both, "smimeencrypt"},
			{keyRSA4096, Encrypt, "smimeencrypt"},
			{keyEd25519, Sign, "smimesign"},
			// OpenSSL's smimeencrypt purpose insists on keyEncipherment,
			// which the BR forbid for EC keys (they get keyAgreement);
			// openssl cms -encrypt does not check the purpose.
			{keyP256, Encrypt, "any"},
			{keyX25519, Encrypt, "any"},
		} {
			for _, p := range []Profile{Strict, Multipurpose} {
				name := fmt.Sprintf("%s/%s/%s/%s/%s", caType, tc.key, tc.usage, p, tc.purpose)
				t.Run(name, func(t *testing.T) {
					leaf, _ := c.issue(t, "alice@example.com", tc.key, tc.usage, p)
					lf := writePEM(t, dir, "leaf.pem", "CERTIFICATE", leaf.Raw)
					out, err := runTool(t, "openssl", "verify", "-x509_strict", "-purpose", tc.purpose, "-CAfile", root, "-untrusted", iss, lf)
					if err != nil || !strings.Contains(out, lf+": OK") {
						t.Errorf("openssl verify: %v\n%s", err, out)
					}
				})
			}
		}
		// A signing-only certificate is not an encryption certificate.
		leaf, _ := c.issue(t, "alice@example.com", keyRSA2048, Sign, Strict)
		lf := writePEM(t, dir, "sign.pem", "CERTIFICATE", leaf.Raw)
		if out, err := runTool(t, "openssl", "verify", "-purpose", "smimeencrypt", "-CAfile", root, "-untrusted", iss, lf); err == nil {
			t.Errorf("%s: openssl accepts a signing certificate for encryption:\n%s", caType, out)
		}
	}
}

// TestOpenSSLCRL: openssl reads the CRL, shows serials with their reasons,
// checks its signature, and with it rejects the revoked certificate while
// accepting the others (the CRL's issuing distribution point must match the
// certificates' CRL distribution point for that).
func TestOpenSSLCRL(t *testing.T) {
	needTool(t, "openssl")
	c := newTestCA(t, keyP384)
	dir := t.TempDir()
	now := time.Now()
	revokedLeaf, _ := c.issue(t, "gone@example.com", keyP256, Sign, Strict)
	goodLeaf, _ := c.issue(t, "here@example.com", keyP256, Sign, Strict)
	other, _ := c.issue(t, "old@example.com", keyRSA2048, Encrypt, Multipurpose)
	der, err := CRL(testOrg(), c.issuing, c.issuingKey, 42, []Revoked{
		{Serial: revokedLeaf.SerialNumber, At: now.Add(-time.Minute), Reason: KeyCompromise},
		{Serial: other.SerialNumber, At: now.Add(-time.Hour), Reason: Superseded},
	}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	rootDER, err := CRL(testOrg(), c.root, c.rootKey, 1, nil, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(dir, "issuing.crl")
	if err := os.WriteFile(crlFile, der, 0o600); err != nil {
		t.Fatal(err)
	}
	iss := writePEM(t, dir, "issuing.pem", "CERTIFICATE", c.issuing.Raw)
	out, err := runTool(t, "openssl", "crl", "-inform", "DER", "-in", crlFile, "-text", "-noout", "-CAfile", iss)
	if err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	for _, want := range []string{
		"verify OK",
		"Serial Number: " + opensslSerial(revokedLeaf.SerialNumber), "Key Compromise",
		"Serial Number: " + opensslSerial(other.SerialNumber), "Superseded",
		"X509v3 CRL Number", "42",
		"X509v3 Authority Key Identifier", "X509v3 Issuing Distribution Point", CRLURL(testOrg(), c.issuing),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("openssl crl output lacks %q:\n%s", want, out)
		}
	}

	root := writePEM(t, dir, "root.pem", "CERTIFICATE", c.root.Raw)
	crls := writePEM(t, dir, "crls.pem", "X509 CRL", der)
	rootCRL := writePEM(t, dir, "root-crl.pem", "X509 CRL", rootDER)
	verify := func(cert *x509.Certificate) (string, error) {
		lf := writePEM(t, dir, "leaf.pem", "CERTIFICATE", cert.Raw)
		return runTool(t, "openssl", "verify", "-x509_strict", "-crl_check_all", "-CRLfile", crls, "-CRLfile", rootCRL,
			"-purpose", "smimesign", "-CAfile", root, "-untrusted", iss, lf)
	}
	if out, err := verify(goodLeaf); err != nil {
		t.Errorf("good certificate with CRLs: %v\n%s", err, out)
	}
	if out, err := verify(revokedLeaf); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("revoked certificate: %v\n%s", err, out)
	}
}

// TestOpenSSLOCSP asks the responder with openssl ocsp over HTTP, several
// certificates in one request (with openssl's nonce) and one at a time.
func TestOpenSSLOCSP(t *testing.T) {
	needTool(t, "openssl")
	for _, caType := range caKeyTypes {
		t.Run(caType, func(t *testing.T) {
			f := newOCSPFixture(t, caType)
			unknown, _ := f.ca.issue(t, "unknown@example.com", keyP256, Sign, Strict)
			f.responder.Now = nil // openssl checks the times against its clock
			srv := httptest.NewServer(http.StripPrefix("/ocsp", f.responder))
			defer srv.Close()
			dir := t.TempDir()
			root := writePEM(t, dir, "root.pem", "CERTIFICATE", f.ca.root.Raw)
			iss := writePEM(t, dir, "issuing.pem", "CERTIFICATE", f.ca.issuing.Raw)
			good := writePEM(t, dir, "good.pem", "CERTIFICATE", f.good.Raw)
			revoked := writePEM(t, dir, "revoked.pem", "CERTIFICATE", f.revoked.Raw)
			unk := writePEM(t, dir, "unknown.pem", "CERTIFICATE", unknown.Raw)

			out, err := runTool(t, "openssl", "ocsp", "-issuer", iss, "-cert", good, "-cert", revoked, "-cert", unk,
				"-url", srv.URL+"/ocsp", "-CAfile", root, "-no_cert_checks")
			if err != nil {
				t.Fatalf("openssl ocsp: %v\n%s", err, out)
			}
			for _, want := range []string{"Response verify OK", good + ": good", revoked + ": revoked", "Reason: keyCompromise", unk + ": unknown"} {
				if !strings.Contains(out, want) {
					t.Errorf("openssl ocsp output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "WARNING") || strings.Contains(out, "rror") {
				t.Errorf("openssl ocsp warns:\n%s", out)
			}
			// One at a time, without -no_cert_checks: the responder is the
			// issuing CA itself, which openssl accepts as authorised.
			for file, want := range map[string]string{good: "good", revoked: "revoked"} {
				out, err := runTool(t, "openssl", "ocsp", "-issuer", iss, "-cert", file, "-url", srv.URL+"/ocsp", "-CAfile", root)
				if err != nil || !strings.Contains(out, "Response verify OK") || !strings.Contains(out, file+": "+want) || strings.Contains(out, "WARNING") {
					t.Errorf("openssl ocsp %s: %v\n%s", want, err, out)
				}
			}
		})
	}
}

// opensslSerial formats a serial as OpenSSL prints it: upper-case hex of
// whole bytes (so a leading zero nibble is kept).
func opensslSerial(n *big.Int) string { return fmt.Sprintf("%X", n.Bytes()) }
