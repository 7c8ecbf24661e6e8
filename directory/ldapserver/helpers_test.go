package ldapserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/signet-smime/signet/internal/testpki"
)

const testBase = "dc=example,dc=org"

type fixtures struct {
	ca         *testpki.Identity
	alice, bob *testpki.Identity
	serverTLS  *tls.Config
	caPool     *x509.CertPool
}

var (
	fixOnce sync.Once
	fix     fixtures
	fixErr  error
)

func getFixtures(t testing.TB) *fixtures {
	t.Helper()
	fixOnce.Do(func() {
		fix.ca, fixErr = testpki.NewCA("Signet LDAP Test CA")
		if fixErr != nil {
			return
		}
		if fix.alice, fixErr = fix.ca.Issue("alice@example.org", testpki.P256, nil); fixErr != nil {
			return
		}
		if fix.bob, fixErr = fix.ca.Issue("bob@example.org", testpki.P256, nil); fixErr != nil {
			return
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			fixErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(4242),
			Subject:      pkix.Name{CommonName: "localhost"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, fix.ca.Cert, key.Public(), fix.ca.Key.(crypto.Signer))
		if err != nil {
			fixErr = err
			return
		}
		fix.serverTLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
		fix.caPool = x509.NewCertPool()
		fix.caPool.AddCert(fix.ca.Cert)
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return &fix
}

// testEntries is a small directory: alice (with a certificate and chain),
// bob, carol (no certificate, aliases), and a group.
func testEntries(f *fixtures) []Entry {
	return []Entry{
		{Mail: "alice@example.org", Aliases: []string{"a.liddell@example.org"}, DisplayName: "Alice Liddell", GivenName: "Alice", SN: "Liddell",
			Certs: [][]byte{f.alice.Cert.Raw}, Chain: [][]byte{f.ca.Cert.Raw}},
		{Mail: "bob@example.org", CN: "Bob Builder", Certs: [][]byte{f.bob.Cert.Raw}},
		{Mail: "carol@example.org", Aliases: []string{"c@example.org", "carol@example.net"}},
		{Mail: "team@example.org", Group: true, CN: "team", Members: []string{"alice@example.org", "bob@example.org"}},
	}
}

const (
	adminDN = "cn=admin,dc=example,dc=org"
	adminPW = "secret"
)

func testAuth(ctx context.Context, dn, pw string) (bool, error) {
	return dn == adminDN && pw == adminPW, nil
}

// startServer runs a server with cfg (BaseDN, Authenticate and Logf filled
// in when empty) on 127.0.0.1 and returns its address.
func startServer(t testing.TB, cfg Config, entries []Entry) (*Server, string) {
	t.Helper()
	if cfg.BaseDN == "" {
		cfg.BaseDN = testBase
	}
	if cfg.Authenticate == nil {
		cfg.Authenticate = testAuth
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
		if _, ok := t.(*testing.B); ok {
			cfg.Logf = func(string, ...any) {}
		}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetEntries(entries)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return s, l.Addr().String()
}

func dial(t testing.TB, addr string) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func search(c *ldap.Conn, base string, scope int, filter string, attrs ...string) (*ldap.SearchResult, error) {
	return c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
}

func resultCode(err error) uint16 {
	if err == nil {
		return 0
	}
	if le, ok := err.(*ldap.Error); ok {
		return le.ResultCode
	}
	return 0xffff
}

func tlsListen(t testing.TB) (net.Listener, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

func sha1Fingerprint(der []byte) []byte {
	sum := sha1.Sum(der)
	return sum[:]
}

// discardConn is a net.Conn that swallows writes.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
