package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-smime/signet/gateway"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTest(t testing.TB, dir string, clk *clock, mod ...func(*Options)) *Queue {
	t.Helper()
	o := Options{Dir: dir, Key: testKey, MinFree: -1, Hostname: "gw.example.org", Logf: t.Logf}
	if clk != nil {
		o.Now = clk.Now
	}
	for _, f := range mod {
		f(&o)
	}
	q, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func commit(t testing.TB, q *Queue, env gateway.Envelope, body []byte) string {
	t.Helper()
	s, err := q.Stage(env)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	// Write in uneven pieces.
	for p := body; len(p) > 0; {
		n := min(len(p), 7000)
		if _, err := s.Write(p[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p = p[n:]
	}
	id, err := s.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return id
}

// readMessage decrypts a queued message.
func readMessage(q *Queue, id string) ([]byte, error) {
	f, r, err := q.openData(id)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(r)
}

func ids(q *Queue) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for id := range q.entries {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func metaOf(q *Queue, id string) *meta {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.entries[id]; e != nil {
		return e.m.clone()
	}
	return nil
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// delivery is what a fake deliverer received.
type delivery struct {
	env gateway.Envelope
	msg []byte
}

// fakeDeliverer answers each recipient with reply(rcpt) and records the
// messages.
type fakeDeliverer struct {
	mu     sync.Mutex
	got    []delivery
	reply  func(rcpt string) Result
	whole  error // fail the whole attempt
	readEr error
}

func (f *fakeDeliverer) Deliver(ctx context.Context, env gateway.Envelope, msg io.Reader) ([]Result, error) {
	b, err := io.ReadAll(msg)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.readEr = err
		return nil, err
	}
	if sz, ok := msg.(interface{ Size() int64 }); !ok || sz.Size() != int64(len(b)) {
		return nil, fmt.Errorf("Size() does not match %d bytes", len(b))
	}
	if f.whole != nil {
		return nil, f.whole
	}
	f.got = append(f.got, delivery{env: env, msg: b})
	var res []Result
	for _, r := range env.Recipients {
		x := Result{Code: 250, Text: "ok"}
		if f.reply != nil {
			x = f.reply(r)
		}
		x.Recipient = r
		res = append(res, x)
	}
	return res, nil
}

func (f *fakeDeliverer) deliveries() []delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func testMessage(subject string, body string) []byte {
	return []byte("From: alice@example.org\r\nTo: bob@partner.test\r\nSubject: " + subject + "\r\n\r\n" + body)
}

var outbound = gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"bob@partner.test"}, Hop: gateway.HopRelay}

func TestSealRoundTrip(t *testing.T) {
	master, _ := newGCM(testKey)
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17} {
		plain := bytes.Repeat([]byte{'a'}, n)
		for i := range plain {
			plain[i] = byte(i * 7)
		}
		var buf bytes.Buffer
		w, err := newSealWriter(&buf, master, kindData, "id1")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(plain)
		w.Close()
		sealed := buf.Bytes()
		open := func(b []byte, kind byte, id string) ([]byte, error) {
			r, err := openSealed(bytes.NewReader(b), int64(len(b)), master, kind, id)
			if err != nil {
				return nil, err
			}
			return io.ReadAll(r)
		}
		got, err := open(sealed, kindData, "id1")
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: round trip failed: %v", n, err)
		}
		if _, err := open(sealed, kindData, "id2"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("size %d: another id opened: %v", n, err)
		}
		if _, err := open(sealed, kindMeta, "id1"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("size %d: another kind opened: %v", n, err)
		}
		// Truncation at a chunk boundary, and by a byte.
		if n > chunkSize {
			if _, err := open(sealed[:headerSize+sealedChunk], kindData, "id1"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("size %d: truncated at a chunk boundary: %v", n, err)
			}
		}
		if _, err := open(sealed[:len(sealed)-1], kindData, "id1"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("size %d: truncated by a byte: %v", n, err)
		}
		flipped := bytes.Clone(sealed)
		flipped[len(flipped)-20] ^= 1
		if _, err := open(flipped, kindData, "id1"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("size %d: flipped byte: %v", n, err)
		}
	}
}

