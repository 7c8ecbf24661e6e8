package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// runStoreSuite checks a Store implementation. open must return a new,
// empty store and arrange for it to be closed when the test ends. Every
// implementation (SQLite now, PostgreSQL later) runs this same suite.
func runStoreSuite(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Settings", testSettings},
		{"Keys", testKeys},
		{"KeyValidation", testKeyValidation},
		{"AuditNeverHoldsKeyMaterial", testAuditNoKeyMaterial},
		{"CertificateRoundTrip", testCertificateRoundTrip},
		{"CertificateValidation", testCertificateValidation},
		{"CertificateDuplicates", testCertificateDuplicates},
		{"CertificateBySerial", testCertificateBySerial},
		{"ListCertificates", testListCertificates},
		{"Revoke", testRevoke},
		{"DeleteKeyDetachesCertificates", testDeleteKeyDetaches},
		{"CA", testCA},
		{"NextCRLNumberConcurrent", testNextCRLNumberConcurrent},
		{"UserRoundTrip", testUserRoundTrip},
		{"UserValidation", testUserValidation},
		{"ListUsers", testListUsers},
		{"DisableUser", testDisableUser},
		{"DeleteUser", testDeleteUser},
		{"Aliases", testAliases},
		{"KindsAndGroups", testKindsAndGroups},
		{"PreferredAndSource", testPreferredAndSource},
		{"DirectoryAccounts", testDirectoryAccounts},
		{"ChangeMark", testChangeMark},
		{"ScopedSettings", testScopedSettings},
		{"Rules", testRules},
		{"Capabilities", testCapabilities},
		{"TrustRoundTrip", testTrustRoundTrip},
		{"TrustValidation", testTrustValidation},
		{"TrustBatch", testTrustBatch},
		{"AuditLog", testAuditLog},
		{"EveryMutationAudited", testEveryMutationAudited},
		{"ReadsWriteNoAudit", testReadsWriteNoAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

const actor = "test:alice"

// lastAuditID returns the id of the newest audit entry (0 if none).
func lastAuditID(t *testing.T, s Store) int64 {
	t.Helper()
	es, err := s.ListAudit(t.Context(), AuditFilter{Newest: true, Limit: 1})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(es) == 0 {
		return 0
	}
	return es[0].ID
}

// auditAfter returns the audit entries written after id, oldest first.
func auditAfter(t *testing.T, s Store, id int64) []AuditEntry {
	t.Helper()
	es, err := s.ListAudit(t.Context(), AuditFilter{})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	var out []AuditEntry
	for _, e := range es {
		if e.ID > id {
			out = append(out, e)
		}
	}
	return out
}

// expectOneAudit checks that exactly one entry was written after id, with
// the given action and subject, by actor; it returns the entry.
func expectOneAudit(t *testing.T, s Store, id int64, action, subject string) AuditEntry {
	t.Helper()
	es := auditAfter(t, s, id)
	if len(es) != 1 {
		t.Fatalf("want 1 audit entry (%s), got %d: %+v", action, len(es), es)
	}
	e := es[0]
	if e.Action != action || e.Subject != subject || e.Actor != actor {
		t.Fatalf("audit entry = %+v, want action %q subject %q actor %q", e, action, subject, actor)
	}
	if e.At.IsZero() || time.Since(e.At) > time.Minute {
		t.Fatalf("audit entry time %v is not now", e.At)
	}
	return e
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func testSettings(t *testing.T, s Store) {
	ctx := t.Context()
	if v, ok, err := s.GetSetting(ctx, "smtp.relay"); err != nil || ok || v != "" {
		t.Fatalf("GetSetting(missing) = %q, %v, %v; want \"\", false, nil", v, ok, err)
	}
	before := lastAuditID(t, s)
	if err := s.SetSetting(ctx, "smtp.relay", "mx.example.org:25", actor); err != nil {
		t.Fatal(err)
	}
	e := expectOneAudit(t, s, before, ActionSettingSet, "smtp.relay")
	if e.Detail != "created" || strings.Contains(e.Detail, "mx.example.org") {
		t.Errorf("detail = %q, want \"created\" and no value", e.Detail)
	}
	before = lastAuditID(t, s)
	if err := s.SetSetting(ctx, "smtp.relay", "relay.example.org:587", actor); err != nil {
		t.Fatal(err)
	}
	if e := expectOneAudit(t, s, before, ActionSettingSet, "smtp.relay"); e.Detail != "updated" {
		t.Errorf("detail = %q, want updated", e.Detail)
	}
	if v, ok, err := s.GetSetting(ctx, "smtp.relay"); err != nil || !ok || v != "relay.example.org:587" {
		t.Fatalf("GetSetting = %q, %v, %v", v, ok, err)
	}
	if err := s.SetSetting(ctx, "a.first", "", actor); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.GetSetting(ctx, "a.first"); err != nil || !ok || v != "" {
		t.Fatalf("empty value: GetSetting = %q, %v, %v; want \"\", true", v, ok, err)
	}
	list, err := s.ListSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "a.first" || list[1].Name != "smtp.relay" ||
		list[1].Value != "relay.example.org:587" || list[1].UpdatedAt.IsZero() {
		t.Fatalf("ListSettings = %+v", list)
	}
	before = lastAuditID(t, s)
	wantErr(t, s.SetSetting(ctx, "", "x", actor), ErrInvalid)
	wantErr(t, s.SetSetting(ctx, "smtp.relay", "evil", ""), ErrInvalid)
	if v, _, _ := s.GetSetting(ctx, "smtp.relay"); v != "relay.example.org:587" {
		t.Fatalf("rejected SetSetting changed the value to %q", v)
	}
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("rejected calls wrote audit entries: %+v", es)
	}
}

func softKey(id string) SealedKey {
	return SealedKey{ID: id, Algorithm: "ecdsa-p256", Sealed: []byte("sealed-" + id + "\x00\xff"),
		Wrapped: []byte("wrapped-" + id + "\x01"), Backend: BackendSoft, Label: "key " + id,
		CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 500, time.FixedZone("x", 3600))}
}

func testKeys(t *testing.T, s Store) {
	ctx := t.Context()
	_, err := s.GetKey(ctx, "k1")
	wantErr(t, err, ErrNotFound)
	k := softKey("k1")
	before := lastAuditID(t, s)
	if err := s.PutKey(ctx, k, actor); err != nil {
		t.Fatal(err)
	}
	expectOneAudit(t, s, before, ActionKeyPut, "k1")
	got, err := s.GetKey(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.Algorithm != k.Algorithm || !bytes.Equal(got.Sealed, k.Sealed) ||
		!bytes.Equal(got.Wrapped, k.Wrapped) || got.Backend != k.Backend || got.Label != k.Label ||
		!got.CreatedAt.Equal(k.CreatedAt.Truncate(time.Second)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("GetKey = %+v, want %+v", got, k)
	}
	before = lastAuditID(t, s)
	dup := softKey("k1")
	dup.Sealed = []byte("other")
	wantErr(t, s.PutKey(ctx, dup, actor), ErrExists)
	if got, _ := s.GetKey(ctx, "k1"); !bytes.Equal(got.Sealed, k.Sealed) {
		t.Fatal("duplicate PutKey overwrote the key")
	}
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("failed PutKey wrote audit entries: %+v", es)
	}
	hsm := SealedKey{ID: "ca-issuing", Algorithm: "ecdsa-p384", Backend: BackendPKCS11, Label: "signet-issuing"}
	if err := s.PutKey(ctx, hsm, actor); err != nil {
		t.Fatalf("PutKey(pkcs11, no blobs): %v", err)
	}
	got, err = s.GetKey(ctx, "ca-issuing")
	if err != nil || len(got.Sealed) != 0 || got.Backend != BackendPKCS11 || got.CreatedAt.IsZero() {
		t.Fatalf("GetKey(pkcs11) = %+v, %v", got, err)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "ca-issuing" || keys[1].ID != "k1" {
		t.Fatalf("ListKeys = %+v, %v", keys, err)
	}
	before = lastAuditID(t, s)
	if err := s.DeleteKey(ctx, "k1", actor); err != nil {
		t.Fatal(err)
	}
	expectOneAudit(t, s, before, ActionKeyDelete, "k1")
	_, err = s.GetKey(ctx, "k1")
	wantErr(t, err, ErrNotFound)
	before = lastAuditID(t, s)
	wantErr(t, s.DeleteKey(ctx, "k1", actor), ErrNotFound)
	wantErr(t, s.DeleteKey(ctx, "ca-issuing", ""), ErrInvalid)
	if _, err := s.GetKey(ctx, "ca-issuing"); err != nil {
		t.Fatalf("DeleteKey without actor deleted the key: %v", err)
	}
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("failed DeleteKey wrote audit entries: %+v", es)
	}
}

func testKeyValidation(t *testing.T, s Store) {
	ctx := t.Context()
	bad := map[string]func(k *SealedKey){
		"no id":        func(k *SealedKey) { k.ID = "" },
		"no algorithm": func(k *SealedKey) { k.Algorithm = "" },
		"bad backend":  func(k *SealedKey) { k.Backend = "tpm" },
		"soft, no key": func(k *SealedKey) { k.Sealed = nil },
		"soft, no dek": func(k *SealedKey) { k.Wrapped = nil },
	}
	for name, mutate := range bad {
		k := softKey("v")
		mutate(&k)
		if err := s.PutKey(ctx, k, actor); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutKey error = %v, want ErrInvalid", name, err)
		}
	}
	wantErr(t, s.PutKey(ctx, softKey("v"), ""), ErrInvalid)
	if keys, err := s.ListKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("invalid keys were stored: %+v, %v", keys, err)
	}
	if id := lastAuditID(t, s); id != 0 {
		t.Fatalf("invalid PutKey calls wrote audit entries (last id %d)", id)
	}
}

