package queue

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/signet-smime/signet/gateway"
)

// countingListener counts the connections and, per connection, the
// commands the server reads (until STARTTLS), and can drop them all.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*countingConn
}

type countingConn struct {
	net.Conn
	l      *countingListener
	buf    []byte
	inData bool
	tls    bool
	cmds   []string // under l.mu
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.tls {
		return n, err
	}
	c.buf = append(c.buf, p[:n]...)
	for {
		i := bytes.Index(c.buf, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := string(c.buf[:i])
		c.buf = c.buf[i+2:]
		if c.inData {
			c.inData = line != "."
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		verb := strings.ToUpper(f[0])
		c.l.mu.Lock()
		c.cmds = append(c.cmds, verb)
		c.l.mu.Unlock()
		switch verb {
		case "DATA":
			c.inData = true
		case "STARTTLS":
			c.tls = true
			c.buf = nil
			return n, err
		}
	}
	return n, err
}

// numConns is the number of connections accepted.
func (l *countingListener) numConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// count is the number of times the server read verb, on all connections.
func (l *countingListener) count(verb string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.conns {
		for _, v := range c.cmds {
			if v == verb {
				n++
			}
		}
	}
	return n
}

// commands is what the server read on connection i.
func (l *countingListener) commands(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.conns[i].cmds)
}

// dropAll closes every connection on the server's side, as a server
// timing out idle sessions does.
func (l *countingListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Conn.Close()
	}
}

// hookBackend is testBackend calling onData (when set) after it records
// a message.
type hookBackend struct {
	*testBackend
	onData atomic.Pointer[func(c *smtp.Conn)]
}

func (b *hookBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &hookSession{testSession: &testSession{b: b.testBackend, c: c}, hb: b}, nil
}

type hookSession struct {
	*testSession
	hb *hookBackend
}

func (s *hookSession) Data(r io.Reader) error {
	err := s.testSession.Data(r)
	if f := s.hb.onData.Load(); f != nil {
		(*f)(s.c)
	}
	return err
}

// startCountingServer is startServer behind a countingListener.
func startCountingServer(t testing.TB, tlsCert *tls.Certificate) (*hookBackend, *countingListener, string) {
	t.Helper()
	be := &hookBackend{testBackend: &testBackend{replies: map[string]*smtp.SMTPError{}}}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.MaxMessageBytes = 10 << 20
	if tlsCert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*tlsCert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	go srv.Serve(cl)
	t.Cleanup(func() { srv.Close() })
	return be, cl, l.Addr().String()
}

func numbered(i int) []byte { return testMessage(fmt.Sprint("msg-", i), "body\r\n") }

// onceEach checks that the server received each of n numbered messages
// exactly once, with one DATA each.
func onceEach(t *testing.T, be *hookBackend, l *countingListener, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range be.got() {
		seen[string(r.data)]++
	}
	for i := range n {
		if c := seen[string(numbered(i))]; c != 1 {
			t.Errorf("message %d received %d times", i, c)
		}
	}
	if len(seen) != n || len(be.got()) != n || l.count("DATA") != n {
		t.Errorf("%d messages (%d distinct), %d DATA; want %d", len(be.got()), len(seen), l.count("DATA"), n)
	}
}