func TestCommitDeliverRemove(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	q := openTest(t, dir, clk)
	msg := testMessage("hello", strings.Repeat("line of text\r\n", 20000))
	id := commit(t, q, outbound, msg)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("queue folder mode %v, %v", fi.Mode(), err)
	}
	if got := dirNames(t, q.msgDir); !slices.Equal(got, []string{id + ".msg"}) {
		t.Fatalf("active folder: %v", got)
	}
	if got := dirNames(t, q.tmpDir); len(got) != 0 {
		t.Fatalf("staging folder not empty: %v", got)
	}
	st := q.Stats()
	if st.Queued != 1 || st.Deferred != 0 {
		t.Errorf("stats %+v", st)
	}
	d := &fakeDeliverer{}
	if n := q.runPass(context.Background(), d); n != 1 {
		t.Fatalf("pass made %d attempts", n)
	}
	got := d.deliveries()
	if len(got) != 1 || !bytes.Equal(got[0].msg, msg) || got[0].env.Sender != outbound.Sender || !slices.Equal(got[0].env.Recipients, outbound.Recipients) {
		t.Fatalf("delivered %d, bytes equal %v", len(got), len(got) == 1 && bytes.Equal(got[0].msg, msg))
	}
	if got := dirNames(t, q.msgDir); len(got) != 0 {
		t.Fatalf("delivered message left: %v", got)
	}
	if st := q.Stats(); st.Queued != 0 || st.Delivered != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestAbortAndEnvelope(t *testing.T) {
	q := openTest(t, t.TempDir(), newClock())
	s, err := q.Stage(outbound)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("x"))
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, q.tmpDir); len(got) != 0 {
		t.Fatalf("aborted file left: %v", got)
	}
	env := outbound
	env.ClientAddr, env.ClientHelo, env.Authenticated = "192.0.2.7:4711", "client.example.org", "alice"
	msg := testMessage("hi", "body\r\n")
	id := commit(t, q, env, msg)
	b, err := readMessage(q, id)
	if err != nil || !bytes.Equal(b, msg) {
		t.Fatalf("queued %q, %v", b, err)
	}
	if m := metaOf(q, id); m.Env.ClientAddr != env.ClientAddr || m.Env.Authenticated != "alice" || m.Size != int64(len(msg)) {
		t.Errorf("envelope %+v", m.Env)
	}
}

// TestNoPlaintextOnDisk looks for the message and envelope everywhere in
// the queue folder.
func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	q := openTest(t, dir, clk)
	env := gateway.Envelope{Sender: "sender-marker-7f3a@example.org", Recipients: []string{"rcpt-marker-9c2e@partner.test"}, Hop: gateway.HopRelay}
	commit(t, q, env, testMessage("Subject-marker-51d0", "PLAINTEXT-MARKER-8e21 "+strings.Repeat("z", 100000)))
	// A failed attempt rewrites the metadata with the reply.
	q.runPass(context.Background(), &fakeDeliverer{reply: func(string) Result {
		return Result{Code: 451, Enhanced: "4.7.1", Text: "reply-marker-3b44"}
	}})
	markers := []string{"sender-marker-7f3a", "rcpt-marker-9c2e", "Subject-marker-51d0", "PLAINTEXT-MARKER-8e21", "reply-marker-3b44", "zzzzzzzzzzzzzzzz"}
	files := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s holds %q in plaintext", p, m)
			}
		}
		return nil
	})
	if files < 3 {
		t.Errorf("only %d files", files)
	}
}

