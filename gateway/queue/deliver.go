package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/signet-smime/signet/gateway"
)

// Result is the outcome of one recipient in an attempt.
type Result struct {
	Recipient string
	Code      int    // SMTP reply code (250, 450, 550…); 0 if none
	Enhanced  string // "5.1.1"
	Text      string
	Permanent bool  // a 5xx: the recipient is bounced
	Err       error // the error behind a failure, if any
}

// Deliverer hands a message to the next hop. It returns a result for each
// recipient of env (those without one are retried), or an error when the
// whole attempt failed temporarily (connection refused, 4xx to MAIL…).
// msg also implements Size() int64.
type Deliverer interface {
	Deliver(ctx context.Context, env gateway.Envelope, msg io.Reader) ([]Result, error)
}

// maxWait bounds Run's sleep, so that it follows a changed clock.
const maxWait = time.Minute

// Run delivers queued messages with d until ctx ends (it then waits for
// the attempts under way and returns nil; ErrClosed after Close). It
// wakes at once when a message is committed, and at least every minute,
// so that it follows Options.Now.
func (q *Queue) Run(ctx context.Context, d Deliverer) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := q.o.Workers
	done := make(chan struct{}, q.o.Workers)
	var busy int
	for {
		q.mu.Lock()
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return ErrClosed
		}
		// With every worker busy there is nothing to hand out: wait for
		// one to finish (not for a due time that has passed already,
		// which would spin).
		var ids []string
		var next time.Time
		if busy < slots {
			ids, next = q.due(q.o.Now(), slots-busy)
		}
		for _, id := range ids {
			busy++
			wg.Add(1)
			go func() {
				defer wg.Done()
				q.attempt(ctx, d, id)
				done <- struct{}{}
			}()
		}
		wait := maxWait
		if !next.IsZero() && busy < slots {
			wait = min(max(next.Sub(q.o.Now()), 0), maxWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-q.wake:
		case <-done:
			busy--
		case <-t.C:
		}
		t.Stop()
		// Collect any other finished workers.
		for drained := false; !drained; {
			select {
			case <-done:
				busy--
			default:
				drained = true
			}
		}
	}
}

// due marks up to limit due messages busy and returns them (oldest
// first), with the earliest next attempt time among the others.
func (q *Queue) due(now time.Time, limit int) (ids []string, next time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	// One pass keeping the limit oldest due messages (ids grow with time)
	// in order: the delivery loop asks for a few at a time while the queue
	// may hold thousands, so sorting them all on every wake-up would cost
	// O(n log n) per delivered message.
	var best []*entry
	left := false // a due message is left for later
	for _, e := range q.entries {
		if e.busy {
			continue
		}
		if e.m.Next.After(now) {
			if next.IsZero() || e.m.Next.Before(next) {
				next = e.m.Next
			}
			continue
		}
		if limit <= 0 {
			left = true
			continue
		}
		if len(best) == limit && e.m.ID >= best[len(best)-1].m.ID {
			left = true
			continue
		}
		i, _ := slices.BinarySearchFunc(best, e.m.ID, func(x *entry, id string) int { return strings.Compare(x.m.ID, id) })
		if len(best) == limit {
			best = best[:len(best)-1]
			left = true
		}
		best = slices.Insert(best, i, e)
	}
	if left && (next.IsZero() || now.Before(next)) {
		next = now
	}
	for _, e := range best {
		e.busy = true
		ids = append(ids, e.m.ID)
	}
	return ids, next
}

// runPass makes one attempt for every due message, one after the other
// (tests), and returns how many.
func (q *Queue) runPass(ctx context.Context, d Deliverer) int {
	ids, _ := q.due(q.o.Now(), int(^uint(0)>>1))
	for _, id := range ids {
		q.attempt(ctx, d, id)
	}
	return len(ids)
}

