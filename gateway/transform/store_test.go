package transform

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/smime"
	"github.com/signet-smime/signet/store"
)

const actor = "test:transform"

func putCert(t *testing.T, st store.Store, c *x509.Certificate, usage, source string) error {
	t.Helper()
	emails := smime.CertificateEmails(c)
	return st.PutCertificate(context.Background(), store.Certificate{
		Serial: c.SerialNumber.Text(16), Issuer: c.Issuer.String(), Subject: c.Subject.String(),
		Email: emails[0], Emails: emails, Usage: usage, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		DER: c.Raw, ThirdParty: source != store.SourceIssued, Source: source,
	}, actor)
}

// With the real directory over a SQLite store: a certificate harvested
// from a validly signed inbound message is what the next outbound message
// to that correspondent is encrypted with, and a local group is expanded
// for its members' certificates while the message goes to the group.
func TestRealDirectoryHarvestThenEncrypt(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	carol := w.user("carol@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	w.p.Lookup = &directory.Lookup{Store: st}
	w.p.Harvest = func(ctx context.Context, c *x509.Certificate, from string) error {
		err := putCert(t, st, c, store.UsageBoth, store.SourceHarvested)
		if errors.Is(err, store.ErrExists) {
			return nil // known already: never replaced
		}
		w.harvest = append(w.harvest, from)
		return err
	}
	if err := st.PutUser(ctx, store.User{Email: "carol@example.org", Kind: store.KindMailbox}, actor); err != nil {
		t.Fatal(err)
	}
	if err := putCert(t, st, carol.Cert, store.UsageBoth, store.SourceIssued); err != nil {
		t.Fatal(err)
	}
	w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
	w.policy.internal = policy.Decision{Sign: true, Encrypt: true}

	// Before: no certificate for bob, sent signed only.
	_, _, sink := w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
	if ct := contentType(sink.outs[0].data); !strings.HasPrefix(ct, "multipart/signed") {
		t.Fatalf("before harvesting: %s", ct)
	}
	// bob writes in, signed: his certificate is harvested (once).
	base := strings.Replace(strings.Replace(plainMsg, "From: alice@example.org", "From: bob@partner.test", 1), "To: bob@partner.test", "To: alice@example.org", 1)
	for range 2 {
		w.run("bob@partner.test", []string{"alice@example.org"}, signAs(t, bob, base))
	}
	if len(w.harvest) != 1 {
		t.Fatalf("harvested %v", w.harvest)
	}
	// After: encrypted for bob (AES-CBC: an external certificate).
	_, _, sink = w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
	_, d := w.decrypt(sink.outs[0].data, bob)
	if !d.Signed() || d.Cipher.String() != "aes256-cbc" {
		t.Fatalf("after harvesting: inner %s cipher %v", d.InnerType, d.Cipher)
	}

	// A local group of carol and bob: one message to the group address,
	// encrypted for both members.
	if err := st.PutUser(ctx, store.User{Email: "team@example.org", Kind: store.KindGroup}, actor); err != nil {
		t.Fatal(err)
	}
	if err := st.SetGroupMembers(ctx, "team@example.org", []string{"carol@example.org", "bob@partner.test"}, actor); err != nil {
		t.Fatal(err)
	}
	w.policy.settings.LocalToLocal = "process"
	msg := msgFrom("alice@example.org", "team@example.org", "", "Team news", "hello team\r\n")
	_, _, sink = w.run("alice@example.org", []string{"team@example.org"}, msg)
	if len(sink.outs) != 1 || sink.outs[0].Recipients[0] != "team@example.org" {
		t.Fatalf("outputs %v", sink.summary())
	}
	_, d = w.decrypt(sink.outs[0].data, carol)
	if d.Recipients != 2 {
		t.Fatalf("%d RecipientInfos, want 2", d.Recipients)
	}
	w.decrypt(sink.outs[0].data, bob)
}
