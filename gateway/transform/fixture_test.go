package transform

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/smime"
)

// world is a test organisation (example.org) with its CA, and a partner
// (partner.test) with another CA.
type world struct {
	t       testing.TB
	ca      *testpki.Identity // Signet's CA
	partner *testpki.Identity // an external CA
	ids     map[string]*testpki.Identity
	keys    *fakeKeys
	finder  *fakeFinder
	policy  *fakeDecider
	harvest []string
	mu      sync.Mutex
	p       *Processor
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ca, err := testpki.NewCA("Signet test CA")
	if err != nil {
		t.Fatal(err)
	}
	partner, err := testpki.NewCA("Partner CA")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ca: ca, partner: partner, ids: map[string]*testpki.Identity{},
		keys:   &fakeKeys{signers: map[string]*testpki.Identity{}, ids: map[string][]*cms.Identity{}},
		finder: &fakeFinder{certs: map[string]*x509.Certificate{}, groups: map[string][]string{}},
		policy: &fakeDecider{settings: defaultSettings()},
	}
	w.p = &Processor{
		Policy: w.policy,
		Lookup: w.finder,
		Keys:   w.keys,
		Local:  func(a string) bool { return strings.HasSuffix(a, "@example.org") },
		Validate: func(c *x509.Certificate, pool []*x509.Certificate, _ [][]byte, at time.Time) smime.ChainVerdict {
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			roots.AddCert(partner.Cert)
			inter := x509.NewCertPool()
			for _, p := range pool {
				inter.AddCert(p)
			}
			chains, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}})
			if err != nil {
				return smime.ChainVerdict{Code: 5, Reason: err.Error()}
			}
			return smime.ChainVerdict{OK: true, Code: 1, Chain: chains[0], Revocation: "not checked"}
		},
		Harvest: func(_ context.Context, c *x509.Certificate, from string) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.harvest = append(w.harvest, from)
			return nil
		},
		KnownGCM: func(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, ca.Cert.RawSubject) },
		TempDir:  t.TempDir(),
	}
	return w
}

func defaultSettings() *policy.Smime {
	return &policy.Smime{
		ClearSign:                true,
		EncryptionAlgorithms:     []string{"aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"},
		SigningAlgorithm:         "sha256",
		IncludeCertificateChain:  "chain",
		IncludeSMIMECapabilities: true,
		BCCEncryptedEmailForking: 0,
		NoCertificateAction:      policy.NoCertSendSigned,
		LocalToLocal:             "pass",
		InboundSubjectTag:        "[UNVERIFIED]",
	}
}