func TestWrongKeyAndQuarantine(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	q := openTest(t, dir, clk)
	good := commit(t, q, outbound, testMessage("good", "good\r\n"))
	q.Close()
	before := dirNames(t, q.msgDir)

	// The wrong key: a clear error, nothing touched.
	other := bytes.Repeat([]byte{0x17}, 32)
	_, err := Open(Options{Dir: dir, Key: other, MinFree: -1, Logf: t.Logf})
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with the wrong key: %v", err)
	}
	t.Logf("wrong key: %v", err)
	if after := dirNames(t, q.msgDir); !slices.Equal(before, after) {
		t.Fatalf("wrong key changed the folder: %v → %v", before, after)
	}

	// A message sealed with another key (and one damaged) among good
	// ones: quarantined, not deleted; the queue still opens.
	dir2 := t.TempDir()
	q2 := openTest(t, dir2, clk, func(o *Options) { o.Key = other })
	foreign := commit(t, q2, outbound, testMessage("foreign", "x\r\n"))
	q = openTest(t, dir, clk)
	damaged := commit(t, q, outbound, testMessage("damaged", "y\r\n"))
	q.Close()
	b, _ := os.ReadFile(q2.msgPath(foreign))
	os.WriteFile(q.msgPath(foreign), b, 0o600)
	// Damage the metadata section of the message file.
	b, _ = os.ReadFile(q.msgPath(damaged))
	ds, _, err := readFooter(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	b[ds.Size()+int64(headerSize)+3] ^= 0x80
	os.WriteFile(q.msgPath(damaged), b, 0o600)

	q, err = Open(Options{Dir: dir, Key: testKey, MinFree: -1, Now: clk.Now, Logf: t.Logf})
	if !errors.Is(err, ErrQuarantined) || q == nil {
		t.Fatalf("Open: %v", err)
	}
	t.Logf("quarantine: %v", err)
	if !strings.Contains(err.Error(), foreign) || !strings.Contains(err.Error(), damaged) {
		t.Errorf("error does not name the files: %v", err)
	}
	if got := ids(q); !slices.Equal(got, []string{good}) {
		t.Errorf("queue holds %v, want only %v", got, good)
	}
	qn := dirNames(t, q.quarantine)
	for _, id := range []string{foreign, damaged} {
		if !slices.Contains(qn, id+".msg") {
			t.Errorf("%s not in quarantine: %v", id, qn)
		}
	}
	// The next start is clean.
	q.Close()
	openTest(t, dir, clk)
}

// TestRecovery: strays are removed, committed messages survive a restart,
// recipients delivered are not delivered again.
func TestRecovery(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	q := openTest(t, dir, clk)
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"a@partner.test", "b@partner.test"}, Hop: gateway.HopRelay}
	m1 := commit(t, q, env, testMessage("one", "1\r\n"))
	d := &fakeDeliverer{reply: func(r string) Result {
		if r == "b@partner.test" {
			return Result{Code: 452, Enhanced: "4.2.2", Text: "mailbox full"}
		}
		return Result{Code: 250, Text: "ok"}
	}}
	q.runPass(context.Background(), d)
	clk.Advance(time.Second)
	m2 := commit(t, q, outbound, testMessage("two", "2\r\n"))
	// Leftovers of a crash: a staging file and an uncommitted data file.
	os.WriteFile(filepath.Join(q.tmpDir, "0000000000000000aaaaaaaaaaaa.data"), []byte("junk"), 0o600)
	os.WriteFile(q.dataPath("0000000000000000bbbbbbbbbbbb"), []byte("junk"), 0o600)
	q.Close()

	q = openTest(t, dir, clk)
	if got := dirNames(t, q.tmpDir); len(got) != 0 {
		t.Errorf("staging folder after recovery: %v", got)
	}
	if _, err := os.Stat(q.dataPath("0000000000000000bbbbbbbbbbbb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data without metadata kept: %v", err)
	}
	if got := ids(q); !slices.Equal(got, []string{m1, m2}) {
		t.Fatalf("recovered %v", got)
	}
	m := metaOf(q, m1)
	if m.Attempts != 1 || m.Rcpts[0].State != stateDelivered || m.Rcpts[1].State != statePending || m.Rcpts[1].Text != "mailbox full" {
		t.Fatalf("recovered state %+v", m)
	}
	d = &fakeDeliverer{}
	q.runPass(context.Background(), d) // m2 only: m1 waits for its backoff
	clk.Advance(time.Minute)
	q.runPass(context.Background(), d)
	got := d.deliveries()
	if len(got) != 2 {
		t.Fatalf("%d deliveries", len(got))
	}
	if !slices.Equal(got[0].env.Recipients, outbound.Recipients) || !strings.Contains(string(got[0].msg), "Subject: two") {
		t.Errorf("first delivery %v", got[0].env.Recipients)
	}
	if !slices.Equal(got[1].env.Recipients, []string{"b@partner.test"}) || !strings.Contains(string(got[1].msg), "Subject: one") {
		t.Errorf("second delivery to %v (a@ must not be delivered again)", got[1].env.Recipients)
	}
	if len(ids(q)) != 0 {
		t.Errorf("left: %v", ids(q))
	}
}

