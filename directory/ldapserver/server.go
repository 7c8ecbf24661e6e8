package ldapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config configures a Server. Zero values select the documented defaults.
type Config struct {
	BaseDN             string        // naming context, e.g. "dc=example,dc=org" (required)
	AllowAnonymousList bool          // let anonymous clients enumerate (default false)
	SizeLimit          int           // max entries per search, or per page when paging (default 500)
	AnonymousSizeLimit int           // max entries per anonymous search, paged or not (default 25)
	TimeLimit          time.Duration // per search (default 10s)
	MaxPDU             int           // max request size in bytes (default 64 KiB)
	IdleTimeout        time.Duration // close connections idle this long; also bounds reading one request and writing (default 2 min)
	MaxConns           int           // concurrent connections (default 1024)
	TLS                *tls.Config   // enables StartTLS (and is used by ServeTLS for LDAPS)

	// RequireTLSForBind refuses simple binds with a password over a
	// connection without TLS (confidentialityRequired). nil means true when
	// TLS is configured and false otherwise.
	RequireTLSForBind *bool

	// Authenticate checks the simple binds of admin tools; nil: only
	// anonymous access.
	Authenticate func(ctx context.Context, dn, password string) (ok bool, err error)
	Logf         func(format string, args ...any) // optional
}

// ErrServerClosed is returned by Serve and ServeTLS after Close.
var ErrServerClosed = errors.New("ldapserver: server closed")

// Server is a read-only LDAPv3 directory server.
type Server struct {
	cfg         Config
	requireTLS  bool
	snap        atomic.Pointer[snapshot]
	root        *dirEntry
	now         func() time.Time // test hook
	logf        func(string, ...any)
	connCount   atomic.Int64
	mu          sync.Mutex
	closed      bool
	listeners   map[net.Listener]struct{}
	conns       map[*conn]struct{}
	wg          sync.WaitGroup
	searchCount atomic.Int64

	// scanOnly (a test hook) makes searches scan their scope instead of
	// using the indexes.
	scanOnly bool

	// traceSearch, when set (by tests), sees each search request.
	traceSearch func(bound bool, base string, scope int64, filter []byte)
}

// OIDs
const (
	oidStartTLS    = "1.3.6.1.4.1.1466.20037"
	oidWhoAmI      = "1.3.6.1.4.1.4203.1.11.3"
	oidNotice      = "1.3.6.1.4.1.1466.20036"
	oidPaged       = "1.2.840.113556.1.4.319"
	oidManageDsaIT = "2.16.840.1.113730.3.4.2"
)

// New checks cfg, fills in defaults and returns a server with an empty
// directory.
func New(cfg Config) (*Server, error) {
	base, ok := normalizeDN(cfg.BaseDN)
	if !ok || base == "" {
		return nil, fmt.Errorf("ldapserver: invalid BaseDN %q", cfg.BaseDN)
	}
	if cfg.SizeLimit <= 0 {
		cfg.SizeLimit = 500
	}
	if cfg.AnonymousSizeLimit <= 0 {
		cfg.AnonymousSizeLimit = 25
	}
	if cfg.TimeLimit <= 0 {
		cfg.TimeLimit = 10 * time.Second
	}
	if cfg.MaxPDU <= 0 {
		cfg.MaxPDU = 64 << 10
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	s := &Server{
		cfg:       cfg,
		now:       time.Now,
		logf:      cfg.Logf,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.requireTLS = cfg.TLS != nil
	if cfg.RequireTLSForBind != nil {
		s.requireTLS = *cfg.RequireTLSForBind
	}
	root := newEntry("", kindRootDSE)
	root.add(atObjectClass, "top")
	root.add(atNamingContexts, cfg.BaseDN)
	root.add(atSupportedLDAPVersion, "3")
	root.add(atSupportedControl, oidPaged, oidManageDsaIT)
	if cfg.TLS != nil {
		root.add(atSupportedExtension, oidStartTLS, oidWhoAmI)
	} else {
		root.add(atSupportedExtension, oidWhoAmI)
	}
	root.add(atSupportedFeatures,
		"1.3.6.1.4.1.4203.1.5.1", // all operational attributes: "+"
		"1.3.6.1.4.1.4203.1.5.3", // absolute true and false filters
	)
	root.add(atVendorName, "Signet")
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		root.add(atVendorVersion, bi.Main.Version)
	}
	s.root = root.e
	s.snap.Store(buildSnapshot(cfg.BaseDN, nil, s.logf))
	return s, nil
}

// SetEntries atomically replaces the whole directory. Searches in progress
// and paged searches finish on the snapshot they started on.
func (s *Server) SetEntries(entries []Entry) {
	s.snap.Store(buildSnapshot(s.cfg.BaseDN, entries, s.logf))
}

// Serve accepts plain LDAP connections on l (StartTLS when Config.TLS is set)
// until Close.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts LDAPS connections on l until Close.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("ldapserver: ServeTLS needs Config.TLS")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, useTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logf("ldapserver: accept: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if s.connCount.Add(1) > int64(s.cfg.MaxConns) {
			s.connCount.Add(-1)
			go refuse(nc)
			continue
		}
		c := &conn{s: s, nc: nc}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.connCount.Add(-1)
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve(useTLS)
	}
}

