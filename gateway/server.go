package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/signet-smime/signet/internal/bufpool"
	"github.com/signet-smime/signet/internal/spool"
)

// Config configures the SMTP server.
type Config struct {
	// Hostname is the name in the greeting, EHLO and Received fields.
	Hostname string
	// TLS enables STARTTLS.
	TLS *tls.Config
	// MaxMessageBytes is the SIZE limit (default 50 MiB).
	MaxMessageBytes int64
	// MaxRecipients per message (default 500).
	MaxRecipients int
	// Local reports whether an address is in the organisation's domains.
	Local func(addr string) bool
	// Trusted are the networks whose clients may send to external
	// recipients (the organisation's mail server; default loopback).
	// Everybody may send to local recipients.
	Trusted []*net.IPNet
	// Transformer applies S/MIME; Queue takes the results.
	Transformer Transformer
	Queue       Queue
	// SpoolDir holds the encrypted copy of a message while it is
	// processed (the system's temporary folder when empty).
	SpoolDir string
	// Authenticate, if set, enables AUTH PLAIN (only after STARTTLS) for
	// submission: an authenticated client may send to external recipients
	// from any network, as the user or one of the addresses SendAs allows.
	Authenticate func(ctx context.Context, user, password string) (bool, error)
	// SendAs reports whether an authenticated user may use an envelope
	// sender (nil: only its own address).
	SendAs func(ctx context.Context, user, sender string) bool
	// Fresh, if set, is called before each message is processed, so that
	// cached settings, rules and certificates changed since (for example
	// by the command line) are read anew.
	Fresh func(ctx context.Context) error
	// Observe, if set, is told about each message handled.
	Observe func(rep *Report, elapsed time.Duration, err error)
	// Logf logs one line per message (nil: no log).
	Logf func(format string, args ...any)
	// ReadTimeout and WriteTimeout bound each command (default 5 min).
	ReadTimeout, WriteTimeout time.Duration
}

// Server is the gateway's SMTP server.
type Server struct {
	cfg  Config
	smtp *smtp.Server
}

// NewServer checks cfg and makes a server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Transformer == nil || cfg.Queue == nil || cfg.Local == nil {
		return nil, errors.New("gateway: Transformer, Queue and Local are required")
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 50 << 20
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 500
	}
	if cfg.Trusted == nil {
		_, v4, _ := net.ParseCIDR("127.0.0.0/8")
		_, v6, _ := net.ParseCIDR("::1/128")
		cfg.Trusted = []*net.IPNet{v4, v6}
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Minute
	}
	s := &Server{cfg: cfg}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Hostname
	srv.TLSConfig = cfg.TLS
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = 64 << 10
	srv.ReadTimeout, srv.WriteTimeout = cfg.ReadTimeout, cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = discardLogger{}
	s.smtp = srv
	return s, nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	err := s.smtp.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server; messages being received get no 250.
func (s *Server) Close() error { return s.smtp.Close() }

func (s *Server) trusted(c *smtp.Conn) bool {
	host, _, err := net.SplitHostPort(c.Conn().RemoteAddr().String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, n := range s.cfg.Trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	ss := &session{s: s, conn: c, trusted: s.trusted(c)}
	if s.cfg.Authenticate != nil {
		return &authSession{ss}, nil
	}
	return ss, nil
}

type session struct {
	s       *Server
	conn    *smtp.Conn
	trusted bool
	user    string // after AUTH
	from    string
	hasFrom bool
	rcpts   []string
}

// authSession adds AUTH PLAIN to a session.
type authSession struct{ *session }

func (a *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (a *authSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if identity != "" && identity != user {
			return smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "Authentication failed: identity must be the user")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ok, err := a.s.cfg.Authenticate(ctx, strings.ToLower(user), password)
		if err != nil {
			return smtpErr(454, smtp.EnhancedCode{4, 7, 0}, "Temporary authentication failure")
		}
		if !ok {
			a.logf("AUTH failed for %q from %s", sanitize(user), a.conn.Conn().RemoteAddr())
			return smtp.ErrAuthFailed
		}
		a.user = strings.ToLower(user)
		return nil
	}), nil
}

func smtpErr(code int, enh smtp.EnhancedCode, format string, a ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: fmt.Sprintf(format, a...)}
}

func (ss *session) Reset() { ss.from, ss.hasFrom, ss.rcpts = "", false, nil }

func (ss *session) Logout() error { return nil }

