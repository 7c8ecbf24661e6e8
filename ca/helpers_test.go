package ca

import (
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/testpki"
	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// Key types of the acceptance matrix.
const (
	keyP256    = "ecdsa-p256"
	keyP384    = "ecdsa-p384"
	keyRSA2048 = "rsa-2048"
	keyRSA3072 = "rsa-3072"
	keyRSA4096 = "rsa-4096"
	keyEd25519 = "ed25519"
	keyX25519  = "x25519"
)

var (
	leafKeyTypes = []string{keyP256, keyP384, keyRSA2048, keyRSA3072, keyRSA4096, keyEd25519, keyX25519}
	caKeyTypes   = []string{keyP384, keyRSA4096}
)

// Keys are made once per type and name: RSA-4096 generation is slow.
var (
	keysMu sync.Mutex
	keys   = map[string]crypto.PrivateKey{}
)

func testKey(t testing.TB, typ, name string) crypto.PrivateKey {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[typ+"/"+name]; ok {
		return k
	}
	var k crypto.PrivateKey
	var err error
	if typ == keyRSA4096 {
		k, err = rsa.GenerateKey(rand.Reader, 4096)
	} else {
		k, err = testpki.NewKey(testpki.KeyType(typ))
	}
	if err != nil {
		t.Fatalf("key %s: %v", typ, err)
	}
	keys[typ+"/"+name] = k
	return k
}

func publicKey(k crypto.PrivateKey) crypto.PublicKey {
	if x, ok := k.(*ecdh.PrivateKey); ok {
		return x.PublicKey()
	}
	return k.(crypto.Signer).Public()
}

func testOrg() Org {
	return Org{
		Name:      "Example Ltd",
		Domains:   []string{"example.com", "example.org"},
		PublicURL: "http://pki.example.com",
		Country:   "GB",
	}
}

// testCA is a root and issuing CA with their keys.
type testCA struct {
	root, issuing       *x509.Certificate
	rootKey, issuingKey crypto.Signer
}

var (
	casMu sync.Mutex
	cas   = map[string]*testCA{}
)

// newTestCA makes (once per key type) a root and issuing CA with keys of typ.
func newTestCA(t testing.TB, typ string) *testCA {
	t.Helper()
	casMu.Lock()
	defer casMu.Unlock()
	if c, ok := cas[typ]; ok {
		return c
	}
	c := &testCA{
		rootKey:    testKey(t, typ, "root").(crypto.Signer),
		issuingKey: testKey(t, typ, "issuing").(crypto.Signer),
	}
	now := time.Now()
	var err error
	if c.root, err = NewRoot(testOrg(), c.rootKey, now); err != nil {
		t.Fatalf("NewRoot(%s): %v", typ, err)
	}
	if c.issuing, err = NewIssuing(testOrg(), c.root, c.rootKey, c.issuingKey, now); err != nil {
		t.Fatalf("NewIssuing(%s): %v", typ, err)
	}
	cas[typ] = c
	return c
}

// issue makes a leaf for a fresh-per-type key.
func (c *testCA) issue(t testing.TB, email, keyType string, u Usage, p Profile) (*x509.Certificate, crypto.PrivateKey) {
	t.Helper()
	k := testKey(t, keyType, "leaf")
	cert, err := Issue(testOrg(), c.issuing, c.issuingKey, Request{Email: email, PublicKey: publicKey(k), Usage: u, Profile: p})
	if err != nil {
		t.Fatalf("Issue(%s, %s, %s): %v", keyType, u, p, err)
	}
	return cert, k
}

// The lint sources of the acceptance criteria.
var certRegistry = sync.OnceValue(func() lint.Registry {
	r, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: lint.SourceList{
		lint.CABFSMIMEBaselineRequirements, lint.RFC5280, lint.RFC5480, lint.RFC8813,
	}})
	if err != nil {
		panic(err)
	}
	return r
})

// lintFindings returns "name: status details" for every Error, Warn or
// Fatal result of zlint on the certificate, keyed by lint name.
func lintFindings(t testing.TB, der []byte) map[string]string {
	t.Helper()
	zc, err := zx509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("zcrypto cannot parse the certificate: %v", err)
	}
	return findings(zlint.LintCertificateEx(zc, certRegistry()))
}

func findings(rs *zlint.ResultSet) map[string]string {
	out := map[string]string{}
	for name, r := range rs.Results {
		switch r.Status {
		case lint.Error, lint.Warn, lint.Fatal:
			out[name] = r.Status.String() + " " + r.Details
		}
	}
	return out
}

func describe(f map[string]string) string {
	var lines []string
	for name, d := range f {
		lines = append(lines, name+" ("+d+")")
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}
