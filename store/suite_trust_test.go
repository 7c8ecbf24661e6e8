package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func trustCert(name, kind string, notAfter time.Time) TrustCert {
	return TrustCert{Subject: "CN=" + name, Issuer: "CN=" + name, NotBefore: t0, NotAfter: notAfter,
		DER: []byte("DER of trust " + name), Kind: kind, Label: "label " + name, Source: name + ".sst (sst)",
		AddedAt: time.Date(2026, 4, 1, 9, 0, 0, 300, time.FixedZone("y", -3600))}
}

func trustFingerprint(c TrustCert) string {
	return fingerprint(Certificate{DER: c.DER})
}

func testTrustRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	if cs, err := s.ListTrustCerts(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("ListTrustCerts on an empty store = %+v, %v", cs, err)
	}
	late := trustCert("late-root", TrustAnchor, t0.AddDate(20, 0, 0))
	early := trustCert("early-sub", TrustIntermediate, t0.AddDate(2, 0, 0))
	mid := trustCert("mid-root", TrustAnchor, t0.AddDate(10, 0, 0))
	mid.AddedAt = time.Time{}
	for _, c := range []TrustCert{late, early, mid} {
		before := lastAuditID(t, s)
		if err := s.PutTrustCert(ctx, c, actor); err != nil {
			t.Fatalf("PutTrustCert(%s): %v", c.Subject, err)
		}
		e := expectOneAudit(t, s, before, ActionTrustPut, trustFingerprint(c))
		if !strings.Contains(e.Detail, "kind="+c.Kind) || !strings.Contains(e.Detail, c.Subject) {
			t.Errorf("audit detail = %q", e.Detail)
		}
	}
	got, err := s.GetTrustCert(ctx, strings.ToUpper(trustFingerprint(late)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint != trustFingerprint(late) || got.Subject != late.Subject || got.Issuer != late.Issuer ||
		!got.NotBefore.Equal(late.NotBefore) || !got.NotAfter.Equal(late.NotAfter) || !bytes.Equal(got.DER, late.DER) ||
		got.Kind != TrustAnchor || got.Label != late.Label || got.Source != late.Source ||
		!got.AddedAt.Equal(late.AddedAt.Truncate(time.Second)) || got.AddedAt.Location() != time.UTC ||
		got.NotAfter.Location() != time.UTC {
		t.Fatalf("GetTrustCert = %+v, want %+v", got, late)
	}
	if got, _ := s.GetTrustCert(ctx, trustFingerprint(mid)); got == nil || time.Since(got.AddedAt) > time.Minute {
		t.Fatalf("zero AddedAt was not set to now: %+v", got)
	}
	list, err := s.ListTrustCerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, c := range list {
		subjects = append(subjects, c.Subject)
	}
	if strings.Join(subjects, ",") != "CN=early-sub,CN=mid-root,CN=late-root" {
		t.Fatalf("ListTrustCerts order = %v, want earliest expiry first", subjects)
	}

	// Duplicates: ErrExists, nothing changed, nothing audited.
	before := lastAuditID(t, s)
	dup := late
	dup.Label = "other"
	wantErr(t, s.PutTrustCert(ctx, dup, actor), ErrExists)
	if got, _ := s.GetTrustCert(ctx, trustFingerprint(late)); got.Label != late.Label {
		t.Fatal("duplicate PutTrustCert overwrote the certificate")
	}
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("failed PutTrustCert wrote audit entries: %+v", es)
	}

	// Delete.
	before = lastAuditID(t, s)
	if err := s.DeleteTrustCert(ctx, trustFingerprint(early), actor); err != nil {
		t.Fatal(err)
	}
	if e := expectOneAudit(t, s, before, ActionTrustDelete, trustFingerprint(early)); !strings.Contains(e.Detail, "intermediate") {
		t.Errorf("delete audit detail = %q", e.Detail)
	}
	_, err = s.GetTrustCert(ctx, trustFingerprint(early))
	wantErr(t, err, ErrNotFound)
	before = lastAuditID(t, s)
	wantErr(t, s.DeleteTrustCert(ctx, trustFingerprint(early), actor), ErrNotFound)
	wantErr(t, s.DeleteTrustCert(ctx, trustFingerprint(late), ""), ErrInvalid)
	wantErr(t, s.DeleteTrustCert(ctx, "abcd", actor), ErrInvalid)
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("failed DeleteTrustCert wrote audit entries: %+v", es)
	}
	if list, _ := s.ListTrustCerts(ctx); len(list) != 2 {
		t.Fatalf("after delete: %+v", list)
	}
}