// sizedReader is the message as a Deliverer reads it.
type sizedReader struct {
	r    io.Reader
	size int64
	err  error // first read error other than EOF
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// Size is the message's size in bytes.
func (s *sizedReader) Size() int64 { return s.size }

// openData opens a message's data for reading: the data section of
// ID.msg, or ID.data for a message queued in format 1.
func (q *Queue) openData(id string) (*os.File, *sealReader, error) {
	f, r, _, err := q.openMessageFile(id)
	if !errors.Is(err, os.ErrNotExist) {
		return f, r, err
	}
	f, err = os.Open(q.dataPath(id))
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	r, err = openSealed(f, fi.Size(), q.master, kindData, id)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, r, nil
}

// attempt delivers one message (marked busy) to its pending recipients
// and records the outcome durably.
func (q *Queue) attempt(ctx context.Context, d Deliverer, id string) {
	q.mu.Lock()
	e := q.entries[id]
	m := e.m.clone()
	q.mu.Unlock()
	release := func(nm *meta, remove bool) {
		q.mu.Lock()
		defer q.mu.Unlock()
		if remove {
			delete(q.entries, id)
			return
		}
		e.m = nm
		e.busy = false
	}

	now := q.o.Now()
	attempted := false
	if pending := m.pending(); len(pending) > 0 {
		f, r, err := q.openData(id)
		if err != nil {
			q.quarantineMessage(id, err)
			release(nil, true)
			return
		}
		env := m.Env
		env.Recipients = pending
		msg := &sizedReader{r: r, size: m.Size}
		results, derr := d.Deliver(ctx, env, msg)
		f.Close()
		if errors.Is(msg.err, ErrCorrupt) {
			q.quarantineMessage(id, msg.err)
			release(nil, true)
			return
		}
		if derr != nil && ctx.Err() != nil {
			// Shutting down: not an attempt.
			release(m, false)
			return
		}
		attempted = true
		now = q.o.Now()
		q.apply(m, results, derr, now)
	}

	if pending := m.pending(); len(pending) > 0 && now.Sub(m.Created) >= q.o.MaxAge {
		for i := range m.Rcpts {
			r := &m.Rcpts[i]
			if r.State == statePending {
				r.State = stateFailed
				if r.Text == "" {
					r.Text = "delivery time expired"
				}
				r.Text = "message expired after " + q.o.MaxAge.String() + ", last error: " + r.Text
				if r.Enhanced == "" {
					r.Enhanced = "4.4.7"
				}
				r.Updated = now
				q.o.Logf("queue: %s: <%s> expired after %s", id, r.Addr, q.o.MaxAge)
				q.count(0, 1)
			}
		}
	}

	bounceFailed := false
	if q.bounce(m, now) != nil {
		bounceFailed = true
	}

	finished := true
	for _, r := range m.Rcpts {
		if r.State == statePending || (r.State == stateFailed && !r.Bounced) {
			finished = false
		}
	}
	if finished {
		if err := q.removeMessage(id); err != nil {
			q.o.Logf("queue: %s: removing finished message: %v", id, err)
		}
		release(nil, true)
		return
	}
	if attempted || bounceFailed {
		m.Attempts++
		m.Next = now.Add(q.backoff(m.Attempts))
	}
	if err := q.writeMeta(m); err != nil {
		// The in-memory state stays right; after a restart, recipients
		// delivered in this attempt may be delivered again.
		q.o.Logf("queue: %s: saving state: %v", id, err)
	}
	release(m, false)
}

// apply records an attempt's results in m.
func (q *Queue) apply(m *meta, results []Result, derr error, now time.Time) {
	byAddr := map[string]Result{}
	for _, r := range results {
		byAddr[r.Recipient] = r
	}
	for i := range m.Rcpts {
		r := &m.Rcpts[i]
		if r.State != statePending {
			continue
		}
		res, ok := byAddr[r.Addr]
		switch {
		case derr != nil:
			res = errorResult(r.Addr, derr)
		case !ok:
			res = Result{Recipient: r.Addr, Text: "no result for this recipient"}
		}
		r.Code, r.Enhanced, r.Text, r.Updated = res.Code, res.Enhanced, oneLine(res.Text), now
		if r.Text == "" && res.Err != nil {
			r.Text = oneLine(res.Err.Error())
		}
		switch {
		case res.Code/100 == 2 && res.Err == nil:
			r.State = stateDelivered
			q.count(1, 0)
			q.o.Logf("queue: %s: <%s> delivered (%s): %d %s", m.ID, r.Addr, m.Env.Hop, res.Code, r.Text)
		case res.Permanent:
			r.State = stateFailed
			q.count(0, 1)
			q.o.Logf("queue: %s: <%s> failed: %d %s %s", m.ID, r.Addr, r.Code, r.Enhanced, r.Text)
		default:
			q.o.Logf("queue: %s: <%s> deferred: %d %s %s", m.ID, r.Addr, r.Code, r.Enhanced, r.Text)
		}
	}
}

// errorResult describes a failed attempt for a recipient.
func errorResult(addr string, err error) Result {
	res := Result{Recipient: addr, Text: oneLine(err.Error()), Err: err}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		res.Code, res.Text = se.Code, oneLine(se.Message)
		if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
			res.Enhanced = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
	}
	return res
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 900 {
		s = s[:900]
	}
	return s
}

func (q *Queue) count(delivered, bounced uint64) {
	q.mu.Lock()
	q.delivered += delivered
	q.bounced += bounced
	q.mu.Unlock()
}

// backoff is the wait after the n-th failed attempt.
func (q *Queue) backoff(n int) time.Duration {
	b := q.o.Backoff
	return b[min(max(n, 1), len(b))-1]
}

// quarantineMessage moves an unreadable message aside.
func (q *Queue) quarantineMessage(id string, err error) {
	q.o.Logf("queue: %s: unreadable, moved to quarantine: %v", id, err)
	if qerr := q.quarantineFiles(id); qerr != nil {
		q.o.Logf("queue: %s: %v", id, qerr)
	}
}

