package queue

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/internal/peertest"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sink is a Postfix smtp-sink dumping each message to a file.
type sink struct {
	addr, dumps string
	cmd         *exec.Cmd
}

func startSink(t *testing.T, port int, opts ...string) *sink {
	t.Helper()
	bin := peertest.NeedTool(t, "smtp-sink")
	s := &sink{addr: "127.0.0.1:" + strconv.Itoa(port), dumps: t.TempDir()}
	args := slices.Clone(opts)
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	args = append(args, "-d", s.dumps+"/%M.", s.addr, "100")
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 200 {
			t.Fatalf("smtp-sink does not listen on %s: %v", s.addr, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return s
}

func (s *sink) stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// dumped is one message smtp-sink received.
type dumped struct {
	mailArgs string
	rcpts    []string
	body     string // as dumped: LF line ends
}

// messages waits (a little) for n dump files and parses them.
func (s *sink) messages(t *testing.T, n int) []dumped {
	t.Helper()
	var out []dumped
	for i := 0; i < 200; i++ {
		out = out[:0]
		files, _ := filepath.Glob(filepath.Join(s.dumps, "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			// Complete when the trailing empty line is there.
			if !bytes.HasSuffix(b, []byte("\n\n")) {
				continue
			}
			var d dumped
			lines := strings.SplitAfter(string(b), "\n")
			for j, l := range lines {
				if v, ok := strings.CutPrefix(l, "X-Mail-Args: "); ok {
					d.mailArgs = strings.TrimSpace(v)
				}
				if v, ok := strings.CutPrefix(l, "X-Rcpt-Args: "); ok {
					d.rcpts = append(d.rcpts, strings.TrimSpace(v))
				}
				if strings.HasPrefix(l, "Received: ") {
					// The three-line Received ends smtp-sink's header;
					// the message, then an empty line, follow.
					d.body = strings.Join(lines[j+3:], "")
					d.body = d.body[:len(d.body)-1]
					break
				}
			}
			out = append(out, d)
		}
		if len(out) >= n {
			return out
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("smtp-sink has %d messages, want %d", len(out), n)
	return nil
}

func lf(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

func TestSinkDelivery(t *testing.T) {
	s := startSink(t, freePort(t))
	q := openTest(t, t.TempDir(), newClock())
	d := &SMTPDeliverer{RelayAddr: s.addr, DeliverAddr: s.addr, HeloName: "gw.example.org", Timeout: 10 * time.Second}
	big := make([]byte, 0, 300<<10)
	for i := 0; len(big) < 300<<10; i++ {
		big = append(big, "line "+strconv.Itoa(i)+" of a long message\r\n"...)
		if i%1000 == 0 {
			big = append(big, ".leading dot\r\n"...)
		}
	}
	msgs := map[string][]byte{
		"small":   testMessage("small", "hello\r\n"),
		"big":     testMessage("big", string(big)),
		"dots":    testMessage("dots", ".\r\n..\r\n.x\r\nend\r\n"),
		"8bit":    testMessage("8bit", "Grüße aus Köln\r\n"),
		"inbound": testMessage("in", "to the organisation\r\n"),
	}
	for name, m := range msgs {
		env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{name + "@partner.test", "second@partner.test"}, Hop: gateway.HopRelay}
		if name == "inbound" {
			env.Hop = gateway.HopDeliver
		}
		commit(t, q, env, m)
	}
	if n := q.runPass(context.Background(), d); n != len(msgs) {
		t.Fatalf("%d attempts", n)
	}
	if st := q.Stats(); st.Queued != 0 || st.Delivered != uint64(2*len(msgs)) {
		t.Fatalf("stats %+v", st)
	}
	got := s.messages(t, len(msgs))
	if len(got) != len(msgs) {
		t.Fatalf("%d messages at the sink", len(got))
	}
	for _, g := range got {
		name, _, _ := strings.Cut(strings.Trim(g.rcpts[0], "<>"), "@")
		want, ok := msgs[name]
		if !ok {
			t.Errorf("unexpected recipients %v", g.rcpts)
			continue
		}
		if g.body != lf(want) {
			t.Errorf("%s: %d bytes arrived, want %d; differ", name, len(g.body), len(lf(want)))
		}
		if !slices.Equal(g.rcpts, []string{"<" + name + "@partner.test>", "<second@partner.test>"}) {
			t.Errorf("%s: RCPT %v", name, g.rcpts)
		}
		if !strings.HasPrefix(g.mailArgs, "<alice@example.org>") || !strings.Contains(g.mailArgs, "BODY=8BITMIME") {
			t.Errorf("%s: MAIL args %q", name, g.mailArgs)
		}
	}
}

func TestSinkPermanent(t *testing.T) {
	s := startSink(t, freePort(t), "-f", "RCPT")
	q := openTest(t, t.TempDir(), newClock())
	d := &SMTPDeliverer{RelayAddr: s.addr, DeliverAddr: s.addr, Timeout: 10 * time.Second}
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"x@partner.test", "y@partner.test"}, Hop: gateway.HopRelay}
	id := commit(t, q, env, testMessage("p", "p\r\n"))
	q.runPass(context.Background(), d)
	all := ids(q)
	if len(all) != 1 || all[0] == id {
		t.Fatalf("queue %v: want only the DSN", all)
	}
	b, _ := readMessage(q, all[0])
	_, parts, _ := dsnParts(t, b)
	for _, r := range env.Recipients {
		if !strings.Contains(string(parts[1]), "Final-Recipient: rfc822; "+r+"\r\n") {
			t.Errorf("DSN lacks %s", r)
		}
	}
	if !strings.Contains(string(parts[1]), "Diagnostic-Code: smtp; 500 5.3.0 Error: command failed") {
		t.Errorf("delivery-status:\n%s", parts[1])
	}
	if m := metaOf(q, all[0]); m.Env.Sender != "" || m.Env.Hop != gateway.HopDeliver {
		t.Errorf("DSN envelope %+v", m.Env)
	}
}

func TestSinkTemporaryThenDelivered(t *testing.T) {
	port := freePort(t)
	s := startSink(t, port, "-r", "RCPT")
	clk := newClock()
	q := openTest(t, t.TempDir(), clk)
	d := &SMTPDeliverer{RelayAddr: s.addr, DeliverAddr: s.addr, Timeout: 10 * time.Second}
	msg := testMessage("t", "temporary\r\n")
	id := commit(t, q, outbound, msg)
	q.runPass(context.Background(), d)
	m := metaOf(q, id)
	if m == nil || m.Rcpts[0].State != statePending || m.Rcpts[0].Code != 450 || m.Next != clk.Now().Add(time.Minute) {
		t.Fatalf("after 450: %+v", m)
	}
	s.stop()
	s = startSink(t, port)
	clk.Advance(59 * time.Second)
	if n := q.runPass(context.Background(), d); n != 0 {
		t.Fatal("retried before the backoff")
	}
	clk.Advance(time.Second)
	if n := q.runPass(context.Background(), d); n != 1 {
		t.Fatal("not retried after the backoff")
	}
	got := s.messages(t, 1)
	if len(ids(q)) != 0 || len(got) != 1 || got[0].body != lf(msg) {
		t.Fatalf("queue %v, sink %d", ids(q), len(got))
	}
}

// An in-process go-smtp server, for STARTTLS and mixed replies.

type testBackend struct {
	mu       sync.Mutex
	replies  map[string]*smtp.SMTPError // per recipient
	received []received
}

type received struct {
	from  string
	rcpts []string
	data  []byte
	tls   bool
	opts  smtp.MailOptions
}

func (b *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &testSession{b: b, c: c}, nil
}

type testSession struct {
	b   *testBackend
	c   *smtp.Conn
	cur received
}

func (s *testSession) Reset()        { s.cur = received{} }
func (s *testSession) Logout() error { return nil }
func (s *testSession) Mail(from string, opts *smtp.MailOptions) error {
	s.cur.from = from
	if opts != nil {
		s.cur.opts = *opts
	}
	return nil
}
func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if e := s.b.replies[to]; e != nil {
		return e
	}
	s.cur.rcpts = append(s.cur.rcpts, to)
	return nil
}
func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	_, s.cur.tls = s.c.TLSConnectionState()
	s.b.mu.Lock()
	s.b.received = append(s.b.received, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (b *testBackend) got() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.received)
}

// testCert is a self-signed certificate for 127.0.0.1.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func startServer(t *testing.T, tlsCert *tls.Certificate, smtputf8 bool) (*testBackend, string) {
	t.Helper()
	be := &testBackend{replies: map[string]*smtp.SMTPError{}}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.EnableSMTPUTF8 = smtputf8
	srv.MaxMessageBytes = 10 << 20
	if tlsCert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*tlsCert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return be, l.Addr().String()
}

