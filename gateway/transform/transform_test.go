package transform

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/smime"
)

type testIdentity = testpki.Identity

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func hasAction(rep *gateway.Report, a string) bool {
	for _, x := range rep.Actions {
		if x == a {
			return true
		}
	}
	return false
}

func TestNonePassesBytesUnchanged(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{None: true, Sign: true, Encrypt: true}
	rej, rep, sink := w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
	if len(rej) != 0 || len(sink.outs) != 1 {
		t.Fatalf("rejections %v, outputs %v", rej, sink.summary())
	}
	if string(sink.outs[0].data) != plainMsg {
		t.Fatalf("bytes changed:\n%q\nwant\n%q", sink.outs[0].data, plainMsg)
	}
	if sink.outs[0].Hop != gateway.HopRelay || rep.Direction != policy.Outbound || !hasAction(rep, actPassed) {
		t.Fatalf("hop %s, report %+v", sink.outs[0].Hop, rep)
	}
	// Bare LF line endings pass unchanged too.
	lf := strings.ReplaceAll(plainMsg, "\r\n", "\n")
	_, _, sink = w.run("alice@example.org", []string{"bob@partner.test"}, lf)
	if string(sink.outs[0].data) != lf {
		t.Fatalf("LF message changed:\n%q", sink.outs[0].data)
	}
}

func TestOutboundSignEncrypt(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
	rej, rep, sink := w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
	if len(rej) != 0 || len(sink.outs) != 1 {
		t.Fatalf("rejections %v, outputs %v", rej, sink.summary())
	}
	o := sink.outs[0]
	if !strings.Contains(contentType(o.data), "enveloped-data") || strings.Contains(contentType(o.data), "authEnveloped") {
		t.Fatalf("an external recipient must get enveloped-data (CBC): %s", contentType(o.data))
	}
	if strings.Contains(string(o.data), "The numbers are good") {
		t.Fatal("plaintext in the output")
	}
	inner, d := w.decrypt(o.data, bob)
	if d.Cipher != cms.AES256CBC || !d.Signed() {
		t.Fatalf("cipher %v, inner %s", d.Cipher, d.InnerType)
	}
	v := w.verify(inner)
	if !v.OK() {
		t.Fatalf("inner signature: %s", v.Reason())
	}
	if len(v.Signers[0].Capabilities) == 0 || v.Signers[0].Capabilities[0] != "aes256-gcm" {
		t.Fatalf("SMIMECapabilities: %v", v.Signers[0].Capabilities)
	}
	if !hasAction(rep, actSigned) || !hasAction(rep, actEncrypted) || rep.Result != "ok" {
		t.Fatalf("report %+v", rep)
	}
	// Signet-issued external recipient: GCM.
	dave := w.user("dave@other.test", w.ca)
	_, _, sink = w.run("alice@example.org", []string{"dave@other.test"}, strings.Replace(plainMsg, "bob@partner.test", "dave@other.test", 1))
	_, d = w.decrypt(sink.outs[0].data, dave)
	if d.Cipher != cms.AES256GCM || !d.Authenticated {
		t.Fatalf("known GCM recipient got %v", d.Cipher)
	}
}

func TestOutboundSignOnlyOpaqueAndOptions(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Sign: true}
	w.policy.settings.ClearSign = false
	w.policy.settings.SigningAlgorithm = "sha384"
	w.policy.settings.IncludeCertificateChain = "none"
	w.policy.settings.UseKeyIdentifier = true
	_, _, sink := w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
	o := sink.outs[0]
	if !strings.Contains(contentType(o.data), "signed-data") {
		t.Fatalf("want opaque signed-data: %s", contentType(o.data))
	}
	v := w.verify(o.data)
	if !v.OK() || v.Signers[0].Digest != "sha384" {
		t.Fatalf("verify: %s, digest %s", v.Reason(), v.Signers[0].Digest)
	}
}

func TestNoSigningKeyContinuesUnsigned(t *testing.T) {
	w := newWorld(t)
	bob := w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
	rej, rep, sink := w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
	if len(rej) != 0 || len(sink.outs) != 1 {
		t.Fatalf("rejections %v, outputs %v", rej, sink.summary())
	}
	_, d := w.decrypt(sink.outs[0].data, bob)
	if d.Signed() || hasAction(rep, actSigned) || !strings.Contains(strings.Join(rep.Notes, "\n"), "no signing key") {
		t.Fatalf("inner %s, report %+v", d.InnerType, rep)
	}
	// A key source failure is temporary: an error (451), not an unsigned message.
	w.keys.err = errors.New("keystore sealed")
	_, _, err := w.p.Transform(t.Context(), gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"bob@partner.test"}},
		strings.NewReader(plainMsg), int64(len(plainMsg)), &memSink{})
	if err == nil {
		t.Fatal("want an error when the key source fails")
	}
}

