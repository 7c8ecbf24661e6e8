package slapdtest

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/signet-smime/signet/internal/testpki"
)

// writeTLS makes a CA and a server certificate for 127.0.0.1 and
// localhost, writes them for slapd and returns the slapd.conf lines.
func (s *Server) writeTLS() (string, error) {
	ca, err := testpki.NewCA("slapdtest CA")
	if err != nil {
		return "", err
	}
	key, err := testpki.NewKey(testpki.P256)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.(crypto.Signer).Public(), ca.Key)
	if err != nil {
		return "", err
	}
	keyPEM, err := testpki.KeyPEM(key)
	if err != nil {
		return "", err
	}
	certPath := filepath.Join(s.Dir, "server.crt")
	keyPath := filepath.Join(s.Dir, "server.key")
	caPath := filepath.Join(s.Dir, "ca.crt")
	if err := os.WriteFile(certPath, testpki.CertPEM(&x509.Certificate{Raw: der}), 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(caPath, testpki.CertPEM(ca.Cert), 0o600); err != nil {
		return "", err
	}
	s.CA = ca.Cert
	return fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n", caPath, certPath, keyPath), nil
}

// TLSConfig trusts the server's CA (Options.TLS); nil without TLS.
func (s *Server) TLSConfig() *tls.Config {
	if s.CA == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.CA)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}
