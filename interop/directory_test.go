package interop

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/miekg/dns"
	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/internal/slapdtest"
	"github.com/signet-smime/signet/internal/testpki"
)

// ldifValues returns the values of attr in ldapsearch -LLL -o
// ldif-wrap=no output (base64 "attr:: " values decoded).
func ldifValues(t *testing.T, ldif []byte, attr string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, line := range strings.Split(string(ldif), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(name, attr) {
			continue
		}
		if strings.HasPrefix(val, ": ") {
			b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(val, ": "))
			if err != nil {
				t.Fatalf("%s: bad base64: %v", attr, err)
			}
			out = append(out, b)
			continue
		}
		out = append(out, []byte(strings.TrimPrefix(val, " ")))
	}
	return out
}

// recipient is `user show --json`.
type recipient struct {
	Email        string   `json:"email"`
	Kind         string   `json:"kind"`
	Status       string   `json:"status"`
	DisplayName  string   `json:"display_name"`
	Aliases      []string `json:"aliases"`
	Members      []string `json:"members"`
	Certificates []struct {
		Usage  string `json:"usage"`
		SHA256 string `json:"sha256"`
		Status string `json:"status"`
		Source string `json:"source"`
		Serial string `json:"serial"`
	} `json:"certificates"`
}

func (o *org) show(addr string) recipient {
	o.t.Helper()
	var r recipient
	out := o.must("user", "show", addr, "--json")
	if err := json.Unmarshal(out, &r); err != nil {
		o.t.Fatalf("user show --json: %v\n%s", err, out)
	}
	return r
}

// certDER reads the one certificate of a PEM file exported by the org.
func (o *org) certDER(name string) []byte {
	o.t.Helper()
	return o.readCerts(name)[0].Raw
}

