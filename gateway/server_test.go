package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// fakeQueue records what is staged and committed; commitErr and stageErr
// inject failures.
type fakeQueue struct {
	mu        sync.Mutex
	staged    []*fakeStaged
	committed []*fakeStaged
	stageErr  error
	commitErr error
}

type fakeStaged struct {
	q       *fakeQueue
	env     Envelope
	data    strings.Builder
	aborted bool
}

func (q *fakeQueue) Stage(env Envelope) (Staged, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stageErr != nil {
		return nil, q.stageErr
	}
	s := &fakeStaged{q: q, env: env}
	q.staged = append(q.staged, s)
	return s, nil
}

func (s *fakeStaged) Write(p []byte) (int, error) { return s.data.Write(p) }

func (s *fakeStaged) Commit() (string, error) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if s.q.commitErr != nil {
		return "", s.q.commitErr
	}
	s.q.committed = append(s.q.committed, s)
	return fmt.Sprintf("id%d", len(s.q.committed)), nil
}

func (s *fakeStaged) Abort() error { s.aborted = true; return nil }

// fakeTransformer passes the message to every recipient's hop, refusing
// the recipients in refuse, or fails with err.
type fakeTransformer struct {
	refuse map[string]bool
	err    error
}

func (f *fakeTransformer) Transform(_ context.Context, env Envelope, msg io.ReaderAt, size int64, sink Sink) ([]Rejection, *Report, error) {
	if f.err != nil {
		return nil, nil, f.err
	}
	var rej []Rejection
	var ok []string
	for _, r := range env.Recipients {
		if f.refuse[r] {
			rej = append(rej, Rejection{Recipient: r, Code: 550, Enhanced: "5.7.1", Text: "no certificate for " + r})
		} else {
			ok = append(ok, r)
		}
	}
	if len(ok) > 0 {
		w, err := sink.Begin(Output{Recipients: ok, Hop: HopRelay})
		if err != nil {
			return nil, nil, err
		}
		if _, err := io.Copy(w, io.NewSectionReader(msg, 0, size)); err != nil {
			return nil, nil, err
		}
		w.Close()
	}
	return rej, &Report{Direction: "outbound", Result: "ok"}, nil
}

