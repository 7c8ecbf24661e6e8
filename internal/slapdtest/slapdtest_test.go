package slapdtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/signet-smime/signet/internal/testpki"
)

func TestStartAndSchema(t *testing.T) {
	begin := time.Now()
	s := Start(t, Options{})
	t.Logf("slapd up in %v", time.Since(begin))
	if s.Domain != "example.org" || s.Suffix != "dc=example,dc=org" {
		t.Fatalf("suffix %q, domain %q", s.Suffix, s.Domain)
	}

	ca, err := testpki.NewCA("Harness CA")
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.Issue("alice@example.org", testpki.P256, nil)
	if err != nil {
		t.Fatal(err)
	}
	p7 := []byte{0x30, 0x03, 0x02, 0x01, 0x01} // any bytes: the syntax is binary

	c := s.Conn(t)
	add := ldap.NewAddRequest("uid=alice,"+s.Suffix, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"alice"})
	add.Attribute("cn", []string{"Alice"})
	add.Attribute("sn", []string{"A"})
	add.Attribute("mail", []string{"alice@example.org"})
	add.Attribute("userCertificate;binary", []string{string(id.Cert.Raw)})
	add.Attribute("userSMIMECertificate", []string{string(p7)})
	if err := c.Add(add); err != nil {
		t.Fatalf("add inetOrgPerson with certificates: %v", err)
	}

	// The service account reads with the size limit and may write certificates.
	sc := s.ServiceConn(t)
	res, err := sc.Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(mail=alice@example.org)", []string{"userCertificate;binary", "userSMIMECertificate", "entryUUID"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("%d entries", len(res.Entries))
	}
	e := res.Entries[0]
	if got := e.GetRawAttributeValue("userCertificate;binary"); !bytes.Equal(got, id.Cert.Raw) {
		t.Errorf("userCertificate;binary does not read back (%d bytes)", len(got))
	}
	if got := e.GetRawAttributeValue("userSMIMECertificate"); !bytes.Equal(got, p7) {
		t.Errorf("userSMIMECertificate does not read back: %x", got)
	}
	if e.GetAttributeValue("entryUUID") == "" {
		t.Error("no entryUUID")
	}
	mod := ldap.NewModifyRequest(e.DN, nil)
	mod.Replace("userCertificate;binary", nil)
	if err := sc.Modify(mod); err != nil {
		t.Errorf("service account cannot write userCertificate: %v", err)
	}
	mod = ldap.NewModifyRequest(e.DN, nil)
	mod.Replace("mail", []string{"mallory@example.org"})
	if err := sc.Modify(mod); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("service account changed mail: %v", err)
	}
	if err := sc.Bind(s.ServiceDN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}

	s.Stop()
	if _, err := ldap.DialURL(s.URL); err == nil {
		t.Error("server still answers after Stop")
	}
	s.Stop() // twice is fine
}