// refuse tells a connection over MaxConns that the server is busy.
func refuse(nc net.Conn) {
	nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	nc.Write(noticeOfDisconnection(nil, resultUnavailable, "too many connections"))
	nc.Close()
}

// Close stops all listeners and connections and waits for the connection
// goroutines to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Result codes (RFC 4511 §4.1.9).
const (
	resultSuccess                = 0
	resultOperationsError        = 1
	resultProtocolError          = 2
	resultTimeLimitExceeded      = 3
	resultSizeLimitExceeded      = 4
	resultAuthMethodNotSupported = 7
	resultUnavailableCritical    = 12
	resultConfidentialityReq     = 13
	resultNoSuchObject           = 32
	resultInvalidCredentials     = 49
	resultInsufficientAccess     = 50
	resultUnavailable            = 52
	resultUnwillingToPerform     = 53
)

// Protocol operations (identifier octets).
const (
	opBindRequest     = classApplication | constructed
	opBindResponse    = classApplication | constructed | 1
	opUnbindRequest   = classApplication | 2
	opSearchRequest   = classApplication | constructed | 3
	opSearchEntry     = classApplication | constructed | 4
	opSearchDone      = classApplication | constructed | 5
	opModifyRequest   = classApplication | constructed | 6
	opModifyResponse  = classApplication | constructed | 7
	opAddRequest      = classApplication | constructed | 8
	opAddResponse     = classApplication | constructed | 9
	opDelRequest      = classApplication | 10
	opDelResponse     = classApplication | constructed | 11
	opModDNRequest    = classApplication | constructed | 12
	opModDNResponse   = classApplication | constructed | 13
	opCompareRequest  = classApplication | constructed | 14
	opCompareResponse = classApplication | constructed | 15
	opAbandonRequest  = classApplication | 16
	opExtendedRequest = classApplication | constructed | 23
	opExtendedResp    = classApplication | constructed | 24
)

// protocolViolation ends a connection with a Notice of Disconnection.
type protocolViolation struct{ msg string }

func (p *protocolViolation) Error() string { return p.msg }

func violation(format string, args ...any) error {
	return &protocolViolation{fmt.Sprintf(format, args...)}
}

// noticeOfDisconnection encodes the unsolicited notification of RFC 4511
// §4.4.1.
func noticeOfDisconnection(b []byte, code int, diag string) []byte {
	inner := 3 + 2 + tlvLen(len(diag)) + tlvLen(len(oidNotice))
	b = appendHeader(b, tagSequence, 3+tlvLen(inner))
	b = appendInt(b, tagInteger, 0)
	b = appendHeader(b, opExtendedResp, inner)
	b = appendInt(b, tagEnumerated, int64(code))
	b = appendHeader(b, tagOctetString, 0)
	b = appendTLVString(b, tagOctetString, diag)
	return appendTLVString(b, classContext|10, oidNotice)
}

