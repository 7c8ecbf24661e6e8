package store

import (
	"testing"
	"time"
)

// mutation is one state-changing call and the audit entry it must write.
type mutation struct {
	name    string
	do      func(t *testing.T, s Store) error
	action  string
	subject string
}

// mutations returns one call of every mutating method, in an order in which
// each succeeds on a store where the earlier ones ran. fixture names the
// certificates and key they use.
func mutations() []mutation {
	root := testCert("m-root", "", UsageCARoot, "")
	issuing := testCert("m-issuing", "", UsageCAIssuing, fingerprint(root))
	leaf := testCert("m-leaf", "m@example.org", UsageEncrypt, fingerprint(issuing))
	leaf.KeyID = "m-key"
	rootFP, issuingFP, leafFP := fingerprint(root), fingerprint(issuing), fingerprint(leaf)
	return []mutation{
		{"SetSetting", func(t *testing.T, s Store) error {
			return s.SetSetting(t.Context(), "org.name", "Example", actor)
		}, ActionSettingSet, "org.name"},
		{"PutKey", func(t *testing.T, s Store) error {
			return s.PutKey(t.Context(), softKey("m-key"), actor)
		}, ActionKeyPut, "m-key"},
		{"PutCertificate(root)", func(t *testing.T, s Store) error {
			return s.PutCertificate(t.Context(), root, actor)
		}, ActionCertificatePut, rootFP},
		{"PutCertificate(issuing)", func(t *testing.T, s Store) error {
			return s.PutCertificate(t.Context(), issuing, actor)
		}, ActionCertificatePut, issuingFP},
		{"PutCertificate(leaf)", func(t *testing.T, s Store) error {
			return s.PutCertificate(t.Context(), leaf, actor)
		}, ActionCertificatePut, leafFP},
		{"SetCA", func(t *testing.T, s Store) error {
			return s.SetCA(t.Context(), CAInfo{RootFingerprint: rootFP, IssuingFingerprint: issuingFP,
				Org: "Example", Domains: []string{"example.org"}}, actor)
		}, ActionCASet, issuingFP},
		{"NextCRLNumber", func(t *testing.T, s Store) error {
			_, err := s.NextCRLNumber(t.Context(), actor)
			return err
		}, ActionCRLNumber, "crl"},
		{"RevokeCertificate", func(t *testing.T, s Store) error {
			return s.RevokeCertificate(t.Context(), leafFP, 1, time.Time{}, actor)
		}, ActionCertificateRevoke, leafFP},
		{"DeleteKey", func(t *testing.T, s Store) error {
			return s.DeleteKey(t.Context(), "m-key", actor)
		}, ActionKeyDelete, "m-key"},
		{"Audit", func(t *testing.T, s Store) error {
			return s.Audit(t.Context(), AuditEntry{Actor: actor, Action: "certificate.export", Subject: leafFP})
		}, "certificate.export", leafFP},
		{"PutUser(create)", func(t *testing.T, s Store) error {
			return s.PutUser(t.Context(), User{Email: "M@example.org", DisplayName: "M"}, actor)
		}, ActionUserPut, "m@example.org"},
		{"PutUser(update)", func(t *testing.T, s Store) error {
			return s.PutUser(t.Context(), User{Email: "m@example.org", DisplayName: "M. Example"}, actor)
		}, ActionUserPut, "m@example.org"},
		{"DisableUser", func(t *testing.T, s Store) error {
			return s.DisableUser(t.Context(), "m@example.org", actor)
		}, ActionUserDisable, "m@example.org"},
		{"PutUser(gone)", func(t *testing.T, s Store) error {
			return s.PutUser(t.Context(), User{Email: "gone@example.org"}, actor)
		}, ActionUserPut, "gone@example.org"},
		{"DeleteUser", func(t *testing.T, s Store) error {
			return s.DeleteUser(t.Context(), "gone@example.org", actor)
		}, ActionUserDelete, "gone@example.org"},
	}
}

func testEveryMutationAudited(t *testing.T, s Store) {
	for _, m := range mutations() {
		before := lastAuditID(t, s)
		if err := m.do(t, s); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		e := expectOneAudit(t, s, before, m.action, m.subject)
		if m.action != "certificate.export" && e.Detail == "" {
			t.Errorf("%s: empty audit detail", m.name)
		}
	}
}

func testReadsWriteNoAudit(t *testing.T, s Store) {
	for _, m := range mutations()[:7] { // everything up to NextCRLNumber
		if err := m.do(t, s); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	ctx := t.Context()
	ca, err := s.GetCA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser(ctx, User{Email: "m@example.org", DisplayName: "M"}, actor); err != nil {
		t.Fatal(err)
	}
	before := lastAuditID(t, s)
	reads := []func() error{
		func() error { _, _, err := s.GetSetting(ctx, "org.name"); return err },
		func() error { _, _, err := s.GetSetting(ctx, "missing"); return err },
		func() error { _, err := s.ListSettings(ctx); return err },
		func() error { _, err := s.GetKey(ctx, "m-key"); return err },
		func() error { _, err := s.ListKeys(ctx); return err },
		func() error { _, err := s.GetCertificate(ctx, ca.RootFingerprint); return err },
		func() error {
			_, err := s.GetCertificateBySerial(ctx, ca.RootFingerprint, testCert("m-issuing", "", "", "").Serial)
			return err
		},
		func() error { _, err := s.ListCertificates(ctx, CertFilter{IncludeRevoked: true}); return err },
		func() error { _, err := s.ListRevoked(ctx, ca.IssuingFingerprint); return err },
		func() error { _, err := s.GetCA(ctx); return err },
		func() error { _, err := s.ListAudit(ctx, AuditFilter{}); return err },
		func() error { _, err := s.GetUser(ctx, "M@example.org"); return err },
		func() error { _, err := s.ListUsers(ctx, UserFilter{Prefix: "m"}); return err },
		func() error { _, err := s.ListUsers(ctx, UserFilter{Status: UserActive, Limit: 1}); return err },
	}
	for i, read := range reads {
		if err := read(); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("reads wrote audit entries: %+v", es)
	}
}
