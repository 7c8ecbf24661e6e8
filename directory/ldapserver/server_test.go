package ldapserver

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestLookupByMail(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	res, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=Alice@Example.ORG)")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("got %d entries", len(res.Entries))
	}
	e := res.Entries[0]
	if e.DN != "mail=alice@example.org,ou=people,dc=example,dc=org" {
		t.Errorf("DN = %q", e.DN)
	}
	if got := e.GetAttributeValues("mail"); !slices.Equal(got, []string{"alice@example.org", "a.liddell@example.org"}) {
		t.Errorf("mail = %q", got)
	}
	if got := e.GetAttributeValues("objectClass"); !slices.Equal(got, []string{"top", "person", "organizationalPerson", "inetOrgPerson"}) {
		t.Errorf("objectClass = %q", got)
	}
	for attr, want := range map[string]string{"cn": "Alice Liddell", "sn": "Liddell", "givenName": "Alice", "displayName": "Alice Liddell"} {
		if got := e.GetAttributeValue(attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	certs := e.GetRawAttributeValues("userCertificate;binary")
	if len(certs) != 1 || !bytes.Equal(certs[0], f.alice.Cert.Raw) {
		t.Errorf("userCertificate;binary: %d values", len(certs))
	}
	if len(e.GetRawAttributeValues("userSMIMECertificate")) != 1 {
		t.Errorf("no userSMIMECertificate")
	}

	// An alias finds the same entry; an unknown address finds nothing.
	res, err = search(c, testBase, ldap.ScopeWholeSubtree, "(mail=a.liddell@example.org)", "1.1")
	if err != nil || len(res.Entries) != 1 || res.Entries[0].DN != e.DN || len(res.Entries[0].Attributes) != 0 {
		t.Fatalf("alias lookup: %v %+v", err, res)
	}
	res, err = search(c, testBase, ldap.ScopeWholeSubtree, "(mail=nobody@example.org)")
	if err != nil || len(res.Entries) != 0 {
		t.Fatalf("unknown: %v %d", err, len(res.Entries))
	}
}

func TestUserCertificateAttributeNames(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	for _, req := range [][]string{{"userCertificate"}, {"usercertificate;binary"}, {"2.5.4.36"}, {"*"}, nil} {
		res, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=bob@example.org)", req...)
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("%q: %v", req, err)
		}
		e := res.Entries[0]
		var names []string
		for _, a := range e.Attributes {
			names = append(names, a.Name)
		}
		if !slices.Contains(names, "userCertificate;binary") || slices.Contains(names, "userCertificate") {
			t.Errorf("requested %q: attributes %q", req, names)
		}
		if len(req) == 1 && req[0] != "*" && len(names) != 1 {
			t.Errorf("requested %q: got %q", req, names)
		}
	}
	// userSMIMECertificate;binary is answered with the option.
	res, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=bob@example.org)", "userSMIMECertificate;binary")
	if err != nil || len(res.Entries) != 1 || len(res.Entries[0].Attributes) != 1 || res.Entries[0].Attributes[0].Name != "userSMIMECertificate;binary" {
		t.Fatalf("userSMIMECertificate;binary: %v %+v", err, res)
	}
	// typesOnly
	r, err := c.Search(ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, 0, 0, 0, true, "(mail=bob@example.org)", []string{"mail", "userCertificate"}, nil))
	if err != nil || len(r.Entries) != 1 || len(r.Entries[0].Attributes) != 2 {
		t.Fatalf("typesOnly: %v %+v", err, r)
	}
	for _, a := range r.Entries[0].Attributes {
		if len(a.Values) != 0 {
			t.Errorf("typesOnly: %s has values", a.Name)
		}
	}
}

