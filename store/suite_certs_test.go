package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	issuerA = strings.Repeat("a1", 32)
	issuerB = strings.Repeat("b2", 32)
	t0      = time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC)
)

// testCert returns a certificate with a DER, serial and fingerprint derived
// from name (the DER is not a real certificate: the store only hashes it).
func testCert(name, email string, usage, issuer string) Certificate {
	der := []byte("DER of " + name)
	var emails []string
	if email != "" {
		emails = []string{email}
	}
	return Certificate{Serial: hex.EncodeToString([]byte(name)), Issuer: "CN=Test Issuing CA",
		Subject: "CN=" + name, Email: email, Emails: emails, Usage: usage, Profile: "strict",
		NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0), DER: der, IssuerFingerprint: issuer}
}

func fingerprint(c Certificate) string {
	sum := sha256.Sum256(c.DER)
	return hex.EncodeToString(sum[:])
}

func mustPut(t *testing.T, s Store, c Certificate) string {
	t.Helper()
	if err := s.PutCertificate(t.Context(), c, actor); err != nil {
		t.Fatalf("PutCertificate(%s): %v", c.Subject, err)
	}
	return fingerprint(c)
}

func testCertificateRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	if err := s.PutKey(ctx, softKey("k-alice"), actor); err != nil {
		t.Fatal(err)
	}
	c := testCert("alice", "Alice@Example.ORG", UsageBoth, issuerA)
	c.Emails = []string{"Alice@Example.ORG", "alice@example.org", "a.smith@example.org"}
	c.Serial = "00:0A:BC"
	c.KeyID = "k-alice"
	c.ThirdParty = true
	c.Profile = "multipurpose"
	c.NotBefore = time.Date(2026, 2, 1, 10, 0, 0, 999, time.FixedZone("CET", 3600))
	c.IssuerFingerprint = strings.ToUpper(issuerA)
	before := lastAuditID(t, s)
	if err := s.PutCertificate(ctx, c, actor); err != nil {
		t.Fatal(err)
	}
	fp := fingerprint(c)
	e := expectOneAudit(t, s, before, ActionCertificatePut, fp)
	if !strings.Contains(e.Detail, "serial=abc") || !strings.Contains(e.Detail, "alice@example.org") {
		t.Errorf("audit detail %q lacks serial or address", e.Detail)
	}
	got, err := s.GetCertificate(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.Fingerprint, want.Serial, want.Email = fp, "abc", "alice@example.org"
	want.Emails = []string{"alice@example.org", "a.smith@example.org"}
	want.IssuerFingerprint, want.Status = issuerA, StatusValid
	if got.Fingerprint != want.Fingerprint || got.Serial != want.Serial || got.Issuer != want.Issuer ||
		got.Subject != want.Subject || got.Email != want.Email || !slices.Equal(got.Emails, want.Emails) ||
		got.Usage != want.Usage || got.Profile != want.Profile || got.KeyID != want.KeyID ||
		got.ThirdParty != want.ThirdParty || got.Status != want.Status || !got.RevokedAt.IsZero() ||
		got.RevocationReason != 0 || got.IssuerFingerprint != want.IssuerFingerprint ||
		string(got.DER) != string(want.DER) {
		t.Fatalf("GetCertificate =\n%+v\nwant\n%+v", got, want)
	}
	if !got.NotBefore.Equal(c.NotBefore.Truncate(time.Second)) || !got.NotAfter.Equal(c.NotAfter) ||
		got.NotBefore.Location() != time.UTC || time.Since(got.CreatedAt) > time.Minute {
		t.Fatalf("times: %v %v %v", got.NotBefore, got.NotAfter, got.CreatedAt)
	}
	// Fingerprints are accepted upper-case and with colons.
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, strings.ToUpper(fp[i:i+2]))
	}
	if got, err := s.GetCertificate(ctx, strings.Join(colons, ":")); err != nil || got.Fingerprint != fp {
		t.Fatalf("GetCertificate(AB:CD form) = %v, %v", got, err)
	}
	_, err = s.GetCertificate(ctx, strings.Repeat("0", 64))
	wantErr(t, err, ErrNotFound)
	_, err = s.GetCertificate(ctx, "not-a-fingerprint")
	wantErr(t, err, ErrInvalid)
}

