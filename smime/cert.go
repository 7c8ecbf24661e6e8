package smime

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// CertificateEmails lists the addresses a certificate is for: its SAN
// rfc822Name entries and any emailAddress attribute in its subject
// (RFC 8550 3), lower-cased.
func CertificateEmails(c *x509.Certificate) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, e := range c.EmailAddresses {
		add(e)
	}
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidEmailAddress) {
			if s, ok := n.Value.(string); ok {
				add(s)
			}
		}
	}
	return out
}

// CertificateHasEmail reports whether the certificate is for addr
// (compared without regard to case).
func CertificateHasEmail(c *x509.Certificate, addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	for _, e := range CertificateEmails(c) {
		if e == addr {
			return true
		}
	}
	return false
}
