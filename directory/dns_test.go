package directory

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signet-smime/signet/internal/testpki"
)

// dnsServer is a DNS server on 127.0.0.1, UDP and TCP on the same port,
// answering SMIMEA queries as its fields say.
type dnsServer struct {
	Addr string

	mu          sync.Mutex
	ad          bool       // set the AD bit
	rcode       int        // response code
	answer      []dns.RR   // answer section
	truncateUDP bool       // answer UDP queries with TC and nothing else
	udp, tcp    int        // queries seen per transport
	last        *dns.Msg   // the last query
	arrived     chan<- int // if set, told of each query (then it does not answer)
}

func (s *dnsServer) set(f func(s *dnsServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *dnsServer) counts() (udp, tcp int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udp, s.tcp
}

func (s *dnsServer) lastQuery() *dns.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *dnsServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	s.mu.Lock()
	_, isTCP := w.LocalAddr().(*net.TCPAddr)
	if isTCP {
		s.tcp++
	} else {
		s.udp++
	}
	s.last = r.Copy()
	arrived := s.arrived
	m := new(dns.Msg)
	m.SetReply(r)
	m.Rcode = s.rcode
	m.AuthenticatedData = s.ad
	if s.truncateUDP && !isTCP {
		m.Truncated = true
	} else {
		m.Answer = append(m.Answer, s.answer...)
	}
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(4096, o.Do())
	}
	s.mu.Unlock()
	if arrived != nil {
		arrived <- 1
		return // never answer
	}
	w.WriteMsg(m)
}

// startDNS starts a server; it stops when the test ends.
func startDNS(t testing.TB) *dnsServer {
	t.Helper()
	s := &dnsServer{}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		p, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := p.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			p.Close()
			continue
		}
		pc, ln = p, l
		break
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	s.Addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: s}, {Listener: ln, Handler: s}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

// smimeaRR is an SMIMEA record for addr.
func smimeaRR(t testing.TB, addr string, usage, selector, matching uint8, data []byte) *dns.SMIMEA {
	t.Helper()
	name, err := OwnerName(addr)
	if err != nil {
		t.Fatal(err)
	}
	return &dns.SMIMEA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSMIMEA, Class: dns.ClassINET, Ttl: 300},
		Usage: usage, Selector: selector, MatchingType: matching, Certificate: hex.EncodeToString(data)}
}