func startServer(t *testing.T, tr Transformer, q Queue, trusted ...*net.IPNet) string {
	t.Helper()
	srv, err := NewServer(Config{Hostname: "gw.test", Transformer: tr, Queue: q, Trusted: trusted,
		Local: func(a string) bool { return strings.HasSuffix(a, "@example.org") }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// send sends one message and returns the error of the first step that
// failed (nil when DATA was answered 250).
func send(t *testing.T, addr, from string, to ...string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: %s\r\nSubject: test\r\n\r\nbody\r\n", from)
	return w.Close()
}

// code is the SMTP reply code an error from net/smtp carries (0 for nil).
func code(err error) int {
	if err == nil {
		return 0
	}
	var n int
	fmt.Sscanf(err.Error(), "%d", &n)
	return n
}

func TestServerCommitsBefore250(t *testing.T) {
	q := &fakeQueue{}
	addr := startServer(t, &fakeTransformer{}, q)
	if err := send(t, addr, "alice@example.org", "bob@partner.test"); err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(q.committed) != 1 || !strings.Contains(q.committed[0].data.String(), "body") ||
		!strings.HasPrefix(q.committed[0].data.String(), "Received: from ") || q.committed[0].env.Hop != HopRelay {
		t.Fatalf("committed %d messages: %+v", len(q.committed), q.committed)
	}
	// A commit that fails: no 250, 451, nothing left committed.
	q2 := &fakeQueue{commitErr: errors.New("disk I/O error")}
	addr2 := startServer(t, &fakeTransformer{}, q2)
	if err := send(t, addr2, "alice@example.org", "bob@partner.test"); code(err) != 451 {
		t.Fatalf("failing commit: %v, want 451", err)
	}
	// A full disk: 452.
	q3 := &fakeQueue{stageErr: fmt.Errorf("queue: %w", syscall.ENOSPC)}
	addr3 := startServer(t, &fakeTransformer{}, q3)
	if err := send(t, addr3, "alice@example.org", "bob@partner.test"); code(err) != 452 {
		t.Fatalf("full disk: %v, want 452", err)
	}
	// A transformer that cannot work now: 451, staged outputs aborted.
	q4 := &fakeQueue{}
	addr4 := startServer(t, &fakeTransformer{err: errors.New("store unavailable")}, q4)
	if err := send(t, addr4, "alice@example.org", "bob@partner.test"); code(err) != 451 || len(q4.committed) != 0 {
		t.Fatalf("transform failure: %v, %d committed", err, len(q4.committed))
	}
}

func TestServerRejectionsAndBounces(t *testing.T) {
	q := &fakeQueue{}
	addr := startServer(t, &fakeTransformer{refuse: map[string]bool{"carol@nocert.test": true, "dave@nocert.test": true}}, q)
	// Everyone refused: 550 with the reason, nothing queued.
	err := send(t, addr, "alice@example.org", "carol@nocert.test", "dave@nocert.test")
	if code(err) != 550 || !strings.Contains(err.Error(), "no certificate for carol@nocert.test") {
		t.Fatalf("all refused: %v", err)
	}
	if len(q.committed) != 0 {
		t.Fatalf("%d committed for a refused message", len(q.committed))
	}
	// Some refused: 250, the message for bob and a DSN to alice.
	if err := send(t, addr, "alice@example.org", "bob@partner.test", "carol@nocert.test"); err != nil {
		t.Fatalf("partly refused: %v", err)
	}
	if len(q.committed) != 2 {
		t.Fatalf("committed %d, want the message and a DSN", len(q.committed))
	}
	dsn := q.committed[1]
	if dsn.env.Sender != "" || len(dsn.env.Recipients) != 1 || dsn.env.Recipients[0] != "alice@example.org" || dsn.env.Hop != HopDeliver ||
		!strings.Contains(dsn.data.String(), "Final-Recipient: rfc822; carol@nocert.test") || !strings.Contains(dsn.data.String(), "multipart/report") {
		t.Fatalf("DSN: %+v\n%s", dsn.env, dsn.data.String())
	}
}

func TestServerRelayControl(t *testing.T) {
	q := &fakeQueue{}
	addr := startServer(t, &fakeTransformer{}, q)
	// From loopback (trusted by default) a local sender may send out; an
	// external sender may not.
	if err := send(t, addr, "eve@evil.test", "bob@partner.test"); code(err) != 554 {
		t.Fatalf("external to external: %v, want 554", err)
	}
	if err := send(t, addr, "eve@evil.test", "alice@example.org"); err != nil {
		t.Fatalf("external to local: %v", err)
	}
	if err := send(t, addr, "not an address", "alice@example.org"); code(err) != 501 {
		t.Fatalf("bad sender: %v, want 501", err)
	}
	// The envelope says whether the client was trusted.
	if q.committed[0].env.Untrusted {
		t.Fatal("a loopback client must count as trusted")
	}
}

func TestServerUntrustedClient(t *testing.T) {
	q := &fakeQueue{}
	_, doc, _ := net.ParseCIDR("192.0.2.0/24")
	addr := startServer(t, &fakeTransformer{}, q, doc) // loopback is not trusted
	if err := send(t, addr, "alice@example.org", "bob@partner.test"); code(err) != 554 {
		t.Fatalf("a local sender from an untrusted client to the outside: %v, want 554", err)
	}
	if err := send(t, addr, "alice@example.org", "carol@example.org"); err != nil {
		t.Fatalf("to a local recipient: %v", err)
	}
	if len(q.committed) != 1 || !q.committed[0].env.Untrusted {
		t.Fatalf("the envelope must say the client was untrusted: %+v", q.committed)
	}
}