func testAuditNoKeyMaterial(t *testing.T, s Store) {
	ctx := t.Context()
	k := softKey("secret")
	k.Sealed = []byte("SEALED-PRIVATE-KEY-BYTES-0123456789")
	k.Wrapped = []byte("WRAPPED-DATA-KEY-BYTES-9876543210")
	if err := s.PutKey(ctx, k, actor); err != nil {
		t.Fatal(err)
	}
	c := testCert("holder", "holder@example.org", UsageEncrypt, issuerA)
	c.KeyID = "secret"
	if err := s.PutCertificate(ctx, c, actor); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKey(ctx, "secret", actor); err != nil {
		t.Fatal(err)
	}
	es := auditAfter(t, s, 0)
	if len(es) != 3 {
		t.Fatalf("want 3 audit entries, got %+v", es)
	}
	for _, blob := range [][]byte{k.Sealed, k.Wrapped, c.DER} {
		forms := []string{string(blob), hex.EncodeToString(blob), base64.StdEncoding.EncodeToString(blob)}
		for _, e := range es {
			for _, f := range forms {
				if strings.Contains(e.Detail, f) || strings.Contains(e.Subject, f) {
					t.Fatalf("audit entry %+v contains stored secret or body %q", e, f)
				}
			}
		}
	}
}

