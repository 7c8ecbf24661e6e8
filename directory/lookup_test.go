package directory

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/smime"
	"github.com/signet-smime/signet/store"
)

const actor = "test:directory"

// fixture is a real SQLite store and a CA to issue certificates with.
type fixture struct {
	t   testing.TB
	ctx context.Context
	st  *store.SQLite
	ca  *testpki.Identity
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := testpki.NewCA("Lookup test CA")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, st: st, ca: ca}
}

// user adds a recipient of kind with aliases.
func (f *fixture) user(email, kind string, aliases ...string) {
	f.t.Helper()
	if err := f.st.PutUser(f.ctx, store.User{Email: email, Kind: kind}, actor); err != nil {
		f.t.Fatal(err)
	}
	if len(aliases) > 0 {
		if err := f.st.SetAliases(f.ctx, email, aliases, actor); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) group(email string, members ...string) {
	f.t.Helper()
	f.user(email, store.KindGroup)
	if err := f.st.SetGroupMembers(f.ctx, email, members, actor); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) issue(email string, kt testpki.KeyType, o *testpki.Options) *x509.Certificate {
	f.t.Helper()
	id, err := f.ca.Issue(email, kt, o)
	if err != nil {
		f.t.Fatal(err)
	}
	return id.Cert
}

// put stores cert with usage and source, under the addresses it names.
func (f *fixture) put(cert *x509.Certificate, usage, source string) string {
	f.t.Helper()
	emails := smime.CertificateEmails(cert)
	return f.putAs(cert, emails[0], emails, usage, source)
}

// putAs stores cert under the given addresses, whatever it names.
func (f *fixture) putAs(cert *x509.Certificate, email string, emails []string, usage, source string) string {
	f.t.Helper()
	c := store.Certificate{
		Serial: cert.SerialNumber.Text(16), Issuer: cert.Issuer.String(), Subject: cert.Subject.String(),
		Email: email, Emails: emails, Usage: usage, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter,
		DER: cert.Raw, ThirdParty: true, Source: source,
	}
	if err := f.st.PutCertificate(f.ctx, c, actor); err != nil {
		f.t.Fatal(err)
	}
	return fingerprint(cert.Raw)
}

// spy is an Upstream hook that records its calls.
type spy struct {
	mu    sync.Mutex
	calls []string
	certs map[string][]*x509.Certificate
	err   error
}

func (s *spy) hook(_ context.Context, addr string) ([]*x509.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, addr)
	if s.err != nil {
		return nil, s.err
	}
	return s.certs[addr], nil
}

func (s *spy) called() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func find(t *testing.T, l *Lookup, addr string) *Result {
	t.Helper()
	r, err := l.Find(context.Background(), addr)
	if err != nil {
		t.Fatalf("Find(%s): %v", addr, err)
	}
	return r
}

// searched reports whether a Searched line starts with prefix and
// contains every one of parts.
func searched(r *Result, prefix string, parts ...string) bool {
	for _, s := range r.Searched {
		if strings.HasPrefix(s, prefix) && !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(s, p) }) {
			return true
		}
	}
	return false
}