func TestRootDSE(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{TLS: f.serverTLS}, testEntries(f))
	c := dial(t, addr)
	res, err := search(c, "", ldap.ScopeBaseObject, "(objectClass=*)", "+")
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("%v", err)
	}
	e := res.Entries[0]
	if e.DN != "" {
		t.Errorf("DN %q", e.DN)
	}
	checks := map[string]string{
		"namingContexts":       testBase,
		"supportedLDAPVersion": "3",
		"supportedControl":     oidPaged,
		"supportedExtension":   oidStartTLS,
		"vendorName":           "Signet",
	}
	for a, want := range checks {
		if !slices.Contains(e.GetAttributeValues(a), want) {
			t.Errorf("%s = %q, want %q", a, e.GetAttributeValues(a), want)
		}
	}
	if !slices.Contains(e.GetAttributeValues("supportedExtension"), oidWhoAmI) {
		t.Error("WhoAmI not advertised")
	}
	// Operational attributes are not returned by default; named ones are.
	res, err = search(c, "", ldap.ScopeBaseObject, "(objectClass=*)")
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("namingContexts") != "" {
		t.Fatalf("default attributes: %v", err)
	}
	res, err = search(c, "", ldap.ScopeBaseObject, "(objectclass=*)", "namingContexts")
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("namingContexts") != testBase {
		t.Fatalf("namingContexts: %v", err)
	}
	// A filter that does not match the root DSE returns nothing.
	res, err = search(c, "", ldap.ScopeBaseObject, "(mail=x@y)")
	if err != nil || len(res.Entries) != 0 {
		t.Fatalf("non-matching filter: %v %d", err, len(res.Entries))
	}
}

func TestFilterSemantics(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	if err := c.Bind(adminDN, adminPW); err != nil {
		// RequireTLSForBind is off without TLS.
		t.Fatal(err)
	}
	const (
		alice = "mail=alice@example.org,ou=people,dc=example,dc=org"
		bob   = "mail=bob@example.org,ou=people,dc=example,dc=org"
		carol = "mail=carol@example.org,ou=people,dc=example,dc=org"
		team  = "cn=team,ou=groups,dc=example,dc=org"
		base  = "dc=example,dc=org"
		ppl   = "ou=people,dc=example,dc=org"
		grp   = "ou=groups,dc=example,dc=org"
	)
	tests := []struct {
		filter string
		want   []string
	}{
		{"(mail=alice@example.org)", []string{alice}},
		{"(MAIL=ALICE@EXAMPLE.ORG)", []string{alice}},
		{"(rfc822Mailbox=bob@example.org)", []string{bob}},
		{"(0.9.2342.19200300.100.1.3=bob@example.org)", []string{bob}},
		{"(mail=carol@example.net)", []string{carol}},
		{"(mail=team@example.org)", []string{team}},
		{"(cn=bob builder)", []string{bob}},
		{"(cn=  Bob   Builder )", []string{bob}},
		{"(cn=carol)", []string{carol}}, // local part as cn
		{"(sn=liddell)", []string{alice}},
		{"(givenName=alice)", []string{alice}},
		{"(|(mail=alice@example.org)(mail=bob@example.org))", []string{alice, bob}},
		{"(|(sn=alice@example.org)(|(cn=alice@example.org)(mail=alice@example.org)))", []string{alice}},
		{"(|(sn=*a.liddell@example.org*)(|(cn=*a.liddell@example.org*)(mail=*a.liddell@example.org*)))", []string{alice}}, // dirmngr
		{"(|(sn=*Example.ORG*)(|(cn=*example.org*)(mail=*example.org*)))", []string{alice, bob, carol, team}},
		{"(|(sn=*builder*)(cn=*builder*))", []string{bob}},
		{"(&(mail=alice@example.org)(objectClass=inetOrgPerson))", []string{alice}},
		{"(&(mail=alice@example.org)(objectClass=groupOfNames))", nil},
		{"(&(mail=alice@example.org)(!(sn=liddell)))", nil},
		{"(!(objectClass=person))", []string{base, ppl, grp, team}},
		{"(objectClass=groupOfNames)", []string{team}},
		{"(objectClass=organizationalUnit)", []string{ppl, grp}},
		{"(objectClass=domain)", []string{base}},
		{"(mail=*)", []string{alice, bob, carol, team}},
		{"(mail=ali*)", []string{alice}},
		{"(mail=*@example.net)", []string{carol}},
		{"(mail=*liddell*)", []string{alice}},
		{"(mail=a*@*org)", []string{alice}},
		{"(mail=al*ce*@example.org)", []string{alice}},
		{"(mail=alice*alice)", nil},
		{"(cn=*o*b*)", []string{bob}},
		{"(userCertificate=*)", []string{alice, bob}},
		{"(userCertificate;binary=*)", []string{alice, bob}},
		{"(userSMIMECertificate=*)", []string{alice, bob}},
		{"(member=mail=alice@example.org,ou=people,dc=example,dc=org)", []string{team}},
		{"(member=MAIL=Alice@example.org, OU=people, DC=example, DC=org)", nil}, // member equality is caseIgnore on the string, not DN match
		{"(mail>=c)", []string{carol, team}},
		{"(mail<=b)", []string{alice}},
		{"(mail~=BOB@example.org)", []string{bob}},
		{"(unknownAttr=x)", nil},
		{"(!(unknownAttr=x))", nil}, // NOT Undefined is Undefined
		{"(|(unknownAttr=x)(mail=bob@example.org))", []string{bob}},
		{"(unknownAttr=*)", nil},
		{"(!(unknownAttr=*))", []string{base, ppl, grp, alice, bob, carol, team}},
		{"(mail:caseExactMatch:=bob@example.org)", nil}, // extensible: Undefined
		{"(&)", []string{base, ppl, grp, alice, bob, carol, team}},
		{"(|)", nil},
		{"(userCertificate=x)", nil},
		{"(uid=alice)", nil},
		{"(displayName=alice liddell)", []string{alice}},
	}
	for _, tt := range tests {
		res, err := search(c, base, ldap.ScopeWholeSubtree, tt.filter, "1.1")
		if err != nil {
			t.Errorf("%s: %v", tt.filter, err)
			continue
		}
		var got []string
		for _, e := range res.Entries {
			got = append(got, e.DN)
		}
		sort.Strings(got)
		want := slices.Clone(tt.want)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", tt.filter, got, want)
		}
	}
}

