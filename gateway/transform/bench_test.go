package transform

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/smime"
)

// benchMessage is a 10 KiB text message from alice to two partners.
func benchMessage() string {
	var b strings.Builder
	b.WriteString("From: alice@example.org\r\nTo: bob@partner.test, eve@partner.test\r\nSubject: Benchmark\r\n" +
		"Message-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	line := "The quick brown fox jumps over the lazy dog, and the numbers are good.\r\n"
	for b.Len() < 10<<10 {
		b.WriteString(line)
	}
	return b.String()
}

type discardSink struct{}

type nopWC struct{ io.Writer }

func (nopWC) Close() error { return nil }

func (discardSink) Begin(gateway.Output) (io.WriteCloser, error) { return nopWC{io.Discard}, nil }

// BenchmarkTransformSignEncrypt: the whole Transform (policy, lookups,
// header handling, spools) of a 10 KiB message signed and encrypted for
// two P-256 recipients.
func BenchmarkTransformSignEncrypt(b *testing.B) {
	w := newWorld(b)
	w.user("alice@example.org", w.ca)
	w.user("bob@partner.test", w.partner)
	w.user("eve@partner.test", w.partner)
	w.policy.outbound = policy.Decision{Sign: true, Encrypt: true}
	w.p.Lookup = &quietFinder{w.finder}
	dec := &quietDecider{w.policy}
	w.p.Policy = dec
	msg := benchMessage()
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"bob@partner.test", "eve@partner.test"}}
	src := strings.NewReader(msg)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		rej, _, err := w.p.Transform(context.Background(), env, src, int64(len(msg)), discardSink{})
		if err != nil || len(rej) != 0 {
			b.Fatal(err, rej)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkBareSignEncrypt: smime.Sign then smime.Encrypt alone, for the
// same message and keys: the cryptographic floor under Transform.
func BenchmarkBareSignEncrypt(b *testing.B) {
	w := newWorld(b)
	alice := w.user("alice@example.org", w.ca)
	bob := w.user("bob@partner.test", w.partner)
	eve := w.user("eve@partner.test", w.partner)
	msg := benchMessage()
	signer := &cms.Signer{Certificate: alice.Cert, Key: alice.Signer(),
		ExtraAttributes: []cms.Attribute{cms.CapabilitiesAttribute(cms.AES256GCM, cms.AES128GCM, cms.AES256CBC, cms.AES128CBC)}}
	b.SetBytes(int64(len(msg)))
	var signed, enc bytes.Buffer
	b.ResetTimer()
	for b.Loop() {
		signed.Reset()
		enc.Reset()
		if err := smime.Sign(&signed, strings.NewReader(msg), nil, signer); err != nil {
			b.Fatal(err)
		}
		r1, _ := cms.NewRecipient(bob.Cert, nil)
		r2, _ := cms.NewRecipient(eve.Cert, nil)
		if err := smime.Encrypt(&enc, &signed, &smime.EncryptOptions{Cipher: cms.AES256CBC}, r1, r2); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// quietFinder and quietDecider do not record calls (memory stays flat
// over many iterations).
type quietFinder struct{ f *fakeFinder }

func (q *quietFinder) Find(ctx context.Context, addr string) (*directory.Result, error) {
	res, err := q.f.Find(ctx, addr)
	q.f.calls = q.f.calls[:0]
	return res, err
}

func (q *quietFinder) Expand(ctx context.Context, addr string) (*directory.Expansion, error) {
	return q.f.Expand(ctx, addr)
}

type quietDecider struct{ d *fakeDecider }

func (q *quietDecider) Decide(ctx context.Context, m *policy.Message) (*policy.Decision, error) {
	dec, err := q.d.Decide(ctx, m)
	q.d.seen = q.d.seen[:0]
	return dec, err
}

func (q *quietDecider) Resolve(ctx context.Context, u string) (*policy.Smime, error) {
	return q.d.Resolve(ctx, u)
}