func TestFindMailboxOrderAndPreferred(t *testing.T) {
	f := newFixture(t)
	f.user("alice@example.org", store.KindMailbox)
	now := time.Now()
	old := f.issue("alice@example.org", testpki.P256, &testpki.Options{NotBefore: now.Add(-30 * 24 * time.Hour)})
	mid := f.issue("alice@example.org", testpki.RSA2048, &testpki.Options{NotBefore: now.Add(-10 * 24 * time.Hour)})
	newest := f.issue("alice@example.org", testpki.X25519, &testpki.Options{NotBefore: now.Add(-24 * time.Hour)})
	fpOld := f.put(old, store.UsageEncrypt, store.SourceIssued)
	f.put(mid, store.UsageBoth, store.SourceImported)
	f.put(newest, store.UsageEncrypt, store.SourceIssued)
	up := &spy{}
	l := &Lookup{Store: f.st, Upstream: up.hook}

	r := find(t, l, "Alice@Example.ORG")
	if r.Address != "Alice@example.org" {
		t.Errorf("Address = %q", r.Address)
	}
	if got := r.Usable(); len(got) != 3 || !got[0].Equal(newest) || !got[1].Equal(mid) || !got[2].Equal(old) {
		t.Fatalf("usable = %d certificates, not newest first", len(got))
	}
	for _, c := range r.Found {
		if c.Source != SourceMailbox || c.Owner != "alice@example.org" || !c.Usable || c.Reason != "" || c.Preferred {
			t.Errorf("candidate %+v", c)
		}
	}
	if r.Source() != SourceMailbox || r.Recipient != "alice@example.org" || r.Kind != store.KindMailbox {
		t.Errorf("source %q recipient %q kind %q", r.Source(), r.Recipient, r.Kind)
	}
	if len(r.Searched) != 1 || r.Searched[0] != "mailbox: alice@example.org, 3 certificates" {
		t.Errorf("Searched = %q", r.Searched)
	}
	if len(up.called()) != 0 {
		t.Error("the mailbox had certificates, yet upstream was asked")
	}

	// The preferred certificate comes first, whatever its age.
	if err := f.st.SetPreferred(f.ctx, "alice@example.org", store.UsageEncrypt, fpOld, actor); err != nil {
		t.Fatal(err)
	}
	r = find(t, l, "alice@example.org")
	if got := r.Found; len(got) != 3 || !got[0].Cert.Equal(old) || !got[0].Preferred || got[1].Preferred || !got[1].Cert.Equal(newest) {
		t.Fatalf("preferred not first: %+v", got)
	}
}

func TestFindAlias(t *testing.T) {
	f := newFixture(t)
	f.user("alice@example.org", store.KindMailbox, "al@example.org", "a.liddell@example.org")
	cert := f.issue("alice@example.org", testpki.P256, nil)
	f.put(cert, store.UsageEncrypt, store.SourceIssued)
	// A certificate naming the alias itself.
	aliasCert := f.issue("al@example.org", testpki.P256, &testpki.Options{NotBefore: time.Now().Add(-2 * time.Hour)})
	f.put(aliasCert, store.UsageEncrypt, store.SourceImported)

	up := &spy{}
	off := &Lookup{Store: f.st, Upstream: up.hook}
	r := find(t, off, "al@example.org")
	if len(r.Found) != 0 || len(r.Rejected) != 0 {
		t.Fatalf("UseAliases off: found %d, rejected %d", len(r.Found), len(r.Rejected))
	}
	if !r.Alias || r.Recipient != "alice@example.org" {
		t.Errorf("Alias %v Recipient %q", r.Alias, r.Recipient)
	}
	if !searched(r, "mailbox:", "alias of alice@example.org", "UseAliases is off") {
		t.Errorf("Searched = %q", r.Searched)
	}
	if !searched(r, "harvested:", "not used") {
		t.Errorf("harvested certificates considered for a recipient's alias: %q", r.Searched)
	}
	if got := up.called(); len(got) != 1 || got[0] != "al@example.org" {
		t.Errorf("upstream calls %q", got)
	}

	on := &Lookup{Store: f.st, UseAliases: true, Upstream: up.hook}
	r = find(t, on, "a.liddell@example.org")
	if len(r.Found) != 1 || !r.Found[0].Cert.Equal(cert) || r.Found[0].Source != SourceAlias || r.Found[0].Owner != "alice@example.org" {
		t.Fatalf("UseAliases on: %+v; rejected %+v", r.Found, r.Rejected)
	}
	// By the alias that a certificate names: both the recipient's and the
	// alias's certificates.
	r = find(t, on, "al@example.org")
	if len(r.Found) != 2 || !r.Found[0].Cert.Equal(cert) || !r.Found[1].Cert.Equal(aliasCert) {
		t.Fatalf("by alias: %+v", r.Found)
	}
	if len(up.called()) != 1 {
		t.Error("upstream asked although the alias found certificates")
	}
}