func TestScopes(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	count := func(base string, scope int) int {
		t.Helper()
		res, err := search(c, base, scope, "(objectClass=*)", "1.1")
		if err != nil {
			t.Fatalf("%s/%d: %v", base, scope, err)
		}
		return len(res.Entries)
	}
	tests := []struct {
		base  string
		scope int
		want  int
	}{
		{testBase, ldap.ScopeBaseObject, 1},
		{testBase, ldap.ScopeSingleLevel, 2},
		{testBase, ldap.ScopeWholeSubtree, 7},
		{"ou=people," + testBase, ldap.ScopeBaseObject, 1},
		{"ou=people," + testBase, ldap.ScopeSingleLevel, 3},
		{"ou=people," + testBase, ldap.ScopeWholeSubtree, 4},
		{"OU=People, DC=Example, DC=Org", ldap.ScopeSingleLevel, 3},
		{"ou=groups," + testBase, ldap.ScopeSingleLevel, 1},
		{"ou=groups," + testBase, ldap.ScopeWholeSubtree, 2},
		{"mail=alice@example.org,ou=people," + testBase, ldap.ScopeBaseObject, 1},
		{"mail=alice@example.org,ou=people," + testBase, ldap.ScopeSingleLevel, 0},
		{"mail=ALICE@example.org, ou=people," + testBase, ldap.ScopeWholeSubtree, 1},
		{"0.9.2342.19200300.100.1.3=alice@example.org,ou=people," + testBase, ldap.ScopeBaseObject, 1},
		{"", ldap.ScopeSingleLevel, 1},
		{"", ldap.ScopeWholeSubtree, 7},
	}
	for _, tt := range tests {
		if got := count(tt.base, tt.scope); got != tt.want {
			t.Errorf("base %q scope %d: %d entries, want %d", tt.base, tt.scope, got, tt.want)
		}
	}
	_, err := search(c, "mail=nobody@example.org,ou=people,"+testBase, ldap.ScopeBaseObject, "(objectClass=*)")
	if resultCode(err) != ldap.LDAPResultNoSuchObject {
		t.Errorf("missing base: %v", err)
	}
	if le, ok := err.(*ldap.Error); !ok || le.MatchedDN != "ou=people,"+testBase {
		t.Errorf("matchedDN: %v", err)
	}
	_, err = search(c, "dc=other,dc=org", ldap.ScopeBaseObject, "(objectClass=*)")
	if resultCode(err) != ldap.LDAPResultNoSuchObject {
		t.Errorf("foreign base: %v", err)
	}
}

