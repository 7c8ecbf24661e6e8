package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signet-smime/signet/gateway"
)

// writeV1 queues a message in format 1, as the code before format 2 did:
// msg/ID.data and msg/ID.meta (metadata version 1).
func writeV1(t *testing.T, q *Queue, env gateway.Envelope, body []byte, withMeta bool) string {
	t.Helper()
	id := q.newID()
	f, err := os.OpenFile(q.dataPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newSealWriter(f, q.master, kindData, id)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !withMeta {
		return id
	}
	rc := make([]rcptState, len(env.Recipients))
	for i, r := range env.Recipients {
		rc[i] = rcptState{Addr: r, State: statePending}
	}
	now := q.o.Now()
	m := &meta{Version: 1, ID: id, Env: env, Size: int64(len(body)), Created: now, Next: now, Rcpts: rc}
	b, _ := json.Marshal(m)
	if err := q.writeSealed(q.metaPath(id), kindMeta, id, b); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestFormat1 recovers, delivers, defers and removes messages queued in
// format 1 next to format 2 ones.
func TestFormat1(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	q := openTest(t, dir, clk)
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"a@partner.test", "b@partner.test"}, Hop: gateway.HopRelay}
	old := writeV1(t, q, env, testMessage("old", strings.Repeat("v1\r\n", 40000)), true)
	clk.Advance(time.Second)
	uncommitted := writeV1(t, q, env, testMessage("never", "x\r\n"), false)
	clk.Advance(time.Second)
	cur := commit(t, q, env, testMessage("new", "v2\r\n"))
	q.Close()

	q = openTest(t, dir, clk)
	if got := ids(q); !slices.Equal(got, []string{old, cur}) {
		t.Fatalf("recovered %v, want %v", got, []string{old, cur})
	}
	if _, err := os.Stat(q.dataPath(uncommitted)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("format 1 data without metadata kept: %v", err)
	}
	d := &fakeDeliverer{reply: func(r string) Result {
		if r == "b@partner.test" {
			return Result{Code: 451, Text: "later"}
		}
		return Result{Code: 250, Text: "ok"}
	}}
	q.runPass(context.Background(), d)
	if got := d.deliveries(); len(got) != 2 || !strings.Contains(string(got[0].msg), "Subject: old") || !strings.Contains(string(got[1].msg), "Subject: new") {
		t.Fatalf("deliveries %d", len(got))
	}
	q.Close()
	// The state written after the attempt survives a restart, for both.
	q = openTest(t, dir, clk)
	for _, id := range []string{old, cur} {
		m := metaOf(q, id)
		if m == nil || m.Version != metaVersion || m.Rcpts[0].State != stateDelivered || m.Rcpts[1].State != statePending {
			t.Fatalf("%s after restart: %+v", id, m)
		}
	}
	clk.Advance(time.Minute)
	d2 := &fakeDeliverer{}
	q.runPass(context.Background(), d2)
	for _, g := range d2.deliveries() {
		if !slices.Equal(g.env.Recipients, []string{"b@partner.test"}) {
			t.Errorf("delivered again to %v", g.env.Recipients)
		}
	}
	if got := dirNames(t, q.msgDir); len(got) != 0 || len(ids(q)) != 0 {
		t.Fatalf("left: %v %v", got, ids(q))
	}
}

