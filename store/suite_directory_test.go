package store

import (
	"slices"
	"testing"
)

func testAliases(t *testing.T, s Store) {
	ctx := t.Context()
	mustPutUser(t, s, User{Email: "alice@example.org", DisplayName: "Alice"})
	mustPutUser(t, s, User{Email: "bob@example.org"})

	before := lastAuditID(t, s)
	if err := s.SetAliases(ctx, "Alice@example.org", []string{"A.Smith@example.org", "alice@old.example", "a.smith@example.org"}, actor); err != nil {
		t.Fatal(err)
	}
	expectOneAudit(t, s, before, ActionAliasesSet, "alice@example.org")
	u, err := s.GetUser(ctx, "alice@example.org")
	if err != nil || !slices.Equal(u.Aliases, []string{"a.smith@example.org", "alice@old.example"}) {
		t.Fatalf("aliases after set = %+v, %v", u, err)
	}
	for _, a := range []string{"A.SMITH@example.org", "alice@old.example", "alice@example.org"} {
		got, alias, err := s.ResolveAddress(ctx, a)
		if err != nil || got.Email != "alice@example.org" || alias != (a != "alice@example.org") ||
			len(got.Aliases) != 2 {
			t.Fatalf("ResolveAddress(%s) = %+v, %t, %v", a, got, alias, err)
		}
	}
	_, _, err = s.ResolveAddress(ctx, "nobody@example.org")
	wantErr(t, err, ErrNotFound)

	// Conflicts: another's alias, a primary address, one's own primary.
	wantErr(t, s.SetAliases(ctx, "bob@example.org", []string{"alice@old.example"}, actor), ErrExists)
	wantErr(t, s.SetAliases(ctx, "bob@example.org", []string{"alice@example.org"}, actor), ErrExists)
	wantErr(t, s.SetAliases(ctx, "bob@example.org", []string{"bob@example.org"}, actor), ErrInvalid)
	wantErr(t, s.SetAliases(ctx, "bob@example.org", []string{"not an address"}, actor), ErrInvalid)
	wantErr(t, s.SetAliases(ctx, "nobody@example.org", nil, actor), ErrNotFound)
	// A new recipient may not take an alias as its primary address.
	wantErr(t, s.PutUser(ctx, User{Email: "alice@old.example"}, actor), ErrExists)

	// ListUsers fills aliases; replacing with none clears them.
	us, err := s.ListUsers(ctx, UserFilter{})
	if err != nil || len(us) != 2 || len(us[0].Aliases) != 2 || len(us[1].Aliases) != 0 {
		t.Fatalf("ListUsers = %+v, %v", us, err)
	}
	if err := s.SetAliases(ctx, "alice@example.org", nil, actor); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ResolveAddress(ctx, "alice@old.example"); err == nil {
		t.Fatal("a removed alias still resolves")
	}
	// Deleting a recipient drops its aliases, so the address is free again.
	if err := s.SetAliases(ctx, "bob@example.org", []string{"robert@example.org"}, actor); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "bob@example.org", actor); err != nil {
		t.Fatal(err)
	}
	mustPutUser(t, s, User{Email: "robert@example.org"})
}

