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