// TestDirectoryLDAP: `signet serve --ldap` serves the directory to
// OpenLDAP's ldapsearch (plain, StartTLS, LDAPS), with the issued
// certificates in userCertificate;binary and a userSMIMECertificate that
// `openssl pkcs7` reads; aliases find the entry, enumeration needs a bind,
// a disabled user disappears.
func TestDirectoryLDAP(t *testing.T) {
	t.Parallel()
	ldapsearch := needTool(t, "ldapsearch")
	openssl := needTool(t, "openssl")
	o := newOrg(t)
	o.must("user", "add", "alice@example.org", "--name", "Alice Smith", "--alias", "a.smith@example.org", "--issue")
	o.must("user", "add", "bob@example.org", "--name", "Bob Jones", "--issue", "--key", "rsa-2048")
	o.must("group", "add", "team@example.org", "--member", "alice@example.org", "--member", "bob@example.org")
	o.exportPEM("alice@example.org", "encrypt", "alice-enc")
	o.exportPEM("alice@example.org", "sign", "alice-sign")
	o.write("admin-pass", []byte("admin-password-123\n"))
	o.must("directory", "account", "add", "cn=admin,dc=example,dc=org", "--password-file", "admin-pass")
	port, tlsPort := freePort(t), freePort(t)
	o.startServe(t, "--ldap", fmt.Sprintf("127.0.0.1:%d", port), "--ldaps", fmt.Sprintf("127.0.0.1:%d", tlsPort))
	url := fmt.Sprintf("ldap://127.0.0.1:%d", port)
	// The self-signed certificate of a trial set-up is not checked here.
	env := []string{"LDAPTLS_REQCERT=never"}
	search := func(args ...string) result {
		t.Helper()
		return runEnv(t, o.dir, env, nil, ldapsearch, append([]string{"-x", "-LLL", "-o", "ldif-wrap=no", "-b", "dc=example,dc=org"}, args...)...)
	}

	for _, tc := range []struct{ name, url, filter string }{
		{"plain", url, "(mail=alice@example.org)"},
		{"alias", url, "(mail=a.smith@example.org)"},
		{"StartTLS", url, "(&(objectClass=inetOrgPerson)(mail=ALICE@example.org))"},
		{"LDAPS", fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort), "(|(mail=alice@example.org)(cn=nobody))"},
	} {
		args := []string{"-H", tc.url, tc.filter, "mail", "cn", "userCertificate;binary", "userSMIMECertificate"}
		if tc.name == "StartTLS" {
			args = append([]string{"-ZZ"}, args...)
		}
		r := search(args...)
		if r.code != 0 {
			t.Fatalf("%s: ldapsearch exit %d: %s", tc.name, r.code, r.stderr)
		}
		if dns := ldifValues(t, r.stdout, "dn"); len(dns) != 1 || string(dns[0]) != "mail=alice@example.org,ou=people,dc=example,dc=org" {
			t.Fatalf("%s: entries %q\n%s", tc.name, dns, r.stdout)
		}
		certs := ldifValues(t, r.stdout, "userCertificate;binary")
		for _, want := range [][]byte{o.certDER("alice-enc.pem"), o.certDER("alice-sign.pem")} {
			if !slices.ContainsFunc(certs, func(c []byte) bool { return bytes.Equal(c, want) }) {
				t.Fatalf("%s: userCertificate;binary lacks an issued certificate (%d values)", tc.name, len(certs))
			}
		}
		if len(certs) != 2 {
			t.Errorf("%s: %d userCertificate values, want 2", tc.name, len(certs))
		}
		if !bytes.Equal(certs[0], o.certDER("alice-enc.pem")) {
			t.Errorf("%s: the encryption certificate is not the first value", tc.name)
		}
		if mails := ldifValues(t, r.stdout, "mail"); len(mails) != 2 || string(mails[0]) != "alice@example.org" {
			t.Errorf("%s: mail values %q", tc.name, mails)
		}
		p7 := ldifValues(t, r.stdout, "userSMIMECertificate")
		if len(p7) != 1 {
			t.Fatalf("%s: %d userSMIMECertificate values", tc.name, len(p7))
		}
		f := o.write("smime.p7b", p7[0])
		out := mustRun(t, o.dir, nil, openssl, "pkcs7", "-inform", "DER", "-in", f, "-print_certs")
		if n := bytes.Count(out, []byte("-----BEGIN CERTIFICATE-----")); n != 4 {
			t.Errorf("%s: openssl pkcs7 -print_certs shows %d certificates, want alice's 2 and the 2 CA certificates\n%s", tc.name, n, out)
		}
		if !bytes.Contains(out, []byte("Issuing CA")) {
			t.Errorf("%s: the chain is missing from userSMIMECertificate:\n%s", tc.name, out)
		}
	}

	// GnuPG finds alice's encryption certificate through dirmngr (which
	// sends substring filters on sn, cn and mail). dirmngr 2.2 takes only
	// the first userCertificate value of an entry: Signet serves the
	// encryption certificate first for that reason.
	gpgsm := needTool(t, "gpgsm")
	needTool(t, "dirmngr")
	gpgconf := needTool(t, "gpgconf")
	home, err := os.MkdirTemp("", "signet-gnupg-") // short: gpg-agent sockets
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command(gpgconf, "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	if err := os.WriteFile(filepath.Join(home, "dirmngr.conf"),
		[]byte(fmt.Sprintf("ldapserver 127.0.0.1:%d:::dc=example,dc=org\nldaptimeout 10\n", port)), 0o600); err != nil {
		t.Fatal(err)
	}
	gr := run(t, o.dir, nil, gpgsm, "--homedir", home, "--batch", "--with-colons", "--list-external-keys", "alice@example.org")
	for _, name := range []string{"alice-enc.pem"} {
		sum := sha1.Sum(o.certDER(name))
		if gr.code != 0 || !bytes.Contains(bytes.ToUpper(gr.stdout), []byte(strings.ToUpper(hex.EncodeToString(sum[:])))) {
			t.Errorf("gpgsm --list-external-keys did not find %s through signet serve: exit %d\n%s%s", name, gr.code, gr.stdout, gr.stderr)
		}
	}

	// A group is served with its members.
	r := search("-H", url, "(mail=team@example.org)", "member", "objectClass")
	if members := ldifValues(t, r.stdout, "member"); r.code != 0 || len(members) != 2 {
		t.Errorf("group: exit %d, members %q\n%s", r.code, members, r.stderr)
	}

	// Anonymous enumeration is refused with insufficientAccessRights (50).
	for _, filter := range []string{"(mail=*)", "(objectClass=*)", "(mail=a*)", "(cn=*e*)"} {
		r := search("-H", url, filter, "mail")
		if r.code != 50 || len(ldifValues(t, r.stdout, "dn")) != 0 {
			t.Errorf("anonymous %s: exit %d (want 50), %d entries\n%s", filter, r.code, len(ldifValues(t, r.stdout, "dn")), r.stderr)
		}
	}
	// A bound admin lists everything, paged.
	r = search("-H", url, "-ZZ", "-D", "cn=admin,dc=example,dc=org", "-w", "admin-password-123", "-E", "pr=1/noprompt", "(mail=*)", "mail")
	if dns := ldifValues(t, r.stdout, "dn"); r.code != 0 || len(dns) != 3 {
		t.Errorf("bound listing: exit %d, %d entries (want alice, bob, team)\n%s%s", r.code, len(dns), r.stdout, r.stderr)
	}
	r = search("-H", url, "-ZZ", "-D", "cn=admin,dc=example,dc=org", "-w", "wrong-password", "(mail=*)", "mail")
	if r.code != 49 {
		t.Errorf("wrong password: exit %d, want 49 (invalidCredentials)\n%s", r.code, r.stderr)
	}
	// Without TLS a password bind is refused (confidentialityRequired, 13).
	r = search("-H", url, "-D", "cn=admin,dc=example,dc=org", "-w", "admin-password-123", "(mail=*)", "mail")
	if r.code != 13 {
		t.Errorf("password bind without TLS: exit %d, want 13 (confidentialityRequired)\n%s", r.code, r.stderr)
	}

	// A disabled user disappears from the directory (the server follows
	// the store within seconds).
	o.must("user", "disable", "bob@example.org")
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := search("-H", url, "(mail=bob@example.org)", "mail")
		if r.code == 0 && len(ldifValues(t, r.stdout, "dn")) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob still served 20 s after user disable:\n%s", r.stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// partnerCert makes a certificate for addr from another CA (not Signet's).
