package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/shareddata"
)

// testCA is a certificate with its key, for building test hierarchies.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serialN int64

// mkCert issues a certificate named name, signed by parent (self-signed if
// nil), a CA if ca, valid until notAfter.
func mkCert(t testing.TB, name string, parent *testCA, ca bool, notAfter time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serialN++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialN), Subject: pkix.Name{CommonName: name, Organization: []string{"Trust Test"}},
		NotBefore: notAfter.AddDate(-5, 0, 0), NotAfter: notAfter,
		BasicConstraintsValid: true, IsCA: ca,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.EmailAddresses = []string{"leaf@example.org"}
	}
	signer, issuer := key, tmpl
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{c, key}
}

// hierarchy returns a root, an intermediate under it, a second root and a
// leaf under the intermediate.
func hierarchy(t testing.TB) (root, sub, root2, leaf *testCA) {
	now := time.Now().Truncate(time.Hour)
	root = mkCert(t, "Test Root", nil, true, now.AddDate(10, 0, 0))
	sub = mkCert(t, "Test Sub", root, true, now.AddDate(3, 0, 0))
	root2 = mkCert(t, "Second Root", nil, true, now.AddDate(8, 0, 0))
	leaf = mkCert(t, "leaf@example.org", sub, false, now.AddDate(1, 0, 0))
	return
}

func fingerprints(cs []*x509.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, Fingerprint(c))
	}
	slices.Sort(out)
	return out
}

func sameSet(t *testing.T, what string, got, want []*x509.Certificate) {
	t.Helper()
	if g, w := fingerprints(got), fingerprints(want); !slices.Equal(g, w) {
		t.Fatalf("%s: got %d certificates %v, want %d %v", what, len(g), g, len(w), w)
	}
}

// needTool finds a command, skipping the test when it is missing (failing
// under CI=true).
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

func TestWriteP7BReadable(t *testing.T) {
	root, sub, root2, _ := hierarchy(t)
	certs := []*x509.Certificate{root.cert, sub.cert, root2.cert}
	p7b := WriteP7B(certs)
	got, err := keyfile.ParseCertificates(p7b)
	if err != nil {
		t.Fatalf("keyfile.ParseCertificates(p7b): %v", err)
	}
	sameSet(t, "keyfile", got, certs)
	back, format, err := Import(p7b)
	if err != nil || format != FormatPKCS7 {
		t.Fatalf("Import(p7b) = %v, %q, %v", len(back), format, err)
	}
	sameSet(t, "Import", back, certs)

	// Empty collection: still a valid bundle.
	if cs, err := keyfile.ParseCertificates(WriteP7B(nil)); err == nil && len(cs) != 0 {
		t.Fatalf("empty p7b gave %d certificates", len(cs))
	}

	openssl := needTool(t, "openssl")
	path := filepath.Join(t.TempDir(), "c.p7b")
	if err := os.WriteFile(path, p7b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "pkcs7", "-inform", "DER", "-in", path, "-print_certs").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	printed, err := keyfile.ParseCertificates(out)
	if err != nil {
		t.Fatalf("parsing openssl's output: %v\n%s", err, out)
	}
	sameSet(t, "openssl -print_certs", printed, certs)
	for _, n := range []string{"Test Root", "Test Sub", "Second Root"} {
		if !strings.Contains(string(out), n) {
			t.Errorf("openssl output lacks %q", n)
		}
	}
	// And openssl reads the structure strictly (asn1parse of the DER).
	if out, err := exec.Command(openssl, "asn1parse", "-inform", "DER", "-in", path).CombinedOutput(); err != nil {
		t.Fatalf("openssl asn1parse: %v\n%s", err, out)
	}
}

