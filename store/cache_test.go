package store

import (
	"testing"
	"time"
)

// TestCachedSuite: the whole store suite through the cache (rechecking
// the change mark on every read): caching must never change an answer.
func TestCachedSuite(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) Store { return Cached(openTemp(t), 0) })
}

// TestCachedCachesAndSeesChanges: reads are served from the cache until the
// store changes — at once for changes through the wrapper, after the
// recheck interval for changes by another process.
func TestCachedCachesAndSeesChanges(t *testing.T) {
	ctx := t.Context()
	raw := openTemp(t)
	other, err := Open(ctx, raw.Path()) // another process's view
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c := Cached(raw, time.Hour).(*cachedStore)
	if err := raw.SetSetting(ctx, "AlwaysSign", "false", actor); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := c.GetSetting(ctx, "AlwaysSign"); v != "false" {
		t.Fatalf("first read %q", v)
	}
	if err := other.SetSetting(ctx, "AlwaysSign", "true", actor); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := c.GetSetting(ctx, "AlwaysSign"); v != "false" {
		t.Fatalf("within the recheck interval the cached value is expected, got %q (not caching?)", v)
	}
	c.mu.Lock()
	c.checked = time.Time{} // the interval has passed
	c.mu.Unlock()
	if v, _, _ := c.GetSetting(ctx, "AlwaysSign"); v != "true" {
		t.Fatalf("after the recheck a change by another process must show, got %q", v)
	}
	// Through the wrapper: at once.
	if err := c.SetSetting(ctx, "AlwaysSign", "false", actor); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := c.GetSetting(ctx, "AlwaysSign"); v != "false" {
		t.Fatalf("a change through the wrapper must show at once, got %q", v)
	}
	// Returned slices are copies.
	mustPutUser(t, c, User{Email: "a@example.org"})
	if err := c.SetAliases(ctx, "a@example.org", []string{"b@example.org"}, actor); err != nil {
		t.Fatal(err)
	}
	u, _, _ := c.ResolveAddress(ctx, "b@example.org")
	u.Aliases[0] = "mutated@example.org"
	if u2, _, _ := c.ResolveAddress(ctx, "b@example.org"); u2.Aliases[0] != "b@example.org" {
		t.Fatal("a caller's change leaked into the cache")
	}
}

// TestCachedChangeMark: whoever sees a new change mark reads fresh data
// (the LDAP server rebuilds its snapshot when the mark moves).
func TestCachedChangeMark(t *testing.T) {
	ctx := t.Context()
	raw := openTemp(t)
	other, err := Open(ctx, raw.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c := Cached(raw, time.Hour)
	mustPutUser(t, c, User{Email: "a@example.org", DisplayName: "A"})
	if u, _ := c.GetUser(ctx, "a@example.org"); u.DisplayName != "A" {
		t.Fatal(u)
	}
	m0, _ := c.ChangeMark(ctx)
	mustPutUser(t, other, User{Email: "a@example.org", DisplayName: "B"})
	m1, _ := c.ChangeMark(ctx)
	if m1 == m0 {
		t.Fatal("the mark did not move")
	}
	if u, _ := c.GetUser(ctx, "a@example.org"); u.DisplayName != "B" {
		t.Fatalf("after a new mark the cache still answers %q", u.DisplayName)
	}
}
