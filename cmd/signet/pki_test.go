package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/internal/keyfile"
)

func TestCAIssueCSR(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errs := runCLI(t, nil, "--data", data, "init", "--org", "Example Org", "--domain", "example.org"); code != 0 {
		t.Fatalf("init: %d %s", code, errs)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "dave@example.org"}, EmailAddresses: []string{"dave@example.org"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(dir, "dave.csr")
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644)
	bad := filepath.Join(dir, "bad.csr")
	os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), 0o644)
	list := func() string {
		_, out, _ := runCLI(t, nil, "--data", data, "cert", "list", "--json", "--all")
		return out
	}
	before := list()
	for name, args := range map[string][]string{
		"fail/malformed":    {"--email", "dave@example.org", "--csr", bad},
		"fail/other-person": {"--email", "eve@example.org", "--csr", csr},
		"fail/other-domain": {"--email", "dave@example.net", "--csr", csr},
	} {
		code, _, errs := runCLI(t, nil, append([]string{"--data", data, "ca", "issue"}, args...)...)
		if code != 1 || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q", name, code, errs)
		}
	}
	if list() != before {
		t.Fatal("a refused request changed the certificates")
	}
	out := filepath.Join(dir, "dave.crt")
	if code, _, errs := runCLI(t, nil, "--data", data, "ca", "issue", "--email", "dave@example.org", "--csr", csr, "--usage", "sign", "--out", out); code != 0 {
		t.Fatalf("issue --csr: %d %s", code, errs)
	}
	certs, err := keyfile.LoadCertificates(out)
	if err != nil {
		t.Fatal(err)
	}
	if !certs[0].PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) || certs[0].EmailAddresses[0] != "dave@example.org" {
		t.Fatal("the certificate is not for the request's key and address")
	}
	if !strings.Contains(list(), `"key_held": false`) {
		t.Fatal("Signet claims to hold the key of a CSR certificate")
	}
}

// TestCheckCRLOnSend: with CheckCRLOnSend on, encrypt refuses a recipient
// whose revocation cannot be determined (the CA's responder is unreachable:
// fail closed on send), and encrypts again once the setting is off.
func TestCheckCRLOnSend(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errs := runCLI(t, nil, "--data", data, "init", "--org", "Example Org", "--domain", "example.org",
		"--public-url", "http://127.0.0.1:1"); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	if code, _, errs := runCLI(t, nil, "--data", data, "ca", "issue", "--email", "bob@example.org", "--usage", "both"); code != 0 {
		t.Fatalf("issue: %s", errs)
	}
	bob := filepath.Join(dir, "bob.pem")
	runCLI(t, nil, "--data", data, "cert", "export", "--email", "bob@example.org", "--pem", bob)
	runCLI(t, nil, "--data", data, "config", "set", "CRLConnectionTimeout", "1")
	msg := []byte("From: alice@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nhi\r\n")
	if code, _, errs := runCLI(t, msg, "--data", data, "encrypt", "--to", bob); code != 0 {
		t.Fatalf("encrypt with CheckCRLOnSend off: %s", errs)
	}
	runCLI(t, nil, "--data", data, "config", "set", "CheckCRLOnSend", "true")
	code, out, errs := runCLI(t, msg, "--data", data, "encrypt", "--to", bob)
	if code != 1 || out != "" || !strings.Contains(errs, "CheckCRLOnSend") || !strings.Contains(errs, "status 14") {
		t.Fatalf("encrypt with CheckCRLOnSend on and no responder: exit %d, %d bytes out\n%s", code, len(out), errs)
	}
}

func TestDirectorySMIMEA(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errs := runCLI(t, nil, "--data", data, "init", "--org", "Example Org", "--domain", "example.org"); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	runCLI(t, nil, "--data", data, "ca", "issue", "--email", "bob@example.org")                      // pair: has an encryption cert
	runCLI(t, nil, "--data", data, "ca", "issue", "--email", "carol@example.org", "--usage", "sign") // signing only
	code, out, errs := runCLI(t, nil, "--data", data, "directory", "smimea", "--ttl", "600")
	if code != 0 {
		t.Fatalf("smimea: %s", errs)
	}
	bob, _ := directory.OwnerName("bob@example.org")
	if !strings.Contains(out, bob+" 600 IN SMIMEA 3 0 0 ") {
		t.Fatalf("no record for bob:\n%s", out)
	}
	if !strings.Contains(out, "; carol@example.org: no valid encryption certificate") {
		t.Fatalf("carol not reported:\n%s", out)
	}
}
