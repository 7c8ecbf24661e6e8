package store

import (
	"strconv"
	"testing"
)

func testScopedSettings(t *testing.T, s Store) {
	ctx := t.Context()
	before := lastAuditID(t, s)
	if err := s.SetScopedSetting(ctx, "Domain:Example.ORG", "AlwaysSign", "true", actor); err != nil {
		t.Fatal(err)
	}
	e := expectOneAudit(t, s, before, ActionScopedSettingSet, "domain:example.org AlwaysSign")
	if e.Detail != "value set" {
		t.Errorf("audit detail %q must not carry the value", e.Detail)
	}
	if err := s.SetScopedSetting(ctx, "user:Alice@Example.org", "AlwaysEncrypt", "true", actor); err != nil {
		t.Fatal(err)
	}
	if err := s.SetScopedSetting(ctx, "domain:example.org", "AlwaysSign", "false", actor); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListScopedSettings(ctx, "")
	if err != nil || len(all) != 2 || all[0].Scope != "domain:example.org" || all[0].Value != "false" || all[1].Scope != "user:alice@example.org" {
		t.Fatalf("ListScopedSettings = %+v, %v", all, err)
	}
	one, err := s.ListScopedSettings(ctx, "user:alice@example.org")
	if err != nil || len(one) != 1 || one[0].Name != "AlwaysEncrypt" {
		t.Fatalf("ListScopedSettings(user) = %+v, %v", one, err)
	}
	for _, bad := range []string{"", "example.org", "domain:", "user:nobody", "group:x", "domain:a b"} {
		wantErr(t, s.SetScopedSetting(ctx, bad, "AlwaysSign", "true", actor), ErrInvalid)
	}
	wantErr(t, s.SetScopedSetting(ctx, "domain:example.org", "", "true", actor), ErrInvalid)
	if err := s.DeleteScopedSetting(ctx, "domain:example.org", "AlwaysSign", actor); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteScopedSetting(ctx, "domain:example.org", "AlwaysSign", actor), ErrNotFound)
}

func testRules(t *testing.T, s Store) {
	ctx := t.Context()
	before := lastAuditID(t, s)
	id1, err := s.PutRule(ctx, PolicyRule{Priority: 20, Spec: `{"action":"sign"}`}, actor)
	if err != nil {
		t.Fatal(err)
	}
	expectOneAudit(t, s, before, ActionRulePut, "rule "+itoa(id1))
	id2, err := s.PutRule(ctx, PolicyRule{Priority: 10, Spec: `{"action":"encrypt"}`}, actor)
	if err != nil || id2 == id1 {
		t.Fatal(id2, err)
	}
	id3, _ := s.PutRule(ctx, PolicyRule{Priority: 20, Spec: `{"action":"none"}`}, actor)
	rs, err := s.ListRules(ctx)
	if err != nil || len(rs) != 3 || rs[0].ID != id2 || rs[1].ID != id1 || rs[2].ID != id3 || rs[1].Spec != `{"action":"sign"}` {
		t.Fatalf("ListRules = %+v, %v", rs, err)
	}
	_, err = s.PutRule(ctx, PolicyRule{Priority: 1}, actor)
	wantErr(t, err, ErrInvalid)
	if err := s.DeleteRule(ctx, id1, actor); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteRule(ctx, id1, actor), ErrNotFound)
	if rs, _ := s.ListRules(ctx); len(rs) != 2 {
		t.Fatalf("%d rules after delete", len(rs))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func testCapabilities(t *testing.T, s Store) {
	ctx := t.Context()
	_, _, err := s.Capabilities(ctx, "bob@partner.test")
	wantErr(t, err, ErrNotFound)
	before := lastAuditID(t, s)
	if err := s.SetCapabilities(ctx, "Bob@Partner.test", []string{"aes256-gcm", "aes256-cbc"}, actor); err != nil {
		t.Fatal(err)
	}
	expectOneAudit(t, s, before, ActionCapabilitiesSet, "bob@partner.test")
	cs, at, err := s.Capabilities(ctx, "bob@partner.test")
	if err != nil || len(cs) != 2 || cs[0] != "aes256-gcm" || at.IsZero() {
		t.Fatalf("capabilities = %v %v %v", cs, at, err)
	}
	// The same again: no new audit entry.
	before = lastAuditID(t, s)
	if err := s.SetCapabilities(ctx, "bob@partner.test", []string{"aes256-gcm", "aes256-cbc"}, actor); err != nil {
		t.Fatal(err)
	}
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("an unchanged refresh was audited: %+v", es)
	}
	if err := s.SetCapabilities(ctx, "bob@partner.test", []string{"aes128-cbc"}, actor); err != nil {
		t.Fatal(err)
	}
	if cs, _, _ := s.Capabilities(ctx, "bob@partner.test"); len(cs) != 1 || cs[0] != "aes128-cbc" {
		t.Fatalf("replaced capabilities = %v", cs)
	}
	wantErr(t, s.SetCapabilities(ctx, "bob@partner.test", []string{"a,b"}, actor), ErrInvalid)
	wantErr(t, s.SetCapabilities(ctx, "nobody", nil, actor), ErrInvalid)
}