func testKindsAndGroups(t *testing.T, s Store) {
	ctx := t.Context()
	mustPutUser(t, s, User{Email: "alice@example.org"})
	mustPutUser(t, s, User{Email: "partner@partner.test", Kind: KindContact, DisplayName: "Partner"})
	mustPutUser(t, s, User{Email: "team@example.org", Kind: KindGroup, Source: "ldap://dc.example.org", ExternalID: "guid-1"})
	mustPutUser(t, s, User{Email: "all@example.org", Kind: KindGroup})
	wantErr(t, s.PutUser(ctx, User{Email: "x@example.org", Kind: "room"}, actor), ErrInvalid)

	for kind, want := range map[string][]string{
		KindMailbox: {"alice@example.org"},
		KindContact: {"partner@partner.test"},
		KindGroup:   {"all@example.org", "team@example.org"},
	} {
		us, err := s.ListUsers(ctx, UserFilter{Kind: kind})
		if err != nil || !slices.Equal(userEmails(us), want) {
			t.Errorf("ListUsers(kind %s) = %v, %v; want %v", kind, userEmails(us), err, want)
		}
	}
	if us, err := s.ListUsers(ctx, UserFilter{Source: "ldap://dc.example.org"}); err != nil ||
		!slices.Equal(userEmails(us), []string{"team@example.org"}) || us[0].ExternalID != "guid-1" {
		t.Errorf("ListUsers(source) = %+v, %v", us, err)
	}
	// An update with empty kind, source and id keeps them.
	mustPutUser(t, s, User{Email: "team@example.org", DisplayName: "Team"})
	g, err := s.GetUser(ctx, "team@example.org")
	if err != nil || g.Kind != KindGroup || g.Source != "ldap://dc.example.org" || g.ExternalID != "guid-1" || g.DisplayName != "Team" {
		t.Fatalf("group after update = %+v, %v", g, err)
	}

	before := lastAuditID(t, s)
	if err := s.SetGroupMembers(ctx, "team@example.org", []string{"Alice@example.org", "partner@partner.test", "alice@example.org", "unknown@else.test"}, actor); err != nil {
		t.Fatal(err)
	}
	expectOneAudit(t, s, before, ActionMembersSet, "team@example.org")
	if err := s.SetGroupMembers(ctx, "all@example.org", []string{"team@example.org"}, actor); err != nil {
		t.Fatal(err)
	}
	ms, err := s.GroupMembers(ctx, "team@example.org")
	if err != nil || !slices.Equal(ms, []string{"alice@example.org", "partner@partner.test", "unknown@else.test"}) {
		t.Fatalf("members = %v, %v", ms, err)
	}
	wantErr(t, s.SetGroupMembers(ctx, "alice@example.org", []string{"x@example.org"}, actor), ErrInvalid)
	wantErr(t, s.SetGroupMembers(ctx, "team@example.org", []string{"team@example.org"}, actor), ErrInvalid)
	wantErr(t, s.SetGroupMembers(ctx, "none@example.org", nil, actor), ErrNotFound)
	_, err = s.GroupMembers(ctx, "alice@example.org")
	wantErr(t, err, ErrInvalid)
	_, err = s.GroupMembers(ctx, "none@example.org")
	wantErr(t, err, ErrNotFound)
	// Replacing empties; a group turned into a mailbox loses its members.
	if err := s.SetGroupMembers(ctx, "all@example.org", nil, actor); err != nil {
		t.Fatal(err)
	}
	if ms, err := s.GroupMembers(ctx, "all@example.org"); err != nil || len(ms) != 0 {
		t.Fatalf("members after emptying = %v, %v", ms, err)
	}
	mustPutUser(t, s, User{Email: "team@example.org", Kind: KindMailbox})
	mustPutUser(t, s, User{Email: "team@example.org", Kind: KindGroup})
	if ms, err := s.GroupMembers(ctx, "team@example.org"); err != nil || len(ms) != 0 {
		t.Fatalf("members after kind change = %v, %v", ms, err)
	}
}