func testCertificateValidation(t *testing.T, s Store) {
	ctx := t.Context()
	bad := map[string]func(c *Certificate){
		"no DER":               func(c *Certificate) { c.DER = nil },
		"wrong fingerprint":    func(c *Certificate) { c.Fingerprint = strings.Repeat("0", 64) },
		"bad serial":           func(c *Certificate) { c.Serial = "xyz" },
		"empty serial":         func(c *Certificate) { c.Serial = "" },
		"bad usage":            func(c *Certificate) { c.Usage = "pair" },
		"bad status":           func(c *Certificate) { c.Status = "expired" },
		"bad issuer":           func(c *Certificate) { c.IssuerFingerprint = "abcd" },
		"no validity":          func(c *Certificate) { c.NotAfter = time.Time{} },
		"inverted validity":    func(c *Certificate) { c.NotAfter = c.NotBefore.Add(-time.Hour) },
		"revoked without time": func(c *Certificate) { c.Status = StatusRevoked; c.RevocationReason = 1 },
	}
	for name, mutate := range bad {
		c := testCert("v", "v@example.org", UsageSign, issuerA)
		mutate(&c)
		if err := s.PutCertificate(ctx, c, actor); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutCertificate error = %v, want ErrInvalid", name, err)
		}
	}
	wantErr(t, s.PutCertificate(ctx, testCert("v", "v@example.org", UsageSign, issuerA), ""), ErrInvalid)
	c := testCert("keyless", "k@example.org", UsageSign, issuerA)
	c.KeyID = "no-such-key"
	wantErr(t, s.PutCertificate(ctx, c, actor), ErrNotFound)
	if list, err := s.ListCertificates(ctx, CertFilter{IncludeRevoked: true}); err != nil || len(list) != 0 {
		t.Fatalf("rejected certificates were stored: %+v, %v", list, err)
	}
	if id := lastAuditID(t, s); id != 0 {
		t.Fatalf("rejected PutCertificate calls wrote audit entries (last id %d)", id)
	}
	// A correct, explicitly given fingerprint is accepted.
	ok := testCert("explicit", "e@example.org", UsageSign, issuerA)
	ok.Fingerprint = strings.ToUpper(fingerprint(ok))
	if err := s.PutCertificate(ctx, ok, actor); err != nil {
		t.Fatalf("PutCertificate with matching fingerprint: %v", err)
	}
	// A third-party certificate already known to be revoked keeps that state.
	rv := testCert("third", "x@other.example", UsageSign, "")
	rv.ThirdParty, rv.Status, rv.RevokedAt, rv.RevocationReason = true, StatusRevoked, t0.Add(time.Hour), 1
	fp := mustPut(t, s, rv)
	if got, err := s.GetCertificate(ctx, fp); err != nil || got.Status != StatusRevoked ||
		!got.RevokedAt.Equal(rv.RevokedAt) || got.RevocationReason != 1 {
		t.Fatalf("revoked third-party certificate = %+v, %v", got, err)
	}
}

func testCertificateDuplicates(t *testing.T, s Store) {
	ctx := t.Context()
	c := testCert("bob", "bob@example.org", UsageSign, issuerA)
	fp := mustPut(t, s, c)
	before := lastAuditID(t, s)
	wantErr(t, s.PutCertificate(ctx, c, actor), ErrExists)
	other := testCert("bob2", "mallory@example.org", UsageSign, issuerA)
	other.Serial = c.Serial
	wantErr(t, s.PutCertificate(ctx, other, actor), ErrExists)
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("duplicates wrote audit entries: %+v", es)
	}
	if list, _ := s.ListCertificates(ctx, CertFilter{Email: "mallory@example.org"}); len(list) != 0 {
		t.Fatalf("duplicate serial was stored: %+v", list)
	}
	// The same serial from another issuer, or from an unknown issuer, is fine.
	other.IssuerFingerprint = issuerB
	mustPut(t, s, other)
	for _, name := range []string{"tp1", "tp2"} {
		tp := testCert(name, name+"@other.example", UsageSign, "")
		tp.Serial, tp.ThirdParty = "01", true
		mustPut(t, s, tp)
	}
	if got, err := s.GetCertificate(ctx, fp); err != nil || got.Email != "bob@example.org" {
		t.Fatalf("original certificate changed: %+v, %v", got, err)
	}
}

func testCertificateBySerial(t *testing.T, s Store) {
	ctx := t.Context()
	c := testCert("carol", "carol@example.org", UsageEncrypt, issuerA)
	c.Serial = "7f00ff"
	fp := mustPut(t, s, c)
	for _, serial := range []string{"7f00ff", "007F00FF", "7f:00:ff"} {
		got, err := s.GetCertificateBySerial(ctx, strings.ToUpper(issuerA), serial)
		if err != nil || got.Fingerprint != fp {
			t.Fatalf("GetCertificateBySerial(%q) = %v, %v", serial, got, err)
		}
	}
	_, err := s.GetCertificateBySerial(ctx, issuerB, "7f00ff")
	wantErr(t, err, ErrNotFound)
	_, err = s.GetCertificateBySerial(ctx, issuerA, "7f01")
	wantErr(t, err, ErrNotFound)
	_, err = s.GetCertificateBySerial(ctx, issuerA, "serial?")
	wantErr(t, err, ErrInvalid)
	_, err = s.GetCertificateBySerial(ctx, "", "7f00ff")
	wantErr(t, err, ErrInvalid)
}

