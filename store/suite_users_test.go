package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustPutUser(t *testing.T, s Store, u User) {
	t.Helper()
	if err := s.PutUser(t.Context(), u, actor); err != nil {
		t.Fatalf("PutUser(%s): %v", u.Email, err)
	}
}

func userEmails(us []User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Email)
	}
	return out
}

func testUserRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	_, err := s.GetUser(ctx, "alice@example.org")
	wantErr(t, err, ErrNotFound)
	if us, err := s.ListUsers(ctx, UserFilter{}); err != nil || len(us) != 0 {
		t.Fatalf("ListUsers on an empty store = %+v, %v", us, err)
	}

	// Created with mixed case: stored and audited in lower case, active.
	created := time.Date(2025, 6, 1, 8, 0, 0, 750, time.FixedZone("CEST", 7200))
	before := lastAuditID(t, s)
	mustPutUser(t, s, User{Email: "Alice@Example.ORG", DisplayName: "Alice", CreatedAt: created})
	e := expectOneAudit(t, s, before, ActionUserPut, "alice@example.org")
	if !strings.HasPrefix(e.Detail, "created") || !strings.Contains(e.Detail, `"Alice"`) ||
		!strings.Contains(e.Detail, "status=active") {
		t.Errorf("audit detail = %q", e.Detail)
	}
	for _, addr := range []string{"alice@example.org", "ALICE@EXAMPLE.ORG", "aLiCe@example.Org"} {
		got, err := s.GetUser(ctx, addr)
		if err != nil {
			t.Fatalf("GetUser(%q): %v", addr, err)
		}
		if got.Email != "alice@example.org" || got.DisplayName != "Alice" || got.Status != UserActive ||
			!got.CreatedAt.Equal(created.Truncate(time.Second)) || got.CreatedAt.Location() != time.UTC ||
			time.Since(got.UpdatedAt) > time.Minute || got.UpdatedAt.Location() != time.UTC {
			t.Fatalf("GetUser(%q) = %+v", addr, got)
		}
	}

	// Update: display name and status change, CreatedAt stays.
	before = lastAuditID(t, s)
	mustPutUser(t, s, User{Email: "ALICE@example.org", DisplayName: "Alice Smith", Status: UserDisabled,
		CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	e = expectOneAudit(t, s, before, ActionUserPut, "alice@example.org")
	for _, want := range []string{"updated", `"Alice Smith"`, "status=disabled", `was display_name="Alice" status=active`} {
		if !strings.Contains(e.Detail, want) {
			t.Errorf("update audit detail %q lacks %q", e.Detail, want)
		}
	}
	got, err := s.GetUser(ctx, "alice@example.org")
	if err != nil || got.DisplayName != "Alice Smith" || got.Status != UserDisabled ||
		!got.CreatedAt.Equal(created.Truncate(time.Second)) {
		t.Fatalf("after update: %+v, %v", got, err)
	}
	// An empty status leaves an existing user's status alone…
	mustPutUser(t, s, User{Email: "alice@example.org", DisplayName: "A. Smith"})
	if got, _ := s.GetUser(ctx, "alice@example.org"); got.Status != UserDisabled || got.DisplayName != "A. Smith" {
		t.Fatalf("empty status re-enabled or lost the name: %+v", got)
	}
	// …and an explicit one re-enables.
	mustPutUser(t, s, User{Email: "alice@example.org", DisplayName: "A. Smith", Status: UserActive})
	if got, _ := s.GetUser(ctx, "alice@example.org"); got.Status != UserActive {
		t.Fatalf("explicit active status: %+v", got)
	}
	// A zero CreatedAt on insert is now; an empty display name is allowed.
	mustPutUser(t, s, User{Email: "bob@example.org", Status: UserDisabled})
	if got, err := s.GetUser(ctx, "bob@example.org"); err != nil || got.DisplayName != "" ||
		got.Status != UserDisabled || time.Since(got.CreatedAt) > time.Minute {
		t.Fatalf("GetUser(bob) = %+v, %v", got, err)
	}
	if us, err := s.ListUsers(ctx, UserFilter{}); err != nil || len(us) != 2 {
		t.Fatalf("upserts created duplicates: %+v, %v", us, err)
	}
}

func testUserValidation(t *testing.T, s Store) {
	ctx := t.Context()
	bad := []string{"", "alice", "alice@@example.org", "a@b@example.org", "@example.org", "alice@",
		"@", "al ice@example.org", " alice@example.org", "alice@example.org ", "alice@exa\tmple.org",
		"alice@example.org\n", "ali\x00ce@example.org", "alice\u00a0@example.org"}
	for _, addr := range bad {
		if err := s.PutUser(ctx, User{Email: addr, DisplayName: "x"}, actor); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutUser(%q) error = %v, want ErrInvalid", addr, err)
		}
		if _, err := s.GetUser(ctx, addr); !errors.Is(err, ErrInvalid) {
			t.Errorf("GetUser(%q) error = %v, want ErrInvalid", addr, err)
		}
		if err := s.DisableUser(ctx, addr, actor); !errors.Is(err, ErrInvalid) {
			t.Errorf("DisableUser(%q) error = %v, want ErrInvalid", addr, err)
		}
		if err := s.DeleteUser(ctx, addr, actor); !errors.Is(err, ErrInvalid) {
			t.Errorf("DeleteUser(%q) error = %v, want ErrInvalid", addr, err)
		}
	}
	err := s.PutUser(ctx, User{Email: "a@b@example.org"}, actor)
	if err == nil || !strings.Contains(err.Error(), "exactly one @") {
		t.Errorf("two @: error %v does not say what is wrong", err)
	}
	wantErr(t, s.PutUser(ctx, User{Email: "alice@example.org", Status: "paused"}, actor), ErrInvalid)
	wantErr(t, s.PutUser(ctx, User{Email: "alice@example.org"}, ""), ErrInvalid)
	if us, err := s.ListUsers(ctx, UserFilter{}); err != nil || len(us) != 0 {
		t.Fatalf("invalid users were stored: %+v, %v", us, err)
	}
	if id := lastAuditID(t, s); id != 0 {
		t.Fatalf("rejected user calls wrote audit entries (last id %d)", id)
	}
	// Unusual but valid addresses are accepted.
	for _, addr := range []string{"a@b", "first.last+tag@sub.example.org", "o'neil@example.org", "jörg@bücher.example"} {
		if err := s.PutUser(ctx, User{Email: addr}, actor); err != nil {
			t.Errorf("PutUser(%q): %v", addr, err)
		}
	}
	if got, err := s.GetUser(ctx, "JÖRG@BÜCHER.EXAMPLE"); err != nil || got.Email != "jörg@bücher.example" {
		t.Errorf("non-ASCII address: %+v, %v", got, err)
	}
}

