package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Cached wraps a Store with a read cache for the hot paths of a
// long-running server (the gateway asks for the same settings, rules,
// recipients and certificates for every message). Every cached answer is
// dropped as soon as the store changes: a change made through the wrapper
// clears the cache at once, and a change made by another process (the
// command line) is seen through ChangeMark, checked at most every
// recheck (so such a change takes effect within recheck). Errors are not
// cached. Slices returned are copies; their elements are shared and must
// not be modified.
func Cached(s Store, recheck time.Duration) Store {
	return &cachedStore{Store: s, recheck: recheck, entries: map[string]any{}}
}

type cachedStore struct {
	Store
	recheck time.Duration

	mu      sync.Mutex
	mark    int64
	checked time.Time
	entries map[string]any
}

// fresh drops the cache when the store's change mark moved.
func (c *cachedStore) fresh(ctx context.Context) {
	c.mu.Lock()
	due := time.Since(c.checked) >= c.recheck
	c.mu.Unlock()
	if !due {
		return
	}
	if _, err := c.ChangeMark(ctx); err != nil {
		c.mu.Lock()
		c.entries = map[string]any{}
		c.mu.Unlock()
	}
}

func (c *cachedStore) clear() {
	c.mu.Lock()
	c.entries, c.checked = map[string]any{}, time.Time{}
	c.mu.Unlock()
}

// cached returns the cached value of key, or computes and keeps it.
func cached[T any](ctx context.Context, c *cachedStore, key string, get func() (T, error), cp func(T) T) (T, error) {
	c.fresh(ctx)
	c.mu.Lock()
	v, ok := c.entries[key]
	c.mu.Unlock()
	if ok {
		return cp(v.(T)), nil
	}
	val, err := get()
	if err != nil {
		return val, err
	}
	c.mu.Lock()
	c.entries[key] = val
	c.mu.Unlock()
	return cp(val), nil
}

func same[T any](v T) T { return v }

type settingValue struct {
	v  string
	ok bool
}

func (c *cachedStore) GetSetting(ctx context.Context, name string) (string, bool, error) {
	sv, err := cached(ctx, c, "setting\x00"+name, func() (settingValue, error) {
		v, ok, err := c.Store.GetSetting(ctx, name)
		return settingValue{v, ok}, err
	}, same[settingValue])
	return sv.v, sv.ok, err
}

func (c *cachedStore) ListSettings(ctx context.Context) ([]Setting, error) {
	return cached(ctx, c, "settings", func() ([]Setting, error) { return c.Store.ListSettings(ctx) }, slices.Clone[[]Setting])
}

func (c *cachedStore) ListScopedSettings(ctx context.Context, scope string) ([]ScopedSetting, error) {
	return cached(ctx, c, "scoped\x00"+scope, func() ([]ScopedSetting, error) { return c.Store.ListScopedSettings(ctx, scope) },
		slices.Clone[[]ScopedSetting])
}

func (c *cachedStore) ListRules(ctx context.Context) ([]PolicyRule, error) {
	return cached(ctx, c, "rules", func() ([]PolicyRule, error) { return c.Store.ListRules(ctx) }, slices.Clone[[]PolicyRule])
}

func (c *cachedStore) ListCertificates(ctx context.Context, f CertFilter) ([]Certificate, error) {
	if f.Email == "" {
		// Whole-store listings (the LDAP snapshot, CRLs) are rare and
		// large: not kept.
		return c.Store.ListCertificates(ctx, f)
	}
	tp := "-"
	if f.ThirdParty != nil {
		tp = fmt.Sprint(*f.ThirdParty)
	}
	key := fmt.Sprintf("certs\x00%s\x00%s\x00%t\x00%s\x00%s\x00%s", f.Email, f.Usage, f.IncludeRevoked, f.IssuerFingerprint, tp, f.Source)
	return cached(ctx, c, key, func() ([]Certificate, error) { return c.Store.ListCertificates(ctx, f) }, slices.Clone[[]Certificate])
}

func (c *cachedStore) GetCertificate(ctx context.Context, fingerprint string) (*Certificate, error) {
	return cached(ctx, c, "cert\x00"+fingerprint, func() (*Certificate, error) { return c.Store.GetCertificate(ctx, fingerprint) },
		func(p *Certificate) *Certificate { cp := *p; return &cp })
}

type resolved struct {
	u     *User
	alias bool
}

func (c *cachedStore) ResolveAddress(ctx context.Context, addr string) (*User, bool, error) {
	r, err := cached(ctx, c, "resolve\x00"+addr, func() (resolved, error) {
		u, alias, err := c.Store.ResolveAddress(ctx, addr)
		return resolved{u, alias}, err
	}, func(r resolved) resolved {
		u := *r.u
		u.Aliases = slices.Clone(u.Aliases)
		return resolved{&u, r.alias}
	})
	return r.u, r.alias, err
}

func (c *cachedStore) GetUser(ctx context.Context, email string) (*User, error) {
	return cached(ctx, c, "user\x00"+email, func() (*User, error) { return c.Store.GetUser(ctx, email) },
		func(p *User) *User { u := *p; u.Aliases = slices.Clone(u.Aliases); return &u })
}

func (c *cachedStore) GroupMembers(ctx context.Context, group string) ([]string, error) {
	return cached(ctx, c, "members\x00"+group, func() ([]string, error) { return c.Store.GroupMembers(ctx, group) }, slices.Clone[[]string])
}

type caps struct {
	list []string
	at   time.Time
}

func (c *cachedStore) Capabilities(ctx context.Context, email string) ([]string, time.Time, error) {
	r, err := cached(ctx, c, "caps\x00"+email, func() (caps, error) {
		l, at, err := c.Store.Capabilities(ctx, email)
		return caps{l, at}, err
	}, func(v caps) caps { return caps{slices.Clone(v.list), v.at} })
	return r.list, r.at, err
}