func testListCertificates(t *testing.T, s Store) {
	ctx := t.Context()
	z1 := testCert("zed-old", "zed@example.org", UsageSign, issuerA)
	z2 := testCert("zed-new", "zed@example.org", UsageEncrypt, issuerA)
	z2.NotBefore = t0.Add(time.Hour)
	a := testCert("amy", "amy@example.org", UsageBoth, issuerB)
	a.Emails = []string{"amy@example.org", "Sales@Example.org"}
	tp := testCert("ext", "ext@other.example", UsageSign, "")
	tp.ThirdParty = true
	gone := testCert("gone", "gone@example.org", UsageSign, issuerA)
	fps := map[string]string{}
	for _, c := range []Certificate{z2, z1, a, tp, gone} { // newer first
		fps[c.Subject] = mustPut(t, s, c)
	}
	if err := s.RevokeCertificate(ctx, fps["CN=gone"], 4, t0, actor); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	cases := []struct {
		f    CertFilter
		want []string // subjects, in order
	}{
		{CertFilter{}, []string{"CN=amy", "CN=ext", "CN=zed-old", "CN=zed-new"}},
		{CertFilter{IncludeRevoked: true}, []string{"CN=amy", "CN=ext", "CN=gone", "CN=zed-old", "CN=zed-new"}},
		{CertFilter{Email: "ZED@example.org"}, []string{"CN=zed-old", "CN=zed-new"}},
		{CertFilter{Email: "sales@example.org"}, []string{"CN=amy"}},
		{CertFilter{Email: "gone@example.org"}, nil},
		{CertFilter{Email: "gone@example.org", IncludeRevoked: true}, []string{"CN=gone"}},
		{CertFilter{Usage: UsageSign}, []string{"CN=ext", "CN=zed-old"}},
		{CertFilter{IssuerFingerprint: issuerB}, []string{"CN=amy"}},
		{CertFilter{ThirdParty: &yes}, []string{"CN=ext"}},
		{CertFilter{ThirdParty: &no, Usage: UsageEncrypt}, []string{"CN=zed-new"}},
		{CertFilter{Email: "nobody@example.org"}, nil},
	}
	for _, tc := range cases {
		list, err := s.ListCertificates(ctx, tc.f)
		if err != nil {
			t.Fatalf("ListCertificates(%+v): %v", tc.f, err)
		}
		var got []string
		for _, c := range list {
			got = append(got, c.Subject)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListCertificates(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	_, err := s.ListCertificates(ctx, CertFilter{IssuerFingerprint: "zz"})
	wantErr(t, err, ErrInvalid)
}

func testRevoke(t *testing.T, s Store) {
	ctx := t.Context()
	d1 := testCert("dave1", "dave@example.org", UsageSign, issuerA)
	d2 := testCert("dave2", "dave@example.org", UsageEncrypt, issuerA)
	d3 := testCert("dave3", "dave@example.org", UsageEncrypt, issuerB)
	fp1, fp2, fp3 := mustPut(t, s, d1), mustPut(t, s, d2), mustPut(t, s, d3)
	if list, err := s.ListRevoked(ctx, issuerA); err != nil || len(list) != 0 {
		t.Fatalf("ListRevoked before revoking = %+v, %v", list, err)
	}
	at := time.Date(2026, 5, 1, 10, 0, 0, 123, time.UTC)
	before := lastAuditID(t, s)
	if err := s.RevokeCertificate(ctx, fp2, 1, at, actor); err != nil {
		t.Fatal(err)
	}
	e := expectOneAudit(t, s, before, ActionCertificateRevoke, fp2)
	if !strings.Contains(e.Detail, "reason=1") || !strings.Contains(e.Detail, "serial="+d2.Serial) {
		t.Errorf("revoke audit detail = %q", e.Detail)
	}
	if err := s.RevokeCertificate(ctx, strings.ToUpper(fp1), 4, at.Add(-time.Hour), actor); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeCertificate(ctx, fp3, 0, time.Time{}, actor); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCertificate(ctx, fp2)
	if err != nil || got.Status != StatusRevoked || !got.RevokedAt.Equal(at.Truncate(time.Second)) ||
		got.RevocationReason != 1 {
		t.Fatalf("revoked certificate = %+v, %v", got, err)
	}
	if got, _ := s.GetCertificate(ctx, fp3); time.Since(got.RevokedAt) > time.Minute {
		t.Fatalf("zero revocation time was not set to now: %v", got.RevokedAt)
	}
	before = lastAuditID(t, s)
	wantErr(t, s.RevokeCertificate(ctx, fp2, 4, at.Add(time.Hour), actor), ErrAlreadyRevoked)
	if got, _ := s.GetCertificate(ctx, fp2); got.RevocationReason != 1 || !got.RevokedAt.Equal(at.Truncate(time.Second)) {
		t.Fatalf("second revocation changed the record: %+v", got)
	}
	wantErr(t, s.RevokeCertificate(ctx, strings.Repeat("c", 64), 1, at, actor), ErrNotFound)
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("repeated or unknown revocation wrote audit entries: %+v", es)
	}
	d4 := testCert("dave4", "dave@example.org", UsageSign, issuerA)
	fp4 := mustPut(t, s, d4)
	before = lastAuditID(t, s)
	for _, reason := range []int{-1, 7, 8, 11} {
		wantErr(t, s.RevokeCertificate(ctx, fp4, reason, at, actor), ErrInvalid)
	}
	wantErr(t, s.RevokeCertificate(ctx, fp4, 1, at, ""), ErrInvalid)
	wantErr(t, s.RevokeCertificate(ctx, "nope", 1, at, actor), ErrInvalid)
	if got, _ := s.GetCertificate(ctx, fp4); got.Status != StatusValid {
		t.Fatalf("rejected revocation changed status to %s", got.Status)
	}
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("failed revocations wrote audit entries: %+v", es)
	}
	list, err := s.ListRevoked(ctx, issuerA)
	if err != nil {
		t.Fatal(err)
	}
	want := []Revoked{
		{Serial: d1.Serial, Fingerprint: fp1, RevokedAt: at.Add(-time.Hour).Truncate(time.Second), Reason: 4, NotAfter: d1.NotAfter},
		{Serial: d2.Serial, Fingerprint: fp2, RevokedAt: at.Truncate(time.Second), Reason: 1, NotAfter: d2.NotAfter},
	}
	if len(list) != len(want) {
		t.Fatalf("ListRevoked = %+v, want %+v", list, want)
	}
	for i := range want {
		g, w := list[i], want[i]
		if g.Serial != w.Serial || g.Fingerprint != w.Fingerprint || !g.RevokedAt.Equal(w.RevokedAt) ||
			g.Reason != w.Reason || !g.NotAfter.Equal(w.NotAfter) {
			t.Fatalf("ListRevoked[%d] = %+v, want %+v", i, g, w)
		}
	}
	if list, _ := s.ListRevoked(ctx, issuerB); len(list) != 1 || list[0].Fingerprint != fp3 {
		t.Fatalf("ListRevoked(issuerB) = %+v", list)
	}
	_, err = s.ListRevoked(ctx, "")
	wantErr(t, err, ErrInvalid)
}

func testDeleteKeyDetaches(t *testing.T, s Store) {
	ctx := t.Context()
	if err := s.PutKey(ctx, softKey("k-eve"), actor); err != nil {
		t.Fatal(err)
	}
	c := testCert("eve", "eve@example.org", UsageEncrypt, issuerA)
	c.KeyID = "k-eve"
	fp := mustPut(t, s, c)
	before := lastAuditID(t, s)
	if err := s.DeleteKey(ctx, "k-eve", actor); err != nil {
		t.Fatal(err)
	}
	if e := expectOneAudit(t, s, before, ActionKeyDelete, "k-eve"); !strings.Contains(e.Detail, "detached=1") {
		t.Errorf("delete detail = %q, want detached=1", e.Detail)
	}
	got, err := s.GetCertificate(ctx, fp)
	if err != nil || got.KeyID != "" {
		t.Fatalf("certificate after key deletion = %+v, %v; want KeyID \"\"", got, err)
	}
}

// putCA stores a root and an issuing certificate and returns their fingerprints.
func putCA(t *testing.T, s Store) (root, issuing string) {
	t.Helper()
	r := testCert("Signet Root", "", UsageCARoot, "")
	root = mustPut(t, s, r)
	return root, mustPut(t, s, testCert("Signet Issuing", "", UsageCAIssuing, root))
}

func testCA(t *testing.T, s Store) {
	ctx := t.Context()
	_, err := s.GetCA(ctx)
	wantErr(t, err, ErrNotInitialized)
	_, err = s.NextCRLNumber(ctx, actor)
	wantErr(t, err, ErrNotInitialized)
	root, issuing := putCA(t, s)
	before := lastAuditID(t, s)
	wantErr(t, s.SetCA(ctx, CAInfo{RootFingerprint: root, IssuingFingerprint: strings.Repeat("d", 64)}, actor), ErrNotFound)
	wantErr(t, s.SetCA(ctx, CAInfo{RootFingerprint: root, IssuingFingerprint: "x"}, actor), ErrInvalid)
	wantErr(t, s.SetCA(ctx, CAInfo{RootFingerprint: root, IssuingFingerprint: issuing}, ""), ErrInvalid)
	wantErr(t, s.SetCA(ctx, CAInfo{RootFingerprint: root, IssuingFingerprint: issuing, CRLNumber: -1}, actor), ErrInvalid)
	if _, err := s.GetCA(ctx); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("rejected SetCA created a CA: %v", err)
	}
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("rejected SetCA wrote audit entries: %+v", es)
	}
	ca := CAInfo{RootFingerprint: strings.ToUpper(root), IssuingFingerprint: issuing, Org: "Example Ltd",
		Domains: []string{"Example.org", "example.net"}, PublicURL: "https://pki.example.org", CRLNumber: 5}
	if err := s.SetCA(ctx, ca, actor); err != nil {
		t.Fatal(err)
	}
	expectOneAudit(t, s, before, ActionCASet, issuing)
	got, err := s.GetCA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.RootFingerprint != root || got.IssuingFingerprint != issuing || got.Org != ca.Org ||
		!slices.Equal(got.Domains, []string{"example.org", "example.net"}) || got.PublicURL != ca.PublicURL ||
		got.CRLNumber != 5 || time.Since(got.CreatedAt) > time.Minute || got.UpdatedAt.Before(got.CreatedAt) {
		t.Fatalf("GetCA = %+v", got)
	}
	before = lastAuditID(t, s)
	n, err := s.NextCRLNumber(ctx, actor)
	if err != nil || n != 6 {
		t.Fatalf("NextCRLNumber = %d, %v; want 6", n, err)
	}
	if e := expectOneAudit(t, s, before, ActionCRLNumber, "crl"); e.Detail != "crl_number=6" {
		t.Errorf("crl audit detail = %q", e.Detail)
	}
	// An update with a stale CRL number keeps the higher stored one.
	ca.PublicURL, ca.CRLNumber = "https://ca.example.org", 2
	if err := s.SetCA(ctx, ca, actor); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetCA(ctx)
	if got.PublicURL != "https://ca.example.org" || got.CRLNumber != 6 {
		t.Fatalf("after update with lower CRL number: %+v", got)
	}
	ca.CRLNumber = 100
	if err := s.SetCA(ctx, ca, actor); err != nil {
		t.Fatal(err)
	}
	if n, err := s.NextCRLNumber(ctx, actor); err != nil || n != 101 {
		t.Fatalf("NextCRLNumber after raising to 100 = %d, %v", n, err)
	}
	_, err = s.NextCRLNumber(ctx, "")
	wantErr(t, err, ErrInvalid)
	if got, _ := s.GetCA(ctx); got.CRLNumber != 101 {
		t.Fatalf("NextCRLNumber without actor changed the number to %d", got.CRLNumber)
	}
}

func testNextCRLNumberConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	root, issuing := putCA(t, s)
	if err := s.SetCA(ctx, CAInfo{RootFingerprint: root, IssuingFingerprint: issuing, CRLNumber: 10}, actor); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 15
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			var mine []int64
			for range each {
				n, err := s.NextCRLNumber(ctx, actor)
				if err != nil {
					errs <- err
					return
				}
				if len(mine) > 0 && n <= mine[len(mine)-1] {
					errs <- fmt.Errorf("CRL number went from %d to %d in one goroutine", mine[len(mine)-1], n)
				}
				mine = append(mine, n)
			}
			mu.Lock()
			got = append(got, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(got)
	for i, n := range got {
		if n != int64(11+i) {
			t.Fatalf("CRL numbers %v are not exactly 11..%d each once", got, 10+workers*each)
		}
	}
	if ca, _ := s.GetCA(ctx); ca.CRLNumber != 10+workers*each {
		t.Fatalf("final CRL number = %d, want %d", ca.CRLNumber, 10+workers*each)
	}
	if es, _ := s.ListAudit(ctx, AuditFilter{Action: ActionCRLNumber}); len(es) != workers*each {
		t.Fatalf("%d crl-number audit entries, want %d", len(es), workers*each)
	}
}