// TestSMTPReuseWorkers: messages delivered by the queue's 8 workers use
// about one connection per worker, each reused after RSET.
func TestSMTPReuseWorkers(t *testing.T) {
	be, l, addr := startCountingServer(t, nil)
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 10 * time.Second}
	q := openTest(t, t.TempDir(), nil, func(o *Options) { o.Logf = func(string, ...any) {}; o.Workers = 8 })
	const n = 200
	for i := range n {
		commit(t, q, outbound, numbered(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, d) }()
	for t0 := time.Now(); q.Stats().Queued > 0 && time.Since(t0) < time.Minute; {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Queued != 0 || st.Delivered != n {
		t.Fatalf("stats %+v", st)
	}
	onceEach(t, be, l, n)
	conns := l.numConns()
	t.Logf("%d messages, %d connections, %d RSET, %d EHLO", n, conns, l.count("RSET"), l.count("EHLO"))
	if conns > 8+2 {
		t.Errorf("%d connections for %d messages with 8 workers", conns, n)
	}
	if l.count("RSET") != n-conns || l.count("EHLO") != conns {
		t.Errorf("%d RSET, %d EHLO on %d connections for %d messages", l.count("RSET"), l.count("EHLO"), conns, n)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if l.count("QUIT") != conns {
		t.Errorf("%d QUIT after Close, %d connections", l.count("QUIT"), conns)
	}
}

// TestSMTPReuseSequence: the commands on a reused connection.
func TestSMTPReuseSequence(t *testing.T) {
	be, l, addr := startCountingServer(t, nil)
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}
	for i := range 3 {
		if res, err := deliverOne(t, d, outbound, numbered(i)); err != nil || res[0].Code != 250 {
			t.Fatalf("%d: %+v %v", i, res, err)
		}
	}
	if d.pool.idleCount(poolKey{addr, false}) != 1 {
		t.Error("the connection is not kept")
	}
	d.Close()
	d.Close()
	txn := []string{"MAIL", "RCPT", "DATA"}
	want := slices.Concat([]string{"EHLO"}, txn, []string{"RSET"}, txn, []string{"RSET"}, txn, []string{"QUIT"})
	if got := l.commands(0); l.numConns() != 1 || !slices.Equal(got, want) {
		t.Errorf("%d connections, commands %v\nwant %v", l.numConns(), got, want)
	}
	onceEach(t, be, l, 3)
	if d.pool.idleCount(poolKey{addr, false}) != 0 {
		t.Error("idle connection left after Close")
	}

	// After Close: a connection per message, ended at once.
	if res, err := deliverOne(t, d, outbound, numbered(3)); err != nil || res[0].Code != 250 {
		t.Fatalf("after Close: %+v %v", res, err)
	}
	if l.numConns() != 2 || !slices.Equal(l.commands(1), []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}) {
		t.Errorf("after Close: %d connections, %v", l.numConns(), l.commands(1))
	}
}

// TestSMTPReuseServerDropped: a connection the server closed while it was
// idle is replaced; every message arrives once.
func TestSMTPReuseServerDropped(t *testing.T) {
	be, l, addr := startCountingServer(t, nil)
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}
	defer d.Close()
	for i := range 4 {
		if i > 0 {
			l.dropAll()
			time.Sleep(20 * time.Millisecond)
		}
		if res, err := deliverOne(t, d, outbound, numbered(i)); err != nil || res[0].Code != 250 {
			t.Fatalf("%d: %+v %v", i, res, err)
		}
	}
	if l.numConns() != 4 {
		t.Errorf("%d connections", l.numConns())
	}
	onceEach(t, be, l, 4)
}

// TestSMTPReuseNoResendAfterDot: a reused connection lost after the final
// dot, before the reply, is not retried: the message may have arrived.
func TestSMTPReuseNoResendAfterDot(t *testing.T) {
	be, l, addr := startCountingServer(t, nil)
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}
	defer d.Close()
	if _, err := deliverOne(t, d, outbound, numbered(0)); err != nil {
		t.Fatal(err)
	}
	drop := func(c *smtp.Conn) { c.Conn().Close() }
	be.onData.Store(&drop)
	_, err := deliverOne(t, d, outbound, numbered(1))
	if err == nil || !strings.Contains(err.Error(), "end of DATA") {
		t.Fatalf("connection lost after the dot: %v", err)
	}
	if l.numConns() != 1 {
		t.Errorf("%d connections: retried after the final dot", l.numConns())
	}
	onceEach(t, be, l, 2)
	be.onData.Store(nil)
	if _, err := deliverOne(t, d, outbound, numbered(2)); err != nil || l.numConns() != 2 {
		t.Fatalf("next message: %v, %d connections", err, l.numConns())
	}
}

