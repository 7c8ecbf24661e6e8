package policy

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signet-smime/signet/store"
)

const actor = "test:policy"

func newEngine(t *testing.T) (*Engine, context.Context) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Engine{Store: st}, ctx
}

// set stores a value directly (no validation): "" scope is the
// organisation.
func set(t *testing.T, e *Engine, scope, name, value string) {
	t.Helper()
	var err error
	if scope == "" {
		err = e.Store.SetSetting(context.Background(), name, value, actor)
	} else {
		err = e.Store.SetScopedSetting(context.Background(), scope, name, value, actor)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func resolve(t *testing.T, e *Engine, user string) *Smime {
	t.Helper()
	s, err := e.Resolve(context.Background(), user)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", user, err)
	}
	return s
}

// want checks one setting's value and level.
func want(t *testing.T, s *Smime, name, value, level string) {
	t.Helper()
	if s.Values[name] != value || s.From[name] != level {
		t.Errorf("%s for %q: %q from %q; want %q from %q", name, s.User, s.Values[name], s.From[name], value, level)
	}
}

func TestResolveDefaults(t *testing.T) {
	e, _ := newEngine(t)
	s := resolve(t, e, "")
	if len(s.Values) != len(registry) || len(s.From) != len(registry) {
		t.Errorf("%d values, %d levels; want %d", len(s.Values), len(s.From), len(registry))
	}
	for _, set := range registry {
		want(t, s, set.Name, set.Default, LevelFactory)
	}
	if s.AlwaysSign || s.AlwaysEncrypt || !s.ClearSign || s.TripleWrap ||
		!slices.Equal(s.EncryptionAlgorithms, []string{"aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"}) ||
		s.SigningAlgorithm != "sha256" || s.IncludeCertificateChain != "chain" || !s.SignedEmailCertificateInclusion ||
		!s.IncludeSMIMECapabilities || s.UseKeyIdentifier || s.BCCEncryptedEmailForking != 0 ||
		s.NoCertificateAction != NoCertSendSigned || !s.EncryptToSelf || s.CheckCRLOnSend ||
		s.LocalToLocal != "pass" || s.InboundSubjectTag != "" || s.User != "" || s.Domain != "" || len(s.Warnings) != 0 {
		t.Errorf("defaults: %+v", s)
	}
	if src := s.Source("alwayssign"); src != "default" {
		t.Errorf("Source = %q", src)
	}
}

func TestResolveLevels(t *testing.T) {
	e, _ := newEngine(t)
	set(t, e, "", "AlwaysSign", "true")
	set(t, e, "", "ClearSign", "false")
	set(t, e, "", "alwaysencrypt", "false") // any case of the name
	set(t, e, "", "BCCEncryptedEmailForking", "2")
	set(t, e, "", "CheckCRLOnSend", "true")
	set(t, e, "", "SomeoneElsesSetting", "x") // not ours: ignored without a warning
	set(t, e, "domain:example.org", "AlwaysEncrypt", "true")
	set(t, e, "domain:example.org", "SigningAlgorithms", "sha384")
	set(t, e, "domain:example.org", "InboundSubjectTag", "[unsigned]")
	set(t, e, "user:alice@example.org", "SigningAlgorithms", "sha512")
	set(t, e, "user:alice@example.org", "EncryptionAlgorithms", "aes128-cbc, aes256-cbc")
	set(t, e, "user:alice@example.org", "NoCertificateAction", "refuse")
	set(t, e, "domain:other.org", "AlwaysSign", "false")

	org := resolve(t, e, "")
	want(t, org, "AlwaysSign", "true", LevelOrganisation)
	want(t, org, "AlwaysEncrypt", "false", LevelOrganisation)
	want(t, org, "SigningAlgorithms", "sha256", LevelFactory)
	if !org.AlwaysSign || org.ClearSign || org.BCCEncryptedEmailForking != 2 || !org.CheckCRLOnSend || len(org.Warnings) != 0 {
		t.Errorf("organisation: %+v", org)
	}

	bob := resolve(t, e, "Bob@Example.ORG")
	if bob.User != "bob@example.org" || bob.Domain != "example.org" {
		t.Errorf("scope %q %q", bob.User, bob.Domain)
	}
	want(t, bob, "AlwaysEncrypt", "true", LevelDomain)
	want(t, bob, "SigningAlgorithms", "sha384", LevelDomain)
	want(t, bob, "AlwaysSign", "true", LevelOrganisation)
	if !bob.AlwaysEncrypt || bob.SigningAlgorithm != "sha384" || bob.InboundSubjectTag != "[unsigned]" {
		t.Errorf("bob: %+v", bob)
	}
	if got := bob.Source("AlwaysEncrypt"); got != "domain example.org" {
		t.Errorf("Source = %q", got)
	}

	alice := resolve(t, e, "alice@example.org")
	want(t, alice, "SigningAlgorithms", "sha512", LevelUser)
	want(t, alice, "AlwaysEncrypt", "true", LevelDomain)
	want(t, alice, "ClearSign", "false", LevelOrganisation)
	want(t, alice, "TripleWrap", "false", LevelFactory)
	if alice.SigningAlgorithm != "sha512" || !slices.Equal(alice.EncryptionAlgorithms, []string{"aes128-cbc", "aes256-cbc"}) ||
		alice.NoCertificateAction != NoCertRefuse {
		t.Errorf("alice: %+v", alice)
	}
	if got := alice.Source("SigningAlgorithms"); got != "user alice@example.org" {
		t.Errorf("Source = %q", got)
	}

	carol := resolve(t, e, "carol@other.org")
	want(t, carol, "AlwaysSign", "false", LevelDomain)
	want(t, carol, "AlwaysEncrypt", "false", LevelOrganisation)

	// A domain's settings are its own: a subdomain does not inherit them.
	dave := resolve(t, e, "dave@sub.example.org")
	want(t, dave, "AlwaysEncrypt", "false", LevelOrganisation)

	if _, err := e.Resolve(context.Background(), "not-an-address"); err == nil {
		t.Error("Resolve of a malformed address succeeded")
	}
}

func TestResolveOrganisationOnly(t *testing.T) {
	e, _ := newEngine(t)
	set(t, e, "", "KeyCustody", "gateway")
	set(t, e, "domain:example.org", "KeyCustody", "client")
	set(t, e, "domain:example.org", "LocalToLocal", "process")
	set(t, e, "user:alice@example.org", "CheckCRLOnSend", "true")
	set(t, e, "user:alice@example.org", "CRLConnectionTimeout", "5")
	s := resolve(t, e, "alice@example.org")
	want(t, s, "KeyCustody", "gateway", LevelOrganisation)
	want(t, s, "LocalToLocal", "pass", LevelFactory)
	want(t, s, "CheckCRLOnSend", "false", LevelFactory)
	want(t, s, "CRLConnectionTimeout", "15", LevelFactory)
	if s.LocalToLocal != "pass" || s.CheckCRLOnSend {
		t.Errorf("typed fields took organisation-only values: %+v", s)
	}
	if len(s.Warnings) != 4 || !strings.Contains(s.Warnings[0], "KeyCustody set for domain:example.org is ignored: it applies to the whole organisation only") {
		t.Errorf("warnings %q", s.Warnings)
	}
}

func TestResolveInvalidStoredValue(t *testing.T) {
	e, _ := newEngine(t)
	set(t, e, "", "SigningAlgorithms", "sha1") // stored before the check, or by hand
	set(t, e, "domain:example.org", "EncryptionAlgorithms", "aes256-cbc")
	set(t, e, "user:alice@example.org", "EncryptionAlgorithms", "aes256-cbc,3des")
	set(t, e, "user:alice@example.org", "AlwaysSign", "yes")
	s := resolve(t, e, "alice@example.org")
	want(t, s, "SigningAlgorithms", "sha256", LevelFactory)
	want(t, s, "EncryptionAlgorithms", "aes256-cbc", LevelDomain)
	want(t, s, "AlwaysSign", "false", LevelFactory)
	if s.SigningAlgorithm != "sha256" || !slices.Equal(s.EncryptionAlgorithms, []string{"aes256-cbc"}) || s.AlwaysSign {
		t.Errorf("typed fields: %+v", s)
	}
	// In store order: organisation, domain, user; by name within each.
	if len(s.Warnings) != 3 {
		t.Fatalf("warnings %q", s.Warnings)
	}
	for i, w := range []string{
		`organisation value ignored: SigningAlgorithms: "sha1" is refused: SHA-1`,
		`user:alice@example.org value ignored: AlwaysSign must be one of true, false, not "yes"; "false" (default) applies`,
		`user:alice@example.org value ignored: EncryptionAlgorithms: "3des": 3DES`,
	} {
		if !strings.Contains(s.Warnings[i], w) {
			t.Errorf("warning %d = %q; want it to contain %q", i, s.Warnings[i], w)
		}
	}
	if !strings.HasSuffix(s.Warnings[2], `"aes256-cbc" (domain example.org) applies`) {
		t.Errorf("warning %q does not say which value applies", s.Warnings[1])
	}
}

func TestSetUnset(t *testing.T) {
	e, ctx := newEngine(t)
	if err := e.Set(ctx, "", "alwayssign", "true", actor); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := e.Store.GetSetting(ctx, "AlwaysSign"); !ok || v != "true" {
		t.Errorf("stored %q %v under the canonical name", v, ok)
	}
	if err := e.Set(ctx, "user:alice@example.org", "SigningAlgorithms", "sha384", actor); err != nil {
		t.Fatal(err)
	}
	want(t, resolve(t, e, "alice@example.org"), "SigningAlgorithms", "sha384", LevelUser)
	for _, c := range []struct{ scope, name, value, msg string }{
		{"", "SigningAlgorithms", "sha1", "SHA-1"},
		{"domain:example.org", "KeyCustody", "gateway", "KeyCustody applies to the whole organisation only"},
		{"", "Nope", "1", `unknown setting "Nope"`},
		{"domain:example.org", "EncryptionAlgorithms", "rc2", "RC2 is refused"},
	} {
		if err := e.Set(ctx, c.scope, c.name, c.value, actor); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Set(%q, %s, %q) = %v; want %q", c.scope, c.name, c.value, err, c.msg)
		}
	}
	if ss, _ := e.Store.ListScopedSettings(ctx, "domain:example.org"); len(ss) != 0 {
		t.Errorf("refused values were stored: %v", ss)
	}
	if err := e.Unset(ctx, "user:alice@example.org", "signingalgorithms", actor); err != nil {
		t.Fatal(err)
	}
	want(t, resolve(t, e, "alice@example.org"), "SigningAlgorithms", "sha256", LevelFactory)
	if err := e.Unset(ctx, "user:alice@example.org", "SigningAlgorithms", actor); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Unset: %v", err)
	}
}