// TestLostRemoval: removals are not fsynced; whatever part of a removal a
// crash loses, recovery neither loses a live message nor quarantines a
// finished one, and recipients recorded delivered are not delivered again
// (unless the metadata file's removal alone survived).
func TestLostRemoval(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	q := openTest(t, dir, clk)
	env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"a@partner.test", "b@partner.test"}, Hop: gateway.HopRelay}
	id := commit(t, q, env, testMessage("r", "r\r\n"))
	q.runPass(context.Background(), &fakeDeliverer{reply: func(r string) Result {
		if r == "b@partner.test" {
			return Result{Code: 451, Text: "later"}
		}
		return Result{Code: 250, Text: "ok"}
	}})
	save := map[string][]byte{}
	for _, p := range []string{q.msgPath(id), q.metaPath(id)} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		save[p] = b
	}
	clk.Advance(time.Minute)
	q.runPass(context.Background(), &fakeDeliverer{})
	if got := dirNames(t, q.msgDir); len(got) != 0 {
		t.Fatalf("finished message left: %v", got)
	}
	q.Close()
	restore := func(paths ...string) {
		for _, p := range paths {
			if err := os.WriteFile(p, save[p], 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Only the message file's removal survived: the metadata is removed.
	restore(q.metaPath(id))
	q = openTest(t, dir, clk)
	if len(ids(q)) != 0 || len(dirNames(t, q.msgDir)) != 0 || len(dirNames(t, q.quarantine)) != 0 {
		t.Fatalf("orphan metadata: queue %v, msg %v, quarantine %v", ids(q), dirNames(t, q.msgDir), dirNames(t, q.quarantine))
	}
	q.Close()

	// Nothing of it survived: b@ again, not a@.
	restore(q.msgPath(id), q.metaPath(id))
	q = openTest(t, dir, clk)
	d := &fakeDeliverer{}
	q.runPass(context.Background(), d)
	if got := d.deliveries(); len(got) != 1 || !slices.Equal(got[0].env.Recipients, []string{"b@partner.test"}) {
		t.Fatalf("after a lost removal: %+v", got)
	}
	q.Close()

	// Only the metadata's removal survived: the message as committed is
	// delivered again to all.
	restore(q.msgPath(id))
	q = openTest(t, dir, clk)
	d = &fakeDeliverer{}
	q.runPass(context.Background(), d)
	if got := d.deliveries(); len(got) != 1 || !slices.Equal(got[0].env.Recipients, env.Recipients) {
		t.Fatalf("after a half-lost removal: %+v", got)
	}
}

// syncStart is the error a test fsync returns: when it started.
type syncStart int64

func (s syncStart) Error() string { return fmt.Sprint("fsync started at ", int64(s)) }

// TestGroupSync: every sync returns after an fsync that started after the
// call, and concurrent calls share fsyncs.
func TestGroupSync(t *testing.T) {
	var clock atomic.Int64
	g := &groupSync{fsync: func() error {
		start := clock.Add(1)
		time.Sleep(time.Duration(start%3) * time.Millisecond)
		return syncStart(start)
	}}
	var wg sync.WaitGroup
	calls := 0
	for w := 0; w < 16; w++ {
		for i := 0; i < 50; i++ {
			calls++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				called := clock.Add(1) // the "rename"
				var s syncStart
				if err := g.sync(); !errors.As(err, &s) {
					t.Errorf("sync: %v", err)
					return
				} else if int64(s) <= called {
					t.Errorf("called at %d, covered by an fsync started at %d", called, s)
				}
			}
		}()
	}
	wg.Wait()
	n := g.count.Load()
	t.Logf("%d syncs, %d fsyncs", calls, n)
	if n >= int64(calls) {
		t.Errorf("no fsync shared: %d for %d syncs", n, calls)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running || g.next != nil {
		t.Error("not idle at the end")
	}
}

// TestCommitDirSyncFailure: when the shared folder fsync fails, every
// commit waiting for it fails and leaves nothing behind.
func TestCommitDirSyncFailure(t *testing.T) {
	q := openTest(t, t.TempDir(), newClock())
	real := q.msgSync.fsync
	q.msgSync.fsync = func() error {
		time.Sleep(time.Millisecond)
		return &os.PathError{Op: "sync", Path: q.msgDir, Err: syscall.EIO}
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := q.Stage(outbound)
			if err != nil {
				t.Error(err)
				return
			}
			s.Write(testMessage("x", "y\r\n"))
			if _, err := s.Commit(); !errors.Is(err, syscall.EIO) {
				t.Errorf("Commit with a failing folder fsync: %v", err)
			}
		}()
	}
	wg.Wait()
	if a, b := dirNames(t, q.tmpDir), dirNames(t, q.msgDir); len(a)+len(b) != 0 || len(ids(q)) != 0 {
		t.Fatalf("left behind: %v %v %v", a, b, ids(q))
	}
	q.msgSync.fsync = real
	id := commit(t, q, outbound, testMessage("x", "y\r\n"))
	if got := dirNames(t, q.msgDir); !slices.Equal(got, []string{id + ".msg"}) {
		t.Fatalf("msg/ %v", got)
	}
}

// TestMessageFileFooter: a message file whose footer lies is quarantined.
func TestMessageFileFooter(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, dir, newClock())
	id := commit(t, q, outbound, testMessage("f", strings.Repeat("z", 3*chunkSize)))
	q.Close()
	b, _ := os.ReadFile(q.msgPath(id))
	// Move the boundary between data and metadata by one chunk.
	f := b[len(b)-footerSize:]
	dl := int64(0)
	for _, c := range f[len(footerMagic) : len(footerMagic)+8] {
		dl = dl<<8 | int64(c)
	}
	copy(f, appendFooter(nil, dl-sealedChunk, int64(len(b)-footerSize)-(dl-sealedChunk)))
	os.WriteFile(q.msgPath(id), b, 0o600)
	_, err := Open(Options{Dir: dir, Key: testKey, MinFree: -1, Logf: t.Logf})
	if !errors.Is(err, ErrQuarantined) {
		t.Fatalf("Open: %v", err)
	}
	if !slices.Contains(dirNames(t, filepath.Join(dir, quarantineName)), id+".msg") {
		t.Error("not quarantined")
	}
}