// TestSMTPReusePerRecipient: replies per recipient are the same on a
// reused connection, and a transaction without an accepted recipient
// leaves the connection usable.
func TestSMTPReusePerRecipient(t *testing.T) {
	be, l, addr := startCountingServer(t, nil)
	be.replies["bad@partner.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	be.replies["later@partner.test"] = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "later"}
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}
	defer d.Close()
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"ok@partner.test", "bad@partner.test", "later@partner.test"}, Hop: gateway.HopRelay}
	first, err := deliverOne(t, d, env, numbered(0))
	if err != nil || len(first) != 3 || first[0].Code != 250 || first[1].Code != 550 || !first[1].Permanent || first[2].Code != 451 || first[2].Permanent {
		t.Fatalf("%+v %v", first, err)
	}
	second, err := deliverOne(t, d, env, numbered(1))
	if err != nil || !reflect.DeepEqual(first, second) {
		t.Fatalf("on a reused connection:\n%+v %v\nwant %+v", second, err, first)
	}
	rejected := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"bad@partner.test", "later@partner.test"}, Hop: gateway.HopRelay}
	res, err := deliverOne(t, d, rejected, numbered(9))
	if err != nil || !reflect.DeepEqual(res, first[1:]) {
		t.Fatalf("all rejected: %+v %v", res, err)
	}
	if res, err := deliverOne(t, d, outbound, numbered(2)); err != nil || res[0].Code != 250 {
		t.Fatalf("after: %+v %v", res, err)
	}
	if l.numConns() != 1 || l.count("RSET") != 3 {
		t.Errorf("%d connections, %d RSET", l.numConns(), l.count("RSET"))
	}
	onceEach(t, be, l, 3)
	if got := be.got(); !slices.Equal(got[0].rcpts, []string{"ok@partner.test"}) || !slices.Equal(got[2].rcpts, []string{"bob@partner.test"}) {
		t.Errorf("recipients %v, %v", got[0].rcpts, got[2].rcpts)
	}
}

// TestSMTPReuseTLSModes: messages that require TLS and the others do not
// share connections.
func TestSMTPReuseTLSModes(t *testing.T) {
	cert, pool := testCert(t)
	secure := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"carol@secure.test"}, Hop: gateway.HopRelay}
	newDeliverer := func(addr string) *SMTPDeliverer {
		return &SMTPDeliverer{RelayAddr: addr, RequireTLSFor: func(dom string) bool { return dom == "secure.test" },
			TLS: &tls.Config{RootCAs: pool}, Timeout: 5 * time.Second}
	}

	t.Run("starttls", func(t *testing.T) {
		be, l, addr := startCountingServer(t, &cert)
		d := newDeliverer(addr)
		defer d.Close()
		for i, env := range []gateway.Envelope{outbound, secure, outbound, secure, secure} {
			if res, err := deliverOne(t, d, env, numbered(i)); err != nil || res[0].Code != 250 {
				t.Fatalf("%d: %+v %v", i, res, err)
			}
		}
		if l.numConns() != 2 {
			t.Errorf("%d connections", l.numConns())
		}
		for _, r := range be.got() {
			if !r.tls {
				t.Errorf("not over TLS: %s", r.rcpts)
			}
		}
		for _, require := range []bool{false, true} {
			key := poolKey{addr, require}
			if d.pool.idleCount(key) != 1 {
				t.Fatalf("require %v: %d idle", require, d.pool.idleCount(key))
			}
			pc := d.pool.get(key, time.Minute)
			verified := len(pc.conn.Conn.(*tls.Conn).ConnectionState().VerifiedChains) > 0
			if verified != require {
				t.Errorf("require %v: verified %v", require, verified)
			}
			pc.quit()
		}
	})
	t.Run("plaintext-not-reused-for-required", func(t *testing.T) {
		be, l, addr := startCountingServer(t, nil)
		d := newDeliverer(addr)
		defer d.Close()
		if res, err := deliverOne(t, d, outbound, numbered(0)); err != nil || res[0].Code != 250 {
			t.Fatalf("%+v %v", res, err)
		}
		_, err := deliverOne(t, d, secure, numbered(1))
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("TLS required on a server without it: %v", err)
		}
		if len(be.got()) != 1 || l.numConns() != 2 || d.pool.idleCount(poolKey{addr, false}) != 1 {
			t.Errorf("%d received, %d connections", len(be.got()), l.numConns())
		}
	})
}