func TestFindDisabledMailbox(t *testing.T) {
	f := newFixture(t)
	f.user("gone@example.org", store.KindMailbox)
	f.put(f.issue("gone@example.org", testpki.P256, nil), store.UsageEncrypt, store.SourceIssued)
	if err := f.st.DisableUser(f.ctx, "gone@example.org", actor); err != nil {
		t.Fatal(err)
	}
	r := find(t, &Lookup{Store: f.st}, "gone@example.org")
	if len(r.Found) != 0 || len(r.Rejected) != 0 || !r.Disabled {
		t.Fatalf("disabled mailbox: found %d rejected %d disabled %v", len(r.Found), len(r.Rejected), r.Disabled)
	}
	if !searched(r, "mailbox:", "gone@example.org is disabled") {
		t.Errorf("Searched = %q", r.Searched)
	}
}

// noKU issues an RSA certificate without a key usage extension.
func noKU(t *testing.T, ca *testpki.Identity, email string) *x509.Certificate {
	t.Helper()
	key, err := testpki.NewKey(testpki.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: email},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		EmailAddresses: []string{email}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.(crypto.Signer).Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFindRejected(t *testing.T) {
	f := newFixture(t)
	const bob = "bob@example.org"
	f.user(bob, store.KindMailbox)
	now := time.Now()
	good := f.issue(bob, testpki.P256, nil)
	inSubject := f.issue("Bob@EXAMPLE.org", testpki.P256, &testpki.Options{InSubject: true})
	bare := noKU(t, f.ca, bob)
	revoked := f.issue(bob, testpki.P256, nil)
	expired := f.issue(bob, testpki.P256, &testpki.Options{NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(-1, 0, 0)})
	future := f.issue(bob, testpki.P256, &testpki.Options{NotBefore: now.AddDate(0, 1, 0), NotAfter: now.AddDate(1, 0, 0)})
	signOnly := f.issue(bob, testpki.P256, nil)
	serverAuth := f.issue(bob, testpki.P256, &testpki.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	rsaSignKU := f.issue(bob, testpki.RSA2048, &testpki.Options{KeyUsage: x509.KeyUsageDigitalSignature})
	ecSignKU := f.issue(bob, testpki.P256, &testpki.Options{KeyUsage: x509.KeyUsageDigitalSignature})
	ed := f.issue(bob, testpki.Ed25519, nil)
	wrong := f.issue("mallory@example.org", testpki.P256, nil)
	distrusted := f.issue(bob, testpki.P256, nil)

	f.put(good, store.UsageEncrypt, store.SourceIssued)
	f.putAs(inSubject, bob, []string{bob}, store.UsageEncrypt, store.SourceImported)
	f.put(bare, store.UsageEncrypt, store.SourceImported)
	fpRevoked := f.put(revoked, store.UsageEncrypt, store.SourceIssued)
	if err := f.st.RevokeCertificate(f.ctx, fpRevoked, 1, time.Time{}, actor); err != nil {
		t.Fatal(err)
	}
	f.put(expired, store.UsageEncrypt, store.SourceIssued)
	f.put(future, store.UsageEncrypt, store.SourceIssued)
	f.put(signOnly, store.UsageSign, store.SourceIssued)
	f.put(serverAuth, store.UsageEncrypt, store.SourceImported)
	f.put(rsaSignKU, store.UsageEncrypt, store.SourceImported)
	f.put(ecSignKU, store.UsageEncrypt, store.SourceImported)
	f.put(ed, store.UsageEncrypt, store.SourceImported)
	f.putAs(wrong, bob, []string{bob}, store.UsageEncrypt, store.SourceImported)
	fpDistrusted := f.put(distrusted, store.UsageEncrypt, store.SourceImported)
	// An unreadable record.
	if err := f.st.PutCertificate(f.ctx, store.Certificate{Serial: "1", Email: bob, Usage: store.UsageEncrypt,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), DER: []byte("not a certificate")}, actor); err != nil {
		t.Fatal(err)
	}

	var validated []string
	l := &Lookup{Store: f.st, Validate: func(_ context.Context, c *x509.Certificate, at time.Time) (bool, string) {
		if at.IsZero() {
			t.Error("Validate got no time")
		}
		fp := fingerprint(c.Raw)
		validated = append(validated, fp)
		if fp == fpDistrusted {
			return false, "no path to a trust anchor"
		}
		return true, ""
	}}
	r := find(t, l, bob)
	want := map[*x509.Certificate]string{
		revoked: "revoked", expired: "expired", future: "not valid before", signOnly: "signing-only",
		serverAuth: "emailProtection", rsaSignKU: "keyEncipherment", ecSignKU: "keyAgreement", ed: "Ed25519",
		wrong: "does not name bob@example.org", distrusted: "validation: no path to a trust anchor",
	}
	if len(r.Found) != 3 {
		t.Errorf("found %d, want 3 (good, in subject, no key usage)", len(r.Found))
	}
	for _, c := range r.Found {
		if !c.Cert.Equal(good) && !c.Cert.Equal(inSubject) && !c.Cert.Equal(bare) {
			t.Errorf("found %s (%s)", c.Cert.Subject, c.Fingerprint)
		}
	}
	if len(r.Rejected) != len(want)+1 {
		t.Errorf("rejected %d, want %d", len(r.Rejected), len(want)+1)
	}
	unreadable := 0
	for _, c := range r.Rejected {
		if c.Usable || c.Reason == "" || c.Source != SourceMailbox {
			t.Errorf("rejected candidate %+v", c)
		}
		if c.Cert == nil {
			unreadable++
			if !strings.Contains(c.Reason, "unreadable") {
				t.Errorf("reason for an unreadable record: %q", c.Reason)
			}
			continue
		}
		found := false
		for cert, reason := range want {
			if c.Cert.Equal(cert) {
				found = true
				if !strings.Contains(c.Reason, reason) {
					t.Errorf("reason %q, want it to mention %q", c.Reason, reason)
				}
			}
		}
		if !found {
			t.Errorf("unexpected rejection: %q", c.Reason)
		}
	}
	if unreadable != 1 {
		t.Errorf("%d unreadable candidates, want 1", unreadable)
	}
	// Validate is only asked about candidates that passed the other checks.
	if len(validated) != 4 {
		t.Errorf("Validate called %d times, want 4", len(validated))
	}
	if !searched(r, "mailbox: bob@example.org, 3 certificates", "(11 rejected)") {
		t.Errorf("Searched = %q", r.Searched)
	}
}

func TestFindContact(t *testing.T) {
	f := newFixture(t)
	f.user("carol@partner.example", store.KindContact)
	f.user("dan@partner.example", store.KindContact)
	c1 := f.issue("carol@partner.example", testpki.P256, nil)
	f.put(c1, store.UsageEncrypt, store.SourceContact)
	d1 := f.issue("dan@partner.example", testpki.RSA2048, nil)
	f.put(d1, store.UsageBoth, store.SourceSynced)
	up := &spy{}
	l := &Lookup{Store: f.st, Upstream: up.hook}

	r := find(t, l, "carol@partner.example")
	if len(r.Found) != 1 || r.Found[0].Source != SourceContact || r.Found[0].Owner != "carol@partner.example" {
		t.Fatalf("contact: %+v", r.Found)
	}
	if len(r.Searched) != 2 || !searched(r, "mailbox:", "is a contact, not a mailbox") || !searched(r, "contact: carol@partner.example, 1 certificate") {
		t.Errorf("Searched = %q", r.Searched)
	}
	r = find(t, l, "dan@partner.example")
	if len(r.Found) != 1 || !r.Found[0].Cert.Equal(d1) || r.Found[0].Source != SourceContact {
		t.Fatalf("synced contact certificate: %+v", r.Found)
	}
	if len(up.called()) != 0 {
		t.Error("upstream asked although the contact had certificates")
	}
}

func TestFindHarvested(t *testing.T) {
	f := newFixture(t)
	f.user("erin@example.org", store.KindMailbox)
	// Harvested certificates for a stranger and for a mailbox.
	h := f.issue("frank@elsewhere.example", testpki.P256, nil)
	f.put(h, store.UsageEncrypt, store.SourceHarvested)
	spoof := f.issue("frank@elsewhere.example", testpki.P256, nil)
	f.putAs(spoof, "frank@elsewhere.example", []string{"frank@elsewhere.example"}, store.UsageEncrypt, store.SourceHarvested)
	wrongName := f.issue("other@elsewhere.example", testpki.P256, nil)
	f.putAs(wrongName, "frank@elsewhere.example", []string{"frank@elsewhere.example"}, store.UsageEncrypt, store.SourceHarvested)
	f.put(f.issue("erin@example.org", testpki.P256, nil), store.UsageEncrypt, store.SourceHarvested)
	// A certificate imported for the stranger (not harvested) is not used.
	f.put(f.issue("frank@elsewhere.example", testpki.P256, nil), store.UsageEncrypt, store.SourceImported)

	up := &spy{}
	l := &Lookup{Store: f.st, Upstream: up.hook}
	r := find(t, l, "frank@elsewhere.example")
	if len(r.Found) != 2 || r.Source() != SourceHarvested || r.Recipient != "" {
		t.Fatalf("harvested: %+v", r.Found)
	}
	if len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0].Reason, "does not name frank@elsewhere.example") {
		t.Errorf("rejected %+v", r.Rejected)
	}
	if !searched(r, "mailbox: no mailbox") || !searched(r, "contact: no contact") || !searched(r, "harvested: frank@elsewhere.example, 2 certificates (1 rejected)") {
		t.Errorf("Searched = %q", r.Searched)
	}
	if len(up.called()) != 0 {
		t.Error("upstream asked although harvested certificates were found")
	}

	// Harvested certificates are not used for a recipient. The mailbox
	// has none of its own, so the search goes on upstream.
	r = find(t, l, "erin@example.org")
	if len(r.Found) != 0 || !searched(r, "harvested:", "not used") {
		t.Fatalf("harvested used for a mailbox: %+v %q", r.Found, r.Searched)
	}
	if len(r.Rejected) != 1 || r.Rejected[0].Source != SourceMailbox || !strings.Contains(r.Rejected[0].Reason, "harvested") {
		t.Errorf("rejected %+v", r.Rejected)
	}
	if got := up.called(); len(got) != 1 || got[0] != "erin@example.org" {
		t.Errorf("upstream calls %q", got)
	}
}