func testTrustValidation(t *testing.T, s Store) {
	ctx := t.Context()
	bad := map[string]func(c *TrustCert){
		"no DER":          func(c *TrustCert) { c.DER = nil },
		"bad kind":        func(c *TrustCert) { c.Kind = "leaf" },
		"no kind":         func(c *TrustCert) { c.Kind = "" },
		"wrong sha256":    func(c *TrustCert) { c.Fingerprint = strings.Repeat("ab", 32) },
		"no validity":     func(c *TrustCert) { c.NotAfter = time.Time{} },
		"inverted expiry": func(c *TrustCert) { c.NotAfter = c.NotBefore.Add(-time.Hour) },
	}
	for name, mutate := range bad {
		c := trustCert("v", TrustAnchor, t0.AddDate(1, 0, 0))
		mutate(&c)
		if err := s.PutTrustCert(ctx, c, actor); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutTrustCert error = %v, want ErrInvalid", name, err)
		}
	}
	ok := trustCert("v", TrustAnchor, t0.AddDate(1, 0, 0))
	wantErr(t, s.PutTrustCert(ctx, ok, ""), ErrInvalid)
	_, err := s.GetTrustCert(ctx, "not hex")
	wantErr(t, err, ErrInvalid)
	if cs, err := s.ListTrustCerts(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("invalid trust certificates were stored: %+v, %v", cs, err)
	}
	if id := lastAuditID(t, s); id != 0 {
		t.Fatalf("invalid PutTrustCert calls wrote audit entries (last id %d)", id)
	}
	// A given fingerprint that matches (any case, with colons) is accepted.
	fp := trustFingerprint(ok)
	var colon []string
	for i := 0; i < len(fp); i += 2 {
		colon = append(colon, strings.ToUpper(fp[i:i+2]))
	}
	ok.Fingerprint = strings.Join(colon, ":")
	if err := s.PutTrustCert(ctx, ok, actor); err != nil {
		t.Fatalf("PutTrustCert with a matching colon fingerprint: %v", err)
	}
	if c, err := s.GetTrustCert(ctx, fp); err != nil || c.Fingerprint != fp {
		t.Fatalf("GetTrustCert = %+v, %v", c, err)
	}
	// Reads write no audit.
	before := lastAuditID(t, s)
	_, _ = s.ListTrustCerts(ctx)
	_, _ = s.GetTrustCert(ctx, fp)
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("trust reads wrote audit entries: %+v", es)
	}
}

// testTrustBatch checks that PutTrustCerts is all or nothing.
func testTrustBatch(t *testing.T, s Store) {
	ctx := t.Context()
	a := trustCert("batch-a", TrustAnchor, t0.AddDate(5, 0, 0))
	b := trustCert("batch-b", TrustIntermediate, t0.AddDate(3, 0, 0))
	if err := s.PutTrustCert(ctx, a, actor); err != nil {
		t.Fatal(err)
	}
	before := lastAuditID(t, s)
	// b is new, a is a duplicate: nothing may be added.
	if err := s.PutTrustCerts(ctx, []TrustCert{b, a}, actor); !errors.Is(err, ErrExists) {
		t.Fatalf("batch with a duplicate: %v, want ErrExists", err)
	}
	if _, err := s.GetTrustCert(ctx, trustFingerprint(b)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed batch stored part of itself: %v", err)
	}
	if lastAuditID(t, s) != before {
		t.Fatal("a failed batch wrote audit entries")
	}
	if err := s.PutTrustCerts(ctx, []TrustCert{b}, actor); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.ListTrustCerts(ctx); len(cs) != 2 {
		t.Fatalf("%d trust certificates, want 2", len(cs))
	}
}
