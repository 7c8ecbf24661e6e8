package queue

import (
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Connection reuse (see SMTPDeliverer).
const (
	// defaultMaxIdle is SMTPDeliverer.MaxIdle's default: Options.Workers'.
	defaultMaxIdle = 8
	// poolIdleTimeout is how long an idle connection is kept.
	poolIdleTimeout = 10 * time.Second
	// poolMaxUses is the number of messages after which a connection is
	// closed (QUIT) instead of kept.
	poolMaxUses = 100
	// poolCheckTimeout bounds the RSET before a reuse and the QUIT of a
	// connection that is not kept (less when SMTPDeliverer.Timeout is
	// shorter): a connection that does not answer quickly is dropped.
	poolCheckTimeout = 30 * time.Second
)

// poolKey is what a connection may be reused for: the same next hop, and
// the same TLS mode (a connection made for a message that requires TLS
// has verified TLS; an opportunistic one may be plaintext or unverified).
type poolKey struct {
	addr       string
	requireTLS bool
}

// pooledConn is one SMTP session with the next hop.
type pooledConn struct {
	key     poolKey
	conn    *replayConn // under c
	c       *smtp.Client
	timeout time.Duration // SMTPDeliverer.Timeout when it was made
	uses    int           // mail transactions begun on it
	idle    time.Time     // when it was put back
}

// quit ends the session politely (QUIT, bounded by poolCheckTimeout)
// and closes the connection.
func (pc *pooledConn) quit() {
	pc.c.CommandTimeout = min(pc.timeout, poolCheckTimeout)
	pc.c.Quit()
	pc.conn.Close()
}

// connPool keeps idle connections per poolKey, most recently used last.
// Its zero value is ready to use.
type connPool struct {
	mu     sync.Mutex
	idle   map[poolKey][]*pooledConn
	timer  *time.Timer // closes expired connections
	closed bool
}

// get takes the most recently used idle connection for key that has not
// been idle for idleTimeout, or returns nil.
func (p *connPool) get(key poolKey, idleTimeout time.Duration) *pooledConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	for len(list) > 0 {
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		if time.Since(pc.idle) < idleTimeout {
			p.idle[key] = list
			return pc
		}
		// The older ones have expired too.
		for _, old := range append(list, pc) {
			go old.quit()
		}
		list = nil
	}
	delete(p.idle, key)
	return nil
}

// put keeps pc for reuse when there is room (at most maxIdle per key)
// and it has not carried poolMaxUses messages yet, and ends it
// otherwise.
func (p *connPool) put(pc *pooledConn, maxIdle int, idleTimeout time.Duration) {
	p.mu.Lock()
	if p.closed || pc.uses >= poolMaxUses || len(p.idle[pc.key]) >= maxIdle {
		p.mu.Unlock()
		pc.quit()
		return
	}
	pc.idle = time.Now()
	if p.idle == nil {
		p.idle = map[poolKey][]*pooledConn{}
	}
	p.idle[pc.key] = append(p.idle[pc.key], pc)
	if p.timer == nil {
		p.timer = time.AfterFunc(idleTimeout, func() { p.sweep(idleTimeout) })
	}
	p.mu.Unlock()
}

// sweep ends the connections idle for idleTimeout, and runs again when
// the next one expires.
func (p *connPool) sweep(idleTimeout time.Duration) {
	var expired []*pooledConn
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	now := time.Now()
	var next time.Time
	for key, list := range p.idle {
		// Oldest first: the expired ones are a prefix.
		i := 0
		for i < len(list) && now.Sub(list[i].idle) >= idleTimeout {
			i++
		}
		expired = append(expired, list[:i]...)
		if i == len(list) {
			delete(p.idle, key)
			continue
		}
		p.idle[key] = append(list[:0:0], list[i:]...)
		if t := list[i].idle.Add(idleTimeout); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if next.IsZero() {
		p.timer = nil
	} else {
		p.timer.Reset(next.Sub(now))
	}
	p.mu.Unlock()
	for _, pc := range expired {
		pc.quit()
	}
}

// close ends every idle connection (QUIT, all at once) and makes put end
// the connections given back from then on. It waits for the QUITs.
func (p *connPool) close() {
	p.mu.Lock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	all := p.idle
	p.idle = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, list := range all {
		for _, pc := range list {
			wg.Go(pc.quit)
		}
	}
	wg.Wait()
}

// idleCount is the number of idle connections for key (tests).
func (p *connPool) idleCount(key poolKey) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle[key])
}

// replayConn stands between go-smtp's client and a connection on which
// connect has read the greeting and sent EHLO (again after STARTTLS). It
// replays a greeting, and, while hello is set (around Client.Hello),
// answers the client's EHLO with the reply that connect read, without
// sending it: on a new connection, and after each RSET (go-smtp's client
// sends EHLO again after RSET), where the session's state is unchanged
// and a reused connection costs no extra round trip. When the server
// refused EHLO (ehlo is empty), the client's EHLO goes to the server,
// which lets go-smtp fall back to HELO.
type replayConn struct {
	net.Conn
	ehlo    string // the reply to EHLO, as sent by the server
	hello   bool   // answer EHLO from ehlo
	pending string // replayed before the connection's own data
}

func newReplayConn(conn net.Conn, ehlo string) *replayConn {
	return &replayConn{Conn: conn, ehlo: ehlo, pending: "220 signet-queue resumed\r\n"}
}

func (r *replayConn) Read(p []byte) (int, error) {
	if r.pending != "" {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// Write answers an EHLO command (written at once: go-smtp flushes a
// command line in one Write) from ehlo while hello is set; it passes
// everything else on.
func (r *replayConn) Write(p []byte) (int, error) {
	if r.hello && r.ehlo != "" && len(p) > 5 && strings.EqualFold(string(p[:5]), "EHLO ") && strings.HasSuffix(string(p), "\r\n") {
		r.pending += r.ehlo
		return len(p), nil
	}
	return r.Conn.Write(p)
}

// ehloReply rebuilds a 250 reply from the text textproto read from it
// (its lines without the codes, joined by newlines).
func ehloReply(text string) string {
	lines := strings.Split(text, "\n")
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b.WriteString("250" + sep + l + "\r\n")
	}
	return b.String()
}