func deliverOne(t *testing.T, d *SMTPDeliverer, env gateway.Envelope, msg []byte) ([]Result, error) {
	t.Helper()
	return d.Deliver(context.Background(), env, &sizedReader{r: bytes.NewReader(msg), size: int64(len(msg))})
}

func TestSMTPStartTLS(t *testing.T) {
	cert, pool := testCert(t)
	msg := testMessage("tls", "over TLS\r\n")

	t.Run("opportunistic", func(t *testing.T) {
		be, addr := startServer(t, &cert, false)
		res, err := deliverOne(t, &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}, outbound, msg)
		if err != nil || len(res) != 1 || res[0].Code != 250 {
			t.Fatalf("%+v %v", res, err)
		}
		got := be.got()
		if len(got) != 1 || !got[0].tls || !bytes.Equal(got[0].data, msg) || got[0].opts.Size != int64(len(msg)) {
			t.Fatalf("received %+v", got)
		}
	})
	t.Run("opportunistic-none-offered", func(t *testing.T) {
		be, addr := startServer(t, nil, false)
		res, err := deliverOne(t, &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}, outbound, msg)
		if err != nil || res[0].Code != 250 || len(be.got()) != 1 || be.got()[0].tls {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("required-verified", func(t *testing.T) {
		be, addr := startServer(t, &cert, false)
		d := &SMTPDeliverer{RelayAddr: addr, RequireTLS: true, TLS: &tls.Config{RootCAs: pool}, Timeout: 5 * time.Second}
		res, err := deliverOne(t, d, outbound, msg)
		if err != nil || res[0].Code != 250 || !be.got()[0].tls {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("required-not-offered", func(t *testing.T) {
		be, addr := startServer(t, nil, false)
		d := &SMTPDeliverer{RelayAddr: addr, RequireTLSFor: func(dom string) bool { return dom == "partner.test" }, Timeout: 5 * time.Second}
		_, err := deliverOne(t, d, outbound, msg)
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") || len(be.got()) != 0 {
			t.Fatalf("err %v, received %d", err, len(be.got()))
		}
		t.Logf("%v", err)
	})
	t.Run("required-handshake-fails", func(t *testing.T) {
		be, addr := startServer(t, &cert, false)
		d := &SMTPDeliverer{RelayAddr: addr, RequireTLS: true, TLS: &tls.Config{RootCAs: x509.NewCertPool()}, Timeout: 5 * time.Second}
		_, err := deliverOne(t, d, outbound, msg)
		if err == nil || len(be.got()) != 0 {
			t.Fatalf("err %v, received %d", err, len(be.got()))
		}
		t.Logf("%v", err)
		// Through the queue: deferred, not bounced.
		clk := newClock()
		q := openTest(t, t.TempDir(), clk)
		id := commit(t, q, outbound, msg)
		q.runPass(context.Background(), d)
		if m := metaOf(q, id); m == nil || m.Rcpts[0].State != statePending || m.Attempts != 1 || len(ids(q)) != 1 {
			t.Fatalf("after a TLS failure: %+v", m)
		}
	})
}

func TestSMTPConnectionRefused(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}
	_, err := deliverOne(t, d, outbound, testMessage("x", "x\r\n"))
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connection refused: %v", err)
	}
	if _, err := deliverOne(t, &SMTPDeliverer{RelayAddr: addr}, gateway.Envelope{Recipients: []string{"a@b"}, Hop: gateway.HopDeliver}, nil); err == nil {
		t.Error("no address for the hop: no error")
	}
}

func TestSMTPPerRecipient(t *testing.T) {
	be, addr := startServer(t, nil, false)
	be.replies["bad@partner.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	be.replies["later@partner.test"] = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "later"}
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"ok@partner.test", "bad@partner.test", "later@partner.test"}, Hop: gateway.HopRelay}
	msg := testMessage("mixed", "m\r\n")
	res, err := deliverOne(t, d, env, msg)
	if err != nil || len(res) != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	if r := res[0]; r.Recipient != "ok@partner.test" || r.Code != 250 || r.Permanent {
		t.Errorf("ok: %+v", r)
	}
	if r := res[1]; r.Code != 550 || r.Enhanced != "5.1.1" || !r.Permanent || r.Text != "no such user" {
		t.Errorf("bad: %+v", r)
	}
	if r := res[2]; r.Code != 451 || r.Enhanced != "4.2.1" || r.Permanent {
		t.Errorf("later: %+v", r)
	}
	if got := be.got(); len(got) != 1 || !slices.Equal(got[0].rcpts, []string{"ok@partner.test"}) {
		t.Errorf("DATA for %+v", got)
	}

	// Through the queue: a DSN for bad@ only, later@ retried.
	clk := newClock()
	q := openTest(t, t.TempDir(), clk)
	id := commit(t, q, env, msg)
	q.runPass(context.Background(), d)
	all := ids(q)
	if len(all) != 2 {
		t.Fatalf("queue %v", all)
	}
	for _, x := range all {
		if x == id {
			continue
		}
		b, _ := readMessage(q, x)
		_, parts, _ := dsnParts(t, b)
		if s := string(parts[1]); !strings.Contains(s, "bad@partner.test") || strings.Contains(s, "later@") || strings.Contains(s, "ok@") {
			t.Errorf("DSN status:\n%s", s)
		}
	}
	m := metaOf(q, id)
	if m.Rcpts[0].State != stateDelivered || m.Rcpts[1].State != stateFailed || m.Rcpts[2].State != statePending {
		t.Errorf("state %+v", m.Rcpts)
	}
}

func TestSMTPUTF8(t *testing.T) {
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"jürgen@partner.test"}, Hop: gateway.HopRelay}
	msg := testMessage("u", "u\r\n")
	be, addr := startServer(t, nil, true)
	res, err := deliverOne(t, &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}, env, msg)
	if err != nil || res[0].Code != 250 || !be.got()[0].opts.UTF8 {
		t.Fatalf("%+v %v", res, err)
	}
	_, addr = startServer(t, nil, false)
	res, err = deliverOne(t, &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}, env, msg)
	if err != nil || !res[0].Permanent || res[0].Enhanced != "5.6.7" {
		t.Fatalf("without SMTPUTF8: %+v %v", res, err)
	}
}