func TestGroupEntry(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	res, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=team@example.org)")
	if err != nil || len(res.Entries) != 1 {
		t.Fatal(err)
	}
	e := res.Entries[0]
	if got := e.GetAttributeValues("member"); !slices.Equal(got, []string{"mail=alice@example.org,ou=people," + testBase, "mail=bob@example.org,ou=people," + testBase}) {
		t.Errorf("member = %q", got)
	}
	if got := e.GetAttributeValues("objectClass"); !slices.Equal(got, []string{"top", "groupOfNames"}) {
		t.Errorf("objectClass = %q", got)
	}
}

func TestAnonymousAccess(t *testing.T) {
	f := getFixtures(t)
	var entries []Entry
	for i := range 100 {
		entries = append(entries, Entry{Mail: fmt.Sprintf("user%03d@example.org", i)})
	}
	entries = append(entries, testEntries(f)...)
	_, addr := startServer(t, Config{}, entries)
	c := dial(t, addr)
	for _, filter := range []string{"(objectClass=*)", "(mail=*)", "(mail=a*)", "(mail=*or*)", "(!(mail=alice@example.org))",
		"(|(mail=alice@example.org)(objectClass=*))", "(mail>=a)", "(&)", "(mail=us*)"} {
		_, err := search(c, testBase, ldap.ScopeWholeSubtree, filter)
		if resultCode(err) != ldap.LDAPResultInsufficientAccessRights {
			t.Errorf("%s: %v, want insufficientAccessRights", filter, err)
		} else if !strings.Contains(err.Error(), "bind") {
			t.Errorf("%s: diagnostic %v", filter, err)
		}
	}
	// Specific lookups pass; results are capped at AnonymousSizeLimit.
	for filter, want := range map[string]int{
		"(mail=alice@example.org)":                          1,
		"(&(objectClass=person)(mail=bob@example.org))":     1,
		"(|(cn=alice@example.org)(mail=alice@example.org))": 1,
		"(cn=Bob*)":    1,
		"(mail=use*)":  -1,
		"(mail=*r01*)": 10,
	} {
		res, err := search(c, testBase, ldap.ScopeWholeSubtree, filter, "1.1")
		if want < 0 {
			if resultCode(err) != ldap.LDAPResultSizeLimitExceeded || len(res.Entries) != 25 {
				t.Errorf("%s: %v, %d entries; want sizeLimitExceeded after 25", filter, err, len(res.Entries))
			}
			continue
		}
		if err != nil || len(res.Entries) != want {
			t.Errorf("%s: %v, %d entries, want %d", filter, err, len(res.Entries), want)
		}
	}
	// Base-scope reads of a named entry are allowed.
	res, err := search(c, "mail=alice@example.org,ou=people,"+testBase, ldap.ScopeBaseObject, "(objectClass=*)")
	if err != nil || len(res.Entries) != 1 {
		t.Errorf("base read: %v", err)
	}
	// After an unauthenticated bind (DN, no password) still anonymous.
	if err := c.UnauthenticatedBind(adminDN); err != nil {
		t.Fatal(err)
	}
	if _, err := search(c, testBase, ldap.ScopeWholeSubtree, "(objectClass=*)"); resultCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Errorf("after unauthenticated bind: %v", err)
	}
	// A bound client may list, up to SizeLimit.
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	res, err = search(c, testBase, ldap.ScopeWholeSubtree, "(objectClass=*)", "1.1")
	if err != nil || len(res.Entries) != 107 {
		t.Errorf("bound listing: %v %d", err, len(res.Entries))
	}
	// Rebinding anonymously drops the rights.
	if err := c.UnauthenticatedBind(""); err != nil {
		t.Fatal(err)
	}
	if _, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=*)"); resultCode(err) != ldap.LDAPResultInsufficientAccessRights {
		t.Errorf("after anonymous rebind: %v", err)
	}

	// AllowAnonymousList lets anonymous clients list (still capped).
	_, addr2 := startServer(t, Config{AllowAnonymousList: true, AnonymousSizeLimit: 5}, entries)
	c2 := dial(t, addr2)
	res, err = search(c2, testBase, ldap.ScopeWholeSubtree, "(mail=*)", "1.1")
	if resultCode(err) != ldap.LDAPResultSizeLimitExceeded || len(res.Entries) != 5 {
		t.Errorf("AllowAnonymousList: %v %d", err, len(res.Entries))
	}
}