// normAddr lower-cases the domain of an address and checks its form.
func normAddr(a string) (string, error) {
	if a == "" {
		return "", nil
	}
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(a, " <>\r\n") || strings.Contains(domain, "@") {
		return "", fmt.Errorf("%q is not an address", a)
	}
	return local + "@" + strings.ToLower(domain), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	f, err := normAddr(from)
	if err != nil {
		return smtpErr(501, smtp.EnhancedCode{5, 1, 7}, "Bad sender address: %v", err)
	}
	if ss.user != "" && f != "" && f != ss.user {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if ss.s.cfg.SendAs == nil || !ss.s.cfg.SendAs(ctx, ss.user, f) {
			return smtpErr(553, smtp.EnhancedCode{5, 7, 1}, "%s may not send as %s", ss.user, f)
		}
	}
	ss.from, ss.hasFrom, ss.rcpts = f, true, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.hasFrom {
		return smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "MAIL first")
	}
	t, err := normAddr(to)
	if err != nil || t == "" {
		return smtpErr(501, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address: %v", err)
	}
	local := ss.s.cfg.Local
	if !local(t) {
		// Relaying out: only for the organisation's own senders from a
		// trusted network (no open relay).
		if !(ss.trusted || ss.user != "") || (ss.from != "" && !local(ss.from)) {
			return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "Relay access denied: %s is not in this organisation's domains", t)
		}
	}
	ss.rcpts = append(ss.rcpts, t)
	return nil
}

// staging collects the transformer's outputs as staged queue messages.
type staging struct {
	q      Queue
	env    Envelope
	staged []Staged
}

type stagedWriter struct{ Staged }

func (stagedWriter) Close() error { return nil }

func (st *staging) Begin(out Output) (io.WriteCloser, error) {
	env := st.env
	env.Recipients = append([]string(nil), out.Recipients...)
	env.Hop = out.Hop
	s, err := st.q.Stage(env)
	if err != nil {
		return nil, err
	}
	st.staged = append(st.staged, s)
	return stagedWriter{s}, nil
}

func (st *staging) abort() {
	for _, s := range st.staged {
		s.Abort()
	}
}

// queueError turns a queue error into the SMTP reply: 452 when the disk is
// full, 451 otherwise; never a silent loss.
func queueError(err error) *smtp.SMTPError {
	if isNoSpace(err) {
		return smtpErr(452, smtp.EnhancedCode{4, 3, 1}, "Insufficient system storage, try again later")
	}
	return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary failure queueing the message, try again later")
}

// isNoSpace recognises a full disk in an error chain (ENOSPC or a queue's
// own error that says so).
func isNoSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := strings.ToLower(fmt.Sprint(err))
	return strings.Contains(msg, "no space") || strings.Contains(msg, "disk space") || strings.Contains(msg, "quota exceeded")
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (ss *session) Data(r io.Reader) error {
	if len(ss.rcpts) == 0 {
		return smtpErr(503, smtp.EnhancedCode{5, 5, 1}, "RCPT first")
	}
	start := time.Now()
	cfg := ss.s.cfg
	id := newID()
	sp, err := spool.New(cfg.SpoolDir)
	if err != nil {
		return queueError(err)
	}
	defer sp.Close()
	// Received first: where the message came from, and that Signet saw it.
	remote := ss.conn.Conn().RemoteAddr().String()
	with := "ESMTP"
	if _, ok := ss.conn.TLSConnectionState(); ok {
		with = "ESMTPS"
	}
	if ss.user != "" {
		with += "A" // RFC 3848
	}
	fmt.Fprintf(sp, "Received: from %s (%s)\r\n\tby %s (Signet) with %s id %s;\r\n\t%s\r\n",
		sanitize(ss.conn.Hostname()), remote, cfg.Hostname, with, id, time.Now().UTC().Format(time.RFC1123Z))
	if _, err := bufpool.Copy(sp, r); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // message too large: 552 from go-smtp
		}
		return queueError(err)
	}
	ra, err := sp.ReaderAt()
	if err != nil {
		return queueError(err)
	}
	env := Envelope{Sender: ss.from, Recipients: ss.rcpts, ClientAddr: remote, ClientHelo: ss.conn.Hostname(), Authenticated: ss.user,
		Untrusted: !ss.trusted && ss.user == ""}
	st := &staging{q: cfg.Queue, env: env}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if cfg.Fresh != nil {
		if err := cfg.Fresh(ctx); err != nil {
			return queueError(err)
		}
	}
	rejected, rep, err := cfg.Transformer.Transform(ctx, env, ra, sp.Size(), st)
	elapsed := time.Since(start)
	if err != nil {
		st.abort()
		ss.observe(rep, elapsed, err)
		ss.logf("%s from=<%s> rcpts=%d: deferred: %v", id, ss.from, len(ss.rcpts), err)
		if isNoSpace(err) {
			return queueError(err)
		}
		return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary failure processing the message, try again later")
	}
	if len(st.staged) == 0 {
		ss.observe(rep, elapsed, nil)
		if len(rejected) > 0 {
			ss.logf("%s from=<%s> refused: %s", id, ss.from, rejected[0].Text)
			return rejectionError(rejected)
		}
		return smtpErr(554, smtp.EnhancedCode{5, 0, 0}, "The message produced nothing to deliver")
	}
	// Some recipients refused, others not: the refused ones get a bounce.
	if len(rejected) > 0 && ss.from != "" {
		if err := queueBounce(cfg, st, env, rejected, ra, sp.Size(), id); err != nil {
			st.abort()
			return queueError(err)
		}
	}
	var ids []string
	for i, s := range st.staged {
		qid, err := s.Commit()
		if err != nil {
			for _, rest := range st.staged[i+1:] {
				rest.Abort()
			}
			ss.observe(rep, elapsed, err)
			return queueError(err)
		}
		ids = append(ids, qid)
	}
	ss.observe(rep, elapsed, nil)
	actions := "passed"
	if rep != nil && len(rep.Actions) > 0 {
		actions = strings.Join(rep.Actions, ",")
	}
	ss.logf("%s from=<%s> rcpts=%d %s queued as %s", id, ss.from, len(ss.rcpts), actions, strings.Join(ids, ","))
	return nil
}

