package directory

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SMIMEA parameters Signet publishes (RFC 8162 2, RFC 6698 2.1): the
// certificate itself (usage 3, DANE-EE: no PKIX validation needed),
// selector 0 (full certificate), matching type 0 (exact).
const (
	smimeaUsage    = 3
	smimeaSelector = 0
	smimeaMatching = 0
)

// OwnerName is the DNS name of an address's SMIMEA record (RFC 8162 3):
// the SHA-256 of the local part, truncated to 28 octets, in hex, then
// "_smimecert" and the domain.
func OwnerName(email string) (string, error) {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", fmt.Errorf("directory: %q is not an e-mail address", email)
	}
	sum := sha256.Sum256([]byte(local))
	return hex.EncodeToString(sum[:28]) + "._smimecert." + strings.ToLower(strings.TrimSuffix(domain, ".")) + ".", nil
}

// SMIMEARecord is the zone-file line publishing cert for email.
func SMIMEARecord(email string, cert *x509.Certificate, ttl int) (string, error) {
	if cert == nil {
		return "", errors.New("directory: no certificate")
	}
	owner, err := OwnerName(email)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %d IN SMIMEA %d %d %d %s", owner, ttl, smimeaUsage, smimeaSelector, smimeaMatching,
		strings.ToUpper(hex.EncodeToString(cert.Raw))), nil
}