func TestSizeLimit(t *testing.T) {
	var entries []Entry
	for i := range 50 {
		entries = append(entries, Entry{Mail: fmt.Sprintf("user%03d@example.org", i)})
	}
	_, addr := startServer(t, Config{SizeLimit: 20}, entries)
	c := dial(t, addr)
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ client, want int }{{0, 20}, {10, 10}, {30, 20}} {
		req := ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, tt.client, 0, false, "(mail=*)", []string{"1.1"}, nil)
		res, err := c.Search(req)
		if resultCode(err) != ldap.LDAPResultSizeLimitExceeded || len(res.Entries) != tt.want {
			t.Errorf("client limit %d: %v, %d entries, want %d", tt.client, err, len(res.Entries), tt.want)
		}
	}
	// Exactly the limit: success.
	req := ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, 50, 0, false, "(mail=*)", []string{"1.1"}, nil)
	if _, err := c.Search(req); resultCode(err) != ldap.LDAPResultSizeLimitExceeded {
		t.Errorf("server limit 20 < client 50: %v", err)
	}
	res, err := c.Search(ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, 0, 0, false, "(mail=user00*)", []string{"1.1"}, nil))
	if err != nil || len(res.Entries) != 10 {
		t.Errorf("under the limit: %v %d", err, len(res.Entries))
	}
}

func TestTimeLimit(t *testing.T) {
	var entries []Entry
	for i := range 5000 {
		entries = append(entries, Entry{Mail: fmt.Sprintf("user%04d@example.org", i)})
	}
	s, addr := startServer(t, Config{SizeLimit: 100000}, entries)
	// A clock that advances a second each time it is read: a search
	// scanning all entries runs out of its 10 s long before the end.
	var tick time.Duration
	start := time.Now()
	var mu = make(chan struct{}, 1)
	s.now = func() time.Time {
		mu <- struct{}{}
		tick += time.Second
		d := tick
		<-mu
		return start.Add(d)
	}
	c := dial(t, addr)
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	res, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=*)", "1.1")
	if resultCode(err) != ldap.LDAPResultTimeLimitExceeded {
		t.Fatalf("got %v, want timeLimitExceeded", err)
	}
	if len(res.Entries) == 0 || len(res.Entries) >= 5000 {
		t.Errorf("%d entries before the time limit", len(res.Entries))
	}
	// The client's own (shorter) limit applies too.
	res, err = c.Search(ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, 0, 0, 3, false, "(mail=*)", []string{"1.1"}, nil))
	if resultCode(err) != ldap.LDAPResultTimeLimitExceeded || len(res.Entries) >= 1500 {
		t.Errorf("client time limit: %v, %d entries", err, len(res.Entries))
	}
	// An indexed lookup is unaffected.
	if _, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=user0001@example.org)"); err != nil {
		t.Errorf("lookup: %v", err)
	}
}

