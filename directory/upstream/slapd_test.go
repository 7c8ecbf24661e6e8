package upstream

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/signet-smime/signet/internal/slapdtest"
	"github.com/signet-smime/signet/internal/testpki"
)

// pki is our CA (Signet's) and another CA whose certificates must survive.
type pki struct {
	ours, other *testpki.Identity
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ours, err := testpki.NewCA("Signet Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testpki.NewCA("Other Vendor CA")
	if err != nil {
		t.Fatal(err)
	}
	return &pki{ours: ours, other: other}
}

func (p *pki) ownedBy(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, p.ours.Cert.RawSubject) && c.CheckSignatureFrom(p.ours.Cert) == nil
}

func issue(t *testing.T, ca *testpki.Identity, addr string) *x509.Certificate {
	t.Helper()
	id, err := ca.Issue(addr, testpki.P256, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id.Cert
}

func b64(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }

// ders returns the sorted DER of certificates, for comparisons.
func ders(certs []*x509.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = string(c.Raw)
	}
	sort.Strings(out)
	return out
}

func sameCerts(t *testing.T, what string, got []*x509.Certificate, want ...*x509.Certificate) {
	t.Helper()
	if !reflect.DeepEqual(ders(got), ders(want)) {
		var names []string
		for _, c := range got {
			names = append(names, c.Issuer.CommonName+"/"+c.SerialNumber.String())
		}
		t.Errorf("%s: got %d certificates %v, want %d", what, len(got), names, len(want))
	}
}

func findPerson(t *testing.T, s *Snapshot, mail string) *Person {
	t.Helper()
	for i := range s.People {
		if strings.EqualFold(s.People[i].Mail, mail) {
			return &s.People[i]
		}
	}
	t.Fatalf("%s not in the snapshot", mail)
	return nil
}

func findGroup(t *testing.T, s *Snapshot, mail string) *Group {
	t.Helper()
	for i := range s.Groups {
		if strings.EqualFold(s.Groups[i].Mail, mail) {
			return &s.Groups[i]
		}
	}
	t.Fatalf("group %s not in the snapshot", mail)
	return nil
}