// conn is one client connection; requests are read and answered in order
// by its goroutine.
type conn struct {
	s       *Server
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	in      []byte
	out     []byte
	isTLS   bool
	bound   bool
	boundDN string

	filt   filter
	paged  map[string]*pagedState
	pagedQ []string // cookies, oldest first
	cookie uint64
}

func (c *conn) serve(useTLS bool) {
	s := c.s
	defer func() {
		if p := recover(); p != nil {
			s.logf("ldapserver: %v: panic: %v\n%s", c.nc.RemoteAddr(), p, debug.Stack())
		}
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.connCount.Add(-1)
		s.wg.Done()
	}()
	if useTLS {
		tc := tls.Server(c.nc, s.cfg.TLS)
		tc.SetDeadline(time.Now().Add(s.cfg.IdleTimeout))
		if err := tc.Handshake(); err != nil {
			s.logf("ldapserver: %v: TLS handshake: %v", c.nc.RemoteAddr(), err)
			return
		}
		c.setConn(tc)
		c.isTLS = true
	} else {
		c.setConn(c.nc)
	}
	for {
		pdu, err := c.readPDU()
		if err == nil {
			err = c.handle(pdu)
		}
		if err != nil {
			var pv *protocolViolation
			if errors.As(err, &pv) {
				s.logf("ldapserver: %v: %v: disconnecting", c.nc.RemoteAddr(), pv.msg)
				c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.w.Write(noticeOfDisconnection(c.out[:0], resultProtocolError, pv.msg))
				if c.w.Flush() == nil {
					c.lingerClose()
				}
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, errUnbind) && !errors.Is(err, net.ErrClosed) {
				s.logf("ldapserver: %v: %v", c.nc.RemoteAddr(), err)
			}
			return
		}
	}
}

// lingerClose half-closes the connection and discards what the client
// still sends for a moment (at most 256 KiB, 1 s), so that the notice is
// not lost to a TCP reset caused by unread input.
func (c *conn) lingerClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(time.Second))
	io.CopyN(io.Discard, c.nc, 256<<10)
}

func (c *conn) setConn(nc net.Conn) {
	c.nc = nc
	c.r = bufio.NewReaderSize(nc, 16<<10)
	c.w = bufio.NewWriterSize(nc, 32<<10)
}

var errUnbind = errors.New("unbind")

// readPDU reads one LDAPMessage, bounded by MaxPDU before anything is
// allocated.
func (c *conn) readPDU() ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	tag, err := c.r.ReadByte()
	if err != nil {
		return nil, err
	}
	if tag != tagSequence {
		return nil, violation("request is not an LDAPMessage (identifier 0x%02x)", tag)
	}
	l0, err := c.r.ReadByte()
	if err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	n := int64(l0)
	if l0&0x80 != 0 {
		k := int(l0 & 0x7f)
		if k == 0 {
			return nil, violation("indefinite length is not allowed in LDAP")
		}
		if k > 8 {
			return nil, violation("length of %d octets", k)
		}
		n = 0
		for range k {
			b, err := c.r.ReadByte()
			if err != nil {
				return nil, io.ErrUnexpectedEOF
			}
			if n > 1<<40 {
				return nil, violation("request too large")
			}
			n = n<<8 | int64(b)
		}
	}
	if n > int64(c.s.cfg.MaxPDU) {
		return nil, violation("request of %d bytes exceeds the limit of %d", n, c.s.cfg.MaxPDU)
	}
	if int(n) > cap(c.in) {
		c.in = make([]byte, n, max(int(n), 512))
	}
	c.in = c.in[:n]
	if _, err := io.ReadFull(c.r, c.in); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return c.in, nil
}

