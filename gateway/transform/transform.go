// Package transform is the gateway's Transformer: it applies the
// organisation's S/MIME policy to one message and writes the resulting
// messages, grouped by next hop, to a gateway.Sink.
//
// Every envelope recipient is given a direction:
//
//   - an external recipient of a local sender: outbound (HopRelay) — signed
//     and encrypted as the policy decides;
//   - a local recipient of an external sender: inbound (HopDeliver) —
//     decrypted with the keys Signet holds, signatures verified;
//   - a local recipient of a local sender: internal (HopDeliver) — processed
//     like outbound mail only when the sender's LocalToLocal is "process",
//     otherwise passed;
//   - an external recipient of an external (or empty, bounce) sender:
//     relayed unchanged.
//
// Whatever the direction, X-Signet-* header fields that came with the
// message are removed first: only the gateway writes them. The rest of the
// header is kept byte for byte, except a Subject that loses a policy's
// subject trigger or gains InboundSubjectTag.
//
// # Failures
//
// An error return means the message could not be processed now (the
// gateway answers 451): the policy, key source or directory failed, or a
// temporary file could not be written. A message that is merely malformed
// is not an error: inbound, it is delivered unchanged with an
// X-Signet-Error field; outbound, it is sent unchanged with X-Signet-Error
// when only signing was asked for, but refused (550 5.6.0) when it was to be
// encrypted, so that a malformed message never leaks out in the clear
// against the policy.
//
// A sender without a signing key is sent unsigned with a note in the
// report (the policy's encryption still applies), unless the key source
// failed for another reason than ErrNoKey (then the message is retried,
// 451). A From address not in the sender's certificate also leaves the
// message unsigned, with a note: the gateway signs only as the address
// the certificate names.
//
// Nothing is written to the sink until every output is ready: each output
// is made in an encrypted spool first (internal/spool), so a refusal of the
// whole message (encrypt-or-refuse) writes no output, and no plaintext
// reaches the sink before smime.Decrypt and smime.Verify have
// authenticated it.
package transform

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/internal/bufpool"
	"github.com/signet-smime/signet/internal/spool"
	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/smime"
)

// Finder finds recipients' encryption certificates; *directory.Lookup is
// the implementation.
type Finder interface {
	Find(ctx context.Context, addr string) (*directory.Result, error)
	Expand(ctx context.Context, addr string) (*directory.Expansion, error)
}

// Processor is the gateway's Transformer. Policy, Keys and Local are
// required; the other hooks are optional.
type Processor struct {
	Policy policy.Decider
	// Lookup finds recipients' certificates; nil finds none.
	Lookup Finder
	Keys   gateway.KeySource
	// Local reports whether an address belongs to the organisation.
	Local func(addr string) bool
	// Validate judges inbound signers' certificate chains
	// (smime.VerifyOptions.Validate). Without it no chain is trusted and
	// every signature is reported invalid.
	Validate func(cert *x509.Certificate, pool []*x509.Certificate, crls [][]byte, at time.Time) smime.ChainVerdict
	// Harvest stores a validly signing correspondent's certificate (it
	// keeps only new ones); nil harvests nothing.
	Harvest func(ctx context.Context, cert *x509.Certificate, from string) error
	// KnownGCM reports whether an external recipient's certificate is
	// known to read AES-GCM (AuthEnvelopedData), for example because
	// Signet's CA issued it. Local recipients always are; other external
	// ones are given AES-CBC.
	KnownGCM func(cert *x509.Certificate) bool
	// Capabilities returns the ciphers an external address announced in
	// validly signed mail (SMIMECapabilities, names such as "aes256-gcm",
	// in its order of preference), nil when unknown.
	Capabilities func(ctx context.Context, addr string) []string
	// Announce records the ciphers a validly signing correspondent
	// announced (nil: not recorded). It is called under the same
	// conditions as Harvest, even when the certificate is already known.
	Announce func(ctx context.Context, from string, ciphers []string) error
	// TempDir holds the encrypted spool files; the system's when empty.
	TempDir string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

var (
	_ gateway.Transformer = (*Processor)(nil)
	_ Finder              = (*directory.Lookup)(nil)
)

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Processor) local(addr string) bool {
	return addr != "" && p.Local != nil && p.Local(strings.ToLower(addr))
}

// Report actions.
const (
	actSigned        = "signed"
	actEncrypted     = "encrypted"
	actTripleWrapped = "triple-wrapped"
	actDecrypted     = "decrypted"
	actNotDecrypted  = "not-decrypted"
	actVerified      = "verified"
	actInvalid       = "signature-invalid"
	actPassed        = "passed"
	actRefused       = "refused"
	actHarvested     = "harvested"
	actError         = "error"
)