func rawValues(t *testing.T, srv *slapdtest.Server, dn, attr string) [][]byte {
	t.Helper()
	res, err := srv.Conn(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return values(res.Entries[0], attr)
}

const altSchema = `attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'mailAlternateAddress'
	EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'mailAliases' AUXILIARY MAY mailAlternateAddress )
`

func TestOpenLDAP(t *testing.T) {
	p := newPKI(t)
	foreign := issue(t, p.other, "alice@example.org")
	schema := filepath.Join(t.TempDir(), "alt.schema")
	if err := os.WriteFile(schema, []byte(altSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := `dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: ou=contacts,dc=example,dc=org
objectClass: organizationalUnit
ou: contacts

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: mailAliases
uid: alice
cn: Alice Smith
sn: Smith
givenName: Alice
displayName: Alice S.
mail: alice@example.org
mail: a.smith@example.org
mailAlternateAddress: al@example.org
userCertificate;binary:: ` + b64(foreign) + `

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
mail: bob@example.org

dn: uid=nomail,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: nomail
cn: No Mail
sn: M

dn: cn=Carol,ou=contacts,dc=example,dc=org
objectClass: inetOrgPerson
cn: Carol
sn: C
mail: carol@partner.example

dn: uid=dup1,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: dup1
cn: Dup
sn: 1
mail: dup@example.org

dn: uid=dup2,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: dup2
cn: Dup
sn: 2
mail: dup@example.org

dn: cn=team,ou=groups,dc=example,dc=org
objectClass: groupOfNames
objectClass: extensibleObject
cn: team
mail: team@example.org
member: uid=alice,ou=people,dc=example,dc=org
member: cn=inner,ou=groups,dc=example,dc=org
member: uid=nomail,ou=people,dc=example,dc=org
member: uid=gone,ou=people,dc=example,dc=org

dn: cn=inner,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: inner
member: UID=Bob, OU=People,dc=example,dc=org
member: cn=team,ou=groups,dc=example,dc=org

dn: cn=all,ou=groups,dc=example,dc=org
objectClass: groupOfNames
objectClass: extensibleObject
cn: all
mail: all@example.org
member: cn=team,ou=groups,dc=example,dc=org
member: cn=Carol,ou=contacts,dc=example,dc=org
`
	srv := slapdtest.Start(t, slapdtest.Options{Schemas: []string{schema}, LDIF: []byte(ldif)})
	m := OpenLDAP()
	m.ContactFilter = "(&(objectClass=inetOrgPerson)(mail=*)(ou:dn:=contacts))"
	cfg := Config{URL: srv.URL, BindDN: srv.ServiceDN, Password: srv.ServicePassword, BaseDN: srv.Suffix, Map: m}
	ctx := context.Background()

	snap, err := Fetch(ctx, cfg, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Complete || snap.At.IsZero() {
		t.Errorf("full fetch: Complete %v, At %v", snap.Complete, snap.At)
	}
	if len(snap.People) != 5 { // alice, bob, carol, dup1, dup2
		t.Errorf("%d people, want 5", len(snap.People))
	}
	alice := findPerson(t, snap, "alice@example.org")
	if !reflect.DeepEqual(alice.Aliases, []string{"a.smith@example.org", "al@example.org"}) {
		t.Errorf("alice's aliases %q", alice.Aliases)
	}
	if alice.DisplayName != "Alice S." || alice.SN != "Smith" || alice.GivenName != "Alice" || alice.Disabled || alice.Contact {
		t.Errorf("alice: %+v", alice)
	}
	if len(alice.ID) != 36 || alice.DN != "uid=alice,ou=people,dc=example,dc=org" || alice.Changed.IsZero() {
		t.Errorf("alice's ID %q, DN %q, changed %v", alice.ID, alice.DN, alice.Changed)
	}
	sameCerts(t, "alice before publishing", alice.Certs, foreign)
	if carol := findPerson(t, snap, "carol@partner.example"); !carol.Contact || carol.DisplayName != "Carol" {
		t.Errorf("carol: %+v", carol)
	}
	if g := findGroup(t, snap, "team@example.org"); !reflect.DeepEqual(g.Members, []string{"alice@example.org", "bob@example.org"}) || g.Name != "team" {
		t.Errorf("team: members %q, name %q", g.Members, g.Name)
	}
	if g := findGroup(t, snap, "all@example.org"); !reflect.DeepEqual(g.Members, []string{"team@example.org", "carol@partner.example"}) {
		t.Errorf("all: members %q", g.Members)
	}
	if len(snap.Groups) != 2 {
		t.Errorf("%d groups, want 2 (inner has no address)", len(snap.Groups))
	}
	if w := strings.Join(snap.Warnings, "\n"); !strings.Contains(w, "group team@example.org: 2 members without an address") {
		t.Errorf("warnings: %q", snap.Warnings)
	}

	// Incremental: nothing changed after an hour from now; everything after an hour ago.
	if inc, err := Fetch(ctx, cfg, time.Now().Add(time.Hour)); err != nil || inc.Complete || len(inc.People)+len(inc.Groups) != 0 {
		t.Errorf("fetch since the future: %v, %+v", err, inc)
	}
	if inc, err := Fetch(ctx, cfg, time.Now().Add(-time.Hour)); err != nil || inc.Complete || len(inc.People) != 5 || len(inc.Groups) != 2 {
		t.Errorf("fetch since an hour ago: %v, %+v", err, inc)
	}

	// Publish.
	chain := []*x509.Certificate{p.ours.Cert}
	a1 := issue(t, p.ours, "alice@example.org")
	b1 := issue(t, p.ours, "bob@example.org")
	items := []Published{
		{Mail: "alice@example.org", Certs: []*x509.Certificate{a1}, Chain: chain},
		{Mail: "bob@example.org", Certs: []*x509.Certificate{b1}, Chain: chain},
		{Mail: "nobody@example.org", Certs: []*x509.Certificate{b1}},
		{Mail: "dup@example.org", Certs: []*x509.Certificate{b1}},
	}
	rep, err := Publish(ctx, cfg, items, p.ownedBy)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Updated, []string{"alice@example.org", "bob@example.org"}) ||
		!reflect.DeepEqual(rep.NotFound, []string{"nobody@example.org"}) || len(rep.Unchanged) != 0 {
		t.Errorf("first publish: %+v", rep)
	}
	if err := rep.Errors["dup@example.org"]; err == nil || !strings.Contains(err.Error(), "2 entries") || len(rep.Errors) != 1 {
		t.Errorf("ambiguous address: %v", rep.Errors)
	}
	aliceDN := "uid=alice,ou=people,dc=example,dc=org"
	if got := rawValues(t, srv, aliceDN, "userSMIMECertificate"); len(got) != 1 || !bytes.Equal(got[0], CertsOnly([]*x509.Certificate{a1, p.ours.Cert})) {
		t.Errorf("alice's userSMIMECertificate is not the PKCS #7 of her certificate and chain")
	}
	snap, err = Fetch(ctx, cfg, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	alice = findPerson(t, snap, "alice@example.org")
	sameCerts(t, "alice after publishing", alice.Certs, foreign, a1)
	sameCerts(t, "alice's chain", alice.Chain, p.ours.Cert)
	sameCerts(t, "bob after publishing", findPerson(t, snap, "bob@example.org").Certs, b1)

	// Lookup by alias; injection does not match everyone.
	got, err := Lookup(ctx, cfg, "al@example.org")
	if err != nil {
		t.Fatal(err)
	}
	sameCerts(t, "lookup by alias", got, foreign, a1)
	if got, err := Lookup(ctx, cfg, "A.Smith@Example.org"); err != nil || len(got) != 2 {
		t.Errorf("lookup by second mail value, other case: %d, %v", len(got), err)
	}
	if got, err := Lookup(ctx, cfg, "carol@partner.example"); err != nil || len(got) != 0 {
		t.Errorf("contact without certificates: %d, %v", len(got), err)
	}
	for _, evil := range []string{"*)(mail=*", "*", "alice@example.org)(|(mail=*", `alice@example.org\`} {
		if got, err := Lookup(ctx, cfg, evil); !errors.Is(err, ErrNotFound) {
			t.Errorf("lookup %q: %d certificates, %v", evil, len(got), err)
		}
	}
	// The unescaped filter would have matched: the test above can fail.
	if res, err := srv.Conn(t).Search(ldap.NewSearchRequest(srv.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=inetOrgPerson)(|(mail=*)(mail=*)))", nil, nil)); err != nil || len(res.Entries) == 0 {
		t.Fatalf("injected filter: %v", err)
	}

	// Second publish: nothing to do.
	rep, err = Publish(ctx, cfg, items[:2], p.ownedBy)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Updated) != 0 || len(rep.Unchanged) != 2 {
		t.Errorf("second publish: %+v", rep)
	}

	// Renewal replaces our old certificate and keeps the other CA's.
	a2 := issue(t, p.ours, "alice@example.org")
	rep, err = Publish(ctx, cfg, []Published{{Mail: "alice@example.org", Certs: []*x509.Certificate{a2}, Chain: chain}}, p.ownedBy)
	if err != nil || len(rep.Updated) != 1 {
		t.Fatalf("renewal: %+v, %v", rep, err)
	}
	got, err = Lookup(ctx, cfg, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	sameCerts(t, "alice after renewal", got, foreign, a2)

	// Someone else's userSMIMECertificate stays; userCertificate still changes.
	bobDN := "uid=bob,ou=people,dc=example,dc=org"
	theirs := CertsOnly([]*x509.Certificate{issue(t, p.other, "bob@example.org"), p.other.Cert})
	mod := ldap.NewModifyRequest(bobDN, nil)
	mod.Replace("userSMIMECertificate", []string{string(theirs)})
	if err := srv.Conn(t).Modify(mod); err != nil {
		t.Fatal(err)
	}
	b2 := issue(t, p.ours, "bob@example.org")
	rep, err = Publish(ctx, cfg, []Published{{Mail: "bob@example.org", Certs: []*x509.Certificate{b2}, Chain: chain}}, p.ownedBy)
	if err != nil || len(rep.Updated) != 1 {
		t.Fatalf("bob's renewal: %+v, %v", rep, err)
	}
	if got := rawValues(t, srv, bobDN, "userSMIMECertificate"); len(got) != 1 || !bytes.Equal(got[0], theirs) {
		t.Error("another's userSMIMECertificate was replaced")
	}
	if got := rawValues(t, srv, bobDN, "userCertificate;binary"); len(got) != 1 || !bytes.Equal(got[0], b2.Raw) {
		t.Errorf("bob's userCertificate: %d values", len(got))
	}

	// No certificates: ours are removed, the other CA's stay.
	rep, err = Publish(ctx, cfg, []Published{{Mail: "alice@example.org"}}, p.ownedBy)
	if err != nil || len(rep.Updated) != 1 {
		t.Fatalf("withdrawal: %+v, %v", rep, err)
	}
	if got := rawValues(t, srv, aliceDN, "userCertificate;binary"); len(got) != 1 || !bytes.Equal(got[0], foreign.Raw) {
		t.Errorf("after withdrawal alice has %d userCertificate values", len(got))
	}
	if got := rawValues(t, srv, aliceDN, "userSMIMECertificate"); len(got) != 0 {
		t.Error("our userSMIMECertificate was not removed")
	}
}

func TestActiveDirectory(t *testing.T) {
	p := newPKI(t)
	foreign := issue(t, p.other, "dave@corp.example")
	guid := []byte{0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	ldif := fmt.Sprintf(`dn: ou=Staff,dc=corp,dc=example
objectClass: organizationalUnit
ou: Staff

dn: CN=Dave Jones,OU=Staff,DC=corp,DC=example
objectClass: user
cn: Dave Jones
sn: Jones
givenName: Dave
displayName: Dave Jones
sAMAccountName: dave
mail: dave@corp.example
proxyAddresses: SMTP:dave@corp.example
proxyAddresses: smtp:d@corp.example
proxyAddresses: smtp:dave.jones@legacy.example
proxyAddresses: X500:/o=Corp/ou=Exchange Administrative Group/cn=Recipients/cn=dave
proxyAddresses: SIP:dave@corp.example
userAccountControl: 512
whenChanged: 20200101000000.0Z
objectGUID:: %s
userCertificate;binary:: %s

dn: CN=Erin Old,OU=Staff,DC=corp,DC=example
objectClass: user
cn: Erin Old
sn: Old
mail: erin@corp.example
proxyAddresses: SMTP:erin@corp.example
userAccountControl: 514
whenChanged: 20250601120000.0Z

dn: CN=PC01,OU=Staff,DC=corp,DC=example
objectClass: computer
cn: PC01
sn: PC01
mail: pc01@corp.example

dn: CN=Partner,OU=Staff,DC=corp,DC=example
objectClass: contact
cn: Partner
sn: Partner
mail: ext@partner.example
proxyAddresses: SMTP:ext@partner.example
whenChanged: 20200101000000.0Z

dn: CN=Nested Security,OU=Staff,DC=corp,DC=example
objectClass: group
cn: Nested Security
member: CN=Partner,OU=Staff,DC=corp,DC=example
member: CN=PC01,OU=Staff,DC=corp,DC=example

dn: CN=DL,OU=Staff,DC=corp,DC=example
objectClass: group
cn: DL
mail: dl@corp.example
member: CN=Dave Jones,OU=Staff,DC=corp,DC=example
whenChanged: 20200101000000.0Z

dn: CN=All Staff,OU=Staff,DC=corp,DC=example
objectClass: group
cn: All Staff
mail: all@corp.example
proxyAddresses: SMTP:all@corp.example
proxyAddresses: smtp:everyone@corp.example
member: CN=Dave Jones,OU=Staff,DC=corp,DC=example
member: CN=Erin Old,OU=Staff,DC=corp,DC=example
member: CN=Nested Security,OU=Staff,DC=corp,DC=example
member: CN=DL,OU=Staff,DC=corp,DC=example
whenChanged: 20200101000000.0Z
`, base64.StdEncoding.EncodeToString(guid), b64(foreign))
	srv := slapdtest.Start(t, slapdtest.Options{Suffix: "dc=corp,dc=example", ADSchema: true, LDIF: []byte(ldif)})
	cfg := Config{URL: srv.URL, BindDN: srv.ServiceDN, Password: srv.ServicePassword, BaseDN: srv.Suffix, Map: AD()}
	ctx := context.Background()

	snap, err := Fetch(ctx, cfg, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.People) != 3 { // dave, erin, the contact; not the computer
		t.Errorf("%d people, want 3", len(snap.People))
	}
	dave := findPerson(t, snap, "dave@corp.example")
	if dave.ID != "76543210-ba98-fedc-0123-456789abcdef" {
		t.Errorf("dave's objectGUID as %q", dave.ID)
	}
	if !reflect.DeepEqual(dave.Aliases, []string{"d@corp.example", "dave.jones@legacy.example"}) {
		t.Errorf("dave's aliases %q", dave.Aliases)
	}
	if dave.Disabled || dave.Contact || !dave.Changed.Equal(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("dave: %+v", dave)
	}
	sameCerts(t, "dave", dave.Certs, foreign)
	if erin := findPerson(t, snap, "erin@corp.example"); !erin.Disabled {
		t.Error("erin (userAccountControl 514) is not disabled")
	}
	if c := findPerson(t, snap, "ext@partner.example"); !c.Contact || c.Disabled {
		t.Errorf("contact: %+v", c)
	}
	all := findGroup(t, snap, "all@corp.example")
	// PC01 is no user, but a member with an address: it counts.
	if want := []string{"dave@corp.example", "erin@corp.example", "ext@partner.example", "pc01@corp.example", "dl@corp.example"}; !reflect.DeepEqual(all.Members, want) {
		t.Errorf("all staff: %q, want %q", all.Members, want)
	}
	if !reflect.DeepEqual(all.Aliases, []string{"everyone@corp.example"}) || all.Name != "All Staff" {
		t.Errorf("all staff: aliases %q, name %q", all.Aliases, all.Name)
	}
	if len(snap.Groups) != 2 {
		t.Errorf("%d groups with an address, want 2", len(snap.Groups))
	}

	// whenChanged: only erin changed after 2024.
	inc, err := Fetch(ctx, cfg, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if inc.Complete || len(inc.People) != 1 || inc.People[0].Mail != "erin@corp.example" || len(inc.Groups) != 0 {
		t.Errorf("incremental fetch: %+v", inc)
	}

	// Publish through a proxy address alias ("smtp:d@corp.example").
	d1 := issue(t, p.ours, "dave@corp.example")
	rep, err := Publish(ctx, cfg, []Published{{Mail: "d@corp.example", Certs: []*x509.Certificate{d1}, Chain: []*x509.Certificate{p.ours.Cert}}}, p.ownedBy)
	if err != nil || !reflect.DeepEqual(rep.Updated, []string{"d@corp.example"}) {
		t.Fatalf("publish by proxy address: %+v, %v", rep, err)
	}
	got, err := Lookup(ctx, cfg, "DAVE.JONES@legacy.example")
	if err != nil {
		t.Fatal(err)
	}
	sameCerts(t, "dave after publishing", got, foreign, d1)
	// The computer is not a user: nothing is published to it.
	rep, err = Publish(ctx, cfg, []Published{{Mail: "pc01@corp.example", Certs: []*x509.Certificate{d1}}}, p.ownedBy)
	if err != nil || len(rep.NotFound) != 1 {
		t.Errorf("publish to a computer: %+v, %v", rep, err)
	}
}

func TestPaging(t *testing.T) {
	const n = 1200
	srv := slapdtest.Start(t, slapdtest.Options{Entries: n, SizeLimit: 500})
	cfg := Config{URL: srv.URL, BindDN: srv.ServiceDN, Password: srv.ServicePassword, BaseDN: srv.Suffix, PageSize: 100, Map: OpenLDAP()}

	// Without paging the service account gets only 500.
	_, err := srv.ServiceConn(t).Search(ldap.NewSearchRequest(srv.Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"mail"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("the size limit does not apply: %v", err)
	}

	begin := time.Now()
	snap, err := Fetch(context.Background(), cfg, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fetched %d people in %v", len(snap.People), time.Since(begin))
	if len(snap.People) != n {
		t.Fatalf("%d people, want %d", len(snap.People), n)
	}
	seen := map[string]bool{}
	for _, p := range snap.People {
		seen[p.Mail] = true
	}
	if len(seen) != n || !seen["user000000@example.org"] || !seen[fmt.Sprintf("user%06d@example.org", n-1)] {
		t.Errorf("%d distinct addresses", len(seen))
	}

	// Without a base DN the server's naming context is used.
	cfg.BaseDN = ""
	if snap, err := Fetch(context.Background(), cfg, time.Time{}); err != nil || len(snap.People) != n {
		t.Errorf("fetch without a base DN: %v", err)
	}

	// A cancelled context stops the fetch.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Fetch(ctx, cfg, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled fetch: %v", err)
	}
}

func TestConnectionErrors(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	ctx := context.Background()

	cfg := Config{URL: srv.URL, BindDN: srv.ServiceDN, Password: "wrong", BaseDN: srv.Suffix, Map: OpenLDAP()}
	_, err := Fetch(ctx, cfg, time.Time{})
	if !errors.Is(err, ErrInvalidCredentials) || !strings.Contains(err.Error(), "invalid credentials") || !strings.Contains(err.Error(), srv.ServiceDN) {
		t.Errorf("wrong password: %v", err)
	}
	cfg.Password = ""
	if _, err := Fetch(ctx, cfg, time.Time{}); err == nil || !strings.Contains(err.Error(), srv.ServiceDN) {
		t.Errorf("empty password: %v", err)
	}

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ldap://" + l.Addr().String()
	l.Close()
	cfg = Config{URL: dead, BaseDN: "dc=example,dc=org", Timeout: 2 * time.Second, Map: OpenLDAP()}
	_, err = Lookup(ctx, cfg, "a@example.org")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), dead) || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("unreachable: %v", err)
	}
	_, err = Publish(ctx, cfg, nil, func(*x509.Certificate) bool { return true })
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("publish, unreachable: %v", err)
	}

	for _, u := range []string{"http://example.org", "ldap//x", "ldaps://127.0.0.1:1?StartTLS"} {
		c := Config{URL: u, Map: OpenLDAP(), StartTLS: strings.HasPrefix(u, "ldaps")}
		if _, err := Lookup(ctx, c, "a@example.org"); err == nil || errors.Is(err, ErrUnreachable) {
			t.Errorf("%s: %v", u, err)
		}
	}

	// A server that does not speak TLS: StartTLS fails with a clear error.
	cfg = Config{URL: srv.URL, StartTLS: true, BaseDN: srv.Suffix, Map: OpenLDAP()}
	if _, err := Lookup(ctx, cfg, "a@example.org"); err == nil || !strings.Contains(err.Error(), "StartTLS") {
		t.Errorf("StartTLS without TLS on the server: %v", err)
	}
}

func TestTLS(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{TLS: true, LDIF: []byte(`dn: uid=t,dc=example,dc=org
objectClass: inetOrgPerson
uid: t
cn: T
sn: T
mail: t@example.org
`)})
	ctx := context.Background()
	base := Config{BindDN: srv.ServiceDN, Password: srv.ServicePassword, BaseDN: srv.Suffix, Map: OpenLDAP(), TLS: srv.TLSConfig()}
	for name, cfg := range map[string]Config{
		"StartTLS": {URL: srv.URL, StartTLS: true},
		"ldaps":    {URL: srv.LDAPSURL},
	} {
		cfg.BindDN, cfg.Password, cfg.BaseDN, cfg.Map, cfg.TLS = base.BindDN, base.Password, base.BaseDN, base.Map, base.TLS
		snap, err := Fetch(ctx, cfg, time.Time{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(snap.People) != 1 {
			t.Errorf("%s: %d people", name, len(snap.People))
		}
		// Without the test CA the server is not trusted.
		cfg.TLS = nil
		if _, err := Fetch(ctx, cfg, time.Time{}); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s with the system roots: %v", name, err)
		}
	}
}