func TestFindUpstreamAndSMIMEA(t *testing.T) {
	f := newFixture(t)
	const ext = "gina@remote.example"
	upCert := f.issue(ext, testpki.P256, nil)
	upWrong := f.issue("someone@remote.example", testpki.P256, nil)
	dnsCert := f.issue(ext, testpki.P256, nil)

	srv := startDNS(t)
	srv.set(func(s *dnsServer) {
		s.ad = true
		s.answer = []dns.RR{smimeaRR(t, ext, 3, 0, 0, dnsCert.Raw), smimeaRR(t, ext, 3, 1, 1, make([]byte, 32))}
	})
	up := &spy{certs: map[string][]*x509.Certificate{ext: {upWrong, upCert}}}
	l := &Lookup{Store: f.st, Upstream: up.hook, SMIMEA: &SMIMEAResolver{Server: srv.Addr}}

	// Upstream answers: DNS is not asked.
	r := find(t, l, ext)
	if len(r.Found) != 1 || !r.Found[0].Cert.Equal(upCert) || r.Found[0].Source != SourceUpstream {
		t.Fatalf("upstream: %+v", r.Found)
	}
	if len(r.Rejected) != 1 || !r.Rejected[0].Cert.Equal(upWrong) || !strings.Contains(r.Rejected[0].Reason, "does not name") {
		t.Errorf("rejected %+v", r.Rejected)
	}
	if udp, tcp := srv.counts(); udp+tcp != 0 {
		t.Error("DNS asked although upstream had a certificate")
	}
	if len(r.Searched) != 4 || !searched(r, "upstream: gina@remote.example, 1 certificate (1 rejected)") {
		t.Errorf("Searched = %q", r.Searched)
	}

	// Upstream fails: recorded, then SMIMEA.
	up.err = errors.New("ldap: connection refused")
	r = find(t, l, ext)
	if len(r.Found) != 1 || !r.Found[0].Cert.Equal(dnsCert) || r.Found[0].Source != SourceSMIMEA {
		t.Fatalf("smimea: %+v %q", r.Found, r.Searched)
	}
	if !searched(r, "upstream: error: ldap: connection refused") || !searched(r, "smimea: gina@remote.example, 1 certificate", "1 record skipped") {
		t.Errorf("Searched = %q", r.Searched)
	}

	// An unauthenticated answer is ignored.
	srv.set(func(s *dnsServer) { s.ad = false })
	r = find(t, l, ext)
	if len(r.Found) != 0 || !searched(r, "smimea: unauthenticated answer ignored") {
		t.Errorf("unauthenticated: %+v %q", r.Found, r.Searched)
	}

	// A DNS failure is recorded; the lookup still succeeds.
	srv.set(func(s *dnsServer) { s.ad, s.rcode = true, dns.RcodeServerFailure })
	r = find(t, l, ext)
	if len(r.Found) != 0 || !searched(r, "smimea: error:", "SERVFAIL") {
		t.Errorf("SERVFAIL: %q", r.Searched)
	}
	srv.set(func(s *dnsServer) { s.rcode = dns.RcodeNameError })
	r = find(t, l, ext)
	if !searched(r, "smimea: no record (NXDOMAIN)") {
		t.Errorf("NXDOMAIN: %q", r.Searched)
	}

	// Nothing configured.
	r = find(t, &Lookup{Store: f.st}, ext)
	if len(r.Found) != 0 || !searched(r, "upstream: not configured") || !searched(r, "smimea: not enabled") || len(r.Searched) != 5 {
		t.Errorf("Searched = %q", r.Searched)
	}
}