// message is the spooled message with its parsed header.
type message struct {
	src  io.ReaderAt
	size int64
	h    *header
	// bodyOff is where the body starts in src.
	bodyOff int64
}

// body returns a reader of the body.
func (m *message) body() io.Reader {
	return io.NewSectionReader(m.src, m.bodyOff, m.size-m.bodyOff)
}

// with returns the message with header h (and add fields on top). The
// reader is seekable, so smime.Sign classifies the body in place instead
// of spooling it.
func (m *message) with(h *header, add []string) io.Reader {
	c := &concat{head: h.bytes(add), body: m.src, off: m.bodyOff, size: m.size - m.bodyOff}
	return io.NewSectionReader(c, 0, int64(len(c.head))+c.size)
}

// concat is a header in memory followed by the body in the spooled message.
type concat struct {
	head      []byte
	body      io.ReaderAt
	off, size int64
}

func (c *concat) ReadAt(p []byte, at int64) (int, error) {
	n := 0
	if at < int64(len(c.head)) {
		n = copy(p, c.head[at:])
		if n == len(p) {
			return n, nil
		}
		at += int64(n)
	}
	at -= int64(len(c.head))
	if at >= c.size {
		return n, io.EOF
	}
	rest := p[n:]
	if int64(len(rest)) > c.size-at {
		rest = rest[:c.size-at]
	}
	k, err := c.body.ReadAt(rest, c.off+at)
	n += k
	if err == nil && n < len(p) {
		err = io.EOF
	}
	if err == io.EOF && k == len(rest) && n == len(p) {
		err = nil
	}
	return n, err
}

// clone copies the header so that one output's changes do not touch
// another's.
func (h *header) clone() *header {
	c := *h
	c.fields = slices.Clone(h.fields)
	return &c
}

// pending is one output made but not yet written to the sink.
type pending struct {
	out gateway.Output
	dir string
	// head is written first, then sp's content (if sp is set) or r.
	head []byte
	sp   *spool.Spool
	r    io.Reader
}

// run is the state of one Transform call.
type run struct {
	p     *Processor
	ctx   context.Context
	env   gateway.Envelope
	m     *message
	rep   *gateway.Report
	out   []*pending
	rej   []gateway.Rejection
	spool []*spool.Spool
}

func (r *run) newSpool() (*spool.Spool, error) {
	sp, err := spool.New(r.p.TempDir)
	if err != nil {
		return nil, err
	}
	r.spool = append(r.spool, sp)
	return sp, nil
}

func (r *run) action(a string) {
	if !slices.Contains(r.rep.Actions, a) {
		r.rep.Actions = append(r.rep.Actions, a)
	}
}

func (r *run) notef(format string, a ...any) {
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf(format, a...))
}

func (r *run) emit(pd *pending) { r.out = append(r.out, pd) }

func (r *run) reject(rcpts []string, code int, enhanced, text string) {
	for _, rc := range rcpts {
		r.rej = append(r.rej, gateway.Rejection{Recipient: rc, Code: code, Enhanced: enhanced, Text: text})
	}
}

// Transform applies S/MIME to one message; see the package documentation.
// headerReaders are the readers of the message header, lent per message.
var headerReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