// countingDeliverer counts the attempts.
type countingDeliverer struct {
	d     Deliverer
	calls atomic.Int64
}

func (c *countingDeliverer) Deliver(ctx context.Context, env gateway.Envelope, msg io.Reader) ([]Result, error) {
	c.calls.Add(1)
	return c.d.Deliver(ctx, env, msg)
}

// TestSinkConcurrentExactlyOnce delivers messages committed from 8
// goroutines with 8 delivery workers to smtp-sink: each arrives exactly
// once.
func TestSinkConcurrentExactlyOnce(t *testing.T) {
	s := startSink(t, freePort(t))
	q := openTest(t, t.TempDir(), nil, func(o *Options) { o.Logf = func(string, ...any) {} })
	d := &countingDeliverer{d: &SMTPDeliverer{RelayAddr: s.addr, DeliverAddr: s.addr, Timeout: 30 * time.Second}}
	calls := &d.calls
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, d) }()
	const n = 400
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= n; i = next.Add(1) {
				env := gateway.Envelope{Sender: "alice@example.org", Recipients: []string{"1bob@partner.test", "2bob@partner.test"}, Hop: gateway.HopRelay}
				commit(t, q, env, testMessage(fmt.Sprint("seq-", i), strings.Repeat("0123456789abcde\r\n", 600)))
			}
		}()
	}
	wg.Wait()
	for t0 := time.Now(); q.Stats().Queued > 0 && time.Since(t0) < time.Minute; {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := s.messages(t, n)
	seen := map[string]int{}
	for _, g := range got {
		_, rest, _ := strings.Cut(g.body, "Subject: ")
		subj, _, _ := strings.Cut(rest, "\n")
		seen[subj]++
	}
	if st := q.Stats(); len(got) != n || len(seen) != n || calls.Load() != n || st.Delivered != 2*n {
		t.Fatalf("%d at the sink, %d distinct, %d attempts, stats %+v", len(got), len(seen), calls.Load(), st)
	}
	if left := dirNames(t, q.msgDir); len(left) != 0 {
		t.Errorf("left: %v", left)
	}
}

// TestDueOldestFirst: due hands out the limit oldest due messages, marks
// them busy, and says when to come back.
func TestDueOldestFirst(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := &Queue{entries: map[string]*entry{}}
	for i := 99; i >= 0; i-- {
		id := fmt.Sprintf("%04d", i)
		next := now
		if i%10 == 0 {
			next = now.Add(time.Duration(i+1) * time.Minute) // deferred
		}
		q.entries[id] = &entry{m: &meta{ID: id, Next: next}}
	}
	ids, next := q.due(now, 3)
	if strings.Join(ids, ",") != "0001,0002,0003" || !next.Equal(now) {
		t.Fatalf("due = %v, next %v", ids, next)
	}
	ids, _ = q.due(now, 2)
	if strings.Join(ids, ",") != "0004,0005" {
		t.Fatalf("second due = %v (busy ones must be skipped)", ids)
	}
	rest, next := q.due(now, 1000)
	if len(rest) != 100-10-5 || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("the rest: %d ids, next %v", len(rest), next)
	}
	for i := 1; i < len(rest); i++ {
		if rest[i-1] >= rest[i] {
			t.Fatalf("not oldest first: %v", rest)
		}
	}
}
