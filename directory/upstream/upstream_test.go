package upstream

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/peertest"
	"github.com/signet-smime/signet/internal/testpki"
)

func TestAddresses(t *testing.T) {
	for _, tc := range []struct {
		name           string
		mails, aliases []string
		primary        string
		rest           []string
	}{
		{"mail only", []string{"a@x"}, nil, "a@x", nil},
		{"extra mail values are aliases", []string{"a@x", "b@x", "A@X"}, nil, "a@x", []string{"b@x"}},
		{"exchange", []string{"a@x"}, []string{"X500:/o=Org/cn=a", "smtp:b@x", "SMTP:a@x", "SIP:a@x", "x400:c=US;a= ;", "smtp:B@x"}, "a@x", []string{"b@x"}},
		{"proxy primary differs from mail", []string{"a@x"}, []string{"SMTP:p@x", "smtp:b@x"}, "a@x", []string{"p@x", "b@x"}},
		{"no mail: SMTP primary", nil, []string{"smtp:b@x", "SMTP:p@x"}, "p@x", []string{"b@x"}},
		{"no mail, no primary", nil, []string{"smtp:b@x", "c@x"}, "b@x", []string{"c@x"}},
		{"plain alias attribute", []string{"a@x"}, []string{"alt@x", "not an address"}, "a@x", []string{"alt@x"}},
		{"nothing", nil, []string{"X500:/o=Org"}, "", nil},
	} {
		p, rest := addresses(tc.mails, tc.aliases)
		if p != tc.primary || !reflect.DeepEqual(rest, tc.rest) {
			t.Errorf("%s: got %q %q, want %q %q", tc.name, p, rest, tc.primary, tc.rest)
		}
	}
}

func TestRangeEnd(t *testing.T) {
	for opts, want := range map[string]int{"range=0-1499": 1499, "binary;range=1500-*": -1, "Range=10-20": 20} {
		if got, ok := rangeEnd(opts); !ok || got != want {
			t.Errorf("%q: %d %v", opts, got, ok)
		}
	}
	for _, opts := range []string{"", "binary", "range=0", "range=a-b"} {
		if _, ok := rangeEnd(opts); ok {
			t.Errorf("%q read as a range", opts)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range []string{"20240102030405Z", "20240102030405.0Z", "20240102040405+0100", "20240102030405,0Z"} {
		if got := parseTime(s); !got.Equal(want) {
			t.Errorf("%q: %v", s, got)
		}
	}
	if !parseTime("yesterday").IsZero() {
		t.Error("nonsense time read")
	}
}

func TestGUIDAndDN(t *testing.T) {
	c := &Client{cfg: Config{Map: AD()}}
	e := &ldap.Entry{DN: "cn=x", Attributes: []*ldap.EntryAttribute{{Name: "objectGUID",
		ByteValues: [][]byte{{0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}}}}}
	if got := c.id(e); got != "76543210-ba98-fedc-0123-456789abcdef" {
		t.Errorf("GUID %s", got)
	}
	if normDN("CN=Bob Smith, OU=People,DC=Corp") != normDN("cn=bob smith,ou=people,dc=corp") {
		t.Error("DN keys differ by case and spaces")
	}
	if normDN("cn=a,dc=x") == normDN("cn=b,dc=x") {
		t.Error("different DNs, same key")
	}
}

func TestPreset(t *testing.T) {
	for name, want := range map[string]string{"AD": "ad", "activedirectory": "ad", " openldap ": "openldap"} {
		m, err := Preset(name)
		if err != nil || m.Name != want {
			t.Errorf("%q: %v %v", name, m.Name, err)
		}
	}
	if _, err := Preset("novell"); err == nil || !strings.Contains(err.Error(), "novell") {
		t.Errorf("unknown preset: %v", err)
	}
	e := &ldap.Entry{Attributes: []*ldap.EntryAttribute{{Name: "userAccountControl", Values: []string{"514"}}}}
	if !AD().Disabled(e) {
		t.Error("514 is disabled")
	}
	e.Attributes[0].Values = []string{"512"}
	if AD().Disabled(e) {
		t.Error("512 is enabled")
	}
}

func TestAddressFilterEscapes(t *testing.T) {
	c := &Client{cfg: Config{Map: OpenLDAP()}}
	f := c.addressFilter("*)(mail=*")
	plain := c.addressFilter("x@example.org")
	if strings.Count(f, "(") != strings.Count(plain, "(") || !strings.Contains(f, `(mail=\2a\29\28mail=\2a)`) {
		t.Errorf("filter not escaped: %s", f)
	}
	if _, err := ldap.CompileFilter(f); err != nil {
		t.Errorf("filter does not compile: %v", err)
	}
}

func TestCertsOnly(t *testing.T) {
	ca, err := testpki.NewCA("P7 CA")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ca.Issue("a@example.org", testpki.P256, nil)
	b, _ := ca.Issue("b@example.org", testpki.RSA2048, nil)
	p7 := CertsOnly([]*x509.Certificate{a.Cert, b.Cert, ca.Cert, a.Cert})
	if !bytes.Equal(p7, CertsOnly([]*x509.Certificate{ca.Cert, b.Cert, a.Cert})) {
		t.Error("encoding depends on order or duplicates")
	}
	certs, err := keyfile.ParseCertificates(p7)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 3 {
		t.Fatalf("%d certificates, want 3", len(certs))
	}
	got := map[string]bool{}
	for _, c := range certs {
		got[string(c.Raw)] = true
	}
	for _, c := range []*x509.Certificate{a.Cert, b.Cert, ca.Cert} {
		if !got[string(c.Raw)] {
			t.Errorf("%s missing", c.Subject)
		}
	}
	if empty, err := keyfile.ParseCertificates(CertsOnly(nil)); err == nil && len(empty) != 0 {
		t.Errorf("empty bundle has %d certificates", len(empty))
	}

	// OpenSSL reads it too, when present.
	openssl, ok := peertest.Find("openssl")
	if !ok {
		return
	}
	path := filepath.Join(t.TempDir(), "p7.der")
	if err := os.WriteFile(path, p7, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "pkcs7", "-inform", "DER", "-in", path, "-print_certs", "-noout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "subject="); n != 3 {
		t.Errorf("openssl sees %d certificates:\n%s", n, out)
	}
}