func testListUsers(t *testing.T, s Store) {
	ctx := t.Context()
	for _, u := range []User{
		{Email: "carol@example.org", DisplayName: "Carol"},
		{Email: "Alice@example.org", DisplayName: "Alice"},
		{Email: "dave@example.org", DisplayName: "Dave", Status: UserDisabled},
		{Email: "bob@example.net", DisplayName: "Bob"},
		{Email: "alan@example.org", DisplayName: "Alan", Status: UserDisabled},
		{Email: "a_b@example.org", DisplayName: "A B"},
		{Email: "a%c@example.org", DisplayName: "A C"},
	} {
		mustPutUser(t, s, u)
	}
	before := lastAuditID(t, s)
	cases := []struct {
		f    UserFilter
		want []string
	}{
		{UserFilter{}, []string{"a%c@example.org", "a_b@example.org", "alan@example.org", "alice@example.org",
			"bob@example.net", "carol@example.org", "dave@example.org"}},
		{UserFilter{Status: UserActive}, []string{"a%c@example.org", "a_b@example.org", "alice@example.org",
			"bob@example.net", "carol@example.org"}},
		{UserFilter{Status: UserDisabled}, []string{"alan@example.org", "dave@example.org"}},
		{UserFilter{Prefix: "AL"}, []string{"alan@example.org", "alice@example.org"}},
		{UserFilter{Prefix: "al", Status: UserActive}, []string{"alice@example.org"}},
		{UserFilter{Prefix: "alice@example.org"}, []string{"alice@example.org"}},
		{UserFilter{Prefix: "b"}, []string{"bob@example.net"}},
		{UserFilter{Prefix: "x"}, nil},
		// LIKE wildcards in the prefix are literal characters.
		{UserFilter{Prefix: "a_"}, []string{"a_b@example.org"}},
		{UserFilter{Prefix: "a%"}, []string{"a%c@example.org"}},
		{UserFilter{Prefix: "%"}, nil},
		{UserFilter{Prefix: "_lice"}, nil},
		{UserFilter{Prefix: `a\`}, nil},
		{UserFilter{Limit: 2}, []string{"a%c@example.org", "a_b@example.org"}},
		{UserFilter{Prefix: "al", Limit: 1}, []string{"alan@example.org"}},
		{UserFilter{Status: UserDisabled, Limit: 5}, []string{"alan@example.org", "dave@example.org"}},
	}
	for _, tc := range cases {
		us, err := s.ListUsers(ctx, tc.f)
		if err != nil {
			t.Fatalf("ListUsers(%+v): %v", tc.f, err)
		}
		if got := userEmails(us); !slices.Equal(got, tc.want) {
			t.Errorf("ListUsers(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	us, _ := s.ListUsers(ctx, UserFilter{Prefix: "dave"})
	if len(us) != 1 || us[0].DisplayName != "Dave" || us[0].Status != UserDisabled || us[0].CreatedAt.IsZero() {
		t.Fatalf("ListUsers fields = %+v", us)
	}
	_, err := s.ListUsers(ctx, UserFilter{Limit: -1})
	wantErr(t, err, ErrInvalid)
	_, err = s.ListUsers(ctx, UserFilter{Status: "paused"})
	wantErr(t, err, ErrInvalid)
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("ListUsers wrote audit entries: %+v", es)
	}
}

func testDisableUser(t *testing.T, s Store) {
	ctx := t.Context()
	before := lastAuditID(t, s)
	wantErr(t, s.DisableUser(ctx, "nobody@example.org", actor), ErrNotFound)
	mustPutUser(t, s, User{Email: "erin@example.org", DisplayName: "Erin"})
	fp := mustPut(t, s, testCert("erin", "erin@example.org", UsageSign, issuerA))
	wantErr(t, s.DisableUser(ctx, "erin@example.org", ""), ErrInvalid)
	if got, _ := s.GetUser(ctx, "erin@example.org"); got.Status != UserActive {
		t.Fatal("DisableUser without actor disabled the user")
	}
	if es := auditAfter(t, s, before); len(es) != 2 { // PutUser and PutCertificate only
		t.Fatalf("failed DisableUser calls wrote audit entries: %+v", es)
	}

	before = lastAuditID(t, s)
	if err := s.DisableUser(ctx, "Erin@Example.org", actor); err != nil {
		t.Fatal(err)
	}
	e := expectOneAudit(t, s, before, ActionUserDisable, "erin@example.org")
	if !strings.Contains(e.Detail, "status=disabled") || !strings.Contains(e.Detail, "was active") ||
		!strings.Contains(e.Detail, "certificates kept=1") {
		t.Errorf("audit detail = %q", e.Detail)
	}
	got, err := s.GetUser(ctx, "erin@example.org")
	if err != nil || got.Status != UserDisabled || got.DisplayName != "Erin" || time.Since(got.UpdatedAt) > time.Minute {
		t.Fatalf("after DisableUser: %+v, %v", got, err)
	}
	// The certificates stay, valid.
	c, err := s.GetCertificate(ctx, fp)
	if err != nil || c.Status != StatusValid {
		t.Fatalf("certificate after DisableUser: %+v, %v", c, err)
	}
	if list, _ := s.ListCertificates(ctx, CertFilter{Email: "erin@example.org"}); len(list) != 1 {
		t.Fatalf("certificates listed after DisableUser: %+v", list)
	}
	// Disabling again succeeds and is recorded.
	before = lastAuditID(t, s)
	if err := s.DisableUser(ctx, "erin@example.org", actor); err != nil {
		t.Fatalf("second DisableUser: %v", err)
	}
	if e := expectOneAudit(t, s, before, ActionUserDisable, "erin@example.org"); !strings.Contains(e.Detail, "was disabled") {
		t.Errorf("second disable detail = %q", e.Detail)
	}
}

func testDeleteUser(t *testing.T, s Store) {
	ctx := t.Context()
	before := lastAuditID(t, s)
	wantErr(t, s.DeleteUser(ctx, "nobody@example.org", actor), ErrNotFound)
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("DeleteUser of a missing user wrote audit entries: %+v", es)
	}

	// A certificate for the primary address, one naming the address only in
	// its list, and a revoked one: each blocks deletion.
	primary := testCert("frank", "frank@example.org", UsageSign, issuerA)
	secondary := testCert("grace", "grace.main@example.org", UsageSign, issuerA)
	secondary.Emails = []string{"grace.main@example.org", "Grace@example.org"}
	revoked := testCert("heidi", "heidi@example.org", UsageEncrypt, issuerA)
	for _, u := range []string{"frank@example.org", "grace@example.org", "heidi@example.org", "ivan@example.org"} {
		mustPutUser(t, s, User{Email: u, DisplayName: u})
	}
	mustPut(t, s, primary)
	mustPut(t, s, secondary)
	if err := s.RevokeCertificate(ctx, mustPut(t, s, revoked), 4, time.Time{}, actor); err != nil {
		t.Fatal(err)
	}
	before = lastAuditID(t, s)
	for _, u := range []string{"frank@example.org", "GRACE@example.org", "heidi@example.org"} {
		err := s.DeleteUser(ctx, u, actor)
		wantErr(t, err, ErrInvalid)
		if msg := err.Error(); !strings.Contains(msg, "certificate") || !strings.Contains(msg, "disable") ||
			!strings.Contains(msg, strings.ToLower(u)) {
			t.Errorf("DeleteUser(%s) refusal is not clear: %v", u, err)
		}
		if _, err := s.GetUser(ctx, u); err != nil {
			t.Errorf("refused DeleteUser(%s) removed the user: %v", u, err)
		}
	}
	wantErr(t, s.DeleteUser(ctx, "ivan@example.org", ""), ErrInvalid)
	if es := auditAfter(t, s, before); len(es) != 0 {
		t.Fatalf("refused DeleteUser calls wrote audit entries: %+v", es)
	}

	before = lastAuditID(t, s)
	if err := s.DeleteUser(ctx, "Ivan@Example.ORG", actor); err != nil {
		t.Fatal(err)
	}
	e := expectOneAudit(t, s, before, ActionUserDelete, "ivan@example.org")
	if !strings.Contains(e.Detail, "ivan@example.org") || !strings.Contains(e.Detail, "status=active") {
		t.Errorf("audit detail = %q", e.Detail)
	}
	_, err := s.GetUser(ctx, "ivan@example.org")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.DeleteUser(ctx, "ivan@example.org", actor), ErrNotFound)
	if us, _ := s.ListUsers(ctx, UserFilter{}); !slices.Equal(userEmails(us),
		[]string{"frank@example.org", "grace@example.org", "heidi@example.org"}) {
		t.Fatalf("users after delete: %v", userEmails(us))
	}
	// A deleted address can be created again.
	mustPutUser(t, s, User{Email: "ivan@example.org", DisplayName: "Ivan again"})
	if got, err := s.GetUser(ctx, "ivan@example.org"); err != nil || got.DisplayName != "Ivan again" {
		t.Fatalf("re-created user: %+v, %v", got, err)
	}
}