func (p *Processor) Transform(ctx context.Context, env gateway.Envelope, msg io.ReaderAt, size int64, sink gateway.Sink) ([]gateway.Rejection, *gateway.Report, error) {
	if p.Policy == nil || p.Keys == nil || p.Local == nil {
		return nil, nil, errors.New("transform: Processor needs Policy, Keys and Local")
	}
	r := &run{p: p, ctx: ctx, env: env, rep: &gateway.Report{}}
	defer func() {
		for _, sp := range r.spool {
			sp.Close()
		}
	}()
	br := headerReaders.Get().(*bufio.Reader)
	br.Reset(io.NewSectionReader(msg, 0, size))
	h, err := readHeader(br) // copies what it keeps
	br.Reset(nil)
	headerReaders.Put(br)
	if errors.Is(err, errHeaderTooLarge) {
		// Nothing can be parsed, nothing can be stripped safely: refuse
		// rather than pass on fields we cannot see.
		r.reject(env.Recipients, 552, "5.6.0", "the message header is larger than 1 MiB")
		r.rep.Result, r.rep.Actions = "refused", []string{actRefused}
		return r.rej, r.rep, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("transform: reading the message: %w", err)
	}
	m := &message{src: msg, size: size, h: h}
	m.bodyOff = int64(len(h.bytesRaw()))
	r.m = m
	if n := h.stripSignet(); n > 0 {
		r.notef("removed %d X-Signet-* header field(s) that came with the message", n)
	}

	// A local sender counts only from a trusted client: from anywhere else
	// it is a claim, and the mail is handled as inbound.
	senderLocal := p.local(env.Sender) && !env.Untrusted
	var relay, deliver []string
	for _, rc := range env.Recipients {
		if p.local(rc) {
			deliver = append(deliver, rc)
		} else {
			relay = append(relay, rc)
		}
	}
	refuseAll := false
	if len(relay) > 0 {
		if senderLocal {
			refuseAll, err = r.outbound(relay, gateway.HopRelay, policy.Outbound)
		} else {
			r.pass(relay, gateway.HopRelay, policy.Outbound, nil)
			r.notef("neither the sender %q nor the recipients %s are local: relayed unchanged", env.Sender, strings.Join(relay, ", "))
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if len(deliver) > 0 && !refuseAll {
		if senderLocal {
			refuseAll, err = r.outbound(deliver, gateway.HopDeliver, policy.Internal)
		} else {
			err = r.inbound(deliver)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if refuseAll {
		r.rep.Result = "refused"
		r.rep.Actions = []string{actRefused}
		if r.rep.Direction == "" {
			r.rep.Direction = policy.Outbound
			if len(relay) == 0 {
				r.rep.Direction = policy.Internal
			}
		}
		return r.rej, r.rep, nil
	}
	for _, pd := range r.out {
		if r.rep.Direction == "" {
			r.rep.Direction = pd.dir
		}
		if err := write(sink, pd); err != nil {
			return nil, nil, fmt.Errorf("transform: writing the output for %s: %w", strings.Join(pd.out.Recipients, ", "), err)
		}
	}
	switch {
	case len(r.rej) > 0 && len(r.out) == 0:
		r.rep.Result = "refused"
	case len(r.rej) > 0:
		r.rep.Result = "partial"
	case slices.Contains(r.rep.Actions, actError):
		r.rep.Result = "error"
	default:
		r.rep.Result = "ok"
	}
	if r.rep.Direction == "" && len(r.rej) > 0 {
		r.rep.Direction = policy.Outbound
	}
	return r.rej, r.rep, nil
}

// bytesRaw is the header exactly as it came (before any change).
func (h *header) bytesRaw() []byte {
	n := 0
	for _, f := range h.fields {
		n += len(f.raw)
	}
	out := make([]byte, 0, n+len(h.end))
	for _, f := range h.fields {
		out = append(out, f.raw...)
	}
	return append(out, h.end...)
}

func write(sink gateway.Sink, pd *pending) error {
	w, err := sink.Begin(pd.out)
	if err != nil {
		return err
	}
	if _, err := w.Write(pd.head); err != nil {
		w.Close()
		return err
	}
	src := pd.r
	if pd.sp != nil {
		rc, err := pd.sp.Reader()
		if err != nil {
			w.Close()
			return err
		}
		defer rc.Close()
		src = rc
	}
	if src != nil {
		if _, err := bufpool.Copy(w, src); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// pass emits the message unchanged (but for the X-Signet-* fields
// removed and the fields in add) for rcpts.
func (r *run) pass(rcpts []string, hop, dir string, add []string) {
	r.emit(&pending{out: gateway.Output{Recipients: rcpts, Hop: hop}, dir: dir, head: r.m.h.bytes(add), r: r.m.body()})
	r.action(actPassed)
}

// fromSpool emits a spool's content for rcpts.
func (r *run) fromSpool(rcpts []string, hop, dir string, sp *spool.Spool) {
	r.emit(&pending{out: gateway.Output{Recipients: rcpts, Hop: hop}, dir: dir, sp: sp})
}

// spoolOf runs f into a new spool and returns it; f's error is returned
// as it is (the spool is discarded with the run).
func (r *run) spoolOf(f func(w io.Writer) error) (*spool.Spool, error) {
	sp, err := r.newSpool()
	if err != nil {
		return nil, err
	}
	if err := f(sp); err != nil {
		return nil, err
	}
	return sp, nil
}

// errTemp marks errors of our own (spool, keys, directory) that make the
// message fail temporarily rather than count as malformed.
type errTemp struct{ err error }

func (e *errTemp) Error() string { return e.err.Error() }
func (e *errTemp) Unwrap() error { return e.err }

func temp(err error) error {
	if err == nil {
		return nil
	}
	return &errTemp{err}
}

func isTemp(err error) bool {
	var t *errTemp
	return errors.As(err, &t) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func lower(a string) string { return strings.ToLower(strings.TrimSpace(a)) }
