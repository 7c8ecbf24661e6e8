package pki_test

import (
	"context"
	"testing"

	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
)

// TestIssueRecordsUser checks that issuing makes the address a user of the
// organisation and keeps its display name, which PKCS #12 exports use.
func TestIssueRecordsUser(t *testing.T) {
	ctx := context.Background()
	s := newOrg(t)
	if _, err := s.Issue(ctx, pki.IssueOptions{Email: "Erin@Example.org", Name: "Erin Example", Usage: "sign"}); err != nil {
		t.Fatal(err)
	}
	u, err := s.Store.GetUser(ctx, "erin@example.org")
	if err != nil || u.DisplayName != "Erin Example" || u.Status != store.UserActive {
		t.Fatalf("user %+v, %v", u, err)
	}
	// A later issue without a name keeps it; one with a new name changes it.
	if _, err := s.Issue(ctx, pki.IssueOptions{Email: "erin@example.org", Usage: "encrypt"}); err != nil {
		t.Fatal(err)
	}
	if got := s.DisplayName(ctx, "erin@example.org"); got != "Erin Example" {
		t.Fatalf("display name %q after an unnamed issue", got)
	}
	if _, err := s.Issue(ctx, pki.IssueOptions{Email: "erin@example.org", Name: "Erin E.", Usage: "encrypt"}); err != nil {
		t.Fatal(err)
	}
	if got := s.DisplayName(ctx, "erin@example.org"); got != "Erin E." {
		t.Fatalf("display name %q, want the new one", got)
	}
}