// TestSMTPReuseLimits: a connection carries at most 100 messages, and is
// ended when idle for the idle timeout.
func TestSMTPReuseLimits(t *testing.T) {
	be, l, addr := startCountingServer(t, nil)
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second, testIdleTimeout: 300 * time.Millisecond}
	defer d.Close()
	const n = 2*poolMaxUses + 10
	for i := range n {
		if _, err := deliverOne(t, d, outbound, numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if l.numConns() != 3 || l.count("QUIT") != 2 || l.count("RSET") != n-3 {
		t.Errorf("%d connections, %d QUIT, %d RSET", l.numConns(), l.count("QUIT"), l.count("RSET"))
	}
	onceEach(t, be, l, n)
	for t0 := time.Now(); l.count("QUIT") != 3 && time.Since(t0) < 5*time.Second; {
		time.Sleep(20 * time.Millisecond)
	}
	if l.count("QUIT") != 3 || d.pool.idleCount(poolKey{addr, false}) != 0 {
		t.Fatalf("idle connection not ended: %d QUIT", l.count("QUIT"))
	}
	if _, err := deliverOne(t, d, outbound, numbered(n)); err != nil || l.numConns() != 4 {
		t.Fatalf("after the idle timeout: %v, %d connections", err, l.numConns())
	}
}

// TestSMTPCloseConcurrent: Close during deliveries loses nothing and
// leaves no idle connection.
func TestSMTPCloseConcurrent(t *testing.T) {
	be, l, addr := startCountingServer(t, nil)
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}
	const n = 80
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if res, err := deliverOne(t, d, outbound, numbered(i)); err != nil || res[0].Code != 250 {
					t.Errorf("%d: %+v %v", i, res, err)
				}
				if i == n/2 {
					d.Close()
				}
			}
		})
	}
	wg.Wait()
	d.Close()
	onceEach(t, be, l, n)
	if d.pool.idleCount(poolKey{addr, false}) != 0 || l.count("QUIT") != l.numConns() {
		t.Errorf("%d idle, %d QUIT, %d connections", d.pool.idleCount(poolKey{addr, false}), l.count("QUIT"), l.numConns())
	}
}

// BenchmarkDeliverReuse delivers 10 KiB messages from 8 goroutines to an
// in-process server, on reused connections or each on its own, over
// plaintext or STARTTLS. The server's work is in the numbers too.
func BenchmarkDeliverReuse(b *testing.B) {
	cert, _ := testCert(b)
	msg, env := benchMessage()
	for _, mode := range []string{"plain", "starttls"} {
		for _, reuse := range []bool{false, true} {
			name := mode + "/fresh"
			if reuse {
				name = mode + "/reuse"
			}
			b.Run(name, func(b *testing.B) {
				var c *tls.Certificate
				if mode == "starttls" {
					c = &cert
				}
				_, l, addr := startCountingServer(b, c)
				d := &SMTPDeliverer{RelayAddr: addr, Timeout: 10 * time.Second}
				if !reuse {
					d.MaxIdle = -1
				}
				defer d.Close()
				b.SetBytes(int64(len(msg)))
				procs := runtime.GOMAXPROCS(0)
				b.SetParallelism((8 + procs - 1) / procs)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						res, err := d.Deliver(context.Background(), env, &sizedReader{r: bytes.NewReader(msg), size: int64(len(msg))})
						if err != nil || res[0].Code != 250 {
							b.Errorf("%+v %v", res, err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				b.ReportMetric(float64(l.numConns())/float64(b.N), "conns/msg")
			})
		}
	}
}

// TestSMTPBodyLikeEHLO: message data that looks like EHLO goes to the
// server (replayConn answers EHLO only during Hello).
func TestSMTPBodyLikeEHLO(t *testing.T) {
	be, l, addr := startCountingServer(t, nil)
	d := &SMTPDeliverer{RelayAddr: addr, Timeout: 5 * time.Second}
	defer d.Close()
	// go-smtp writes the data in 4096-byte pieces: make one begin with
	// "EHLO " and end with CRLF.
	msg := testMessage("ehlo", "")
	for 4096-len(msg) > 100 {
		msg = append(msg, strings.Repeat("x", 62)+"\r\n"...)
	}
	msg = append(msg, strings.Repeat("x", 4096-len(msg)-2)+"\r\n"...)
	msg = append(msg, strings.Repeat("EHLO x\r\n", 1024)...)
	for i := range 2 {
		if res, err := deliverOne(t, d, outbound, msg); err != nil || res[0].Code != 250 {
			t.Fatalf("%d: %+v %v", i, res, err)
		}
	}
	if got := be.got(); len(got) != 2 || !bytes.Equal(got[0].data, msg) || !bytes.Equal(got[1].data, msg) || l.numConns() != 1 {
		t.Fatalf("%d received, %d connections", len(got), l.numConns())
	}
}