func testPreferredAndSource(t *testing.T, s Store) {
	ctx := t.Context()
	mustPutUser(t, s, User{Email: "alice@example.org"})
	c := testCert("alice-enc", "alice@example.org", UsageEncrypt, "")
	c.Source = SourceHarvested
	fp := mustPut(t, s, c)
	other := mustPut(t, s, testCert("bob", "bob@example.org", UsageEncrypt, ""))
	bad := testCert("bad", "x@example.org", UsageSign, "")
	bad.Source = "mystery"
	wantErr(t, s.PutCertificate(ctx, bad, actor), ErrInvalid)

	if got, err := s.ListCertificates(ctx, CertFilter{Source: SourceHarvested}); err != nil || len(got) != 1 || got[0].Fingerprint != fp {
		t.Fatalf("ListCertificates(source harvested) = %v, %v", got, err)
	}
	if got, err := s.GetCertificate(ctx, fp); err != nil || got.Source != SourceHarvested {
		t.Fatalf("GetCertificate source = %+v, %v", got, err)
	}

	before := lastAuditID(t, s)
	if err := s.SetPreferred(ctx, "alice@example.org", UsageEncrypt, fp, actor); err != nil {
		t.Fatal(err)
	}
	expectOneAudit(t, s, before, ActionPreferredSet, "alice@example.org")
	u, err := s.GetUser(ctx, "alice@example.org")
	if err != nil || u.PreferredEncrypt != fp || u.PreferredSign != "" {
		t.Fatalf("preferences = %+v, %v", u, err)
	}
	wantErr(t, s.SetPreferred(ctx, "alice@example.org", UsageEncrypt, other, actor), ErrInvalid)
	wantErr(t, s.SetPreferred(ctx, "alice@example.org", UsageBoth, fp, actor), ErrInvalid)
	wantErr(t, s.SetPreferred(ctx, "nobody@example.org", UsageSign, "", actor), ErrNotFound)
	if err := s.SetPreferred(ctx, "alice@example.org", UsageEncrypt, "", actor); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.GetUser(ctx, "alice@example.org"); u.PreferredEncrypt != "" {
		t.Fatalf("preference not cleared: %+v", u)
	}
}

func testDirectoryAccounts(t *testing.T, s Store) {
	ctx := t.Context()
	_, err := s.DirectoryAccount(ctx, "cn=admin")
	wantErr(t, err, ErrNotFound)
	before := lastAuditID(t, s)
	if err := s.PutDirectoryAccount(ctx, "cn=admin", "$argon2id$hash1", actor); err != nil {
		t.Fatal(err)
	}
	e := expectOneAudit(t, s, before, ActionAccountPut, "cn=admin")
	if e.Detail != "password set" {
		t.Fatalf("audit detail %q must not carry the hash", e.Detail)
	}
	if err := s.PutDirectoryAccount(ctx, "cn=admin", "$argon2id$hash2", actor); err != nil {
		t.Fatal(err)
	}
	if h, err := s.DirectoryAccount(ctx, "cn=admin"); err != nil || h != "$argon2id$hash2" {
		t.Fatalf("hash = %q, %v", h, err)
	}
	wantErr(t, s.PutDirectoryAccount(ctx, "", "h", actor), ErrInvalid)
	wantErr(t, s.PutDirectoryAccount(ctx, "cn=x", "", actor), ErrInvalid)
	if ns, err := s.ListDirectoryAccounts(ctx); err != nil || !slices.Equal(ns, []string{"cn=admin"}) {
		t.Fatalf("accounts = %v, %v", ns, err)
	}
	if err := s.DeleteDirectoryAccount(ctx, "cn=admin", actor); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteDirectoryAccount(ctx, "cn=admin", actor), ErrNotFound)
}

func testChangeMark(t *testing.T, s Store) {
	ctx := t.Context()
	m0, err := s.ChangeMark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m1, _ := s.ChangeMark(ctx); m1 != m0 {
		t.Fatalf("mark moved without a change: %d → %d", m0, m1)
	}
	mustPutUser(t, s, User{Email: "alice@example.org"})
	m1, err := s.ChangeMark(ctx)
	if err != nil || m1 <= m0 {
		t.Fatalf("mark after a change = %d, %v; was %d", m1, err, m0)
	}
	// A refused change moves nothing.
	_ = s.SetAliases(ctx, "nobody@example.org", []string{"a@example.org"}, actor)
	if m2, _ := s.ChangeMark(ctx); m2 != m1 {
		t.Fatalf("mark moved on a refused change: %d → %d", m1, m2)
	}
}
