// Package gateway is Signet's SMTP gateway: it accepts mail, applies the
// organisation's S/MIME settings and policy (sign, encrypt, decrypt,
// verify), and hands the result to a durable queue that delivers to the
// next hop. It never answers 250 to DATA before every resulting message is
// durably queued (fsync), so a crash loses nothing it acknowledged.
//
// The types here join the parts: the SMTP server (server.go) calls a
// Transformer (gateway/transform) and commits its outputs to a Queue
// (gateway/queue).
package gateway

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"

	"github.com/signet-smime/signet/cms"
)

// Hops a queued message goes to.
const (
	HopRelay   = "relay"   // outbound: the smarthost (--relay)
	HopDeliver = "deliver" // inbound and internal: the organisation's mail server (--deliver)
)

// Envelope is a message's SMTP envelope.
type Envelope struct {
	Sender     string   // MAIL FROM, "" for bounces
	Recipients []string // RCPT TO
	// Hop is HopRelay or HopDeliver (set on queued messages).
	Hop string
	// Client is the SMTP client's address and HELO name, for Received.
	ClientAddr, ClientHelo string
	Authenticated          string // the AUTH identity, if any
	// Untrusted: the client was neither on a trusted network nor
	// authenticated, so a local sender address is only a claim. Such mail
	// is handled as inbound (verified, decrypted), never signed with the
	// claimed sender's key.
	Untrusted bool
}

// KeySource gives the gateway the keys it holds for users (KeyCustody
// gateway), from the keystore.
type KeySource interface {
	// Signer returns the signing key and certificate of a local sender,
	// with the chain to include (issuing CA, and root if asked), or an
	// error wrapping ErrNoKey.
	Signer(ctx context.Context, addr string) (key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, err error)
	// Identities returns the decryption identities (certificate and key)
	// Signet holds for a local recipient, every one it ever held (old mail
	// stays readable), or an error wrapping ErrNoKey.
	Identities(ctx context.Context, addr string) ([]*cms.Identity, error)
	// EncryptionCert returns a local user's own current encryption
	// certificate (for EncryptToSelf), or ErrNoKey.
	EncryptionCert(ctx context.Context, addr string) (*x509.Certificate, error)
}

// ErrNoKey: Signet holds no key (or certificate) for the address.
var ErrNoKey = errors.New("no key held for this address")

// Output is one message the transformer made, for some recipients.
type Output struct {
	Recipients []string
	Hop        string // HopRelay or HopDeliver
}

// Rejection is a recipient the message cannot go to, and why.
type Rejection struct {
	Recipient string
	// Code and Enhanced are the SMTP reply codes (550, "5.7.1"); Text is
	// the human reason, e.g. "no certificate for bob@partner.test and
	// policy requires encryption".
	Code     int
	Enhanced string
	Text     string
}

// Report says what the transformer did, for logs and metrics.
type Report struct {
	Direction string   // policy.Outbound, Inbound or Internal (the first output's)
	Actions   []string // "signed", "encrypted", "decrypted", "verified", "passed", "triple-wrapped"…
	Result    string   // "ok", "refused", "partial", "error"
	Notes     []string // human notes (why a recipient was not encrypted for …)
}

// Sink receives the transformer's outputs: each output is written to the
// writer Begin returns, then closed. The gateway's sink stages each in the
// queue and commits them all only when Transform returns nil.
type Sink interface {
	Begin(out Output) (io.WriteCloser, error)
}

// Transformer applies S/MIME to one message. msg can be read more than
// once (it is a spooled copy). It writes the resulting messages to sink and
// returns the recipients refused and a report. An error means the message
// could not be processed now (the gateway answers 451); a message that is
// merely malformed is delivered unchanged with an explanatory header, not
// an error.
type Transformer interface {
	Transform(ctx context.Context, env Envelope, msg io.ReaderAt, size int64, sink Sink) ([]Rejection, *Report, error)
}

// Queue is where the gateway puts the messages it accepted.
type Queue interface {
	// Stage starts a message; nothing is durable until Commit.
	Stage(env Envelope) (Staged, error)
}

// Staged is a message being written to the queue.
type Staged interface {
	io.Writer
	// Commit makes the message durable (data and metadata fsynced, then
	// moved into the queue and the folder fsynced) and schedules delivery.
	Commit() (id string, err error)
	// Abort discards it.
	Abort() error
}
