package pkcs12

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/shareddata"
)

// mimekitDir is the folder of the shared test data that holds the MimeKit
// S/MIME test data (see its PROVENANCE.md): PKCS #12 files written by
// BouncyCastle in BER, password "no.secret", MAC SHA-1, certificates in
// pbeWithSHAAnd40BitRC2-CBC, keys in pbeWithSHAAnd3-KeyTripleDES-CBC.
const mimekitDir = "mimekit-smime"

const mimekitPassword = "no.secret"

// mimekitPFX returns the path of mimekitDir and lists its .pfx files
// (relative to it).
func mimekitPFX(tb testing.TB) (dir string, files []string) {
	tb.Helper()
	dir = shareddata.Path(tb, mimekitDir)
	for _, pattern := range []string{"*.pfx", "*/*.pfx"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(dir, f)
			files = append(files, filepath.ToSlash(rel))
		}
	}
	sort.Strings(files)
	return dir, files
}

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// mimekitExpect is what PROVENANCE.md says about each file: the leaf's
// common name or e-mail address, the number of chain certificates, the
// unencrypted copy of the key (PKCS #1 PEM) if there is one, or the error
// Decode must give.
var mimekitExpect = map[string]struct {
	subject string
	chain   int
	keyFile string
	err     error
}{
	"certificate-authority.pfx": {"MimeKit Root Certification Authority", 0, "certificate-authority.key", nil},
	"intermediate1.pfx":         {"MimeKit Primary Intermediate CA", 1, "intermediate1.key", nil},
	"intermediate2.pfx":         {"MimeKit Secondary Intermediate CA", 2, "intermediate2.key", nil},
	"revoked-intermediate.pfx":  {"MimeKit Revoked Intermediate CA", 1, "", nil},
	"rsa/smime.pfx":             {"rsa@mimekit.net", 3, "rsa/smime.key", nil},
	"dnsnames/smime.pfx":        {"MimeKit UnitTests", 3, "dnsnames/smime.key", nil},
	"nochain/smime.pfx":         {"nochain@mimekit.net", 0, "nochain/smime.key", nil},
	"revoked/smime.pfx":         {"revoked@mimekit.net", 3, "revoked/smime.key", nil},
	"revokednochain/smime.pfx":  {"revokednochain@mimekit.net", 0, "", nil},
	"revokedsubca/smime.pfx":    {"revokedsubca@mimekit.net", 2, "", nil},
	// crypto/x509 cannot represent these keys: a specific error instead.
	"dsa/smime.pfx": {err: ErrDSAKey},
	"ec/smime.pfx":  {err: ErrExplicitECParameters},
}

func subjectEmail(c *x509.Certificate) string {
	for _, atv := range c.Subject.Names {
		if atv.Type.Equal(oidEmailAddress) {
			s, _ := atv.Value.(string)
			return s
		}
	}
	return ""
}

func TestMimeKit(t *testing.T) {
	dir, files := mimekitPFX(t)
	if len(files) != len(mimekitExpect) {
		t.Errorf("found %d .pfx files, expected %d: %v", len(files), len(mimekitExpect), files)
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			want, ok := mimekitExpect[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if data[1] != 0x80 {
				t.Errorf("%s is not BER with an indefinite outer length as expected", name)
			}

			// A wrong password fails the MAC, whatever the key type.
			if _, _, _, err := Decode(data, "not.the.secret"); !errors.Is(err, ErrIncorrectPassword) {
				t.Errorf("wrong password: got %v, want ErrIncorrectPassword", err)
			}
			if _, _, _, err := Decode(data, ""); !errors.Is(err, ErrIncorrectPassword) {
				t.Errorf("empty password: got %v, want ErrIncorrectPassword", err)
			}

			key, cert, chain, err := Decode(data, mimekitPassword)
			if want.err != nil {
				if !errors.Is(err, want.err) || !errors.Is(err, ErrUnsupported) {
					t.Fatalf("got %v, want %v", err, want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if key == nil || cert == nil {
				t.Fatalf("key %v, cert %v", key, cert)
			}
			pub := key.(interface{ Public() crypto.PublicKey }).Public()
			if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Error("certificate public key does not match the private key")
			}
			if got := subjectEmail(cert); cert.Subject.CommonName != want.subject && got != want.subject {
				t.Errorf("leaf %q <%s>, want %q", cert.Subject.CommonName, got, want.subject)
			}
			if len(chain) != want.chain {
				t.Errorf("chain of %d certificates, want %d", len(chain), want.chain)
			}
			if want.keyFile != "" {
				checkMimeKitKey(t, filepath.Join(dir, want.keyFile), key)
			}
			if len(chain) > 0 {
				verifyMimeKitChain(t, cert, chain)
			}
		})
	}
}

// checkMimeKitKey compares key with the unencrypted PEM copy MimeKit ships.
func checkMimeKitKey(t *testing.T, path string, key crypto.PrivateKey) {
	t.Helper()
	pemData, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("%s: no RSA PRIVATE KEY block", path)
	}
	want, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !want.Equal(key) {
		t.Errorf("key differs from %s", path)
	}
}

// verifyMimeKitChain checks that the chain certificates really are the
// leaf's chain: the leaf verifies up to a self-signed one among them.
func verifyMimeKitChain(t *testing.T, leaf *x509.Certificate, chain []*x509.Certificate) {
	t.Helper()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range chain {
		if !c.IsCA {
			t.Errorf("chain certificate %q is not a CA", c.Subject.CommonName)
		}
		if strings.EqualFold(c.Subject.String(), c.Issuer.String()) {
			roots.AddCert(c)
		} else {
			inter.AddCert(c)
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   leaf.NotBefore.Add(24 * time.Hour),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		t.Errorf("leaf does not verify with the returned chain: %v", err)
	}
}