func TestBccForking(t *testing.T) {
	for _, tc := range []struct {
		mode    int
		outputs int
		ris     map[string]int // recipient → RecipientInfos in its message
	}{
		{0, 3, map[string]int{"bob@partner.test": 1, "eve@partner.test": 1, "fay@partner.test": 1}},
		{1, 2, map[string]int{"bob@partner.test": 1, "eve@partner.test": 2, "fay@partner.test": 2}},
		{2, 1, map[string]int{"bob@partner.test": 3, "eve@partner.test": 3, "fay@partner.test": 3}},
	} {
		t.Run(string(rune('0'+tc.mode)), func(t *testing.T) {
			w := newWorld(t)
			w.user("alice@example.org", w.ca)
			for a := range tc.ris {
				w.user(a, w.partner)
			}
			w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
			w.policy.settings.BCCEncryptedEmailForking = tc.mode
			rcpts := []string{"bob@partner.test", "eve@partner.test", "fay@partner.test"}
			_, _, sink := w.run("alice@example.org", rcpts, plainMsg) // To: bob only
			if len(sink.outs) != tc.outputs {
				t.Fatalf("%d outputs, want %d: %v", len(sink.outs), tc.outputs, sink.summary())
			}
			for a, n := range tc.ris {
				o := sink.outFor(t, a)
				_, d := w.decrypt(o.data, w.ids[a])
				if d.Recipients != n {
					t.Errorf("%s: %d RecipientInfos, want %d", a, d.Recipients, n)
				}
			}
			// A Bcc recipient's message is not for the To recipient.
			if tc.mode != 2 {
				o := sink.outFor(t, "eve@partner.test")
				var out bytes.Buffer
				if _, err := smime.Decrypt(&out, bytes.NewReader(o.data), nil, &cms.Identity{Certificate: w.ids["bob@partner.test"].Cert, Key: w.ids["bob@partner.test"].Key}); err == nil {
					t.Fatal("bob can read eve's Bcc copy")
				}
			}
		})
	}
}

func TestEncryptToSelf(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Encrypt: true}
	w.policy.settings.EncryptToSelf = true
	_, _, sink := w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
	_, d := w.decrypt(sink.outs[0].data, alice)
	if d.Recipients != 2 || d.Cipher != cms.AES256CBC {
		t.Fatalf("recipients %d cipher %v", d.Recipients, d.Cipher)
	}
}

func TestEncryptOrRefuse(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	w.user("carol@example.org", w.ca)
	w.policy.outbound = policy.Decision{Sign: true, Encrypt: true, RequireEncryption: true}
	rcpts := []string{"bob@partner.test", "nocert@partner.test", "carol@example.org"}
	rej, rep, sink := w.run("alice@example.org", rcpts, plainMsg)
	if len(sink.outs) != 0 {
		t.Fatalf("outputs written: %v", sink.summary())
	}
	if len(rej) != 3 || rep.Result != "refused" {
		t.Fatalf("rejections %+v, report %+v", rej, rep)
	}
	for _, r := range rej {
		if r.Code != 550 || r.Enhanced != "5.7.1" || !strings.Contains(r.Text, "nocert@partner.test") {
			t.Fatalf("rejection %+v", r)
		}
	}
}