func TestBackoffAndStats(t *testing.T) {
	clk := newClock()
	q := openTest(t, t.TempDir(), clk)
	start := clk.Now()
	id := commit(t, q, outbound, testMessage("retry", "r\r\n"))
	d := &fakeDeliverer{whole: errors.New("connection refused")}
	ctx := context.Background()
	var waits []time.Duration
	for i := 0; i < 8; i++ {
		if n := q.runPass(ctx, d); n != 1 {
			t.Fatalf("attempt %d: pass made %d attempts", i+1, n)
		}
		m := metaOf(q, id)
		if m.Attempts != i+1 || m.Rcpts[0].Text != "connection refused" {
			t.Fatalf("attempt %d: %+v", i+1, m)
		}
		wait := m.Next.Sub(clk.Now())
		waits = append(waits, wait)
		clk.Advance(wait - time.Second)
		if n := q.runPass(ctx, d); n != 0 {
			t.Fatalf("attempt %d: retried before the backoff", i+1)
		}
		clk.Advance(time.Second)
	}
	want := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 2 * time.Hour, 2 * time.Hour}
	if !slices.Equal(waits, want) {
		t.Errorf("backoff %v, want %v", waits, want)
	}
	st := q.Stats()
	if st.Queued != 1 || st.Deferred != 1 || st.Oldest != clk.Now().Sub(start) {
		t.Errorf("stats %+v", st)
	}
	d.whole = nil
	q.runPass(ctx, d)
	if st := q.Stats(); st.Queued != 0 || st.Delivered != 1 {
		t.Errorf("stats %+v", st)
	}
}

// dsnParts parses a DSN and returns its three parts.
func dsnParts(t *testing.T, b []byte) (hdr mail.Header, parts [][]byte, types []string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, b)
		types = append(types, p.Header.Get("Content-Type"))
	}
	return m.Header, parts, types
}