// control is one request control.
type control struct {
	oid      []byte
	critical bool
	value    []byte
	hasValue bool
}

// message is a decoded LDAPMessage envelope.
type message struct {
	id       int64
	opTag    byte
	op       []byte
	paged    *control
	critical []byte // OID of an unsupported critical control
}

func (c *conn) handle(pdu []byte) error {
	r := berReader{pdu}
	id, err := r.readInt(tagInteger)
	if err != nil {
		return violation("bad messageID")
	}
	if id <= 0 || id > 1<<31-1 {
		return violation("messageID %d out of range", id)
	}
	m := message{id: id}
	m.opTag, m.op, err = r.next()
	if err != nil {
		return violation("bad protocolOp")
	}
	if !r.empty() {
		ctl, err := r.expect(classContext | constructed)
		if err != nil || !r.empty() {
			return violation("bad controls")
		}
		cr := berReader{ctl}
		for !cr.empty() {
			cc, err := cr.expect(tagSequence)
			if err != nil {
				return violation("bad control")
			}
			ctl := control{}
			x := berReader{cc}
			if ctl.oid, err = x.expect(tagOctetString); err != nil {
				return violation("bad control type")
			}
			if x.peek() == tagBoolean {
				if ctl.critical, err = x.readBool(); err != nil {
					return violation("bad control criticality")
				}
			}
			if !x.empty() {
				if ctl.value, err = x.expect(tagOctetString); err != nil || !x.empty() {
					return violation("bad control value")
				}
				ctl.hasValue = true
			}
			switch string(ctl.oid) {
			case oidPaged:
				if m.opTag == opSearchRequest {
					m.paged = &ctl
				} else if ctl.critical {
					m.critical = ctl.oid
				}
			case oidManageDsaIT:
				// no referrals or aliases here: nothing to manage
			default:
				if ctl.critical && m.critical == nil {
					m.critical = ctl.oid
				}
			}
		}
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	var respTag byte
	switch m.opTag {
	case opUnbindRequest:
		return errUnbind
	case opAbandonRequest:
		return nil // every operation is answered before the next is read
	case opBindRequest:
		return c.bind(&m)
	case opSearchRequest:
		return c.search(&m)
	case opExtendedRequest:
		return c.extended(&m)
	case opModifyRequest:
		respTag = opModifyResponse
	case opAddRequest:
		respTag = opAddResponse
	case opDelRequest:
		respTag = opDelResponse
	case opModDNRequest:
		respTag = opModDNResponse
	case opCompareRequest:
		respTag = opCompareResponse
	default:
		return violation("unknown protocolOp 0x%02x", m.opTag)
	}
	if m.critical != nil {
		return c.result(m.id, respTag, resultUnavailableCritical, "", "unsupported critical control "+string(m.critical), nil, nil)
	}
	return c.result(m.id, respTag, resultUnwillingToPerform, "", "read-only directory", nil, nil)
}

// result writes an LDAPResult-based response; extra is appended inside the
// operation (extended response fields), controls after it.
func (c *conn) result(id int64, tag byte, code int, matched, diag string, extra, controls []byte) error {
	op := 3 + tlvLen(len(matched)) + tlvLen(len(diag)) + len(extra)
	msg := tlvLen(intLen(id)) + tlvLen(op) + len(controls)
	b := c.out[:0]
	b = appendHeader(b, tagSequence, msg)
	b = appendInt(b, tagInteger, id)
	b = appendHeader(b, tag, op)
	b = appendInt(b, tagEnumerated, int64(code))
	b = appendTLVString(b, tagOctetString, matched)
	b = appendTLVString(b, tagOctetString, diag)
	b = append(b, extra...)
	b = append(b, controls...)
	c.out = b
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.w.Flush()
}

func (c *conn) bind(m *message) error {
	r := berReader{m.op}
	version, err := r.readInt(tagInteger)
	if err != nil {
		return violation("bad bind version")
	}
	name, err := r.expect(tagOctetString)
	if err != nil {
		return violation("bad bind name")
	}
	authTag, cred, err := r.next()
	if err != nil || !r.empty() {
		return violation("bad bind authentication")
	}
	// Any bind first resets the connection to anonymous (RFC 4511 §4.2.1).
	c.bound, c.boundDN = false, ""
	res := func(code int, diag string) error {
		return c.result(m.id, opBindResponse, code, "", diag, nil, nil)
	}
	if m.critical != nil {
		return res(resultUnavailableCritical, "unsupported critical control "+string(m.critical))
	}
	if version != 3 {
		return res(resultProtocolError, "only LDAPv3 is supported")
	}
	switch authTag {
	case classContext: // simple
	case classContext | constructed | 3:
		return res(resultAuthMethodNotSupported, "SASL is not supported; use a simple bind")
	default:
		return violation("bad bind authentication choice 0x%02x", authTag)
	}
	if len(cred) == 0 {
		// Anonymous, or an unauthenticated bind (name, no password; RFC
		// 4513 §5.1.2): either way the client stays anonymous.
		return res(resultSuccess, "")
	}
	if len(name) == 0 {
		return res(resultInvalidCredentials, "a password needs a bind DN")
	}
	if c.s.requireTLS && !c.isTLS {
		return res(resultConfidentialityReq, "simple binds with a password need TLS (StartTLS or LDAPS)")
	}
	if c.s.cfg.Authenticate == nil {
		return res(resultInvalidCredentials, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.TimeLimit)
	ok, err := c.s.cfg.Authenticate(ctx, string(name), string(cred))
	cancel()
	if err != nil {
		c.s.logf("ldapserver: bind %q: %v", name, err)
		return res(resultUnavailable, "authentication is unavailable")
	}
	if !ok {
		return res(resultInvalidCredentials, "")
	}
	c.bound, c.boundDN = true, string(name)
	return res(resultSuccess, "")
}

func (c *conn) extended(m *message) error {
	r := berReader{m.op}
	oid, err := r.expect(classContext)
	if err != nil {
		return violation("bad extended request name")
	}
	var value []byte
	hasValue := false
	if !r.empty() {
		if value, err = r.expect(classContext | 1); err != nil || !r.empty() {
			return violation("bad extended request value")
		}
		hasValue = true
	}
	_ = value
	if m.critical != nil {
		return c.result(m.id, opExtendedResp, resultUnavailableCritical, "", "unsupported critical control "+string(m.critical), nil, nil)
	}
	switch string(oid) {
	case oidStartTLS:
		name := appendTLVString(nil, classContext|10, oidStartTLS)
		switch {
		case c.s.cfg.TLS == nil:
			return c.result(m.id, opExtendedResp, resultProtocolError, "", "StartTLS is not supported here", name, nil)
		case c.isTLS:
			return c.result(m.id, opExtendedResp, resultOperationsError, "", "TLS is already established", name, nil)
		case hasValue:
			return c.result(m.id, opExtendedResp, resultProtocolError, "", "StartTLS takes no value", name, nil)
		}
		if err := c.result(m.id, opExtendedResp, resultSuccess, "", "", name, nil); err != nil {
			return err
		}
		if c.r.Buffered() > 0 {
			return errors.New("client sent data before the TLS handshake")
		}
		tc := tls.Server(c.nc, c.s.cfg.TLS)
		tc.SetDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("StartTLS handshake: %w", err)
		}
		tc.SetDeadline(time.Time{})
		c.s.mu.Lock()
		c.setConn(tc)
		c.s.mu.Unlock()
		c.isTLS = true
		return nil
	case oidWhoAmI:
		id := ""
		if c.bound {
			id = "dn:" + c.boundDN
		}
		return c.result(m.id, opExtendedResp, resultSuccess, "", "", appendTLVString(nil, classContext|11, id), nil)
	}
	return c.result(m.id, opExtendedResp, resultProtocolError, "", "unsupported extended operation "+strings.ToValidUTF8(string(oid), "?"), nil, nil)
}