func TestPaging(t *testing.T) {
	var entries []Entry
	for i := range 1000 {
		entries = append(entries, Entry{Mail: fmt.Sprintf("user%04d@example.org", i)})
	}
	_, addr := startServer(t, Config{SizeLimit: 100}, entries)
	c := dial(t, addr)
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	req := ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, 0, 0, false, "(mail=*)", []string{"mail"}, nil)
	res, err := c.SearchWithPaging(req, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1000 {
		t.Fatalf("%d entries", len(res.Entries))
	}
	seen := map[string]bool{}
	for _, e := range res.Entries {
		seen[e.GetAttributeValue("mail")] = true
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct entries", len(seen))
	}
	// Page size above the server limit: pages of SizeLimit.
	pc := ldap.NewControlPaging(500)
	req = ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, 0, 0, false, "(mail=*)", []string{"1.1"}, []ldap.Control{pc})
	r, err := c.Search(req)
	if err != nil || len(r.Entries) != 100 {
		t.Fatalf("big page: %v %d", err, len(r.Entries))
	}
	cookie := ldap.FindControl(r.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging).Cookie
	if len(cookie) == 0 {
		t.Fatal("no cookie")
	}
	// The cookie is useless on another connection and with other parameters.
	c2 := dial(t, addr)
	if err := c2.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	pc2 := ldap.NewControlPaging(10)
	pc2.SetCookie(cookie)
	req2 := ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, 0, 0, false, "(mail=*)", []string{"1.1"}, []ldap.Control{pc2})
	if _, err := c2.Search(req2); resultCode(err) != ldap.LDAPResultUnwillingToPerform {
		t.Errorf("cookie on another connection: %v", err)
	}
	req3 := ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, 0, 0, false, "(mail=u*)", []string{"1.1"}, []ldap.Control{pc2})
	if _, err := c.Search(req3); resultCode(err) != ldap.LDAPResultUnwillingToPerform {
		t.Errorf("changed filter: %v", err)
	}
	// Anonymous paging stays capped.
	c3 := dial(t, addr)
	req = ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, 0, 0, false, "(mail=user*)", []string{"1.1"}, nil)
	res, err = c3.SearchWithPaging(req, 10)
	if resultCode(err) != ldap.LDAPResultSizeLimitExceeded || len(res.Entries) != 25 {
		t.Errorf("anonymous paging: %v %d", err, len(res.Entries))
	}
	// Page size ≥ client sizeLimit: the control is ignored (RFC 2696 §3).
	req = ldap.NewSearchRequest("ou=people,"+testBase, ldap.ScopeSingleLevel, 0, 5, 0, false, "(mail=*)", []string{"1.1"}, []ldap.Control{ldap.NewControlPaging(10)})
	r, err = c.Search(req)
	if resultCode(err) != ldap.LDAPResultSizeLimitExceeded || len(r.Entries) != 5 {
		t.Errorf("page ≥ sizeLimit: %v %d", err, len(r.Entries))
	}
}

func TestCriticalControls(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	crit := ldap.NewControlString("1.2.3.4.5", true, "")
	req := ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(mail=alice@example.org)", nil, []ldap.Control{crit})
	if _, err := c.Search(req); resultCode(err) != ldap.LDAPResultUnavailableCriticalExtension {
		t.Errorf("critical unknown control: %v", err)
	}
	nonCrit := ldap.NewControlString("1.2.3.4.5", false, "")
	req = ldap.NewSearchRequest(testBase, ldap.ScopeWholeSubtree, 0, 0, 0, false, "(mail=alice@example.org)", nil, []ldap.Control{nonCrit})
	if res, err := c.Search(req); err != nil || len(res.Entries) != 1 {
		t.Errorf("non-critical unknown control: %v", err)
	}
}

func TestBinds(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	if err := c.Bind(adminDN, "wrong"); resultCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Errorf("wrong password: %v", err)
	}
	if err := c.Bind("", "x"); resultCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Errorf("password without DN: %v", err)
	}
	if err := c.UnauthenticatedBind(""); err != nil {
		t.Errorf("anonymous: %v", err)
	}
	if err := c.UnauthenticatedBind("cn=someone"); err != nil {
		t.Errorf("unauthenticated: %v", err)
	}
	if err := c.ExternalBind(); resultCode(err) != ldap.LDAPResultAuthMethodNotSupported {
		t.Errorf("SASL EXTERNAL: %v", err)
	}
	who, err := c.WhoAmI(nil)
	if err != nil || who.AuthzID != "" {
		t.Errorf("WhoAmI anonymous: %v %+v", err, who)
	}
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	who, err = c.WhoAmI(nil)
	if err != nil || who.AuthzID != "dn:"+adminDN {
		t.Errorf("WhoAmI bound: %v %+v", err, who)
	}

	// No Authenticate: only anonymous.
	s, err := New(Config{BaseDN: testBase, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlsListen(t)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	c2 := dial(t, l.Addr().String())
	if err := c2.Bind(adminDN, adminPW); resultCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Errorf("bind without Authenticate: %v", err)
	}
	// An explicit RequireTLSForBind without TLS refuses password binds.
	yes := true
	_, addr3 := startServer(t, Config{RequireTLSForBind: &yes}, nil)
	if err := dial(t, addr3).Bind(adminDN, adminPW); resultCode(err) != ldap.LDAPResultConfidentialityRequired {
		t.Errorf("RequireTLSForBind: %v", err)
	}
	if _, err := New(Config{BaseDN: "not a dn"}); err == nil {
		t.Error("bad BaseDN accepted")
	}
}