func TestImportFormats(t *testing.T) {
	root, sub, root2, _ := hierarchy(t)
	certs := []*x509.Certificate{root.cert, sub.cert, root2.cert}
	concat := slices.Concat(root.cert.Raw, sub.cert.Raw, root2.cert.Raw)
	for _, tc := range []struct {
		name, format string
		data         []byte
		want         []*x509.Certificate
	}{
		{"sst", FormatSST, WriteSST(certs), certs},
		{"p7b", FormatPKCS7, WriteP7B(certs), certs},
		{"pem", FormatPEM, WritePEM(certs), certs},
		{"pem with duplicates", FormatPEM, WritePEM(append(certs, root.cert)), certs},
		{"der", FormatDER, root.cert.Raw, certs[:1]},
		{"concatenated der", FormatDER, concat, certs},
	} {
		got, format, err := Import(tc.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if format != tc.format {
			t.Errorf("%s: format %q, want %q", tc.name, format, tc.format)
		}
		sameSet(t, tc.name, got, tc.want)
	}
	for name, data := range map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("hello, world"),
		"empty p7b":      WriteP7B(nil),
		"empty sst":      WriteSST(nil),
		"truncated sst":  WriteSST(certs)[:100],
		"truncated der":  root.cert.Raw[:50],
		"pem, no certs":  []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		"corrupt in pem": []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
	} {
		if got, _, err := Import(data); err == nil || got != nil {
			t.Errorf("%s: Import = %d certificates, %v; want an error", name, len(got), err)
		}
	}
}

func TestImportShared(t *testing.T) {
	for _, tc := range []struct {
		rel, format string
		min         int
	}{
		{"pyca-pkcs7/amazon-roots.p7b", FormatPKCS7, 2},
		{"pyca-pkcs7/amazon-roots.der", "", 2},
		{"pyca-pkcs7/isrg.pem", FormatPEM, 1},
	} {
		data, err := os.ReadFile(shareddata.Path(t, tc.rel))
		if err != nil {
			t.Fatal(err)
		}
		certs, format, err := Import(data)
		if err != nil {
			t.Fatalf("%s: %v", tc.rel, err)
		}
		if tc.format != "" && format != tc.format {
			t.Errorf("%s: format %q, want %q", tc.rel, format, tc.format)
		}
		if len(certs) < tc.min {
			t.Fatalf("%s: %d certificates, want at least %d", tc.rel, len(certs), tc.min)
		}
		kinds, err := Classify(certs, nil)
		if err != nil {
			t.Fatalf("%s: Classify: %v", tc.rel, err)
		}
		for i, k := range kinds {
			t.Logf("%s: %s %s", tc.rel, k, certs[i].Subject)
		}
		// Round trip through every export format.
		for name, out := range map[string][]byte{"sst": WriteSST(certs), "p7b": WriteP7B(certs), "pem": WritePEM(certs)} {
			back, _, err := Import(out)
			if err != nil {
				t.Fatalf("%s → %s: %v", tc.rel, name, err)
			}
			sameSet(t, tc.rel+" → "+name, back, certs)
		}
	}
}

func TestKind(t *testing.T) {
	root, sub, root2, leaf := hierarchy(t)
	subAlone := []*x509.Certificate{sub.cert}
	for _, tc := range []struct {
		name string
		c    *x509.Certificate
		set  []*x509.Certificate
		want string
	}{
		{"root", root.cert, nil, KindAnchor},
		{"root with others", root.cert, []*x509.Certificate{sub.cert, root2.cert}, KindAnchor},
		{"sub with its root", sub.cert, []*x509.Certificate{root.cert, sub.cert}, KindIntermediate},
		{"sub without its root", sub.cert, subAlone, KindAnchor},
		{"sub with another root", sub.cert, []*x509.Certificate{root2.cert}, KindAnchor},
	} {
		got, err := Kind(tc.c, tc.set)
		if err != nil || got != tc.want {
			t.Errorf("%s: Kind = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := Kind(leaf.cert, []*x509.Certificate{root.cert, sub.cert}); !errors.Is(err, ErrNotCA) ||
		!strings.Contains(err.Error(), "the trust collection holds CA certificates") {
		t.Errorf("leaf: error = %v, want ErrNotCA", err)
	}
	kinds, err := Classify([]*x509.Certificate{sub.cert}, []*x509.Certificate{root.cert})
	if err != nil || !slices.Equal(kinds, []string{KindIntermediate}) {
		t.Errorf("Classify(sub, existing root) = %v, %v", kinds, err)
	}
	if _, err := Classify([]*x509.Certificate{root.cert, leaf.cert}, nil); !errors.Is(err, ErrNotCA) {
		t.Errorf("Classify with a leaf: %v", err)
	}
}

func TestWritePEM(t *testing.T) {
	root, sub, _, _ := hierarchy(t)
	pemData := WritePEM([]*x509.Certificate{root.cert, sub.cert})
	if bytes.Count(pemData, []byte("-----BEGIN CERTIFICATE-----")) != 2 {
		t.Fatalf("WritePEM:\n%s", pemData)
	}
}