func (ss *session) observe(rep *Report, d time.Duration, err error) {
	if ss.s.cfg.Observe != nil {
		ss.s.cfg.Observe(rep, d, err)
	}
}

func (ss *session) logf(format string, a ...any) {
	if ss.s.cfg.Logf != nil {
		ss.s.cfg.Logf(format, a...)
	}
}

func rejectionError(rej []Rejection) *smtp.SMTPError {
	r := rej[0]
	code, enh := r.Code, smtp.EnhancedCode{5, 7, 1}
	if code == 0 {
		code = 550
	}
	if parts := strings.Split(r.Enhanced, "."); len(parts) == 3 {
		var a, b, c int
		if _, err := fmt.Sscanf(r.Enhanced, "%d.%d.%d", &a, &b, &c); err == nil {
			enh = smtp.EnhancedCode{a, b, c}
		}
	}
	var texts []string
	for _, r := range rej {
		texts = append(texts, r.Text)
	}
	return smtpErr(code, enh, "%s", strings.Join(texts, "; "))
}

// sanitize keeps a client-supplied name printable for a header field.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '(' || r == ')' {
			return -1
		}
		return r
	}, s)
	if len(s) > 255 {
		s = s[:255]
	}
	if s == "" {
		return "unknown"
	}
	return s
}

// queueBounce stages a delivery status notification (RFC 3464) to the
// sender for the refused recipients, with the original header.
func queueBounce(cfg Config, st *staging, env Envelope, rej []Rejection, msg io.ReaderAt, size int64, id string) error {
	hop := HopRelay
	if cfg.Local(env.Sender) {
		hop = HopDeliver
	}
	s, err := cfg.Queue.Stage(Envelope{Sender: "", Recipients: []string{env.Sender}, Hop: hop})
	if err != nil {
		return err
	}
	st.staged = append(st.staged, s)
	boundary := "signet-dsn-" + newID()
	now := time.Now().UTC().Format(time.RFC1123Z)
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: %s\r\n", cfg.Hostname, env.Sender, now)
	fmt.Fprintf(&b, "Message-ID: <%s.dsn@%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n", id, cfg.Hostname)
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour message could not be delivered to these recipients:\r\n\r\n", boundary)
	for _, r := range rej {
		fmt.Fprintf(&b, "  <%s>: %s\r\n", r.Recipient, r.Text)
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; %s\r\nArrival-Date: %s\r\n", boundary, cfg.Hostname, now)
	for _, r := range rej {
		code := r.Code
		if code == 0 {
			code = 550
		}
		enh := r.Enhanced
		if enh == "" {
			enh = "5.7.1"
		}
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: %s\r\nDiagnostic-Code: smtp; %d %s %s\r\n", r.Recipient, enh, code, enh, oneLine(r.Text))
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	if _, err := io.WriteString(s, b.String()); err != nil {
		return err
	}
	if err := copyHeader(s, io.NewSectionReader(msg, 0, size)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(s, "\r\n--%s--\r\n", boundary)
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// copyHeader writes the header of a message (up to the blank line).
func copyHeader(w io.Writer, r io.Reader) error {
	m, err := mail.ReadMessage(io.LimitReader(r, 256<<10))
	if err != nil {
		return nil // no readable header: the report goes without it
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			if _, err := fmt.Fprintf(w, "%s: %s\r\n", k, oneLine(v)); err != nil {
				return err
			}
		}
	}
	return nil
}