func issueFor(t testing.TB, addr string) *x509.Certificate {
	t.Helper()
	ca, err := testpki.NewCA("DNS test CA")
	if err != nil {
		t.Fatal(err)
	}
	id, err := ca.Issue(addr, testpki.P256, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id.Cert
}

func TestSMIMEAResolver(t *testing.T) {
	const addr = "hugh@example.com"
	cert := issueFor(t, addr)
	cert2 := issueFor(t, addr)
	owner, _ := OwnerName(addr)
	full := smimeaRR(t, addr, 3, 0, 0, cert.Raw)
	pkixEE := smimeaRR(t, addr, 1, 0, 0, cert2.Raw)
	hashed := smimeaRR(t, addr, 3, 0, 1, make([]byte, 32))
	spkiOnly := smimeaRR(t, addr, 3, 1, 0, cert.RawSubjectPublicKeyInfo)
	caConstraint := smimeaRR(t, addr, 2, 0, 0, cert.Raw)
	malformed := smimeaRR(t, addr, 3, 0, 0, []byte("not a certificate"))
	other := smimeaRR(t, "someone@example.com", 3, 0, 0, cert2.Raw)
	cname := &dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: "hugh.certs.example.net."}
	atTarget := smimeaRR(t, addr, 3, 0, 0, cert2.Raw)
	atTarget.Hdr.Name = "hugh.certs.example.net."

	srv := startDNS(t)
	tests := []struct {
		name      string
		net       string
		setup     func(s *dnsServer)
		want      []*x509.Certificate
		skipped   int
		malformed int
		err       error // errors.Is target; errAny for any error
		udp, tcp  int
	}{
		{name: "authenticated", setup: func(s *dnsServer) { s.ad, s.answer = true, []dns.RR{full} },
			want: []*x509.Certificate{cert}, udp: 1},
		{name: "PKIX-EE and DANE-EE", setup: func(s *dnsServer) { s.ad, s.answer = true, []dns.RR{pkixEE, full} },
			want: []*x509.Certificate{cert2, cert}, udp: 1},
		{name: "unauthenticated", setup: func(s *dnsServer) { s.answer = []dns.RR{full} },
			err: ErrUnauthenticatedDNS, udp: 1},
		{name: "truncated then TCP", setup: func(s *dnsServer) { s.ad, s.answer, s.truncateUDP = true, []dns.RR{full}, true },
			want: []*x509.Certificate{cert}, udp: 1, tcp: 1},
		{name: "TCP only", net: "tcp", setup: func(s *dnsServer) { s.ad, s.answer = true, []dns.RR{full} },
			want: []*x509.Certificate{cert}, tcp: 1},
		{name: "NXDOMAIN", setup: func(s *dnsServer) { s.rcode = dns.RcodeNameError }, udp: 1},
		{name: "NODATA", setup: func(s *dnsServer) { s.ad = true }, udp: 1},
		{name: "NODATA unauthenticated", setup: func(s *dnsServer) {}, udp: 1},
		{name: "SERVFAIL", setup: func(s *dnsServer) { s.rcode = dns.RcodeServerFailure }, err: errAny, udp: 1},
		{name: "REFUSED", setup: func(s *dnsServer) { s.rcode = dns.RcodeRefused }, err: errAny, udp: 1},
		{name: "other forms skipped", setup: func(s *dnsServer) {
			s.ad, s.answer = true, []dns.RR{hashed, spkiOnly, caConstraint, full}
		}, want: []*x509.Certificate{cert}, skipped: 3, udp: 1},
		{name: "only a hash", setup: func(s *dnsServer) { s.ad, s.answer = true, []dns.RR{hashed} },
			skipped: 1, udp: 1},
		{name: "malformed certificate", setup: func(s *dnsServer) { s.ad, s.answer = true, []dns.RR{malformed, full} },
			want: []*x509.Certificate{cert}, malformed: 1, udp: 1},
		{name: "record of another name ignored", setup: func(s *dnsServer) { s.ad, s.answer = true, []dns.RR{other} }, udp: 1},
		{name: "CNAME followed", setup: func(s *dnsServer) { s.ad, s.answer = true, []dns.RR{cname, atTarget} },
			want: []*x509.Certificate{cert2}, udp: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.set(func(s *dnsServer) {
				s.ad, s.rcode, s.answer, s.truncateUDP, s.udp, s.tcp = false, dns.RcodeSuccess, nil, false, 0, 0
				tc.setup(s)
			})
			r := &SMIMEAResolver{Server: srv.Addr, Net: tc.net}
			ans, err := r.Query(context.Background(), addr)
			if tc.err != nil {
				if err == nil || (tc.err != errAny && !errors.Is(err, tc.err)) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if tc.err == errAny && errors.Is(err, ErrUnauthenticatedDNS) {
					t.Fatalf("err = %v, want another error than ErrUnauthenticatedDNS", err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				got := ans.Certificates()
				if len(got) != len(tc.want) {
					t.Fatalf("%d certificates, want %d", len(got), len(tc.want))
				}
				for i := range got {
					if !got[i].Equal(tc.want[i]) {
						t.Errorf("certificate %d is not the one published", i)
					}
				}
				if ans.Skipped != tc.skipped || ans.Malformed != tc.malformed {
					t.Errorf("skipped %d malformed %d, want %d and %d", ans.Skipped, ans.Malformed, tc.skipped, tc.malformed)
				}
				// Lookup agrees with Query.
				lc, err := r.Lookup(context.Background(), addr)
				if err != nil || len(lc) != len(tc.want) {
					t.Errorf("Lookup = %d certificates, %v", len(lc), err)
				}
				if len(tc.want) == 0 && lc != nil {
					t.Errorf("Lookup = %v, want nil", lc)
				}
			}
			udp, tcp := srv.counts()
			if tc.err == nil {
				udp, tcp = udp/2, tcp/2 // Query and Lookup each asked
			}
			if udp != tc.udp || tcp != tc.tcp {
				t.Errorf("queries udp %d tcp %d, want %d and %d", udp, tcp, tc.udp, tc.tcp)
			}
			q := srv.lastQuery()
			if q == nil {
				t.Fatal("no query seen")
			}
			opt := q.IsEdns0()
			if !q.AuthenticatedData || opt == nil || !opt.Do() || !q.RecursionDesired {
				t.Errorf("query flags: AD %v, EDNS0 %v, DO %v, RD %v", q.AuthenticatedData, opt != nil, opt != nil && opt.Do(), q.RecursionDesired)
			}
			if len(q.Question) != 1 || q.Question[0].Name != owner || q.Question[0].Qtype != dns.TypeSMIMEA {
				t.Errorf("question %v, want %s SMIMEA", q.Question, owner)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestSMIMEAResolverTimeout(t *testing.T) {
	// A server that reads queries and never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	r := &SMIMEAResolver{Server: pc.LocalAddr().String(), Timeout: 50 * time.Millisecond}
	_, err = r.Lookup(context.Background(), "hugh@example.com")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestSMIMEAResolverCancel(t *testing.T) {
	srv := startDNS(t)
	arrived := make(chan int, 1)
	srv.set(func(s *dnsServer) { s.arrived = arrived })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	// No timeout of its own to speak of: only the cancellation can end it.
	r := &SMIMEAResolver{Server: srv.Addr, Timeout: time.Hour}
	_, err := r.Lookup(ctx, "hugh@example.com")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSMIMEAResolverConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := (&SMIMEAResolver{}).Lookup(ctx, "hugh@example.com"); err == nil {
		t.Error("no server accepted")
	}
	if _, err := (&SMIMEAResolver{Server: "127.0.0.1:53", Net: "tcp-tls"}).Lookup(ctx, "hugh@example.com"); err == nil {
		t.Error("net tcp-tls accepted")
	}
	if _, err := (&SMIMEAResolver{Server: "127.0.0.1:53"}).Lookup(ctx, "not an address"); err == nil {
		t.Error("malformed address accepted")
	}
}
