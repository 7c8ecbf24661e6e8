package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/shareddata"
)

func TestCertCheck(t *testing.T) {
	dir := shareddata.Path(t, "pkits")
	p := func(sub, name string) string { return filepath.Join(dir, sub, name) }
	base := []string{"cert", "check", "--trust", p("certs", "TrustAnchorRootCertificate.crt"),
		"--certfile", p("certs", "GoodCACert.crt"), "--crl", p("crls", "TrustAnchorRootCRL.crl"),
		"--crl", p("crls", "GoodCACRL.crl"), "--at", "2020-01-01T00:00:00Z"}
	cases := []struct {
		name   string
		args   []string
		code   int
		status string
	}{
		{"ok/valid-path", []string{p("certs", "ValidCertificatePathTest1EE.crt")}, 0, "status: 1 success"},
		{"fail/bad-signature", []string{p("certs", "InvalidEESignatureTest3EE.crt")}, 1, "status: 3 bad signature"},
		{"fail/revoked", []string{p("certs", "InvalidRevokedEETest3EE.crt")}, 1, "status: 13 revoked"},
		{"fail/address", []string{p("certs", "ValidCertificatePathTest1EE.crt"), "--email", "someone@example.org"}, 1, "status: 12 email address mismatch"},
		{"fail/not-yet-valid", []string{p("certs", "ValidCertificatePathTest1EE.crt"), "--at", "2001-01-01T00:00:00Z"}, 1, "status: 8 chain time invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string(nil), base...), c.args...)
			code, out, errs := runCLI(t, nil, args...)
			if code != c.code || !strings.Contains(out, c.status) {
				t.Fatalf("exit %d (want %d)\n%s%s", code, c.code, out, errs)
			}
		})
	}
}

// TestVerifyThunderbirdAtSigningDate: the MimeKit Thunderbird message's
// StartCom chain (SHA-1, expired since 2017) validates at 2013-11-02 with
// Signet's own path validation, and every SHA-1 signature is reported weak.
func TestVerifyThunderbirdAtSigningDate(t *testing.T) {
	dir := shareddata.Path(t, "mimekit-smime")
	p := func(n string) string { return filepath.Join(dir, n) }
	code, out, errs := runCLI(t, nil, "verify", "--trust", p("StartComCertificationAuthority.crt"),
		"--certfile", p("StartComClass1PrimaryIntermediateClientCA.crt"), "--at", "2013-11-02T00:00:00Z",
		"--offline", "--in", p("thunderbird-signed.txt"))
	if code != 0 || !strings.Contains(out, "result:        GOOD") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, w := range []string{"digest sha1", `"fejj@gnome.org" signed with SHA1-RSA`, `"StartCom Class 1 Primary Intermediate Client CA" signed with SHA1-RSA`} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks weak %q:\n%s", w, out)
		}
	}
	// At the current time the chain has expired.
	if code, _, _ := runCLI(t, nil, "verify", "--trust", p("StartComCertificationAuthority.crt"),
		"--certfile", p("StartComClass1PrimaryIntermediateClientCA.crt"), "--offline", "--in", p("thunderbird-signed.txt")); code != 1 {
		t.Fatal("an expired chain verified at the current time")
	}
}