func TestReadOnly(t *testing.T) {
	f := getFixtures(t)
	_, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	dn := "mail=alice@example.org,ou=people," + testBase
	add := ldap.NewAddRequest("mail=x@example.org,ou=people,"+testBase, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("cn", []string{"x"})
	checks := map[string]error{
		"add":    c.Add(add),
		"modify": c.Modify(mod),
		"delete": c.Del(ldap.NewDelRequest(dn, nil)),
		"modDN":  c.ModifyDN(ldap.NewModifyDNRequest(dn, "mail=y@example.org", true, "")),
	}
	_, cerr := c.Compare(dn, "mail", "alice@example.org")
	checks["compare"] = cerr
	_, perr := c.PasswordModify(ldap.NewPasswordModifyRequest("", "a", "b"))
	for op, err := range checks {
		if resultCode(err) != ldap.LDAPResultUnwillingToPerform || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s: %v", op, err)
		}
	}
	if resultCode(perr) != ldap.LDAPResultProtocolError {
		t.Errorf("unknown extended operation: %v", perr)
	}
	// The connection still works.
	if res, err := search(c, dn, ldap.ScopeBaseObject, "(objectClass=*)"); err != nil || len(res.Entries) != 1 {
		t.Errorf("after refusals: %v", err)
	}
}

func TestStartTLSAndLDAPS(t *testing.T) {
	f := getFixtures(t)
	s, addr := startServer(t, Config{TLS: f.serverTLS}, testEntries(f))
	clientTLS := &tls.Config{RootCAs: f.caPool, ServerName: "127.0.0.1"}

	c := dial(t, addr)
	// A password bind in the clear is refused.
	if err := c.Bind(adminDN, adminPW); resultCode(err) != ldap.LDAPResultConfidentialityRequired {
		t.Errorf("cleartext bind: %v", err)
	}
	if err := c.StartTLS(clientTLS); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Errorf("bind over StartTLS: %v", err)
	}
	res, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=alice@example.org)")
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search over StartTLS: %v", err)
	}
	// A second StartTLS is refused (sent raw: the client would refuse to
	// send it).
	r, err := c.Extended(ldap.NewExtendedRequest(oidStartTLS, nil))
	if resultCode(err) != ldap.LDAPResultOperationsError {
		t.Errorf("second StartTLS: %v %+v", err, r)
	}

	// LDAPS
	l, err := tlsListen(t)
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeTLS(l)
	lc, err := ldap.DialURL("ldaps://"+l.Addr().String(), ldap.DialWithTLSConfig(clientTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if err := lc.Bind(adminDN, adminPW); err != nil {
		t.Errorf("bind over LDAPS: %v", err)
	}
	res, err = search(lc, testBase, ldap.ScopeWholeSubtree, "(mail=bob@example.org)")
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search over LDAPS: %v", err)
	}
	if _, err := lc.Extended(ldap.NewExtendedRequest(oidStartTLS, nil)); resultCode(err) != ldap.LDAPResultOperationsError {
		t.Errorf("StartTLS over LDAPS: %v", err)
	}

	// Without TLS configured StartTLS is a protocolError.
	_, addr2 := startServer(t, Config{}, nil)
	c2 := dial(t, addr2)
	if err := c2.StartTLS(clientTLS); resultCode(err) != ldap.LDAPResultProtocolError {
		t.Errorf("StartTLS without TLS: %v", err)
	}
	// (go-ldap's connection is unusable after a failed StartTLS.)
	c3 := dial(t, addr2)
	if res, err := search(c3, "", ldap.ScopeBaseObject, "(objectClass=*)", "supportedExtension"); err != nil || slices.Contains(res.Entries[0].GetAttributeValues("supportedExtension"), oidStartTLS) {
		t.Errorf("StartTLS advertised without TLS: %v", err)
	}
}

func TestSetEntriesWhileServing(t *testing.T) {
	f := getFixtures(t)
	s, addr := startServer(t, Config{}, testEntries(f))
	c := dial(t, addr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			es := testEntries(f)
			if i%2 == 1 {
				es = es[1:]
			}
			s.SetEntries(es)
		}
	}()
	for range 200 {
		if _, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=alice@example.org)"); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	s.SetEntries(nil)
	res, err := search(c, testBase, ldap.ScopeWholeSubtree, "(mail=alice@example.org)")
	if err != nil || len(res.Entries) != 0 {
		t.Fatalf("after emptying: %v", err)
	}
}
