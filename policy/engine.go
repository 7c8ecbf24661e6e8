package policy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/signet-smime/signet/store"
)

// Engine decides with the settings and rules kept in a store. It reads
// the store on every call, so changes apply to the next message.
type Engine struct {
	Store store.Store
}

var _ Decider = (*Engine)(nil)

// normAddr lower-cases an address and checks it has one @ with text on
// both sides and no spaces or control characters.
func normAddr(addr string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(addr))
	local, domain, ok := strings.Cut(a, "@")
	switch {
	case !ok || strings.Contains(domain, "@"):
		return "", fmt.Errorf("address %q must contain exactly one @", addr)
	case local == "" || domain == "":
		return "", fmt.Errorf("address %q needs a name before the @ and a domain after it", addr)
	case strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", fmt.Errorf("address %q contains a space or control character", addr)
	}
	return a, nil
}

// domainOf returns the lower-case domain of an address ("" if none).
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// Source says in words where a resolved setting came from: "default",
// "organisation", "domain example.org" or "user alice@example.org".
func (s *Smime) Source(name string) string {
	if set, ok := Lookup(name); ok {
		name = set.Name
	}
	switch s.From[name] {
	case LevelOrganisation:
		return LevelOrganisation
	case LevelDomain:
		return LevelDomain + " " + s.Domain
	case LevelUser:
		return LevelUser + " " + s.User
	}
	return "default"
}

// Resolve returns the configuration of a scope: user is an address (its
// domain gives the domain level), or "" for the organisation's. Each
// setting starts at its factory default; the organisation's value replaces
// it, then, for Scoped settings only, the domain's, then the user's. A
// stored value that no longer validates is skipped and reported in
// Warnings, as is a domain or user value of an organisation-only setting.
func (e *Engine) Resolve(ctx context.Context, user string) (*Smime, error) {
	s := &Smime{Values: map[string]string{}, From: map[string]string{}}
	if user != "" {
		a, err := normAddr(user)
		if err != nil {
			return nil, fmt.Errorf("policy: resolve: %w", err)
		}
		s.User, s.Domain = a, domainOf(a)
	}
	if e == nil || e.Store == nil {
		return nil, errors.New("policy: resolve: no store")
	}
	for _, set := range registry {
		s.Values[set.Name] = set.Default
		s.From[set.Name] = LevelFactory
	}
	org, err := e.Store.ListSettings(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: resolve: %w", err)
	}
	for _, o := range org {
		s.apply(LevelOrganisation, "organisation", o.Name, o.Value)
	}
	if s.User != "" {
		for _, lv := range []struct{ level, scope string }{
			{LevelDomain, "domain:" + s.Domain},
			{LevelUser, "user:" + s.User},
		} {
			ss, err := e.Store.ListScopedSettings(ctx, lv.scope)
			if err != nil {
				return nil, fmt.Errorf("policy: resolve %s: %w", s.User, err)
			}
			for _, v := range ss {
				s.apply(lv.level, lv.scope, v.Name, v.Value)
			}
		}
	}
	s.fill()
	return s, nil
}

// apply takes one stored value into s if the setting is known, may be set
// at level, and the value validates.
func (s *Smime) apply(level, scope, name, value string) {
	set, ok := Lookup(name)
	if !ok {
		return // another component's setting
	}
	if level != LevelOrganisation && !set.Scoped {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s set for %s is ignored: it applies to the whole organisation only", set.Name, scope))
		return
	}
	if err := set.Validate(value); err != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s value ignored: %v; %q (%s) applies", scope, err, s.Values[set.Name], s.Source(set.Name)))
		return
	}
	s.Values[set.Name] = value
	s.From[set.Name] = level
}

// fill sets the typed fields from Values (every value has validated).
func (s *Smime) fill() {
	b := func(n string) bool { return s.Values[n] == "true" }
	s.AlwaysSign = b("AlwaysSign")
	s.AlwaysEncrypt = b("AlwaysEncrypt")
	s.ClearSign = b("ClearSign")
	s.TripleWrap = b("TripleWrap")
	s.EncryptionAlgorithms = splitList(s.Values["EncryptionAlgorithms"])
	s.SigningAlgorithm = s.Values["SigningAlgorithms"]
	s.IncludeCertificateChain = s.Values["IncludeCertificateChain"]
	s.SignedEmailCertificateInclusion = b("SignedEmailCertificateInclusion")
	s.IncludeSMIMECapabilities = b("IncludeSMIMECapabilities")
	s.UseKeyIdentifier = b("UseKeyIdentifier")
	s.BCCEncryptedEmailForking, _ = strconv.Atoi(s.Values["BCCEncryptedEmailForking"])
	s.NoCertificateAction = s.Values["NoCertificateAction"]
	s.EncryptToSelf = b("EncryptToSelf")
	s.CheckCRLOnSend = b("CheckCRLOnSend")
	s.LocalToLocal = s.Values["LocalToLocal"]
	s.InboundSubjectTag = s.Values["InboundSubjectTag"]
}

// Set validates and stores a setting for a scope: "" for the organisation,
// "domain:DOMAIN" or "user:ADDRESS". The name may be in any case; the
// canonical one is stored. Organisation-only settings are refused for a
// domain or user.
func (e *Engine) Set(ctx context.Context, scope, name, value, actor string) error {
	set, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("policy: unknown setting %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if err := set.Validate(value); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if scope == "" {
		return e.Store.SetSetting(ctx, set.Name, value, actor)
	}
	if !set.Scoped {
		return fmt.Errorf("policy: %s applies to the whole organisation only; it cannot be set for %s", set.Name, scope)
	}
	return e.Store.SetScopedSetting(ctx, scope, set.Name, value, actor)
}

// Unset removes a domain's or user's value of a setting, so the next
// level's applies again; store.ErrNotFound if it was not set.
func (e *Engine) Unset(ctx context.Context, scope, name, actor string) error {
	if set, ok := Lookup(name); ok {
		name = set.Name
	}
	return e.Store.DeleteScopedSetting(ctx, scope, name, actor)
}
