package directory

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/store"
)

func memberAddresses(e *Expansion) []string {
	var out []string
	for _, m := range e.Members {
		out = append(out, m.Address)
	}
	return out
}

func TestExpandNested(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{"alice@example.org", "bob@example.org", "nocert@example.org"} {
		f.user(m, store.KindMailbox)
	}
	f.put(f.issue("alice@example.org", testpki.P256, nil), store.UsageEncrypt, store.SourceIssued)
	f.put(f.issue("bob@example.org", testpki.RSA2048, nil), store.UsageEncrypt, store.SourceIssued)
	f.user("kim@partner.example", store.KindContact)
	f.put(f.issue("kim@partner.example", testpki.P256, nil), store.UsageEncrypt, store.SourceContact)
	// g1 → g2 → g3 → g1 (a cycle), three levels deep; g3 also reaches g2b
	// through g1's other member: a diamond, expanded once.
	f.user("g1@example.org", store.KindGroup, "all@example.org")
	f.user("g2@example.org", store.KindGroup)
	f.user("g3@example.org", store.KindGroup)
	f.user("g2b@example.org", store.KindGroup)
	set := func(g string, members ...string) {
		if err := f.st.SetGroupMembers(f.ctx, g, members, actor); err != nil {
			t.Fatal(err)
		}
	}
	set("g1@example.org", "alice@example.org", "ext@remote.example", "g2@example.org", "g2b@example.org")
	set("g2@example.org", "bob@example.org", "g3@example.org")
	set("g3@example.org", "alice@example.org", "all@example.org", "g2b@example.org", "nocert@example.org")
	set("g2b@example.org", "kim@partner.example")

	up := &spy{}
	l := &Lookup{Store: f.st, Upstream: up.hook}
	e, err := l.Expand(context.Background(), "g1@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if e.Group != "g1@example.org" || e.TimedOut || len(e.Unexpanded) != 0 {
		t.Errorf("group %q timed out %v unexpanded %q", e.Group, e.TimedOut, e.Unexpanded)
	}
	want := []string{"alice@example.org", "ext@remote.example", "bob@example.org", "kim@partner.example", "nocert@example.org"}
	if got := memberAddresses(e); !slices.Equal(got, want) {
		t.Errorf("members %q, want %q", got, want)
	}
	if want := []string{"ext@remote.example", "nocert@example.org"}; !slices.Equal(e.Missing, want) {
		t.Errorf("missing %q, want %q", e.Missing, want)
	}
	if want := []string{"g1@example.org → g2@example.org → g3@example.org → g1@example.org"}; !slices.Equal(e.Loops, want) {
		t.Errorf("loops %q, want %q", e.Loops, want)
	}
	for _, m := range e.Members {
		if m.Group {
			t.Errorf("a group among the members: %s", m.Address)
		}
		if (m.Address == "kim@partner.example") != (m.Source() == SourceContact) {
			t.Errorf("%s found in %q", m.Address, m.Source())
		}
	}
	if e.Usable() {
		t.Error("an expansion with members missing certificates is usable")
	}
	// Only the members without a certificate in the store went upstream.
	if got := up.called(); !slices.Equal(got, []string{"ext@remote.example", "nocert@example.org"}) {
		t.Errorf("upstream calls %q", got)
	}

	// By the group's alias, the same expansion.
	e2, err := l.Expand(context.Background(), "all@example.org")
	if err != nil || e2.Group != "g1@example.org" || !slices.Equal(memberAddresses(e2), want) {
		t.Errorf("by alias: %+v, %v", e2, err)
	}
}

func TestExpandNotAGroup(t *testing.T) {
	f := newFixture(t)
	f.user("alice@example.org", store.KindMailbox)
	f.put(f.issue("alice@example.org", testpki.P256, nil), store.UsageEncrypt, store.SourceIssued)
	l := &Lookup{Store: f.st}
	for _, addr := range []string{"alice@example.org", "stranger@remote.example"} {
		e, err := l.Expand(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		if e.Group != "" || len(e.Members) != 1 || e.Members[0].Address != addr || len(e.Loops) != 0 {
			t.Errorf("%s: %+v", addr, e)
		}
		if (addr == "alice@example.org") != e.Usable() {
			t.Errorf("%s: usable %v, missing %q", addr, e.Usable(), e.Missing)
		}
	}
	// An empty group.
	f.group("empty@example.org")
	e, err := l.Expand(context.Background(), "empty@example.org")
	if err != nil || e.Group != "empty@example.org" || len(e.Members) != 0 || e.Usable() {
		t.Errorf("empty group: %+v, %v", e, err)
	}
}

func TestExpandTimeout(t *testing.T) {
	f := newFixture(t)
	f.user("a-first@example.org", store.KindMailbox)
	f.put(f.issue("a-first@example.org", testpki.P256, nil), store.UsageEncrypt, store.SourceIssued)
	f.group("zz-nested@example.org", "never@example.org")
	f.group("slow@example.org", "a-first@example.org", "m-blocks@remote.example", "z-last@remote.example", "zz-nested@example.org")
	var blocked []string
	l := &Lookup{
		Store:              f.st,
		DLExpansionTimeout: 50 * time.Millisecond,
		// The upstream directory hangs until the budget is spent.
		Upstream: func(ctx context.Context, addr string) ([]*x509.Certificate, error) {
			blocked = append(blocked, addr)
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
	e, err := l.Expand(context.Background(), "slow@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !e.TimedOut {
		t.Fatal("not timed out")
	}
	if got := memberAddresses(e); !slices.Equal(got, []string{"a-first@example.org"}) {
		t.Errorf("members %q", got)
	}
	if want := []string{"m-blocks@remote.example", "z-last@remote.example", "zz-nested@example.org"}; !slices.Equal(e.Unexpanded, want) {
		t.Errorf("unexpanded %q, want %q", e.Unexpanded, want)
	}
	if len(e.Missing) != 0 || e.Usable() {
		t.Errorf("missing %q usable %v", e.Missing, e.Usable())
	}
	if !slices.Equal(blocked, []string{"m-blocks@remote.example"}) {
		t.Errorf("upstream asked for %q", blocked)
	}

	// The caller's own context ending is an error, not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	l.Upstream = func(context.Context, string) ([]*x509.Certificate, error) {
		cancel()
		return nil, context.Canceled
	}
	l.DLExpansionTimeout = time.Hour
	if _, err := l.Expand(ctx, "slow@example.org"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