func TestFindSMIMEAValidation(t *testing.T) {
	f := newFixture(t)
	const ext = "hal@remote.example"
	dane := f.issue(ext, testpki.P256, nil)
	pkixEE := f.issue(ext, testpki.P256, &testpki.Options{NotBefore: time.Now().Add(-2 * time.Hour)})
	srv := startDNS(t)
	srv.set(func(s *dnsServer) {
		s.ad = true
		s.answer = []dns.RR{smimeaRR(t, ext, 3, 0, 0, dane.Raw), smimeaRR(t, ext, 1, 0, 0, pkixEE.Raw)}
	})
	reject := func(context.Context, *x509.Certificate, time.Time) (bool, string) { return false, "untrusted" }
	l := &Lookup{Store: f.st, SMIMEA: &SMIMEAResolver{Server: srv.Addr}, Validate: reject}
	r := find(t, l, ext)
	if len(r.Found) != 0 || len(r.Rejected) != 2 {
		t.Fatalf("Validate not applied to SMIMEA: found %d rejected %d", len(r.Found), len(r.Rejected))
	}
	l.TrustDANEEE = true
	r = find(t, l, ext)
	if len(r.Found) != 1 || !r.Found[0].Cert.Equal(dane) || len(r.Rejected) != 1 || !r.Rejected[0].Cert.Equal(pkixEE) {
		t.Fatalf("TrustDANEEE: found %+v rejected %+v", r.Found, r.Rejected)
	}
}