func TestNoCertificateActions(t *testing.T) {
	t.Run("send-signed", func(t *testing.T) {
		w := newWorld(t)
		w.user("alice@example.org", w.ca)
		bob := w.user("bob@partner.test", w.partner)
		w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
		rej, rep, sink := w.run("alice@example.org", []string{"bob@partner.test", "nocert@partner.test"}, plainMsg)
		if len(rej) != 0 || len(sink.outs) != 2 {
			t.Fatalf("rejections %v outputs %v", rej, sink.summary())
		}
		w.decrypt(sink.outFor(t, "bob@partner.test").data, bob)
		o := sink.outFor(t, "nocert@partner.test")
		if len(o.Recipients) != 1 || !strings.HasPrefix(contentType(o.data), "multipart/signed") {
			t.Fatalf("no-cert output: %v %s", o.Recipients, contentType(o.data))
		}
		if v := w.verify(o.data); !v.OK() {
			t.Fatal(v.Reason())
		}
		if rep.Result != "ok" {
			t.Fatalf("report %+v", rep)
		}
		// Not signing: plain.
		w.policy.outbound = policy.Decision{Encrypt: true}
		_, _, sink = w.run("alice@example.org", []string{"bob@partner.test", "nocert@partner.test"}, plainMsg)
		if o := sink.outFor(t, "nocert@partner.test"); string(o.data) != plainMsg {
			t.Fatalf("want the message plain:\n%s", o.data)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		w := newWorld(t)
		w.user("alice@example.org", w.ca)
		bob := w.user("bob@partner.test", w.partner)
		w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
		w.policy.settings.NoCertificateAction = policy.NoCertRefuse
		rej, rep, sink := w.run("alice@example.org", []string{"bob@partner.test", "nocert@partner.test"}, plainMsg)
		if len(rej) != 1 || rej[0].Recipient != "nocert@partner.test" || rej[0].Code != 550 || rej[0].Enhanced != "5.7.1" {
			t.Fatalf("rejections %+v", rej)
		}
		if len(sink.outs) != 1 || rep.Result != "partial" {
			t.Fatalf("outputs %v report %+v", sink.summary(), rep)
		}
		w.decrypt(sink.outFor(t, "bob@partner.test").data, bob)
	})
}

func TestGroupExpansion(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	carol := w.user("carol@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	w.finder.groups["team@example.org"] = []string{"carol@example.org", "bob@partner.test"}
	w.policy.internal = policy.Decision{Encrypt: true}
	w.policy.settings.LocalToLocal = "process"
	w.policy.settings.BCCEncryptedEmailForking = 2
	_, _, sink := w.run("alice@example.org", []string{"team@example.org"}, msgFrom("alice@example.org", "team@example.org", "", "hi", "x\r\n"))
	if len(sink.outs) != 1 || sink.outs[0].Recipients[0] != "team@example.org" || sink.outs[0].Hop != gateway.HopDeliver {
		t.Fatalf("outputs %v", sink.summary())
	}
	_, d := w.decrypt(sink.outs[0].data, carol)
	if d.Recipients != 2 || d.Cipher != cms.AES256CBC { // bob is external, not known to read GCM
		t.Fatalf("recipients %d cipher %v", d.Recipients, d.Cipher)
	}
	w.decrypt(sink.outs[0].data, bob)
	// A member without a certificate: the group has none.
	w.finder.groups["team@example.org"] = append(w.finder.groups["team@example.org"], "nocert@partner.test")
	_, _, sink = w.run("alice@example.org", []string{"team@example.org"}, msgFrom("alice@example.org", "team@example.org", "", "hi", "x\r\n"))
	if ct := contentType(sink.outs[0].data); strings.Contains(ct, "pkcs7") {
		t.Fatalf("encrypted for a group with a member lacking a certificate: %s", ct)
	}
}

func TestInternalPassUnlessProcess(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("carol@example.org", w.ca)
	w.policy.internal = policy.Decision{Sign: true}
	msg := msgFrom("alice@example.org", "carol@example.org", "", "hi", "x\r\n")
	_, rep, sink := w.run("alice@example.org", []string{"carol@example.org"}, msg)
	if string(sink.outs[0].data) != msg || rep.Direction != policy.Internal {
		t.Fatalf("internal mail changed with LocalToLocal=pass; report %+v", rep)
	}
	w.policy.settings.LocalToLocal = "process"
	_, _, sink = w.run("alice@example.org", []string{"carol@example.org"}, msg)
	if !strings.HasPrefix(contentType(sink.outs[0].data), "multipart/signed") {
		t.Fatalf("not signed: %s", sink.outs[0].data)
	}
}

func TestMixedRecipientsSplitByHop(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("carol@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Encrypt: true}
	_, _, sink := w.run("alice@example.org", []string{"bob@partner.test", "carol@example.org"}, plainMsg)
	if len(sink.outs) != 2 {
		t.Fatalf("outputs %v", sink.summary())
	}
	relay, deliver := sink.outFor(t, "bob@partner.test"), sink.outFor(t, "carol@example.org")
	if relay.Hop != gateway.HopRelay || deliver.Hop != gateway.HopDeliver {
		t.Fatalf("hops %s %s", relay.Hop, deliver.Hop)
	}
	w.decrypt(relay.data, bob)
	if string(deliver.data) != plainMsg {
		t.Fatal("internal copy changed (LocalToLocal pass)")
	}
}

func TestSubjectTriggerRemoved(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Sign: true, RemoveFromSubject: []string{"[encrypt]"}}
	for _, tc := range []struct{ subject, want string }{
		{"[Encrypt] Quarterly numbers", "Quarterly numbers"},
		{"Quarterly [encrypt] numbers", "Quarterly numbers"},
		{"=?utf-8?q?[encrypt]_Gr=C3=BC=C3=9Fe?=", "Grüße"},
		{"No trigger here", "No trigger here"},
	} {
		msg := strings.Replace(plainMsg, "Subject: Quarterly numbers", "Subject: "+tc.subject, 1)
		_, _, sink := w.run("alice@example.org", []string{"bob@partner.test"}, msg)
		got := headerOf(sink.outs[0].data, "Subject")
		if len(got) != 1 {
			t.Fatalf("subject fields %v", got)
		}
		dec, _ := decodeSubject(got[0])
		if dec != tc.want {
			t.Errorf("subject %q: got %q (%q), want %q", tc.subject, dec, got[0], tc.want)
		}
		if strings.Contains(tc.subject, "=?") && !strings.Contains(got[0], "=?utf-8?") {
			t.Errorf("a non-ASCII subject must be re-encoded: %q", got[0])
		}
		// The rest of the header stays.
		if m := headerOf(sink.outs[0].data, "Message-ID"); len(m) != 1 || m[0] != "<1@example.org>" {
			t.Errorf("Message-ID %v", m)
		}
	}
	if got := w.policy.seen[2].Subject; got != "[encrypt] Grüße" {
		t.Errorf("the policy saw the subject %q, want it decoded", got)
	}
}

func TestTripleWrap(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
	w.policy.settings.TripleWrap = true
	_, rep, sink := w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
	o := sink.outs[0].data
	if !strings.HasPrefix(contentType(o), "multipart/signed") || !hasAction(rep, actTripleWrapped) {
		t.Fatalf("outer: %s, report %+v", contentType(o), rep)
	}
	var mid bytes.Buffer
	v, err := smime.Verify(&mid, bytes.NewReader(o), &smime.VerifyOptions{Validate: w.p.Validate})
	if err != nil || !v.OK() || v.InnerType != "application/pkcs7-mime" {
		t.Fatalf("outer signature: %v %v %s", err, v != nil && v.OK(), v.InnerType)
	}
	inner, d := w.decrypt(mid.Bytes(), bob)
	if !d.Signed() {
		t.Fatalf("middle layer: %s", d.InnerType)
	}
	if v := w.verify(inner); !v.OK() {
		t.Fatal(v.Reason())
	}
	// Inbound, the gateway unwraps all three layers.
	w2 := newWorld(t)
	w2.ca, w2.partner = w.ca, w.partner
	w2.p.Validate = w.p.Validate
	w2.keys.ids["bob@example.org"] = []*cms.Identity{{Certificate: bob.Cert, Key: bob.Key}}
	w2.p.Local = func(a string) bool { return strings.HasSuffix(a, "@example.org") }
	_, rep2, sink2 := w2.run("alice@elsewhere.test", []string{"bob@example.org"}, string(o))
	out := sink2.outs[0].data
	sigs := headerOf(out, fieldSignature)
	if len(sigs) != 2 || !strings.HasPrefix(sigs[0], "valid") || !strings.HasPrefix(sigs[1], "valid") {
		t.Fatalf("signature fields %v; report %+v", sigs, rep2)
	}
	if enc := headerOf(out, fieldEncryption); len(enc) != 1 || !strings.HasPrefix(enc[0], "decrypted; cipher=aes-256-cbc") {
		t.Fatalf("encryption field %v", enc)
	}
}

func TestInboundDecryptVerify(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	// bob signs and encrypts (with Signet's own code) for alice.
	signedMsg := signAs(t, bob, strings.Replace(strings.Replace(plainMsg, "From: alice@example.org", "From: bob@partner.test", 1), "To: bob@partner.test", "To: alice@example.org", 1))
	var enc bytes.Buffer
	rcp, _ := cms.NewRecipient(alice.Cert, nil)
	if err := smime.Encrypt(&enc, strings.NewReader(signedMsg), nil, rcp); err != nil {
		t.Fatal(err)
	}
	spoofed := "X-Signet-Signature: valid; signer=bob@partner.test\r\n" + enc.String()
	_, rep, sink := w.run("bob@partner.test", []string{"alice@example.org"}, spoofed)
	out := sink.outs[0].data
	if sink.outs[0].Hop != gateway.HopDeliver || rep.Direction != policy.Inbound {
		t.Fatalf("hop %s dir %s", sink.outs[0].Hop, rep.Direction)
	}
	if !strings.Contains(string(out), "The numbers are good") {
		t.Fatalf("not decrypted:\n%s", out)
	}
	sigs := headerOf(out, fieldSignature)
	if len(sigs) != 1 || !strings.HasPrefix(sigs[0], "valid; signer=bob@partner.test; cert-sha256=") {
		t.Fatalf("signature fields %v", sigs)
	}
	if enc := headerOf(out, fieldEncryption); len(enc) != 1 || enc[0] != "decrypted; cipher=aes-256-gcm" {
		t.Fatalf("encryption fields %v", enc)
	}
	if len(w.harvest) != 1 || w.harvest[0] != "bob@partner.test" {
		t.Fatalf("harvested %v", w.harvest)
	}
	if !hasAction(rep, actDecrypted) || !hasAction(rep, actVerified) || !hasAction(rep, actHarvested) {
		t.Fatalf("report %+v", rep)
	}
}

// signAs clear-signs msg with id.
func signAs(t testing.TB, ti *testIdentity, msg string) string {
	t.Helper()
	var b bytes.Buffer
	if err := smime.Sign(&b, strings.NewReader(msg), &smime.SignOptions{Chain: ti.Chain}, &cms.Signer{Certificate: ti.Cert, Key: ti.Signer()}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestSpoofedHeadersRemoved(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	msg := "X-Signet-Signature: valid; signer=ceo@example.org\r\nx-signet-encryption: decrypted\r\n" +
		"From: mallory@evil.test\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
	_, _, sink := w.run("mallory@evil.test", []string{"alice@example.org"}, msg)
	out := string(sink.outs[0].data)
	if strings.Contains(strings.ToLower(out), "x-signet") {
		t.Fatalf("spoofed fields kept:\n%s", out)
	}
	if out != "From: mallory@evil.test\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nbody\r\n" {
		t.Fatalf("other bytes changed:\n%q", out)
	}
}

func TestHarvestOnlyValidAndMatchingFrom(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	base := strings.Replace(strings.Replace(plainMsg, "From: alice@example.org", "From: bob@partner.test", 1), "To: bob@partner.test", "To: alice@example.org", 1)
	// Valid and From matches: harvested.
	_, _, sink := w.run("bob@partner.test", []string{"alice@example.org"}, signAs(t, bob, base))
	if len(w.harvest) != 1 {
		t.Fatalf("harvested %v", w.harvest)
	}
	if s := headerOf(sink.outs[0].data, fieldSignature); len(s) != 1 || !strings.HasPrefix(s[0], "valid") {
		t.Fatalf("signature %v", s)
	}
	// From not in the certificate: invalid, not harvested, tagged.
	w.harvest = nil
	signed := signAsMismatch(t, bob, strings.Replace(base, "From: bob@partner.test", "From: boss@partner.test", 1))
	_, _, sink = w.run("bob@partner.test", []string{"alice@example.org"}, signed)
	if len(w.harvest) != 0 {
		t.Fatalf("harvested %v for a From mismatch", w.harvest)
	}
	if s := headerOf(sink.outs[0].data, "Subject"); len(s) != 1 || s[0] != "[UNVERIFIED] Quarterly numbers" {
		t.Fatalf("subject %v", s)
	}
	// Untrusted chain: not harvested.
	rogueCA := newWorld(t).partner
	rogue, _ := rogueCA.Issue("bob@partner.test", "ecdsa-p256", nil)
	_, _, sink = w.run("bob@partner.test", []string{"alice@example.org"}, signAs(t, rogue, base))
	if len(w.harvest) != 0 {
		t.Fatalf("harvested %v for an untrusted chain", w.harvest)
	}
	if s := headerOf(sink.outs[0].data, fieldSignature); len(s) != 1 || !strings.HasPrefix(s[0], "invalid; reason=\"untrusted certificate") {
		t.Fatalf("signature %v", s)
	}
}

func signAsMismatch(t testing.TB, ti *testIdentity, msg string) string {
	t.Helper()
	var b bytes.Buffer
	if err := smime.Sign(&b, strings.NewReader(msg), &smime.SignOptions{Chain: ti.Chain, AllowFromMismatch: true}, &cms.Signer{Certificate: ti.Cert, Key: ti.Signer()}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestInboundTamperedAndUnknownKey(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	base := strings.Replace(strings.Replace(plainMsg, "From: alice@example.org", "From: bob@partner.test", 1), "To: bob@partner.test", "To: alice@example.org", 1)
	signed := signAs(t, bob, base)
	tampered := strings.Replace(signed, "The numbers are good.", "The numbers are bad..", 1)
	rej, rep, sink := w.run("bob@partner.test", []string{"alice@example.org"}, tampered)
	if len(rej) != 0 || len(sink.outs) != 1 {
		t.Fatalf("rejections %v outputs %v", rej, sink.summary())
	}
	out := string(sink.outs[0].data)
	if s := headerOf([]byte(out), fieldSignature); len(s) != 1 || !strings.HasPrefix(s[0], "invalid; reason=\"bad signature") {
		t.Fatalf("signature %v", s)
	}
	if !strings.Contains(out, "The numbers are bad..") || !hasAction(rep, actInvalid) || len(w.harvest) != 0 {
		t.Fatalf("tampered message not delivered as it is, or harvested: %+v", rep)
	}
	// Encrypted for a key Signet does not hold.
	stranger := w.user("stranger@partner.test", w.partner)
	var enc bytes.Buffer
	rcp, _ := cms.NewRecipient(stranger.Cert, nil)
	if err := smime.Encrypt(&enc, strings.NewReader(base), nil, rcp); err != nil {
		t.Fatal(err)
	}
	_, rep, sink = w.run("bob@partner.test", []string{"alice@example.org"}, enc.String())
	out = string(sink.outs[0].data)
	if e := headerOf([]byte(out), fieldEncryption); len(e) != 1 || !strings.HasPrefix(e[0], "not decrypted; reason=") {
		t.Fatalf("encryption %v", e)
	}
	if !strings.HasSuffix(out, enc.String()[strings.Index(enc.String(), "\r\n\r\n")+4:]) || !hasAction(rep, actNotDecrypted) {
		t.Fatalf("the encrypted body was not delivered unchanged")
	}
	_ = alice
	// A recipient with no key at all.
	_, _, sink = w.run("bob@partner.test", []string{"nokey@example.org"}, enc.String())
	if e := headerOf(sink.outs[0].data, fieldEncryption); len(e) != 1 || !strings.Contains(e[0], "no decryption key held") {
		t.Fatalf("encryption %v", e)
	}
}

func TestMalformedDeliveredWithError(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	for name, msg := range map[string]string{
		"junk header line":   "From: bob@partner.test\r\nthis is not a field\r\nSubject: x\r\n\r\nbody\r\n",
		"signed, no parts":   "From: bob@partner.test\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\nnothing here\r\n",
		"bad signature part": "From: bob@partner.test\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n",
		"enveloped garbage":  "From: bob@partner.test\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBAAAA!!\r\n",
		"bad base64 opaque":  "From: bob@partner.test\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%%\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			rej, rep, sink := w.run("bob@partner.test", []string{"alice@example.org"}, msg)
			if len(rej) != 0 || len(sink.outs) != 1 {
				t.Fatalf("rejections %v outputs %v", rej, sink.summary())
			}
			out := string(sink.outs[0].data)
			if e := headerOf([]byte(out), fieldError); len(e) == 0 {
				t.Fatalf("no %s:\n%s", fieldError, out)
			}
			body := msg[strings.Index(msg, "\r\n\r\n"):]
			if !strings.HasSuffix(out, body) || rep.Result != "error" {
				t.Fatalf("not delivered unchanged (result %s):\n%s", rep.Result, out)
			}
		})
	}
	// Outbound: sign only → sent with X-Signet-Error; encryption → refused.
	junk := "From: alice@example.org\r\nTo: bob@partner.test\r\nnot a field\r\n\r\nsecret\r\n"
	w.policy.outbound = policy.Decision{Sign: true}
	_, _, sink := w.run("alice@example.org", []string{"bob@partner.test"}, junk)
	if len(headerOf(sink.outs[0].data, fieldError)) != 1 {
		t.Fatalf("outbound sign-only malformed:\n%s", sink.outs[0].data)
	}
	w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
	rej, _, sink := w.run("alice@example.org", []string{"bob@partner.test"}, junk)
	if len(sink.outs) != 0 || len(rej) != 1 || rej[0].Enhanced != "5.6.0" {
		t.Fatalf("outbound malformed with encryption: outputs %v rejections %+v", sink.summary(), rej)
	}
}

// Truncated or corrupted S/MIME inbound is never an error and never a
// crash: one output, for the recipient, every time.
func TestInboundCorruptionNeverFails(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	base := strings.Replace(strings.Replace(plainMsg, "From: alice@example.org", "From: bob@partner.test", 1), "To: bob@partner.test", "To: alice@example.org", 1)
	signed := signAs(t, bob, base)
	var enc bytes.Buffer
	rcp, _ := cms.NewRecipient(alice.Cert, nil)
	if err := smime.Encrypt(&enc, strings.NewReader(signed), &smime.EncryptOptions{Cipher: cms.AES256CBC}, rcp); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{signed, enc.String()} {
		for cut := 0; cut < len(src); cut += 97 {
			for _, m := range []string{src[:cut], src[:cut] + "A" + src[cut+1:]} {
				sink := &memSink{}
				rej, rep, err := w.p.Transform(t.Context(), gateway.Envelope{Sender: "bob@partner.test", Recipients: []string{"alice@example.org"}},
					strings.NewReader(m), int64(len(m)), sink)
				if err != nil || len(rej) != 0 || len(sink.outs) != 1 {
					t.Fatalf("cut %d: err %v, rejections %v, outputs %v", cut, err, rej, sink.summary())
				}
				if hasAction(rep, actVerified) && !strings.Contains(string(sink.outs[0].data), "The numbers are good.") {
					t.Fatalf("cut %d: verified but content differs", cut)
				}
			}
		}
	}
}

// IncludeCertificateChain decides which certificates travel with the
// signature: the signer's own always; the root only with chain-with-root.
func TestIncludeCertificateChain(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Sign: true}
	for chain, want := range map[string]int{"none": 1, "chain": 1, "chain-with-root": 2} {
		w.policy.settings.IncludeCertificateChain = chain
		_, _, sink := w.run("alice@example.org", []string{"bob@partner.test"}, plainMsg)
		got := -1
		_, err := smime.Verify(nil, bytes.NewReader(sink.outs[0].data), &smime.VerifyOptions{
			Validate: func(c *x509.Certificate, pool []*x509.Certificate, crls [][]byte, at time.Time) smime.ChainVerdict {
				got = len(pool)
				return w.p.Validate(c, pool, crls, at)
			}})
		if err != nil || got != want {
			t.Errorf("%s: %d certificates in the message, want %d (%v)", chain, got, want, err)
		}
	}
}

func TestNoneRuleTriggerRemoved(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	w.policy.outbound = policy.Decision{None: true, RemoveFromSubject: []string{"[plain]"}}
	msg := strings.Replace(plainMsg, "Subject: Quarterly numbers", "Subject: [plain] Quarterly numbers", 1)
	_, _, sink := w.run("alice@example.org", []string{"bob@partner.test"}, msg)
	if got := headerOf(sink.outs[0].data, "Subject"); len(got) != 1 || got[0] != "Quarterly numbers" {
		t.Fatalf("subject after a none rule's trigger: %q", got)
	}
	if !strings.Contains(string(sink.outs[0].data), "Content-Type: text/plain") {
		t.Fatal("a none decision must leave the body alone")
	}
}

// TestAnnouncedCapabilities: an external recipient who announced AES-GCM
// gets AuthEnvelopedData; one who announced only AES-128-CBC gets that; the
// strongest common choice of the sender's preference list wins; and a
// valid signer's announcement is recorded.
func TestAnnouncedCapabilities(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	carol := w.user("carol@partner.test", w.partner)
	announced := map[string][]string{
		"bob@partner.test":   {"aes128-gcm", "aes256-cbc"},
		"carol@partner.test": {"aes128-cbc"},
	}
	w.p.Capabilities = func(_ context.Context, addr string) []string { return announced[addr] }
	w.policy.outbound = policy.Decision{Encrypt: true}
	for _, tc := range []struct {
		to   string
		id   *testpki.Identity
		want cms.Cipher
	}{
		{"bob@partner.test", bob, cms.AES128GCM},
		{"carol@partner.test", carol, cms.AES128CBC},
	} {
		_, _, sink := w.run("alice@example.org", []string{tc.to}, strings.Replace(plainMsg, "bob@partner.test", tc.to, 1))
		if _, d := w.decrypt(sink.outs[0].data, tc.id); d.Cipher != tc.want {
			t.Errorf("%s: cipher %v, want %v", tc.to, d.Cipher, tc.want)
		}
	}
	// Both in one message: only AES-128-CBC... is not common with bob's
	// list (aes128-gcm, aes256-cbc): the fallback AES-256-CBC is used and
	// noted.
	_, rep, sink := w.run("alice@example.org", []string{"bob@partner.test", "carol@partner.test"},
		strings.Replace(plainMsg, "To: bob@partner.test", "To: bob@partner.test, carol@partner.test", 1))
	if _, d := w.decrypt(sink.outs[0].data, bob); d.Cipher != cms.AES256CBC || !strings.Contains(strings.Join(rep.Notes, " "), "AES-256-CBC used") {
		t.Errorf("no common cipher: %v, notes %v", d.Cipher, rep.Notes)
	}

	// Inbound: a valid signer's capabilities are announced.
	var got []string
	w.p.Announce = func(_ context.Context, from string, ciphers []string) error {
		if from == "bob@partner.test" {
			got = ciphers
		}
		return nil
	}
	var b bytes.Buffer
	msg := strings.Replace(strings.Replace(plainMsg, "From: alice@example.org", "From: bob@partner.test", 1), "To: bob@partner.test", "To: alice@example.org", 1)
	if err := smime.Sign(&b, strings.NewReader(msg), &smime.SignOptions{Chain: bob.Chain}, &cms.Signer{Certificate: bob.Cert, Key: bob.Signer(),
		ExtraAttributes: []cms.Attribute{cms.CapabilitiesAttribute(cms.AES128GCM, cms.AES256CBC)}}); err != nil {
		t.Fatal(err)
	}
	w.run("bob@partner.test", []string{"alice@example.org"}, b.String())
	if strings.Join(got, ",") != "aes128-gcm,aes256-cbc" {
		t.Fatalf("announced ciphers recorded: %v", got)
	}
	// An invalid signature announces nothing.
	got = nil
	tampered := strings.Replace(b.String(), "The numbers are good", "The numbers are bad!", 1)
	w.run("bob@partner.test", []string{"alice@example.org"}, tampered)
	if got != nil {
		t.Fatalf("an invalid signature's capabilities were recorded: %v", got)
	}
}

// TestUntrustedLocalSender: mail claiming a local sender from an untrusted
// client is handled as inbound: never signed with the claimed sender's key.
func TestUntrustedLocalSender(t *testing.T) {
	w := newWorld(t)
	w.user("alice@example.org", w.ca)
	w.user("carol@example.org", w.ca)
	w.policy.outbound = policy.Decision{Sign: true}
	w.policy.internal = policy.Decision{Sign: true}
	w.policy.settings.LocalToLocal = localProcess
	msg := strings.Replace(plainMsg, "To: bob@partner.test", "To: carol@example.org", 1)
	var sink memSink
	_, rep, err := w.p.Transform(context.Background(), gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"carol@example.org"}, Untrusted: true},
		strings.NewReader(msg), int64(len(msg)), &sink)
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.outs) != 1 || strings.Contains(contentType(sink.outs[0].data), "signed") || hasAction(rep, actSigned) || rep.Direction != policy.Inbound {
		t.Fatalf("untrusted local sender: direction %s, actions %v, content type %s", rep.Direction, rep.Actions, contentType(sink.outs[0].data))
	}
	// The same from a trusted client is internal mail, signed.
	_, rep, sink2 := w.run("alice@example.org", []string{"carol@example.org"}, msg)
	if !hasAction(rep, actSigned) || !strings.Contains(contentType(sink2.outs[0].data), "signed") {
		t.Fatalf("trusted internal mail: actions %v", rep.Actions)
	}
}