func TestLDIFEntriesSizeLimitAndAD(t *testing.T) {
	guid := []byte{0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	ldif := fmt.Sprintf(`dn: ou=people,dc=corp,dc=example
objectClass: organizationalUnit
ou: people

dn: cn=Bob,ou=people,dc=corp,dc=example
objectClass: user
cn: Bob
sn: B
mail: bob@corp.example
proxyAddresses: SMTP:bob@corp.example
proxyAddresses: smtp:robert@corp.example
proxyAddresses: X500:/o=Corp/cn=bob
userAccountControl: 514
whenChanged: 20240102030405.0Z
objectGUID:: %s
`, base64.StdEncoding.EncodeToString(guid))
	s := Start(t, Options{Suffix: "dc=corp,dc=example", ADSchema: true, Entries: 30, SizeLimit: 10, LDIF: []byte(ldif)})
	if s.Domain != "corp.example" {
		t.Fatalf("domain %q", s.Domain)
	}
	sc := s.ServiceConn(t)
	req := ldap.NewSearchRequest(s.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"mail"}, nil)
	res, err := sc.Search(req)
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("search beyond the size limit: %v", err)
	}
	if res == nil || len(res.Entries) != 10 {
		t.Fatalf("size limit did not apply: %v", res)
	}
	req.Controls = nil
	res, err = sc.SearchWithPaging(req, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 30 {
		t.Fatalf("paged search: %d entries, want 30", len(res.Entries))
	}
	root := s.Conn(t)
	req.Controls = nil
	if res, err := root.Search(req); err != nil || len(res.Entries) != 30 {
		t.Fatalf("root DN is limited: %v", err)
	}

	// AD-like attributes: case-insensitive proxyAddresses, the bitwise
	// matching rule, ordering on whenChanged.
	for _, f := range []string{
		"(proxyAddresses=smtp:BOB@corp.example)",
		"(proxyAddresses=smtp:robert@*)",
		"(userAccountControl:1.2.840.113556.1.4.803:=2)",
		"(whenChanged>=20240101000000Z)",
		"(&(objectClass=user)(!(objectClass=computer)))",
	} {
		res, err := root.Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			f, []string{"objectGUID"}, nil))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(res.Entries) != 1 || !bytes.Equal(res.Entries[0].GetRawAttributeValue("objectGUID"), guid) {
			t.Errorf("%s: %d entries", f, len(res.Entries))
		}
	}
	res, err = root.Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(whenChanged>=20250101000000Z)", nil, nil))
	if err != nil || len(res.Entries) != 0 {
		t.Errorf("whenChanged ordering: %v, %v", res, err)
	}

	s.AddLDIF(t, `dn: cn=Staff,dc=corp,dc=example
objectClass: group
cn: Staff
mail: staff@corp.example
member: cn=Bob,ou=people,dc=corp,dc=example
`)
	res, err = root.Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(member=cn=bob,ou=people,dc=corp,dc=example)", []string{"mail"}, nil))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("mail") != "staff@corp.example" {
		t.Errorf("group by member: %v %v", res, err)
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	// A schema file slapd refuses: Start must fail with slapadd's message.
	bad := t.TempDir() + "/bad.schema"
	if err := os.WriteFile(bad, []byte("attributetype ( 1.2.3.4 NAME 'broken' SYNTAX nonsense )\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ft := &fakeTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		Start(ft, Options{Schemas: []string{bad}})
	}()
	if !ft.failed || !strings.Contains(ft.msg, "slapadd") || !strings.Contains(ft.msg, "bad.schema") {
		t.Fatalf("bad schema: failed=%v %q", ft.failed, ft.msg)
	}
}

func TestParseLDIF(t *testing.T) {
	es, err := ParseLDIF("version: 1\n# c\ndn: cn=a,dc=x\ncn: a\ndescription: fol\n ded\nuserCertificate;binary:: AAEC\ncn: b\n\n\ndn: cn=b,dc=x\ncn: b\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].DN != "cn=a,dc=x" {
		t.Fatalf("%d entries", len(es))
	}
	if got := es[0].GetAttributeValues("cn"); len(got) != 2 || got[1] != "b" {
		t.Errorf("cn %q", got)
	}
	if got := es[0].GetAttributeValue("description"); got != "folded" {
		t.Errorf("folding: %q", got)
	}
	if got := es[0].GetRawAttributeValue("userCertificate;binary"); !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Errorf("base64: %x", got)
	}
	if _, err := ParseLDIF("cn: a\n"); !errors.Is(err, errNoDN) {
		t.Errorf("record without dn: %v", err)
	}
	if _, err := ParseLDIF("dn: cn=a\nchangetype: modify\n"); err == nil {
		t.Error("change record accepted")
	}
}

var errFatal = errors.New("fatal")

// fakeTB records a Fatal instead of ending the real test.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	panic(errFatal)
}

func (f *fakeTB) Helper() {}

func TestTLS(t *testing.T) {
	s := Start(t, Options{TLS: true})
	if s.LDAPSURL == "" || s.TLSConfig() == nil {
		t.Fatal("no ldaps URL or TLS config")
	}
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(s.TLSConfig()))
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	defer c.Close()
	if err := c.Bind(s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatal(err)
	}
	c2, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.StartTLS(s.TLSConfig()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if st, ok := c2.TLSConnectionState(); !ok || !st.HandshakeComplete {
		t.Error("no TLS after StartTLS")
	}
	// Without the CA the certificate is refused.
	if c3, err := ldap.DialURL(s.LDAPSURL); err == nil {
		c3.Close()
		t.Error("ldaps without the test CA connected")
	}
	if Start(t, Options{}).TLSConfig() != nil {
		t.Error("TLS config without TLS")
	}
}