func TestFindGroupAddress(t *testing.T) {
	f := newFixture(t)
	f.group("team@example.org", "alice@example.org")
	up := &spy{}
	r := find(t, &Lookup{Store: f.st, Upstream: up.hook}, "team@example.org")
	if !r.Group || len(r.Found) != 0 || len(up.called()) != 0 || !searched(r, "group:") {
		t.Fatalf("group: %+v", r)
	}
}

func TestFindErrors(t *testing.T) {
	f := newFixture(t)
	l := &Lookup{Store: f.st}
	for _, bad := range []string{"", "  ", "alice", "@example.org", "alice@", "a@b@example.org", "al ice@example.org",
		"<alice@example.org>", "alice@example..org", "alice@.example.org", "alice@example.org.", "alice\x00@example.org"} {
		if _, err := l.Find(context.Background(), bad); !errors.Is(err, ErrMalformedAddress) {
			t.Errorf("Find(%q) = %v, want ErrMalformedAddress", bad, err)
		}
		if _, err := l.Expand(context.Background(), bad); !errors.Is(err, ErrMalformedAddress) {
			t.Errorf("Expand(%q) = %v, want ErrMalformedAddress", bad, err)
		}
	}
	// A store failure is an error, not "nothing found".
	f.st.Close()
	if r, err := l.Find(context.Background(), "alice@example.org"); err == nil || errors.Is(err, ErrMalformedAddress) {
		t.Errorf("closed store: %v, %v", r, err)
	}
	if _, err := (&Lookup{}).Find(context.Background(), "alice@example.org"); err == nil {
		t.Error("no store accepted")
	}
}