func (c *cachedStore) GetCA(ctx context.Context) (*CAInfo, error) {
	return cached(ctx, c, "ca", func() (*CAInfo, error) { return c.Store.GetCA(ctx) },
		func(p *CAInfo) *CAInfo { i := *p; i.Domains = slices.Clone(i.Domains); return &i })
}

// Every change goes to the store and clears the cache.

func (c *cachedStore) SetSetting(ctx context.Context, name, value, actor string) error {
	defer c.clear()
	return c.Store.SetSetting(ctx, name, value, actor)
}
func (c *cachedStore) PutKey(ctx context.Context, k SealedKey, actor string) error {
	defer c.clear()
	return c.Store.PutKey(ctx, k, actor)
}
func (c *cachedStore) DeleteKey(ctx context.Context, id, actor string) error {
	defer c.clear()
	return c.Store.DeleteKey(ctx, id, actor)
}
func (c *cachedStore) PutCertificate(ctx context.Context, cert Certificate, actor string) error {
	defer c.clear()
	return c.Store.PutCertificate(ctx, cert, actor)
}
func (c *cachedStore) RevokeCertificate(ctx context.Context, fp string, reason int, at time.Time, actor string) error {
	defer c.clear()
	return c.Store.RevokeCertificate(ctx, fp, reason, at, actor)
}
func (c *cachedStore) SetCA(ctx context.Context, ca CAInfo, actor string) error {
	defer c.clear()
	return c.Store.SetCA(ctx, ca, actor)
}
func (c *cachedStore) NextCRLNumber(ctx context.Context, actor string) (int64, error) {
	defer c.clear()
	return c.Store.NextCRLNumber(ctx, actor)
}
func (c *cachedStore) PutUser(ctx context.Context, u User, actor string) error {
	defer c.clear()
	return c.Store.PutUser(ctx, u, actor)
}
func (c *cachedStore) DisableUser(ctx context.Context, email, actor string) error {
	defer c.clear()
	return c.Store.DisableUser(ctx, email, actor)
}
func (c *cachedStore) DeleteUser(ctx context.Context, email, actor string) error {
	defer c.clear()
	return c.Store.DeleteUser(ctx, email, actor)
}
func (c *cachedStore) SetAliases(ctx context.Context, email string, aliases []string, actor string) error {
	defer c.clear()
	return c.Store.SetAliases(ctx, email, aliases, actor)
}
func (c *cachedStore) SetGroupMembers(ctx context.Context, group string, members []string, actor string) error {
	defer c.clear()
	return c.Store.SetGroupMembers(ctx, group, members, actor)
}
func (c *cachedStore) SetPreferred(ctx context.Context, email, usage, fp, actor string) error {
	defer c.clear()
	return c.Store.SetPreferred(ctx, email, usage, fp, actor)
}
func (c *cachedStore) PutTrustCert(ctx context.Context, tc TrustCert, actor string) error {
	defer c.clear()
	return c.Store.PutTrustCert(ctx, tc, actor)
}
func (c *cachedStore) PutTrustCerts(ctx context.Context, cs []TrustCert, actor string) error {
	defer c.clear()
	return c.Store.PutTrustCerts(ctx, cs, actor)
}
func (c *cachedStore) DeleteTrustCert(ctx context.Context, fp, actor string) error {
	defer c.clear()
	return c.Store.DeleteTrustCert(ctx, fp, actor)
}
func (c *cachedStore) SetScopedSetting(ctx context.Context, scope, name, value, actor string) error {
	defer c.clear()
	return c.Store.SetScopedSetting(ctx, scope, name, value, actor)
}
func (c *cachedStore) DeleteScopedSetting(ctx context.Context, scope, name, actor string) error {
	defer c.clear()
	return c.Store.DeleteScopedSetting(ctx, scope, name, actor)
}
func (c *cachedStore) PutRule(ctx context.Context, r PolicyRule, actor string) (int64, error) {
	defer c.clear()
	return c.Store.PutRule(ctx, r, actor)
}
func (c *cachedStore) DeleteRule(ctx context.Context, id int64, actor string) error {
	defer c.clear()
	return c.Store.DeleteRule(ctx, id, actor)
}

// SetCapabilities keeps the cache when nothing changes: the gateway
// records a correspondent's ciphers on every signed message.
func (c *cachedStore) SetCapabilities(ctx context.Context, email string, ciphers []string, actor string) error {
	if old, _, err := c.Capabilities(ctx, email); err == nil && slices.Equal(old, ciphers) {
		return c.Store.SetCapabilities(ctx, email, ciphers, actor)
	}
	defer c.clear()
	return c.Store.SetCapabilities(ctx, email, ciphers, actor)
}
func (c *cachedStore) PutDirectoryAccount(ctx context.Context, name, hash, actor string) error {
	defer c.clear()
	return c.Store.PutDirectoryAccount(ctx, name, hash, actor)
}
func (c *cachedStore) DeleteDirectoryAccount(ctx context.Context, name, actor string) error {
	defer c.clear()
	return c.Store.DeleteDirectoryAccount(ctx, name, actor)
}

// ChangeMark asks the store, and drops the cache when the mark moved, so
// that a caller who sees a new mark reads fresh data after it.
func (c *cachedStore) ChangeMark(ctx context.Context) (int64, error) {
	m, err := c.Store.ChangeMark(ctx)
	if err != nil {
		return m, err
	}
	c.mu.Lock()
	if m != c.mark {
		c.mark, c.entries = m, map[string]any{}
	}
	c.checked = time.Now()
	c.mu.Unlock()
	return m, nil
}