// user issues a P-256 certificate: local addresses get a key held by
// Signet (KeySource) and every address is findable (Finder).
func (w *world) user(addr string, issuer *testpki.Identity) *testpki.Identity {
	w.t.Helper()
	id, err := issuer.Issue(addr, testpki.P256, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[addr] = id
	w.finder.certs[addr] = id.Cert
	if w.p.Local(addr) {
		w.keys.signers[addr] = id
		w.keys.ids[addr] = append(w.keys.ids[addr], &cms.Identity{Certificate: id.Cert, Key: id.Key})
	}
	return id
}

// fakeKeys is a KeySource over test identities.
type fakeKeys struct {
	signers map[string]*testpki.Identity
	ids     map[string][]*cms.Identity
	err     error
}

func (k *fakeKeys) Signer(_ context.Context, addr string) (crypto.Signer, *x509.Certificate, []*x509.Certificate, error) {
	if k.err != nil {
		return nil, nil, nil, k.err
	}
	id, ok := k.signers[addr]
	if !ok {
		return nil, nil, nil, fmt.Errorf("signer %s: %w", addr, gateway.ErrNoKey)
	}
	return id.Signer(), id.Cert, id.Chain, nil
}

func (k *fakeKeys) Identities(_ context.Context, addr string) ([]*cms.Identity, error) {
	if k.err != nil {
		return nil, k.err
	}
	ids, ok := k.ids[addr]
	if !ok {
		return nil, fmt.Errorf("identities %s: %w", addr, gateway.ErrNoKey)
	}
	return ids, nil
}

func (k *fakeKeys) EncryptionCert(_ context.Context, addr string) (*x509.Certificate, error) {
	id, ok := k.signers[addr]
	if !ok {
		return nil, gateway.ErrNoKey
	}
	return id.Cert, nil
}

// fakeFinder finds the certificates of w.user and expands groups.
type fakeFinder struct {
	certs  map[string]*x509.Certificate
	groups map[string][]string
	calls  []string
}

func (f *fakeFinder) Find(_ context.Context, addr string) (*directory.Result, error) {
	f.calls = append(f.calls, addr)
	res := &directory.Result{Address: addr}
	if _, ok := f.groups[addr]; ok {
		res.Group = true
		return res, nil
	}
	if c, ok := f.certs[addr]; ok {
		res.Found = []directory.Candidate{{Cert: c, Usable: true, Owner: addr}}
	}
	return res, nil
}

func (f *fakeFinder) Expand(ctx context.Context, addr string) (*directory.Expansion, error) {
	exp := &directory.Expansion{Group: addr}
	for _, m := range f.groups[addr] {
		res, _ := f.Find(ctx, m)
		exp.Members = append(exp.Members, res)
		if len(res.Found) == 0 {
			exp.Missing = append(exp.Missing, m)
		}
	}
	return exp, nil
}

// fakeDecider returns one decision per direction and records what it saw.
type fakeDecider struct {
	settings *policy.Smime
	outbound policy.Decision
	internal policy.Decision
	inbound  policy.Decision
	seen     []policy.Message
}

func (d *fakeDecider) Decide(_ context.Context, m *policy.Message) (*policy.Decision, error) {
	d.seen = append(d.seen, *m)
	var dec policy.Decision
	switch m.Direction {
	case policy.Outbound:
		dec = d.outbound
	case policy.Internal:
		dec = d.internal
	default:
		dec = d.inbound
	}
	s := *d.settings
	dec.Settings = &s
	return &dec, nil
}

func (d *fakeDecider) Resolve(context.Context, string) (*policy.Smime, error) {
	s := *d.settings
	return &s, nil
}

// memSink keeps the outputs.
type memSink struct {
	outs []sinkOut
}

type sinkOut struct {
	gateway.Output
	data []byte
}

type memWriter struct {
	bytes.Buffer
	s   *memSink
	out gateway.Output
}

func (w *memWriter) Close() error {
	w.s.outs = append(w.s.outs, sinkOut{Output: w.out, data: bytes.Clone(w.Bytes())})
	return nil
}

func (s *memSink) Begin(out gateway.Output) (io.WriteCloser, error) {
	return &memWriter{s: s, out: out}, nil
}

// run transforms msg from sender to rcpts.
func (w *world) run(sender string, rcpts []string, msg string) ([]gateway.Rejection, *gateway.Report, *memSink) {
	w.t.Helper()
	sink := &memSink{}
	rej, rep, err := w.p.Transform(context.Background(), gateway.Envelope{Sender: sender, Recipients: rcpts},
		strings.NewReader(msg), int64(len(msg)), sink)
	if err != nil {
		w.t.Fatalf("Transform: %v", err)
	}
	return rej, rep, sink
}

// outFor returns the output that goes to rcpt.
func (s *memSink) outFor(t testing.TB, rcpt string) sinkOut {
	t.Helper()
	for _, o := range s.outs {
		for _, r := range o.Recipients {
			if r == rcpt {
				return o
			}
		}
	}
	t.Fatalf("no output for %s (outputs: %v)", rcpt, s.summary())
	return sinkOut{}
}

func (s *memSink) summary() []string {
	var out []string
	for _, o := range s.outs {
		out = append(out, fmt.Sprintf("%s→%v", o.Hop, o.Recipients))
	}
	return out
}

// decrypt opens an output with id's key.
func (w *world) decrypt(data []byte, id *testpki.Identity) ([]byte, *smime.Decrypted) {
	w.t.Helper()
	var out bytes.Buffer
	d, err := smime.Decrypt(&out, bytes.NewReader(data), nil, &cms.Identity{Certificate: id.Cert, Key: id.Key})
	if err != nil {
		w.t.Fatalf("decrypt for %s: %v\n%s", id.Cert.EmailAddresses, err, data)
	}
	return out.Bytes(), d
}

// verify checks a signed message against the two test CAs.
func (w *world) verify(data []byte) *smime.Verified {
	w.t.Helper()
	var out bytes.Buffer
	v, err := smime.Verify(&out, bytes.NewReader(data), &smime.VerifyOptions{Validate: w.p.Validate})
	if err != nil {
		w.t.Fatalf("verify: %v\n%s", err, data)
	}
	return v
}

// headerOf returns the values of a field in a message.
func headerOf(data []byte, name string) []string {
	h, err := readHeader(bufioReader(data))
	if err != nil {
		return nil
	}
	return h.values(name)
}

func contentType(data []byte) string {
	v := headerOf(data, "Content-Type")
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

const plainMsg = "From: alice@example.org\r\n" +
	"To: bob@partner.test\r\n" +
	"Subject: Quarterly numbers\r\n" +
	"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"The numbers are good.\r\n"

// msgFrom builds a plain message.
func msgFrom(from, to, cc, subject, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", from, to)
	if cc != "" {
		fmt.Fprintf(&b, "Cc: %s\r\n", cc)
	}
	fmt.Fprintf(&b, "Subject: %s\r\nMessage-ID: <x@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", subject, body)
	return b.String()
}
