package pki_test

// Service-level tests of the pki package over a real SQLite store in a
// temporary folder and a key-file master key: what `signet init`, `ca …`
// and `cert …` do, without the command line.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/internal/x509util"
	"github.com/signet-smime/signet/keystore"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"golang.org/x/crypto/ocsp"
)

const (
	testActor = "test:pki"
	publicURL = "http://pki.example.org"
)

// newService opens a fresh store and key-file master key in a temporary
// folder; the store is closed at cleanup.
func newService(t testing.TB) *pki.Service {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := keystore.NewKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &pki.Service{Store: st, Master: m, Actor: testActor}
}

// newOrg is newService with an initialised organisation for example.org.
func newOrg(t testing.TB) *pki.Service {
	t.Helper()
	s := newService(t)
	if _, err := s.Init(context.Background(), pki.InitOptions{Org: "Example Org", Domains: []string{"Example.ORG."}, PublicURL: publicURL + "/"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// snapshot is everything a refused operation must leave as it was.
type snapshot struct {
	certs []store.Certificate
	keys  []store.SealedKey
	audit []store.AuditEntry
	ca    *store.CAInfo
}

func snap(t testing.TB, s *pki.Service) snapshot {
	t.Helper()
	ctx := context.Background()
	var sn snapshot
	var err error
	if sn.certs, err = s.Store.ListCertificates(ctx, store.CertFilter{IncludeRevoked: true}); err != nil {
		t.Fatal(err)
	}
	if sn.keys, err = s.Store.ListKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if sn.audit, err = s.Store.ListAudit(ctx, store.AuditFilter{}); err != nil {
		t.Fatal(err)
	}
	if sn.ca, err = s.Store.GetCA(ctx); err != nil && !errors.Is(err, store.ErrNotInitialized) {
		t.Fatal(err)
	}
	return sn
}

// unchanged fails unless the store is as it was in before.
func unchanged(t testing.TB, s *pki.Service, before snapshot, what string) {
	t.Helper()
	after := snap(t, s)
	if len(after.certs) != len(before.certs) || len(after.keys) != len(before.keys) {
		t.Errorf("%s changed the store: %d certificates and %d keys before, %d and %d after",
			what, len(before.certs), len(before.keys), len(after.certs), len(after.keys))
	}
	for i := range min(len(after.certs), len(before.certs)) {
		a, b := after.certs[i], before.certs[i]
		if a.Fingerprint != b.Fingerprint || a.Status != b.Status || a.RevocationReason != b.RevocationReason ||
			!a.RevokedAt.Equal(b.RevokedAt) || a.KeyID != b.KeyID {
			t.Errorf("%s changed certificate %s: %+v -> %+v", what, b.Fingerprint[:16], b, a)
		}
	}
	if len(after.audit) != len(before.audit) {
		t.Errorf("%s wrote %d audit entries: %+v", what, len(after.audit)-len(before.audit), after.audit[len(before.audit):])
	}
	if (before.ca == nil) != (after.ca == nil) || before.ca != nil && before.ca.CRLNumber != after.ca.CRLNumber {
		t.Errorf("%s changed the CA record: %+v -> %+v", what, before.ca, after.ca)
	}
}

// auditSince returns the audit entries written after before was taken.
func auditSince(t testing.TB, s *pki.Service, before snapshot) []store.AuditEntry {
	t.Helper()
	return snap(t, s).audit[len(before.audit):]
}

// wantAudit fails unless entries hold action on subject (any subject when
// subject is ""), by testActor.
func wantAudit(t testing.TB, entries []store.AuditEntry, action, subject string) {
	t.Helper()
	for _, e := range entries {
		if e.Action == action && (subject == "" || e.Subject == subject) {
			if e.Actor != testActor {
				t.Errorf("audit %s %s by %q, want %q", action, subject, e.Actor, testActor)
			}
			if e.At.IsZero() {
				t.Errorf("audit %s %s has no time", action, subject)
			}
			return
		}
	}
	t.Errorf("no audit entry %s %s among %+v", action, subject, entries)
}

func fingerprint(c *x509.Certificate) string { return pki.Fingerprint(c) }

func serialHex(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

func TestPKIInitRefusesTwice(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	before := snap(t, s)
	info, err := s.Init(ctx, pki.InitOptions{Org: "Example Org", Domains: []string{"example.org", "Example.NET."}, PublicURL: publicURL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Org != "Example Org" || !slices.Equal(info.Domains, []string{"example.org", "example.net"}) || info.PublicURL != publicURL {
		t.Errorf("CA record %+v", info)
	}
	_, root, iss, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !root.IsCA || !iss.IsCA || root.Subject.String() == iss.Subject.String() {
		t.Fatalf("root %s, issuing %s", root.Subject, iss.Subject)
	}
	if err := iss.CheckSignatureFrom(root); err != nil {
		t.Errorf("the issuing CA is not signed by the root: %v", err)
	}
	// The default CA key is P-384, which signs with SHA-384 (gpgsm needs it).
	if root.SignatureAlgorithm != x509.ECDSAWithSHA384 || iss.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Errorf("CA signature algorithms %v, %v; want ECDSA-SHA384", root.SignatureAlgorithm, iss.SignatureAlgorithm)
	}
	for _, id := range []string{pki.RootKeyID, pki.IssuingKeyID} {
		if _, err := s.Store.GetKey(ctx, id); err != nil {
			t.Errorf("CA key %s: %v", id, err)
		}
	}
	entries := auditSince(t, s, before)
	for _, a := range []struct{ action, subject string }{
		{store.ActionKeyPut, pki.RootKeyID}, {store.ActionKeyPut, pki.IssuingKeyID},
		{store.ActionCertificatePut, fingerprint(root)}, {store.ActionCertificatePut, fingerprint(iss)},
		{store.ActionCASet, ""},
	} {
		wantAudit(t, entries, a.action, a.subject)
	}

	mid := snap(t, s)
	for _, o := range []pki.InitOptions{
		{Org: "Example Org", Domains: []string{"example.org"}, PublicURL: publicURL},
		{Org: "Other Org", Domains: []string{"other.example"}, PublicURL: "http://other.example", CAKey: "rsa-4096"},
	} {
		_, err := s.Init(ctx, o)
		if err == nil || !strings.Contains(err.Error(), "already has a CA") {
			t.Errorf("second Init(%s): %v, want a refusal", o.Org, err)
		}
	}
	unchanged(t, s, mid, "a second Init")
	info2, _, iss2, err := s.CA(ctx)
	if err != nil || info2.IssuingFingerprint != info.IssuingFingerprint || !iss2.Equal(iss) {
		t.Errorf("the CA changed after a refused Init: %v", err)
	}
}

func TestPKIInitRefusesBadOptions(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	before := snap(t, s)
	_, err := s.Init(ctx, pki.InitOptions{Org: "Example Org", Domains: []string{"example.org"}, PublicURL: publicURL, CAKey: "rsa-1024"})
	if err == nil || !strings.Contains(err.Error(), "rsa-1024") {
		t.Errorf("Init with --ca-key rsa-1024: %v", err)
	}
	unchanged(t, s, before, "Init with a bad CA key type")
	if _, err := s.Store.GetCA(ctx); !errors.Is(err, store.ErrNotInitialized) {
		t.Errorf("GetCA after a refused Init: %v", err)
	}
}

// checkIssued checks one certificate Issue made against the request.
func checkIssued(t *testing.T, s *pki.Service, is pki.Issued, email, keyType, usage, profile string) {
	t.Helper()
	ctx := context.Background()
	info, root, iss, err := s.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := is.Cert
	if is.Usage != usage {
		t.Errorf("usage %q, want %q", is.Usage, usage)
	}
	if !slices.Equal(c.EmailAddresses, []string{email}) || c.Subject.CommonName != email {
		t.Errorf("SAN %v CN %q, want %s", c.EmailAddresses, c.Subject.CommonName, email)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}) || len(c.UnknownExtKeyUsage) != 0 {
		t.Errorf("EKU %v %v, want emailProtection only", c.ExtKeyUsage, c.UnknownExtKeyUsage)
	}
	arc := map[string]int{"strict": 3, "multipurpose": 2}[profile]
	if len(c.PolicyIdentifiers) != 1 || !c.PolicyIdentifiers[0].Equal(asn1.ObjectIdentifier{2, 23, 140, 1, 5, 1, arc}) {
		t.Errorf("policies %v, want 2.23.140.1.5.1.%d (%s)", c.PolicyIdentifiers, arc, profile)
	}
	if len(c.CRLDistributionPoints) != 1 || !strings.HasPrefix(c.CRLDistributionPoints[0], publicURL+"/crl/") ||
		!slices.Equal(c.OCSPServer, []string{publicURL + "/ocsp"}) ||
		len(c.IssuingCertificateURL) != 1 || !strings.HasPrefix(c.IssuingCertificateURL[0], publicURL+"/ca/") {
		t.Errorf("CRL DP %v, OCSP %v, CA issuers %v: want them under %s", c.CRLDistributionPoints, c.OCSPServer, c.IssuingCertificateURL, publicURL)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	inter := x509.NewCertPool()
	inter.AddCert(iss)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
		t.Errorf("chain: %v", err)
	}

	// Key type and key usage bits (BR 7.1.2.3 e).
	pub, err := x509util.PublicKey(c)
	if err != nil {
		t.Fatal(err)
	}
	const signing = x509.KeyUsageDigitalSignature
	var enc x509.KeyUsage
	switch k := pub.(type) {
	case *rsa.PublicKey:
		enc = x509.KeyUsageKeyEncipherment
		if got := fmt.Sprintf("rsa-%d", k.N.BitLen()); got != keyType {
			t.Errorf("key %s, want %s", got, keyType)
		}
	case *ecdsa.PublicKey:
		enc = x509.KeyUsageKeyAgreement
		if got := fmt.Sprintf("ecdsa-p%d", k.Curve.Params().BitSize); got != keyType {
			t.Errorf("key %s, want %s", got, keyType)
		}
	case ed25519.PublicKey:
		if keyType != "ed25519" {
			t.Errorf("key ed25519, want %s", keyType)
		}
	case *ecdh.PublicKey:
		enc = x509.KeyUsageKeyAgreement
		if keyType != "x25519" || k.Curve() != ecdh.X25519() {
			t.Errorf("key %v, want %s", k.Curve(), keyType)
		}
	default:
		t.Fatalf("public key %T", pub)
	}
	has := func(bit x509.KeyUsage) bool { return c.KeyUsage&bit != 0 }
	switch usage {
	case "sign":
		if !has(signing) || has(x509.KeyUsageKeyEncipherment) || has(x509.KeyUsageKeyAgreement) {
			t.Errorf("signing certificate with key usage %b", c.KeyUsage)
		}
	case "encrypt":
		if has(signing) || !has(enc) {
			t.Errorf("encryption certificate with key usage %b, want %b only", c.KeyUsage, enc)
		}
	case "both":
		if !has(signing) || !has(enc) {
			t.Errorf("dual-use certificate with key usage %b", c.KeyUsage)
		}
	}

	// The store has the certificate, its record and its key, sealed.
	sc, err := s.Store.GetCertificate(ctx, fingerprint(c))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Usage != usage || sc.Profile != profile || sc.Email != email || sc.ThirdParty || sc.Status != store.StatusValid ||
		sc.IssuerFingerprint != info.IssuingFingerprint || sc.Serial != serialHex(c) {
		t.Errorf("stored record %+v", sc)
	}
	if !is.Kept || sc.KeyID == "" {
		t.Fatalf("key not kept: Kept=%v KeyID=%q", is.Kept, sc.KeyID)
	}
	key, err := s.PrivateKey(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	var kpub crypto.PublicKey
	switch k := key.(type) {
	case *ecdh.PrivateKey:
		kpub = k.PublicKey()
	case crypto.Signer:
		kpub = k.Public()
	}
	if eq, ok := kpub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
		t.Errorf("the stored key (%T) does not match the certificate", key)
	}
}

// TestPKIIssueEveryKeyUsageProfile: Issue for every key type × usage ×
// profile; an Ed25519 pair gets an ECDH P-256 encryption certificate, and
// Ed25519 with both or encrypt is refused with nothing stored.
func TestPKIIssueEveryKeyUsageProfile(t *testing.T) {
	keys := []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := newOrg(t)
			n := 0
			for _, profile := range []string{"strict", "multipurpose"} {
				for _, usage := range []string{"pair", "both", "sign", "encrypt"} {
					n++
					email := fmt.Sprintf("user%d@example.org", n)
					before := snap(t, s)
					issued, err := s.Issue(ctx, pki.IssueOptions{Email: strings.ToUpper(email[:1]) + email[1:], Key: key, Usage: usage, Profile: profile})
					if key == "ed25519" && (usage == "both" || usage == "encrypt") {
						if err == nil || !strings.Contains(err.Error(), "Ed25519") || !strings.Contains(err.Error(), "only sign") {
							t.Errorf("%s/%s: %v, want a clear refusal", usage, profile, err)
						}
						unchanged(t, s, before, "Issue "+key+" "+usage)
						continue
					}
					if err != nil {
						t.Fatalf("%s/%s: %v", usage, profile, err)
					}
					want := []struct{ usage, key string }{{usage, key}}
					if usage == "pair" {
						enc := key
						if key == "ed25519" {
							enc = "ecdsa-p256"
						}
						want = []struct{ usage, key string }{{"sign", key}, {"encrypt", enc}}
					}
					if len(issued) != len(want) {
						t.Fatalf("%s/%s: %d certificates, want %d", usage, profile, len(issued), len(want))
					}
					entries := auditSince(t, s, before)
					for i, w := range want {
						t.Run(fmt.Sprintf("%s/%s/%s", profile, usage, w.usage), func(t *testing.T) {
							checkIssued(t, s, issued[i], email, w.key, w.usage, profile)
							sc, err := s.Store.GetCertificate(ctx, fingerprint(issued[i].Cert))
							if err != nil {
								t.Fatal(err)
							}
							wantAudit(t, entries, store.ActionCertificatePut, sc.Fingerprint)
							wantAudit(t, entries, store.ActionKeyPut, sc.KeyID)
						})
					}
					if usage == "pair" && bytes.Equal(issued[0].Cert.RawSubjectPublicKeyInfo, issued[1].Cert.RawSubjectPublicKeyInfo) {
						t.Errorf("pair: the signing and encryption certificates share a key")
					}
					after := snap(t, s)
					if d := len(after.certs) - len(before.certs); d != len(want) {
						t.Errorf("%s/%s stored %d certificates, want %d", usage, profile, d, len(want))
					}
					if d := len(after.keys) - len(before.keys); d != len(want) {
						t.Errorf("%s/%s stored %d keys, want %d", usage, profile, d, len(want))
					}
				}
			}
		})
	}
}

// TestPKIIssueRefusals: bad requests are refused with a clear error and
// leave nothing behind.
func TestPKIIssueRefusals(t *testing.T) {
	ctx := context.Background()
	s := newOrg(t)
	cases := []struct {
		name string
		o    pki.IssueOptions
		want string
	}{
		{"outside-domains", pki.IssueOptions{Email: "mallory@evil.example"}, "not in the organisation's domains"},
		{"subdomain", pki.IssueOptions{Email: "alice@mail.example.org"}, "not in the organisation's domains"},
		{"lookalike-domain", pki.IssueOptions{Email: "alice@example.org.evil.example"}, "not in the organisation's domains"},
		{"no-at", pki.IssueOptions{Email: "alice"}, "not in the organisation's domains"},
		{"outside-domains-rsa", pki.IssueOptions{Email: "mallory@evil.example", Key: "rsa-2048", Usage: "both"}, "not in the organisation's domains"},
		{"ed25519-both", pki.IssueOptions{Email: "alice@example.org", Key: "ed25519", Usage: "both"}, "Ed25519"},
		{"ed25519-encrypt", pki.IssueOptions{Email: "alice@example.org", Key: "ed25519", Usage: "encrypt"}, "Ed25519"},
		{"unknown-key", pki.IssueOptions{Email: "alice@example.org", Key: "dsa-1024"}, "unknown key type"},
		{"unknown-usage", pki.IssueOptions{Email: "alice@example.org", Usage: "everything"}, "--usage"},
		{"unknown-profile", pki.IssueOptions{Email: "alice@example.org", Profile: "legacy"}, "--profile"},
		{"negative-validity", pki.IssueOptions{Email: "alice@example.org", Days: -1}, "--validity"},
		{"too-long-validity", pki.IssueOptions{Email: "alice@example.org", Days: 826}, "825"},
		{"bad-local-part", pki.IssueOptions{Email: "al ice@example.org"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snap(t, s)
			issued, err := s.Issue(ctx, tc.o)
			if err == nil {
				t.Fatalf("Issue(%+v) issued %d certificates", tc.o, len(issued))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of several lines: %q", err)
			}
			unchanged(t, s, before, "a refused Issue")
		})
	}
	// Issue before Init says so and stores nothing.
	t.Run("not-initialised", func(t *testing.T) {
		s := newService(t)
		before := snap(t, s)
		if _, err := s.Issue(ctx, pki.IssueOptions{Email: "alice@example.org"}); !errors.Is(err, store.ErrNotInitialized) {
			t.Errorf("Issue before Init: %v", err)
		}
		unchanged(t, s, before, "Issue before Init")
	})
}

func TestPKIRevoke(t *testing.T) {
	ctx := context.Background()
	s := newOrg(t)
	issue := func(email, usage string) []pki.Issued {
		t.Helper()
		is, err := s.Issue(ctx, pki.IssueOptions{Email: email, Usage: usage})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	alice := issue("alice@example.org", "pair")
	bob := issue("bob@example.org", "pair")
	carol := issue("carol@example.org", "both")

	// By serial, upper case with 0x: one certificate, with its reason.
	before := snap(t, s)
	target := alice[0].Cert
	done, err := s.Revoke(ctx, "0x"+strings.ToUpper(target.SerialNumber.Text(16)), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || done[0].Fingerprint != fingerprint(target) {
		t.Fatalf("Revoke by serial revoked %+v", done)
	}
	sc, err := s.Store.GetCertificate(ctx, fingerprint(target))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Status != store.StatusRevoked || sc.RevocationReason != 1 || sc.RevokedAt.IsZero() {
		t.Errorf("after Revoke: status %s reason %d at %v", sc.Status, sc.RevocationReason, sc.RevokedAt)
	}
	wantAudit(t, auditSince(t, s, before), store.ActionCertificateRevoke, fingerprint(target))
	if other, _ := s.Store.GetCertificate(ctx, fingerprint(alice[1].Cert)); other.Status != store.StatusValid {
		t.Errorf("revoking one serial also revoked alice's encryption certificate")
	}

	// Again, by serial, with another reason: refused, nothing changes.
	t.Run("again-by-serial", func(t *testing.T) {
		before := snap(t, s)
		_, err := s.Revoke(ctx, serialHex(target), "", 4)
		if err == nil || !strings.Contains(err.Error(), "already revoked") {
			t.Errorf("revoking again: %v", err)
		}
		unchanged(t, s, before, "revoking a revoked serial")
	})

	// By e-mail: every valid certificate of the address.
	t.Run("by-email", func(t *testing.T) {
		before := snap(t, s)
		done, err := s.Revoke(ctx, "", "BOB@example.org", 4)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, d := range done {
			got = append(got, d.Fingerprint)
		}
		for _, i := range bob {
			want = append(want, fingerprint(i.Cert))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Revoke by email revoked %v, want %v", got, want)
		}
		entries := auditSince(t, s, before)
		for _, fp := range want {
			wantAudit(t, entries, store.ActionCertificateRevoke, fp)
			if c, _ := s.Store.GetCertificate(ctx, fp); c.Status != store.StatusRevoked || c.RevocationReason != 4 {
				t.Errorf("%s: status %s reason %d", fp[:16], c.Status, c.RevocationReason)
			}
		}
		// Again: nothing valid is left.
		before = snap(t, s)
		if _, err := s.Revoke(ctx, "", "bob@example.org", 4); err == nil || !strings.Contains(err.Error(), "no valid certificate") {
			t.Errorf("revoking bob again: %v", err)
		}
		unchanged(t, s, before, "revoking a revoked address")
	})

	t.Run("refusals", func(t *testing.T) {
		_, _, iss, err := s.CA(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ serial, email, want string }{
			{"zz", "", "not a hexadecimal serial"},
			{"1234567890abcdef", "", "no certificate with serial"},
			{serialHex(iss), "", "no certificate with serial"}, // a CA is not revoked this way
			{"", "nobody@example.org", "no valid certificate"},
			{"", "", "--serial or --email"},
		} {
			before := snap(t, s)
			if _, err := s.Revoke(ctx, tc.serial, tc.email, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Revoke(%q, %q): %v, want %q", tc.serial, tc.email, err, tc.want)
			}
			unchanged(t, s, before, "a refused Revoke")
		}
	})

	// The CRL lists exactly the revoked serials with their reasons, is
	// signed by the issuing CA, and its number goes up.
	t.Run("crl", func(t *testing.T) {
		_, _, iss, err := s.CA(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := snap(t, s)
		der1, next, err := s.CRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantAudit(t, auditSince(t, s, before), store.ActionCRLNumber, "")
		crl1, err := x509.ParseRevocationList(der1)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl1.CheckSignatureFrom(iss); err != nil {
			t.Errorf("CRL signature: %v", err)
		}
		if !crl1.NextUpdate.Equal(next.Truncate(time.Second)) && !crl1.NextUpdate.Equal(next) {
			t.Errorf("CRL nextUpdate %v, CRL() returned %v", crl1.NextUpdate, next)
		}
		want := map[string]int{serialHex(alice[0].Cert): 1, serialHex(bob[0].Cert): 4, serialHex(bob[1].Cert): 4}
		got := map[string]int{}
		for _, e := range crl1.RevokedCertificateEntries {
			got[e.SerialNumber.Text(16)] = e.ReasonCode
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("CRL entries %v, want %v", got, want)
		}
		if _, ok := got[serialHex(carol[0].Cert)]; ok {
			t.Error("the CRL lists a valid certificate")
		}
		der2, _, err := s.CRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		crl2, err := x509.ParseRevocationList(der2)
		if err != nil {
			t.Fatal(err)
		}
		if crl1.Number == nil || crl2.Number == nil || crl2.Number.Cmp(crl1.Number) <= 0 {
			t.Errorf("CRL numbers %v then %v: want them increasing", crl1.Number, crl2.Number)
		}
		// The root CRL is signed by the root and lists no issuing CA.
		_, root, _, _ := s.CA(ctx)
		rder, _, err := s.RootCRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rcrl, err := x509.ParseRevocationList(rder)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcrl.CheckSignatureFrom(root); err != nil || len(rcrl.RevokedCertificateEntries) != 0 {
			t.Errorf("root CRL: %v, %d entries", err, len(rcrl.RevokedCertificateEntries))
		}
		if rcrl.Number.Cmp(crl2.Number) <= 0 {
			t.Errorf("root CRL number %v after %v: the numbers are shared and must increase", rcrl.Number, crl2.Number)
		}
	})

	// OCSP: good, revoked (with time and reason), unknown.
	t.Run("ocsp", func(t *testing.T) {
		_, _, iss, err := s.CA(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Responder(ctx)
		if err != nil {
			t.Fatal(err)
		}
		unknown := &x509.Certificate{SerialNumber: new(big.Int).Add(carol[0].Cert.SerialNumber, big.NewInt(1))}
		for _, tc := range []struct {
			name   string
			cert   *x509.Certificate
			status int
			reason int
		}{
			{"good", carol[0].Cert, ocsp.Good, 0},
			{"good-alice-encrypt", alice[1].Cert, ocsp.Good, 0},
			{"revoked", alice[0].Cert, ocsp.Revoked, ocsp.KeyCompromise},
			{"revoked-by-email", bob[1].Cert, ocsp.Revoked, ocsp.Superseded},
			{"unknown", unknown, ocsp.Unknown, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, err := ocsp.CreateRequest(tc.cert, iss, &ocsp.RequestOptions{Hash: crypto.SHA256})
				if err != nil {
					t.Fatal(err)
				}
				der, err := r.Respond(req, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				resp, err := ocsp.ParseResponseForCert(der, tc.cert, iss)
				if err != nil {
					t.Fatalf("parsing the response: %v", err)
				}
				if resp.Status != tc.status {
					t.Fatalf("status %d, want %d", resp.Status, tc.status)
				}
				if tc.status == ocsp.Revoked {
					if resp.RevocationReason != tc.reason || resp.RevokedAt.IsZero() {
						t.Errorf("revoked at %v reason %d, want reason %d", resp.RevokedAt, resp.RevocationReason, tc.reason)
					}
				}
				if resp.ThisUpdate.After(time.Now().Add(time.Minute)) || !resp.NextUpdate.After(resp.ThisUpdate) {
					t.Errorf("thisUpdate %v nextUpdate %v", resp.ThisUpdate, resp.NextUpdate)
				}
			})
		}
	})
}

// TestPKIReleased: with KeyCustody client (the default) an exported signing
// key is deleted; encryption and dual-use keys stay; with gateway nothing
// is deleted.
func TestPKIReleased(t *testing.T) {
	ctx := context.Background()
	s := newOrg(t)
	if c, err := s.KeyCustody(ctx); err != nil || c != "client" {
		t.Fatalf("default KeyCustody %q, %v; want client", c, err)
	}
	record := func(c *x509.Certificate) *store.Certificate {
		t.Helper()
		sc, err := s.Store.GetCertificate(ctx, fingerprint(c))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	issue := func(email, usage string) []pki.Issued {
		t.Helper()
		is, err := s.Issue(ctx, pki.IssueOptions{Email: email, Usage: usage})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}

	alice := issue("alice@example.org", "pair")
	sign, enc := record(alice[0].Cert), record(alice[1].Cert)
	before := snap(t, s)
	deleted, err := s.Released(ctx, sign)
	if err != nil || !deleted {
		t.Fatalf("Released(signing) with client custody: %v, %v; want deleted", deleted, err)
	}
	if _, err := s.Store.GetKey(ctx, sign.KeyID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the signing key is still stored: %v", err)
	}
	wantAudit(t, auditSince(t, s, before), store.ActionKeyDelete, sign.KeyID)
	if after := record(alice[0].Cert); after.KeyID != "" {
		t.Errorf("the signing certificate still names key %q", after.KeyID)
	}
	if _, err := s.PrivateKey(ctx, record(alice[0].Cert)); err == nil || !strings.Contains(err.Error(), "first exported") {
		t.Errorf("PrivateKey after release: %v", err)
	}
	// A second export finds no key; Released does nothing.
	if d, err := s.Released(ctx, record(alice[0].Cert)); err != nil || d {
		t.Errorf("Released again: %v, %v", d, err)
	}

	for _, c := range []*store.Certificate{enc, record(issue("carol@example.org", "both")[0].Cert)} {
		before := snap(t, s)
		if d, err := s.Released(ctx, c); err != nil || d {
			t.Errorf("Released(%s) with client custody: %v, %v; want kept", c.Usage, d, err)
		}
		if _, err := s.Store.GetKey(ctx, c.KeyID); err != nil {
			t.Errorf("the %s key is gone: %v", c.Usage, err)
		}
		unchanged(t, s, before, "Released("+c.Usage+")")
	}

	// Gateway custody keeps signing keys too.
	before = snap(t, s)
	if err := s.Store.SetSetting(ctx, pki.SettingKeyCustody, "gateway", testActor); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, auditSince(t, s, before), store.ActionSettingSet, pki.SettingKeyCustody)
	bob := issue("bob@example.org", "pair")
	for _, i := range bob {
		c := record(i.Cert)
		before := snap(t, s)
		if d, err := s.Released(ctx, c); err != nil || d {
			t.Errorf("Released(%s) with gateway custody: %v, %v; want kept", c.Usage, d, err)
		}
		if _, err := s.PrivateKey(ctx, c); err != nil {
			t.Errorf("the %s key is gone: %v", c.Usage, err)
		}
		unchanged(t, s, before, "Released with gateway custody")
	}
}

// TestPKIImport: a third-party certificate alone, and with its key.
func TestPKIImport(t *testing.T) {
	ctx := context.Background()
	s := newOrg(t)
	other, err := testpki.NewCA("Third Party CA")
	if err != nil {
		t.Fatal(err)
	}
	dave, err := other.Issue("dave@partner.example", testpki.RSA2048, nil)
	if err != nil {
		t.Fatal(err)
	}
	erin, err := other.Issue("erin@partner.example", testpki.P256, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("certificate-only", func(t *testing.T) {
		before := snap(t, s)
		if err := s.Import(ctx, dave.Cert, nil); err != nil {
			t.Fatal(err)
		}
		sc, err := s.Store.GetCertificate(ctx, fingerprint(dave.Cert))
		if err != nil {
			t.Fatal(err)
		}
		if !sc.ThirdParty || sc.KeyID != "" || sc.Email != "dave@partner.example" || sc.Usage != store.UsageBoth || sc.Profile != "" {
			t.Errorf("stored %+v", sc)
		}
		entries := auditSince(t, s, before)
		wantAudit(t, entries, store.ActionCertificatePut, sc.Fingerprint)
		if d := len(snap(t, s).keys) - len(before.keys); d != 0 {
			t.Errorf("importing a certificate stored %d keys", d)
		}
		_, c, err := s.Find(ctx, "DAVE@partner.example", "encrypt")
		if err != nil || !c.Equal(dave.Cert) {
			t.Errorf("Find the imported certificate: %v", err)
		}
		if _, err := s.PrivateKey(ctx, sc); err == nil {
			t.Error("PrivateKey of a certificate imported without key")
		}
	})

	t.Run("with-key", func(t *testing.T) {
		before := snap(t, s)
		if err := s.Import(ctx, erin.Cert, erin.Key); err != nil {
			t.Fatal(err)
		}
		sc, err := s.Store.GetCertificate(ctx, fingerprint(erin.Cert))
		if err != nil {
			t.Fatal(err)
		}
		if !sc.ThirdParty || sc.KeyID == "" {
			t.Fatalf("stored %+v", sc)
		}
		entries := auditSince(t, s, before)
		wantAudit(t, entries, store.ActionCertificatePut, sc.Fingerprint)
		wantAudit(t, entries, store.ActionKeyPut, sc.KeyID)
		key, err := s.PrivateKey(ctx, sc)
		if err != nil {
			t.Fatal(err)
		}
		if k, ok := key.(*ecdsa.PrivateKey); !ok || !k.Equal(erin.Key) {
			t.Errorf("the imported key opens as %T, not the key given", key)
		}
		// Released never deletes an imported dual-use key.
		if d, err := s.Released(ctx, sc); err != nil || d {
			t.Errorf("Released(imported): %v %v", d, err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cert *x509.Certificate
			want string
		}{
			{"again", dave.Cert, "already here"},
			{"ca-certificate", other.Cert, "CA certificate"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := snap(t, s)
				if err := s.Import(ctx, tc.cert, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Import: %v, want %q", err, tc.want)
				}
				unchanged(t, s, before, "a refused Import")
			})
		}
		// A key that is not the certificate's would make every signature
		// bad and every decryption fail: refuse it rather than keep it.
		t.Run("key-of-another-certificate", func(t *testing.T) {
			frank, err := other.Issue("frank@partner.example", testpki.P256, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := snap(t, s)
			if err := s.Import(ctx, frank.Cert, erin.Key); err == nil {
				t.Errorf("Import kept frank's certificate with erin's key")
			}
			unchanged(t, s, before, "Import with a key that does not match")
		})
	})

	// Third-party certificates are never revoked by this CA.
	t.Run("not-revocable", func(t *testing.T) {
		before := snap(t, s)
		if _, err := s.Revoke(ctx, serialHex(dave.Cert), "", 1); err == nil {
			t.Error("revoked a third-party certificate by serial")
		}
		if _, err := s.Revoke(ctx, "", "dave@partner.example", 1); err == nil {
			t.Error("revoked a third-party certificate by address")
		}
		unchanged(t, s, before, "revoking a third-party certificate")
	})
}

// TestPKIExportHelpers: Find, Chain and DisplayName serve `cert export`.
func TestPKIExportHelpers(t *testing.T) {
	ctx := context.Background()
	s := newOrg(t)
	is, err := s.Issue(ctx, pki.IssueOptions{Email: "alice@example.org", Name: "Alice Example"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.DisplayName(ctx, "ALICE@example.org"); got != "Alice Example" {
		t.Errorf("DisplayName %q", got)
	}
	for _, u := range []struct {
		usage string
		want  *x509.Certificate
	}{{"sign", is[0].Cert}, {"encrypt", is[1].Cert}} {
		_, c, err := s.Find(ctx, "alice@example.org", u.usage)
		if err != nil || !c.Equal(u.want) {
			t.Errorf("Find(%s): %v", u.usage, err)
		}
	}
	if _, _, err := s.Find(ctx, "nobody@example.org", ""); !errors.Is(err, pki.ErrNotFound) {
		t.Errorf("Find(nobody): %v", err)
	}
	chain, err := s.Chain(ctx)
	if err != nil || len(chain) != 2 {
		t.Fatalf("Chain: %d, %v", len(chain), err)
	}
	if err := is[0].Cert.CheckSignatureFrom(chain[0]); err != nil {
		t.Errorf("Chain[0] did not issue the certificate: %v", err)
	}
	if err := chain[0].CheckSignatureFrom(chain[1]); err != nil {
		t.Errorf("Chain[1] did not issue Chain[0]: %v", err)
	}
	if hex.EncodeToString(chain[1].RawSubject) != hex.EncodeToString(chain[1].RawIssuer) {
		t.Error("Chain[1] is not the self-signed root")
	}
}