func TestPermanentFailureBounces(t *testing.T) {
	clk := newClock()
	q := openTest(t, t.TempDir(), clk)
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"ok@partner.test", "bad@partner.test", "later@partner.test"}, Hop: gateway.HopRelay}
	id := commit(t, q, env, testMessage("quarterly report", "body\r\n"))
	d := &fakeDeliverer{reply: func(r string) Result {
		switch r {
		case "bad@partner.test":
			return Result{Code: 550, Enhanced: "5.1.1", Text: "no such user", Permanent: true}
		case "later@partner.test":
			return Result{Code: 451, Enhanced: "4.3.0", Text: "try later"}
		}
		return Result{Code: 250, Text: "ok"}
	}}
	q.runPass(context.Background(), d)
	all := ids(q)
	if len(all) != 2 || !slices.Contains(all, id) {
		t.Fatalf("queue %v", all)
	}
	dsnID := all[0]
	if dsnID == id {
		dsnID = all[1]
	}
	dm := metaOf(q, dsnID)
	if dm.Env.Sender != "" || !slices.Equal(dm.Env.Recipients, []string{"alice@example.org"}) || dm.Env.Hop != gateway.HopDeliver {
		t.Fatalf("DSN envelope %+v", dm.Env)
	}
	b, err := readMessage(q, dsnID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DSN:\n%s", b)
	hdr, parts, types := dsnParts(t, b)
	if hdr.Get("To") != "<alice@example.org>" || !strings.HasPrefix(hdr.Get("From"), "Mail Delivery System <MAILER-DAEMON@gw.example.org>") {
		t.Errorf("DSN header %v", hdr)
	}
	if len(parts) != 3 || !strings.HasPrefix(types[0], "text/plain") || types[1] != "message/delivery-status" || types[2] != "text/rfc822-headers" {
		t.Fatalf("DSN parts %v", types)
	}
	status := string(parts[1])
	for _, want := range []string{"Reporting-MTA: dns; gw.example.org\r\n", "Final-Recipient: rfc822; bad@partner.test\r\n", "Action: failed\r\n", "Status: 5.1.1\r\n", "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"} {
		if !strings.Contains(status, want) {
			t.Errorf("delivery-status lacks %q", want)
		}
	}
	if strings.Contains(status, "ok@partner.test") || strings.Contains(status, "later@partner.test") {
		t.Errorf("delivery-status names recipients that did not fail")
	}
	if !strings.Contains(string(parts[2]), "Subject: quarterly report\r\n") || strings.Contains(string(parts[2]), "body") {
		t.Errorf("headers part %q", parts[2])
	}
	m := metaOf(q, id)
	if m.Rcpts[1].State != stateFailed || !m.Rcpts[1].Bounced || m.Rcpts[2].State != statePending {
		t.Errorf("state %+v", m.Rcpts)
	}
	// The retry goes to later@ only; no second DSN.
	clk.Advance(time.Minute)
	d2 := &fakeDeliverer{}
	q.runPass(context.Background(), d2)
	got := d2.deliveries()
	var toLater bool
	for _, g := range got {
		if slices.Equal(g.env.Recipients, []string{"later@partner.test"}) {
			toLater = true
		} else if g.env.Sender != "" {
			t.Errorf("unexpected delivery %+v", g.env)
		}
	}
	if !toLater || len(ids(q)) != 0 {
		t.Errorf("retry: %d deliveries, queue %v", len(got), ids(q))
	}
	if st := q.Stats(); st.Bounced != 1 || st.Delivered != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestNeverBounceABounce(t *testing.T) {
	clk := newClock()
	q := openTest(t, t.TempDir(), clk)
	commit(t, q, gateway.Envelope{Sender: "", Recipients: []string{"gone@partner.test"}, Hop: gateway.HopRelay}, testMessage("dsn", "x\r\n"))
	q.runPass(context.Background(), &fakeDeliverer{reply: func(string) Result {
		return Result{Code: 550, Text: "gone", Permanent: true}
	}})
	if got := ids(q); len(got) != 0 {
		t.Fatalf("queue %v", got)
	}
}

func TestExpiryAndBounceHop(t *testing.T) {
	clk := newClock()
	q := openTest(t, t.TempDir(), clk, func(o *Options) { o.MaxAge = time.Hour })
	// Inbound from an external sender: its bounce goes out by the relay.
	env := gateway.Envelope{Sender: "carol@partner.test", Recipients: []string{"alice@example.org"}, Hop: gateway.HopDeliver}
	id := commit(t, q, env, testMessage("in", "x\r\n"))
	d := &fakeDeliverer{reply: func(string) Result { return Result{Code: 421, Enhanced: "4.4.2", Text: "busy"} }}
	for i := 0; i < 10 && len(ids(q)) == 1; i++ {
		q.runPass(context.Background(), d)
		if m := metaOf(q, id); m != nil {
			clk.Advance(m.Next.Sub(clk.Now()))
		}
	}
	all := ids(q)
	if len(all) != 1 || all[0] == id {
		t.Fatalf("queue %v", all)
	}
	dm := metaOf(q, all[0])
	if dm.Env.Hop != gateway.HopRelay || !slices.Equal(dm.Env.Recipients, []string{"carol@partner.test"}) {
		t.Fatalf("DSN envelope %+v", dm.Env)
	}
	b, _ := readMessage(q, all[0])
	_, parts, _ := dsnParts(t, b)
	if s := string(parts[1]); !strings.Contains(s, "Status: 4.4.2\r\n") || !strings.Contains(s, "Action: failed\r\n") || !strings.Contains(s, "expired") {
		t.Errorf("delivery-status:\n%s", s)
	}
}

func TestTamperedDataQuarantined(t *testing.T) {
	clk := newClock()
	q := openTest(t, t.TempDir(), clk)
	id := commit(t, q, outbound, testMessage("t", strings.Repeat("x", 3*chunkSize)))
	f, _ := os.OpenFile(q.msgPath(id), os.O_RDWR, 0)
	// Flip a byte (writing a fixed value would be no change at all when
	// the ciphertext byte already has it, one time in 256).
	b := make([]byte, 1)
	off := int64(headerSize + 2*sealedChunk + 5)
	f.ReadAt(b, off)
	f.WriteAt([]byte{b[0] ^ 0x5a}, off)
	f.Close()
	d := &fakeDeliverer{}
	q.runPass(context.Background(), d)
	if len(d.deliveries()) != 0 || !errors.Is(d.readEr, ErrCorrupt) {
		t.Fatalf("tampered message delivered (%d) or read error %v", len(d.deliveries()), d.readEr)
	}
	if len(ids(q)) != 0 || !slices.Contains(dirNames(t, q.quarantine), id+".msg") {
		t.Errorf("not quarantined: queue %v, quarantine %v", ids(q), dirNames(t, q.quarantine))
	}
}

// TestRenameFailure injects failures of the message file's rename.
func TestRenameFailure(t *testing.T) {
	q := openTest(t, t.TempDir(), newClock())
	for _, c := range []struct {
		suffix string
		err    error
	}{{".msg", syscall.EIO}, {".msg", syscall.ENOSPC}} {
		q.rename = func(o, n string) error {
			if strings.HasSuffix(n, c.suffix) {
				return &os.LinkError{Op: "rename", Old: o, New: n, Err: c.err}
			}
			return os.Rename(o, n)
		}
		s, err := q.Stage(outbound)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(testMessage("x", "y\r\n"))
		_, err = s.Commit()
		if !errors.Is(err, c.err) || (c.err == syscall.ENOSPC) != errors.Is(err, ErrNoSpace) {
			t.Errorf("%s rename failing with %v: Commit: %v", c.suffix, c.err, err)
		}
		if a, b := dirNames(t, q.tmpDir), dirNames(t, q.msgDir); len(a)+len(b) != 0 || len(ids(q)) != 0 {
			t.Errorf("left behind: %v %v", a, b)
		}
		if _, err := s.Write([]byte("more")); err == nil {
			t.Error("write after a failed commit")
		}
	}
	q.rename = os.Rename
	commit(t, q, outbound, testMessage("x", "y\r\n"))
}

func TestMinFree(t *testing.T) {
	q := openTest(t, t.TempDir(), newClock(), func(o *Options) { o.MinFree = 1 << 60 })
	if _, err := q.Stage(outbound); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Stage with MinFree not available: %v", err)
	}
	if got := dirNames(t, q.tmpDir); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
}

