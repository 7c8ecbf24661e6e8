package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/internal/bufpool"
)

// SMTPDeliverer delivers over SMTP to the two next hops.
type SMTPDeliverer struct {
	// RelayAddr and DeliverAddr are the host:port of the smarthost
	// (gateway.HopRelay) and of the organisation's mail server
	// (gateway.HopDeliver). (A field cannot be called Deliver: that is
	// the method.)
	RelayAddr, DeliverAddr string
	// HeloName is sent in EHLO (default "localhost").
	HeloName string
	// TLS is the client configuration for STARTTLS (nil: defaults, with
	// ServerName taken from the hop's host). When TLS is not required,
	// STARTTLS is opportunistic (RFC 7435): used whenever offered, without
	// certificate verification, and a failed handshake falls back to a
	// new plaintext connection.
	TLS *tls.Config
	// RequireTLS makes STARTTLS mandatory, with verification by TLS: an
	// attempt fails temporarily when it is not offered or the handshake
	// fails. RequireTLSFor does the same for the messages with a
	// recipient in a given domain.
	RequireTLS    bool
	RequireTLSFor func(domain string) bool
	// Timeout bounds the connection and each command (default 5 minutes;
	// the end of DATA gets twice as long).
	Timeout time.Duration
	// MaxIdle is the number of idle connections kept per next hop and
	// TLS mode for later messages (default 8, like Options.Workers; set
	// it to Workers; negative: none, every message has its own
	// connection). A connection is reused after RSET; it is closed (QUIT)
	// after 10 seconds idle, after 100 messages, or by Close. Messages
	// that require TLS and the others never share a connection.
	MaxIdle int

	pool            connPool
	testIdleTimeout time.Duration // instead of poolIdleTimeout
}

var _ Deliverer = (*SMTPDeliverer)(nil)

// errTemp marks failures of the whole attempt.
func errTemp(format string, a ...any) error {
	return fmt.Errorf("smtp delivery: "+format, a...)
}

// Deliver sends msg to env's recipients at env.Hop's address: EHLO,
// STARTTLS, MAIL FROM (SIZE when advertised, BODY=8BITMIME when offered,
// SMTPUTF8 when an address needs it), RCPT for each recipient (4xx
// temporary, 5xx permanent), DATA once for those accepted. It reuses an
// idle connection (after RSET) when there is one; when that connection
// turns out to be dead before the message's data was sent (RSET fails,
// or any I/O error up to the reply to DATA), the attempt is made again,
// once, on a new connection.
func (s *SMTPDeliverer) Deliver(ctx context.Context, env gateway.Envelope, msg io.Reader) ([]Result, error) {
	addr := s.RelayAddr
	if env.Hop == gateway.HopDeliver {
		addr = s.DeliverAddr
	}
	if addr == "" {
		return nil, errTemp("no address configured for hop %q", env.Hop)
	}
	require := s.RequireTLS
	if s.RequireTLSFor != nil {
		for _, r := range env.Recipients {
			if i := strings.LastIndexByte(r, '@'); i >= 0 && s.RequireTLSFor(strings.ToLower(r[i+1:])) {
				require = true
			}
		}
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	helo := s.HeloName
	if helo == "" {
		helo = "localhost"
	}

	key := poolKey{addr: addr, requireTLS: require}
	if s.MaxIdle >= 0 {
		if pc := s.pool.get(key, s.idleTimeout()); pc != nil {
			results, retry, err := s.transact(ctx, pc, env, msg, helo)
			if !retry || ctx.Err() != nil {
				return results, err
			}
			// The connection was dead; nothing of the message was sent.
		}
	}
	conn, err := s.connect(ctx, addr, helo, timeout, require, true)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout = timeout
	c.SubmissionTimeout = 2 * timeout
	pc := &pooledConn{key: key, conn: conn, c: c, timeout: timeout}
	results, _, err := s.transact(ctx, pc, env, msg, helo)
	return results, err
}

// Close ends the idle connections (QUIT); connections in use are ended
// when their delivery is over, and later deliveries each use a new
// connection. It may be called more than once and during Deliver; it
// returns nil.
func (s *SMTPDeliverer) Close() error {
	s.pool.close()
	return nil
}

func (s *SMTPDeliverer) idleTimeout() time.Duration {
	if s.testIdleTimeout > 0 {
		return s.testIdleTimeout
	}
	return poolIdleTimeout
}

// transact makes one mail transaction on pc, a new connection or (after
// RSET) a reused one, and then keeps pc for reuse or ends it. retry
// reports that pc was reused and failed before the message's data was
// sent (at RSET, or with an I/O error up to the reply to DATA): the
// attempt can be made again on a new connection without a chance of
// delivering twice, and without reading msg twice.
func (s *SMTPDeliverer) transact(ctx context.Context, pc *pooledConn, env gateway.Envelope, msg io.Reader, helo string) (results []Result, retry bool, err error) {
	addr := pc.key.addr
	c := pc.c
	reused := pc.uses > 0
	pc.uses++
	broken := true
	stop := context.AfterFunc(ctx, func() { pc.conn.Close() })
	defer func() {
		if !stop() || broken {
			// Interrupted, or in an unknown state.
			pc.conn.Close()
			return
		}
		maxIdle := s.MaxIdle
		if maxIdle == 0 {
			maxIdle = defaultMaxIdle
		}
		s.pool.put(pc, maxIdle, s.idleTimeout())
	}()
	// ioFail is an error that ends the connection: a retry can follow
	// when it was reused and no data was sent.
	ioFail := func(err error) ([]Result, bool, error) {
		return nil, reused, err
	}

	if reused {
		c.CommandTimeout = min(pc.timeout, poolCheckTimeout)
		err := c.Reset()
		c.CommandTimeout = pc.timeout
		if err != nil {
			return nil, true, errTemp("%s: RSET: %w", addr, err)
		}
	}
	pc.conn.hello = true
	err = c.Hello(helo)
	pc.conn.hello = false
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, false, errTemp("%s: EHLO: %w", addr, err)
		}
		return ioFail(errTemp("%s: EHLO: %w", addr, err))
	}

	var opts smtp.MailOptions
	if sz, ok := msg.(interface{ Size() int64 }); ok {
		opts.Size = sz.Size()
	}
	if !isASCII(env.Sender) || !allASCII(env.Recipients) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			broken = false
			return allResults(env.Recipients, Result{Code: 553, Enhanced: "5.6.7", Permanent: true,
				Text: "next hop " + addr + " does not support SMTPUTF8, needed for a non-ASCII address"}), false, nil
		}
		opts.UTF8 = true
	}
	if err := c.Mail(env.Sender, &opts); err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return ioFail(errTemp("%s: MAIL FROM: %w", addr, err))
		}
		if se.Code/100 == 5 {
			broken = false
			return allResults(env.Recipients, replyResult("", err)), false, nil
		}
		return nil, false, errTemp("%s: MAIL FROM: %w", addr, err)
	}

	results = make([]Result, 0, len(env.Recipients))
	var accepted []int
	for _, r := range env.Recipients {
		err := c.Rcpt(r, nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, len(results))
			results = append(results, Result{Recipient: r})
		case errors.As(err, &se):
			results = append(results, replyResult(r, err))
		default:
			return ioFail(errTemp("%s: RCPT TO: %w", addr, err))
		}
	}
	if len(accepted) == 0 {
		broken = false
		return results, false, nil
	}
	setAccepted := func(res Result) {
		for _, i := range accepted {
			res.Recipient = results[i].Recipient
			results[i] = res
		}
	}
	w, err := c.Data()
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return ioFail(errTemp("%s: DATA: %w", addr, err))
		}
		setAccepted(replyResult("", err))
		broken = false
		return results, false, nil
	}
	// From here on, no retry: msg is being read, and once the final dot
	// is written the message may have been accepted.
	if _, err := bufpool.Copy(w, msg); err != nil {
		// Drop the connection without the final dot: nothing is delivered.
		return nil, false, errTemp("%s: sending the message: %w", addr, err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			// No reply to the final dot: the message may have been
			// accepted (RFC 1047); it is sent again later.
			return nil, false, errTemp("%s: end of DATA: %w", addr, err)
		}
		setAccepted(replyResult("", err))
		broken = false
		return results, false, nil
	}
	ok := Result{Code: 250, Text: resp.StatusText}
	if code, rest, found := strings.Cut(resp.StatusText, " "); found && strings.Count(code, ".") == 2 && code[0] == '2' {
		ok.Enhanced, ok.Text = code, rest
	}
	setAccepted(ok)
	broken = false
	return results, false, nil
}