func testAuditLog(t *testing.T, s Store) {
	ctx := t.Context()
	base := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
	for i, a := range []string{"certificate.export", "login", "certificate.export"} {
		e := AuditEntry{At: base.Add(time.Duration(i) * time.Hour), Actor: actor, Action: a,
			Subject: "s" + string(rune('0'+i)), Detail: "d"}
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListAudit(ctx, AuditFilter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("ListAudit = %+v, %v", all, err)
	}
	if !all[0].At.Equal(base) || all[0].Subject != "s0" || all[0].Detail != "d" || all[0].ID >= all[1].ID {
		t.Fatalf("ListAudit()[0] = %+v", all[0])
	}
	since, _ := s.ListAudit(ctx, AuditFilter{Since: base.Add(time.Hour)})
	if len(since) != 2 || since[0].Subject != "s1" {
		t.Fatalf("Since (inclusive) = %+v", since)
	}
	byAction, _ := s.ListAudit(ctx, AuditFilter{Action: "certificate.export"})
	if len(byAction) != 2 || byAction[1].Subject != "s2" {
		t.Fatalf("Action filter = %+v", byAction)
	}
	bySubject, _ := s.ListAudit(ctx, AuditFilter{Subject: "s1"})
	if len(bySubject) != 1 || bySubject[0].Action != "login" {
		t.Fatalf("Subject filter = %+v", bySubject)
	}
	first, _ := s.ListAudit(ctx, AuditFilter{Limit: 2})
	if len(first) != 2 || first[0].Subject != "s0" || first[1].Subject != "s1" {
		t.Fatalf("Limit = %+v", first)
	}
	latest, _ := s.ListAudit(ctx, AuditFilter{Limit: 2, Newest: true})
	if len(latest) != 2 || latest[0].Subject != "s2" || latest[1].Subject != "s1" {
		t.Fatalf("Newest+Limit = %+v", latest)
	}
	_, err = s.ListAudit(ctx, AuditFilter{Limit: -1})
	wantErr(t, err, ErrInvalid)
	wantErr(t, s.Audit(ctx, AuditEntry{Action: "x"}), ErrInvalid)
	wantErr(t, s.Audit(ctx, AuditEntry{Actor: actor}), ErrInvalid)
	if err := s.Audit(ctx, AuditEntry{Actor: actor, Action: "now"}); err != nil {
		t.Fatal(err)
	}
	now, _ := s.ListAudit(ctx, AuditFilter{Action: "now"})
	if len(now) != 1 || time.Since(now[0].At) > time.Minute {
		t.Fatalf("zero At was not set to now: %+v", now)
	}
	if all, _ := s.ListAudit(ctx, AuditFilter{}); len(all) != 4 {
		t.Fatalf("invalid Audit calls were recorded: %+v", all)
	}
}