// bounce queues a DSN for the failed recipients not yet reported (or
// drops it for a null sender) and marks them bounced. A crash between the
// DSN's commit and the metadata update sends the DSN twice.
func (q *Queue) bounce(m *meta, now time.Time) error {
	var failed []*rcptState
	for i := range m.Rcpts {
		if r := &m.Rcpts[i]; r.State == stateFailed && !r.Bounced {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if m.Env.Sender == "" {
		for _, r := range failed {
			q.o.Logf("queue: %s: not bouncing a bounce: dropping <%s> (%d %s %s)", m.ID, r.Addr, r.Code, r.Enhanced, r.Text)
			r.Bounced = true
		}
		return nil
	}
	headers := q.originalHeaders(m.ID)
	env := gateway.Envelope{Sender: "", Recipients: []string{m.Env.Sender}, Hop: q.bounceHop(m.Env)}
	s, err := q.stage(env)
	if err == nil {
		if _, err = s.Write(q.dsn(m, failed, headers, now)); err == nil {
			var id string
			if id, err = s.Commit(); err == nil {
				q.o.Logf("queue: %s: bounce %s queued to <%s> (%s)", m.ID, id, m.Env.Sender, env.Hop)
			}
		} else {
			s.Abort()
		}
	}
	if err != nil {
		q.o.Logf("queue: %s: cannot queue bounce (retrying later): %v", m.ID, err)
		return err
	}
	for _, r := range failed {
		r.Bounced = true
	}
	return nil
}

// bounceHop is where a DSN to env's sender goes: the sender's side.
func (q *Queue) bounceHop(env gateway.Envelope) string {
	local := env.Authenticated != "" || env.Hop == gateway.HopRelay
	if q.o.LocalSender != nil {
		local = q.o.LocalSender(env.Sender)
	}
	if local {
		return gateway.HopDeliver
	}
	return gateway.HopRelay
}

// maxHeaders bounds the original header copied into a DSN.
const maxHeaders = 64 << 10

// originalHeaders returns the message's header (CRLF line ends), without
// the body.
func (q *Queue) originalHeaders(id string) []byte {
	f, r, err := q.openData(id)
	if err != nil {
		return nil
	}
	defer f.Close()
	br := bufio.NewReader(io.LimitReader(r, maxHeaders))
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		t := strings.TrimRight(line, "\r\n")
		if t == "" {
			break
		}
		out.WriteString(t + "\r\n")
		if err != nil {
			break
		}
	}
	return out.Bytes()
}

// dsn writes an RFC 3464 delivery status notification.
func (q *Queue) dsn(m *meta, failed []*rcptState, headers []byte, now time.Time) []byte {
	var rb [12]byte
	rand.Read(rb[:])
	boundary := "signet-dsn-" + hex.EncodeToString(rb[:])
	host := q.o.Hostname
	date := now.Format(time.RFC1123Z)
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	w("To: <%s>", m.Env.Sender)
	w("Subject: Undelivered Mail Returned to Sender")
	w("Date: %s", date)
	w("Message-ID: <%s.%s@%s>", m.ID, hex.EncodeToString(rb[:4]), host)
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;")
	w("\tboundary=\"%s\"", boundary)
	w("")
	w("This is a MIME-encapsulated message.")
	w("")
	w("--%s", boundary)
	w("Content-Description: Notification")
	w("Content-Type: text/plain; charset=utf-8")
	w("")
	w("This is the mail system at host %s.", host)
	w("")
	w("Your message could not be delivered to one or more recipients.")
	w("")
	for _, r := range failed {
		w("<%s>: %s", r.Addr, diagnostic(r))
	}
	w("")
	w("--%s", boundary)
	w("Content-Description: Delivery report")
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns; %s", host)
	w("X-Signet-Queue-ID: %s", m.ID)
	w("Arrival-Date: %s", m.Created.Format(time.RFC1123Z))
	for _, r := range failed {
		w("")
		w("Final-Recipient: rfc822; %s", r.Addr)
		w("Action: failed")
		w("Status: %s", status(r))
		if r.Code != 0 {
			w("Diagnostic-Code: smtp; %s", diagnostic(r))
		} else {
			w("Diagnostic-Code: X-Signet; %s", diagnostic(r))
		}
		if !r.Updated.IsZero() {
			w("Last-Attempt-Date: %s", r.Updated.Format(time.RFC1123Z))
		}
	}
	w("")
	w("--%s", boundary)
	w("Content-Description: Undelivered Message Headers")
	w("Content-Type: text/rfc822-headers")
	w("")
	b.Write(headers)
	w("")
	w("--%s--", boundary)
	return []byte(b.String())
}

// status is a failed recipient's RFC 3463 status code.
func status(r *rcptState) string {
	switch {
	case r.Enhanced != "":
		return r.Enhanced
	case r.Code/100 == 5:
		return "5.0.0"
	case r.Code/100 == 4:
		return "4.0.0"
	}
	return "4.4.7"
}

// diagnostic is a recipient's last reply on one line.
func diagnostic(r *rcptState) string {
	var parts []string
	if r.Code != 0 {
		parts = append(parts, fmt.Sprint(r.Code))
	}
	if r.Enhanced != "" {
		parts = append(parts, r.Enhanced)
	}
	if r.Text != "" {
		parts = append(parts, r.Text)
	}
	return oneLine(strings.Join(parts, " "))
}