// connect dials addr, reads the greeting, sends EHLO, and negotiates
// STARTTLS and sends EHLO again (RFC 3207). The returned connection
// replays a greeting and the last reply to EHLO so that go-smtp's client
// can take over (see replayConn).
func (s *SMTPDeliverer) connect(ctx context.Context, addr, helo string, timeout time.Duration, require, tryTLS bool) (*replayConn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, errTemp("%w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	fail := func(err error) (*replayConn, error) {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, errTemp("%s: %w", addr, err)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	tp := textproto.NewReader(bufio.NewReader(conn))
	if _, _, err := tp.ReadResponse(220); err != nil {
		return fail(fmt.Errorf("greeting: %w", err))
	}
	if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", helo); err != nil {
		return fail(err)
	}
	offered := false
	ehlo := ""
	if _, text, err := tp.ReadResponse(250); err == nil {
		ehlo = ehloReply(text)
		for _, line := range strings.Split(text, "\n")[1:] {
			if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
				offered = true
			}
		}
	} else if _, ok := err.(*textproto.Error); !ok {
		return fail(fmt.Errorf("EHLO: %w", err))
	}
	switch {
	case !offered && require:
		return fail(errors.New("TLS is required but the server does not offer STARTTLS"))
	case !offered || !tryTLS:
		conn.SetDeadline(time.Time{})
		return newReplayConn(conn, ehlo), nil
	}
	if _, err := fmt.Fprintf(conn, "STARTTLS\r\n"); err != nil {
		return fail(err)
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		if _, ok := err.(*textproto.Error); ok && !require {
			conn.Close()
			return s.connect(ctx, addr, helo, timeout, require, false)
		}
		return fail(fmt.Errorf("STARTTLS: %w", err))
	}
	var cfg *tls.Config
	if s.TLS != nil {
		cfg = s.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	if !require {
		cfg.InsecureSkipVerify = true
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if !require {
			conn.Close()
			return s.connect(ctx, addr, helo, timeout, require, false)
		}
		return fail(fmt.Errorf("TLS handshake: %w", err))
	}
	tc.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(tc, "EHLO %s\r\n", helo); err != nil {
		return fail(err)
	}
	ehlo = ""
	if _, text, err := textproto.NewReader(bufio.NewReader(tc)).ReadResponse(250); err == nil {
		ehlo = ehloReply(text)
	} else if _, ok := err.(*textproto.Error); !ok {
		return fail(fmt.Errorf("EHLO: %w", err))
	}
	tc.SetDeadline(time.Time{})
	return newReplayConn(tc, ehlo), nil
}

func replyResult(rcpt string, err error) Result {
	res := errorResult(rcpt, err)
	res.Permanent = res.Code/100 == 5
	return res
}

func allResults(rcpts []string, res Result) []Result {
	out := make([]Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = res
		out[i].Recipient = r
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