func partnerCert(t *testing.T, ca *testpki.Identity, addr string) *x509.Certificate {
	t.Helper()
	id, err := ca.Issue(addr, testpki.P256, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id.Cert
}

func b64(der []byte) string { return base64.StdEncoding.EncodeToString(der) }

// entryCerts reads the userCertificate;binary values of the entry with
// mail addr, as DER.
func entryCerts(t *testing.T, conn *ldap.Conn, base, addr string) (certs [][]byte, p7 []byte) {
	t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(mail="+ldap.EscapeFilter(addr)+")", []string{"userCertificate;binary", "userSMIMECertificate"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search %s: %v, %d entries", addr, err, len(res.Entries))
	}
	e := res.Entries[0]
	for _, a := range e.Attributes {
		switch strings.ToLower(a.Name) {
		case "usercertificate;binary", "usercertificate":
			certs = append(certs, a.ByteValues...)
		case "usersmimecertificate":
			if len(a.ByteValues) > 0 {
				p7 = a.ByteValues[0]
			}
		}
	}
	return certs, p7
}

func hasDER(list [][]byte, der []byte) bool {
	return slices.ContainsFunc(list, func(c []byte) bool { return bytes.Equal(c, der) })
}

// TestDirectoryPublishSync: `directory publish` writes Signet's
// certificates into a real OpenLDAP slapd (leaving another CA's alone,
// replacing renewed ones, idempotent), and `directory sync` reads users,
// aliases, groups and certificates back into another organisation,
// disabling a user removed from the directory while keeping its
// certificates.
func TestDirectoryPublishSync(t *testing.T) {
	t.Parallel()
	openssl := needTool(t, "openssl")
	partner, err := testpki.NewCA("Partner CA")
	if err != nil {
		t.Fatal(err)
	}
	aliceForeign := partnerCert(t, partner, "alice@example.org")
	carolCert := partnerCert(t, partner, "carol@example.org")
	ldif := fmt.Sprintf(`dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice Smith
sn: Smith
givenName: Alice
displayName: Alice Smith
mail: alice@example.org
mail: a.smith@example.org
userCertificate;binary:: %s

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob Jones
sn: Jones
mail: bob@example.org

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol Wu
sn: Wu
displayName: Carol Wu
mail: carol@example.org
userCertificate;binary:: %s

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=team,ou=groups,dc=example,dc=org
objectClass: groupOfNames
objectClass: extensibleObject
cn: team
mail: team@example.org
member: uid=alice,ou=people,dc=example,dc=org
member: cn=leads,ou=groups,dc=example,dc=org

dn: cn=leads,ou=groups,dc=example,dc=org
objectClass: groupOfNames
objectClass: extensibleObject
cn: leads
mail: leads@example.org
member: uid=bob,ou=people,dc=example,dc=org
member: uid=carol,ou=people,dc=example,dc=org
`, b64(aliceForeign.Raw), b64(carolCert.Raw))
	srv := slapdtest.Start(t, slapdtest.Options{LDIF: []byte(ldif)})
	root := srv.Conn(t)

	// Publish from the organisation that issues the certificates.
	o := newOrg(t)
	o.write("svc-pass", []byte(srv.ServicePassword+"\n"))
	o.must("user", "add", "alice@example.org", "--name", "Alice Smith", "--issue")
	o.must("user", "add", "bob@example.org", "--issue", "--key", "rsa-2048")
	o.must("user", "add", "dave@example.org", "--issue") // not in the directory
	publish := []string{"directory", "publish", "--url", srv.URL, "--bind-dn", srv.ServiceDN, "--password-file", "svc-pass", "--base", srv.Suffix}
	out := string(o.must(publish...))
	if !strings.Contains(out, "2 updated, 0 unchanged, 1 not found, 0 failed") || !strings.Contains(out, "not found dave@example.org") {
		t.Fatalf("first publish:\n%s", out)
	}
	o.exportPEM("alice@example.org", "encrypt", "alice-enc")
	o.exportPEM("alice@example.org", "sign", "alice-sign")
	certs, p7 := entryCerts(t, root, srv.Suffix, "alice@example.org")
	if len(certs) != 3 || !hasDER(certs, aliceForeign.Raw) || !hasDER(certs, o.certDER("alice-enc.pem")) || !hasDER(certs, o.certDER("alice-sign.pem")) {
		t.Fatalf("alice's entry after publish: %d certificates, want the partner's and Signet's two", len(certs))
	}
	f := o.write("alice.p7b", p7)
	if out := mustRun(t, o.dir, nil, openssl, "pkcs7", "-inform", "DER", "-in", f, "-print_certs"); bytes.Count(out, []byte("BEGIN CERTIFICATE")) != 4 {
		t.Errorf("userSMIMECertificate written by publish: openssl shows\n%s", out)
	}
	// Idempotent.
	if out := string(o.must(publish...)); !strings.Contains(out, "0 updated, 2 unchanged") {
		t.Errorf("second publish changed entries:\n%s", out)
	}
	// Renewal: new certificates, the old ones revoked; publish replaces
	// Signet's old ones and keeps the partner's.
	for _, c := range o.show("alice@example.org").Certificates {
		o.must("ca", "revoke", "--serial", c.Serial, "--reason", "superseded")
	}
	o.must("ca", "issue", "--email", "alice@example.org")
	if out := string(o.must(publish...)); !strings.Contains(out, "1 updated, 1 unchanged") || !strings.Contains(out, "updated   alice@example.org") {
		t.Errorf("publish after renewal:\n%s", out)
	}
	o.exportPEM("alice@example.org", "encrypt", "alice-enc2")
	certs, _ = entryCerts(t, root, srv.Suffix, "alice@example.org")
	if len(certs) != 3 || !hasDER(certs, aliceForeign.Raw) || !hasDER(certs, o.certDER("alice-enc2.pem")) || hasDER(certs, o.certDER("alice-enc.pem")) {
		t.Fatalf("alice's entry after renewal: %d certificates; want the partner's and the 2 new ones only", len(certs))
	}

	// Sync into another organisation.
	o2 := newOrg(t)
	o2.write("svc-pass", []byte(srv.ServicePassword+"\n"))
	sync := []string{"directory", "sync", "--url", srv.URL, "--bind-dn", srv.ServiceDN, "--password-file", "svc-pass", "--base", srv.Suffix, "--preset", "openldap"}
	out = string(o2.must(sync...))
	if !strings.Contains(out, "3 mailboxes, 0 contacts, 2 groups; 5 added") {
		t.Fatalf("first sync:\n%s", out)
	}
	alice := o2.show("a.smith@example.org")
	if alice.Email != "alice@example.org" || alice.DisplayName != "Alice Smith" || !slices.Equal(alice.Aliases, []string{"a.smith@example.org"}) {
		t.Errorf("synced alice: %+v", alice)
	}
	if len(alice.Certificates) != 3 {
		t.Errorf("synced alice has %d certificates, want 3 (the partner's and Signet's two)", len(alice.Certificates))
	}
	team := o2.show("team@example.org")
	if team.Kind != "group" || !slices.Equal(team.Members, []string{"alice@example.org", "leads@example.org"}) {
		t.Errorf("synced team: %+v", team)
	}
	// Lookup through the nested group: bob has no certificate in the
	// directory (Signet's were published by o, whose CA o2 does not trust).
	o2.write("o-ca.pem", o.read("ca.pem"))
	o2.must("trust", "import", "o-ca.pem")
	o2.write("partner.pem", testpki.CertPEM(partner.Cert))
	o2.must("trust", "import", "partner.pem")
	r := o2.signet(nil, "lookup", "team@example.org", "--offline")
	if r.code != 0 || !bytes.Contains(r.stdout, []byte("3 member(s), 0 without")) {
		t.Errorf("lookup of the synced nested group: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Again: nothing changes.
	if out := string(o2.must(sync...)); !strings.Contains(out, "0 added, 0 updated, 0 disabled, 0 re-enabled, 5 unchanged; 0 certificates added") {
		t.Errorf("second sync changed something:\n%s", out)
	}
	// Carol leaves: disabled, certificates kept; the group loses her.
	if err := root.Del(ldap.NewDelRequest("uid=carol,ou=people,dc=example,dc=org", nil)); err != nil {
		t.Fatal(err)
	}
	mod := ldap.NewModifyRequest("cn=leads,ou=groups,dc=example,dc=org", nil)
	mod.Delete("member", []string{"uid=carol,ou=people,dc=example,dc=org"})
	if err := root.Modify(mod); err != nil {
		t.Fatal(err)
	}
	out = string(o2.must(sync...))
	if !strings.Contains(out, "disabled  carol@example.org") || !strings.Contains(out, "updated   leads@example.org") {
		t.Errorf("sync after removal:\n%s", out)
	}
	carol := o2.show("carol@example.org")
	if carol.Status != "disabled" || len(carol.Certificates) != 1 || carol.Certificates[0].Source != "synced" {
		t.Errorf("removed carol: %+v", carol)
	}
	if leads := o2.show("leads@example.org"); !slices.Equal(leads.Members, []string{"bob@example.org"}) {
		t.Errorf("leads after removal: %+v", leads)
	}
	// The lookup asks the upstream directory (UpstreamLDAP) for addresses
	// that are no recipient of the organisation: carol is gone from the
	// directory, erin is added there with a partner certificate.
	erin := partnerCert(t, partner, "erin@example.org")
	srv.AddLDIF(t, fmt.Sprintf("dn: uid=erin,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: erin\ncn: Erin\nsn: E\nmail: erin@example.org\nuserCertificate;binary:: %s\n", b64(erin.Raw)))
	o.must("config", "set", "UpstreamLDAP", srv.URL+"/"+srv.Suffix)
	o.must("config", "set", "UpstreamLDAPBindDN", srv.ServiceDN)
	o.env = append(o.env, "SIGNET_UPSTREAM_PASSWORD="+srv.ServicePassword)
	r = o.signet(nil, "lookup", "erin@example.org", "--offline")
	if r.code != 1 || !bytes.Contains(r.stdout, []byte("(upstream)")) || !bytes.Contains(r.stdout, []byte("status 4")) {
		t.Errorf("upstream lookup, partner CA untrusted: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	o.write("partner.pem", testpki.CertPEM(partner.Cert))
	o.must("trust", "import", "partner.pem")
	r = o.signet(nil, "lookup", "erin@example.org", "--offline")
	if r.code != 0 || !bytes.Contains(r.stdout, []byte("found in upstream")) {
		t.Errorf("upstream lookup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = o.signet(nil, "lookup", "nobody@example.org", "--offline")
	if r.code != 1 || !bytes.Contains(r.stdout, []byte("upstream: nobody@example.org, 0 certificates")) {
		t.Errorf("upstream lookup of an unknown address: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Bad credentials and an unreachable server: clear errors, exit 1.
	o2.write("bad-pass", []byte("wrong\n"))
	r = o2.signet(nil, "directory", "sync", "--url", srv.URL, "--bind-dn", srv.ServiceDN, "--password-file", "bad-pass", "--base", srv.Suffix)
	if r.code != 1 || !bytes.Contains(r.stderr, []byte("invalid credentials")) {
		t.Errorf("wrong password: exit %d\n%s", r.code, r.stderr)
	}
	r = o2.signet(nil, "directory", "sync", "--url", fmt.Sprintf("ldap://127.0.0.1:%d", freePort(t)), "--base", srv.Suffix)
	if r.code != 1 || !bytes.Contains(r.stderr, []byte("unreachable")) {
		t.Errorf("unreachable server: exit %d\n%s", r.code, r.stderr)
	}
}

// TestDirectoryCLI: recipients through the command line — bad input gives
// one clear line and changes nothing; contacts are found by lookup, their
// certificates validated against the trust collection; aliases follow
// UseSecondaryProxiesWhenFindingCertificates; lookup --json is complete.
func TestDirectoryCLI(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	o.must("user", "add", "alice@example.org", "--name", "Alice Smith", "--alias", "a.smith@example.org", "--issue")
	partner, err := testpki.NewCA("Partner CA")
	if err != nil {
		t.Fatal(err)
	}
	bob := partnerCert(t, partner, "bob@partner.test")
	o.write("bob.pem", testpki.CertPEM(bob))
	o.write("other.pem", testpki.CertPEM(partnerCert(t, partner, "eve@partner.test")))
	o.write("partner-ca.pem", testpki.CertPEM(partner.Cert))
	o.write("short.txt", []byte("short\n"))

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"user", "add", "eve@elsewhere.test"}, 1, "not in the organisation's domains"},
		{[]string{"user", "add", "alice@example.org"}, 1, "already exists"},
		{[]string{"user", "add", "a.smith@example.org"}, 1, "already an alias of alice@example.org"},
		{[]string{"user", "add", "x@example.org", "--alias", "a.smith@example.org"}, 1, "already an alias"},
		{[]string{"user", "add", "not-an-address"}, 2, "not an e-mail address"},
		{[]string{"user", "add", "y@example.org", "--issue", "--key", "dsa"}, 2, "key"},
		{[]string{"user", "show", "nobody@example.org"}, 1, "not in the directory"},
		{[]string{"user", "disable", "nobody@example.org"}, 1, "not in the directory"},
		{[]string{"group", "add", "g@example.org"}, 2, "--member"},
		{[]string{"group", "add", "alice@example.org", "--member", "a@example.org"}, 1, "not a group"},
		{[]string{"contact", "add", "bob@partner.test", "--cert", "other.pem"}, 1, "does not name bob@partner.test"},
		{[]string{"contact", "add", "alice@example.org", "--cert", "bob.pem"}, 1, "not a contact"},
		{[]string{"contact", "add", "bob@partner.test"}, 2, "--cert"},
		{[]string{"lookup", "not-an-address"}, 2, "malformed"},
		{[]string{"config", "set", "DLExpansionTimeout", "0"}, 2, "milliseconds"},
		{[]string{"config", "set", "SMIMEALookup", "resolver"}, 2, "HOST:PORT"},
		{[]string{"config", "set", "UpstreamLDAP", "http://x/dc=a"}, 2, "ldap://"},
		{[]string{"directory", "sync", "--url", "ldap://127.0.0.1:1"}, 2, "--base"},
		{[]string{"directory", "account", "add", "cn=admin", "--password-file", "short.txt"}, 2, "12 characters"},
		{[]string{"directory", "account", "add", "admin", "--password-file", "pass.txt"}, 2, "not a DN"},
	} {
		before := o.must("user", "list", "--all", "--json")
		r := o.signet(nil, tc.args...)
		if r.code != tc.code || !bytes.Contains(r.stderr, []byte(tc.msg)) || bytes.Count(r.stderr, []byte("\n")) != 1 {
			t.Errorf("signet %s: exit %d (want %d), stderr %q (want one line with %q)", strings.Join(tc.args, " "), r.code, tc.code, r.stderr, tc.msg)
		}
		if after := o.must("user", "list", "--all", "--json"); !bytes.Equal(before, after) {
			t.Errorf("signet %s changed the directory", strings.Join(tc.args, " "))
		}
	}

	// A contact's certificate is untrusted until its CA is in the trust
	// collection; lookup says so, then finds it.
	o.must("contact", "add", "Bob@Partner.test", "--cert", "bob.pem", "--name", "Bob Partner")
	r := o.signet(nil, "lookup", "bob@partner.test", "--offline")
	if r.code != 1 || !bytes.Contains(r.stdout, []byte("reject")) || !bytes.Contains(r.stdout, []byte("status 4")) {
		t.Errorf("lookup with the partner CA untrusted: exit %d\n%s", r.code, r.stdout)
	}
	o.must("trust", "import", "partner-ca.pem")
	r = o.signet(nil, "lookup", "bob@partner.test", "--offline", "--json")
	var lj struct {
		Address  string `json:"address"`
		Source   string `json:"source"`
		At       string `json:"at"`
		Found    []struct{ SHA256, PEM string }
		Searched []string `json:"searched"`
	}
	if err := json.Unmarshal(r.stdout, &lj); err != nil || r.code != 0 {
		t.Fatalf("lookup --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if lj.Source != "contact" || len(lj.Found) != 1 || !strings.Contains(lj.Found[0].PEM, "BEGIN CERTIFICATE") || lj.At == "" || len(lj.Searched) != 2 {
		t.Errorf("lookup of a contact: %+v", lj)
	}
	// --at outside the certificate's validity: nothing usable.
	r = o.signet(nil, "lookup", "bob@partner.test", "--offline", "--at", "2001-01-01T00:00:00Z")
	if r.code != 1 || !bytes.Contains(r.stdout, []byte("at 2001-01-01T00:00:00Z")) {
		t.Errorf("lookup --at 2001: exit %d\n%s", r.code, r.stdout)
	}

	// A preferred encryption certificate comes first, even when older.
	first := o.show("alice@example.org")
	var oldEnc string
	for _, c := range first.Certificates {
		if c.Usage == "encrypt" {
			oldEnc = c.SHA256
		}
	}
	o.must("ca", "issue", "--email", "alice@example.org", "--usage", "encrypt")
	pick := func() string {
		var lj struct{ Found []struct{ SHA256 string } }
		r := o.signet(nil, "lookup", "alice@example.org", "--offline", "--json")
		json.Unmarshal(r.stdout, &lj)
		if len(lj.Found) == 0 {
			t.Fatalf("lookup alice: %s%s", r.stdout, r.stderr)
		}
		return lj.Found[0].SHA256
	}
	if pick() == oldEnc {
		t.Fatal("without a preference the newest certificate must come first")
	}
	o.must("user", "prefer", "alice@example.org", "--usage", "encrypt", "--sha256", oldEnc)
	if pick() != oldEnc {
		t.Error("the preferred encryption certificate does not come first")
	}
	if r := o.signet(nil, "user", "prefer", "alice@example.org", "--usage", "encrypt", "--sha256", strings.Repeat("ab", 32)); r.code != 2 || !bytes.Contains(r.stderr, []byte("names alice@example.org")) {
		t.Errorf("preferring a certificate that is not alice's: exit %d %s", r.code, r.stderr)
	}

	// Aliases find the mailbox's certificates only while the setting is on.
	if r := o.signet(nil, "lookup", "a.smith@example.org", "--offline"); r.code != 0 || !bytes.Contains(r.stdout, []byte("found in alias")) {
		t.Errorf("lookup by alias: exit %d\n%s", r.code, r.stdout)
	}
	o.must("config", "set", "UseSecondaryProxiesWhenFindingCertificates", "false")
	if r := o.signet(nil, "lookup", "a.smith@example.org", "--offline"); r.code != 1 {
		t.Errorf("lookup by alias with the setting off: exit %d\n%s", r.code, r.stdout)
	}
	// A disabled mailbox is not found; its certificates stay.
	o.must("user", "disable", "alice@example.org")
	if r := o.signet(nil, "lookup", "alice@example.org", "--offline"); r.code != 1 || !bytes.Contains(r.stdout, []byte("disabled")) {
		t.Errorf("lookup of a disabled mailbox: exit %d\n%s", r.code, r.stdout)
	}
	if a := o.show("alice@example.org"); a.Status != "disabled" || len(a.Certificates) != 3 {
		t.Errorf("disabled alice: %+v", a)
	}
}

// TestDirectorySyncAD: `directory sync --preset ad` against slapd with an
// AD-like schema: proxyAddresses give aliases (smtp:, not X500:), a user
// with ACCOUNTDISABLE is disabled, a contact object becomes a contact with
// its certificate, a group nests a group without an address; re-enabling
// the account re-enables the mailbox.
func TestDirectorySyncAD(t *testing.T) {
	t.Parallel()
	partner, err := testpki.NewCA("Partner CA")
	if err != nil {
		t.Fatal(err)
	}
	ext := partnerCert(t, partner, "ext@partner.test")
	ldif := fmt.Sprintf(`dn: OU=Staff,DC=example,DC=org
objectClass: organizationalUnit
ou: Staff

dn: CN=Dave Jones,OU=Staff,DC=example,DC=org
objectClass: user
cn: Dave Jones
sn: Jones
displayName: Dave Jones
mail: dave@example.org
proxyAddresses: SMTP:dave@example.org
proxyAddresses: smtp:d.jones@example.org
proxyAddresses: X500:/o=Example/ou=Exchange/cn=Recipients/cn=dave
userAccountControl: 512

dn: CN=Erin Old,OU=Staff,DC=example,DC=org
objectClass: user
cn: Erin Old
sn: Old
mail: erin@example.org
userAccountControl: 514

dn: CN=Partner,OU=Staff,DC=example,DC=org
objectClass: contact
cn: Partner
sn: Partner
mail: ext@partner.test
userCertificate;binary:: %s

dn: CN=Inner,OU=Staff,DC=example,DC=org
objectClass: group
cn: Inner
member: CN=Partner,OU=Staff,DC=example,DC=org

dn: CN=All Staff,OU=Staff,DC=example,DC=org
objectClass: group
cn: All Staff
mail: all@example.org
member: CN=Dave Jones,OU=Staff,DC=example,DC=org
member: CN=Erin Old,OU=Staff,DC=example,DC=org
member: CN=Inner,OU=Staff,DC=example,DC=org
`, b64(ext.Raw))
	srv := slapdtest.Start(t, slapdtest.Options{ADSchema: true, LDIF: []byte(ldif)})
	o := newOrg(t)
	o.write("svc-pass", []byte(srv.ServicePassword+"\n"))
	sync := []string{"directory", "sync", "--url", srv.URL, "--bind-dn", srv.ServiceDN, "--password-file", "svc-pass", "--base", srv.Suffix, "--preset", "ad"}
	out := string(o.must(sync...))
	if !strings.Contains(out, "2 mailboxes, 1 contacts, 1 groups; 4 added") || !strings.Contains(out, "1 certificates added") {
		t.Fatalf("AD sync:\n%s", out)
	}
	if d := o.show("d.jones@example.org"); d.Email != "dave@example.org" || !slices.Equal(d.Aliases, []string{"d.jones@example.org"}) || d.Status != "active" {
		t.Errorf("dave: %+v", d)
	}
	if e := o.show("erin@example.org"); e.Status != "disabled" {
		t.Errorf("erin (ACCOUNTDISABLE) is %s", e.Status)
	}
	if c := o.show("ext@partner.test"); c.Kind != "contact" || len(c.Certificates) != 1 || c.Certificates[0].Source != "synced" {
		t.Errorf("contact: %+v", c)
	}
	if g := o.show("all@example.org"); !slices.Equal(g.Members, []string{"dave@example.org", "erin@example.org", "ext@partner.test"}) {
		t.Errorf("group members (the nested group without an address expanded): %+v", g.Members)
	}
	// A configurable mapping: no contacts with this contact filter.
	if out := string(o.must(append(sync, "--map", "contact-filter=(objectClass=nothingSuchHere)")...)); !strings.Contains(out, "2 mailboxes, 0 contacts") {
		t.Errorf("sync with --map contact-filter:\n%s", out)
	}
	if r := o.signet(nil, append(sync, "--map", "colour=blue")...); r.code != 2 || !bytes.Contains(r.stderr, []byte("KEY one of")) {
		t.Errorf("--map with an unknown key: exit %d %s", r.code, r.stderr)
	}
	// On a schedule: sync --every keeps running and picks up a change.
	cmd := exec.Command(signetBin, append([]string{"--data", o.data}, append(sync, "--every", "10s")...)...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), "SIGNET_PASSPHRASE=")
	var every syncBuffer
	cmd.Stdout, cmd.Stderr = &every, &every
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor := func(what string) {
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(every.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("sync --every: no %q in 30 s:\n%s", what, every.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(" synced from ")
	mod := ldap.NewModifyRequest("CN=Erin Old,OU=Staff,DC=example,DC=org", nil)
	mod.Replace("userAccountControl", []string{"512"})
	if err := srv.Conn(t).Modify(mod); err != nil {
		t.Fatal(err)
	}
	waitFor("enabled   erin@example.org")
	if e := o.show("erin@example.org"); e.Status != "active" {
		t.Errorf("erin after re-enabling is %s", e.Status)
	}
}

// TestDirectorySMIMEALookup: with SMIMEALookup set to a resolver, lookup
// finds an external recipient's certificate in an SMIMEA record — only when
// the resolver marked the answer authenticated — and validates it.
func TestDirectorySMIMEALookup(t *testing.T) {
	t.Parallel()
	partner, err := testpki.NewCA("Partner CA")
	if err != nil {
		t.Fatal(err)
	}
	zoe := partnerCert(t, partner, "zoe@partner.test")
	owner, err := directory.OwnerName("zoe@partner.test")
	if err != nil {
		t.Fatal(err)
	}
	var authenticated atomic.Bool
	mux := dns.NewServeMux()
	mux.HandleFunc("partner.test.", func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.AuthenticatedData = authenticated.Load()
		if q := req.Question[0]; q.Qtype == dns.TypeSMIMEA && strings.EqualFold(q.Name, owner) {
			m.Answer = append(m.Answer, &dns.SMIMEA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSMIMEA, Class: dns.ClassINET, Ttl: 300},
				Usage: 3, Selector: 0, MatchingType: 0, Certificate: hex.EncodeToString(zoe.Raw)})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })

	o := newOrg(t)
	o.must("config", "set", "SMIMEALookup", pc.LocalAddr().String())
	o.write("partner.pem", testpki.CertPEM(partner.Cert))
	o.must("trust", "import", "partner.pem")
	r := o.signet(nil, "lookup", "zoe@partner.test", "--offline")
	if r.code != 1 || !bytes.Contains(r.stdout, []byte("smimea:")) || bytes.Contains(r.stdout, []byte("found in")) {
		t.Errorf("SMIMEA answer without the AD bit was used: exit %d\n%s", r.code, r.stdout)
	}
	authenticated.Store(true)
	r = o.signet(nil, "lookup", "zoe@partner.test", "--offline")
	if r.code != 0 || !bytes.Contains(r.stdout, []byte("found in smimea")) {
		t.Errorf("authenticated SMIMEA answer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := o.signet(nil, "lookup", "nobody@partner.test", "--offline"); r.code != 1 {
		t.Errorf("NXDOMAIN: exit %d\n%s", r.code, r.stdout)
	}
}

// syncBuffer is a bytes.Buffer safe for a child process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