func TestFindCancelled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lookup{Store: f.st, Upstream: func(context.Context, string) ([]*x509.Certificate, error) {
		cancel()
		return nil, context.Canceled
	}}
	r, err := l.Find(ctx, "nobody@remote.example")
	if !errors.Is(err, context.Canceled) || r == nil || !searched(r, "upstream: error:") {
		t.Fatalf("Find = %+v, %v", r, err)
	}
}

func TestCheckEncryptionCertNow(t *testing.T) {
	// Now is the time certificates are checked at.
	f := newFixture(t)
	f.user("ivan@example.org", store.KindMailbox)
	c := f.issue("ivan@example.org", testpki.P256, nil)
	f.put(c, store.UsageEncrypt, store.SourceIssued)
	later := c.NotAfter.Add(time.Hour)
	r := find(t, &Lookup{Store: f.st, Now: func() time.Time { return later }}, "ivan@example.org")
	if !r.At.Equal(later) || len(r.Found) != 0 || len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0].Reason, "expired") {
		t.Fatalf("at %v: found %d, rejected %+v", r.At, len(r.Found), r.Rejected)
	}
}

// BenchmarkFind looks up one mailbox among 10,000, each with a certificate.
func BenchmarkFind(b *testing.B) {
	f := newFixture(b)
	const n = 10000
	// One key for all: only the certificates need to differ.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		email := fmt.Sprintf("user%05d@example.org", i)
		if err := f.st.PutUser(f.ctx, store.User{Email: email}, actor); err != nil {
			b.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: email},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
			EmailAddresses: []string{email}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca.Cert, &key.PublicKey, f.ca.Key)
		if err != nil {
			b.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		f.put(cert, store.UsageBoth, store.SourceIssued)
	}
	l := &Lookup{Store: f.st}
	ctx := context.Background()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		addr := fmt.Sprintf("user%05d@example.org", (i*7919)%n)
		i++
		r, err := l.Find(ctx, addr)
		if err != nil || len(r.Found) != 1 {
			b.Fatalf("Find(%s) = %v, %v", addr, r, err)
		}
	}
}