// TestDiskFull fills a 1 MiB tmpfs.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs (root is required under CI): %v", err)
		}
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	q := openTest(t, filepath.Join(dir, "q"), newClock())
	big := testMessage("big", strings.Repeat("0123456789abcdef", 128<<10)) // 2 MiB
	s, err := q.Stage(outbound)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Write(big)
	if err == nil {
		_, err = s.Commit()
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("full disk: %v", err)
	}
	t.Logf("full disk: %v", err)
	if a, b := dirNames(t, q.tmpDir), dirNames(t, q.msgDir); len(a)+len(b) != 0 {
		t.Fatalf("left behind: %v %v", a, b)
	}
	// The space is back: a small message fits.
	commit(t, q, outbound, testMessage("small", "s\r\n"))

	// The MinFree check sees the small file system.
	q2 := openTest(t, filepath.Join(dir, "q2"), newClock(), func(o *Options) { o.MinFree = 2 << 20 })
	if _, err := q2.Stage(outbound); !errors.Is(err, ErrNoSpace) {
		t.Errorf("MinFree on a 1 MiB file system: %v", err)
	}
}

// TestRun checks the delivery loop: it wakes on Commit and stops with
// its context.
func TestRun(t *testing.T) {
	q := openTest(t, t.TempDir(), nil, func(o *Options) { o.Workers = 2 })
	d := &fakeDeliverer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, d) }()
	for i := 0; i < 5; i++ {
		commit(t, q, outbound, testMessage(fmt.Sprint(i), "x\r\n"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(d.deliveries()) < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(d.deliveries()); n != 5 {
		t.Fatalf("%d delivered", n)
	}
}
