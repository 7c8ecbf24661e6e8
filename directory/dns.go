package directory

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/signet-smime/signet/internal/x509util"
)

// ErrUnauthenticatedDNS is returned (wrapped) by [SMIMEAResolver.Lookup]
// when the resolver answered with SMIMEA records but without the AD bit:
// the answer was not authenticated by DNSSEC and must not be used.
var ErrUnauthenticatedDNS = errors.New("directory: SMIMEA answer not authenticated by DNSSEC (no AD bit)")

// DefaultDNSTimeout is SMIMEAResolver's timeout when Timeout is zero.
const DefaultDNSTimeout = 5 * time.Second

// SMIMEAResolver looks up SMIMEA records (RFC 8162) through a validating
// resolver and trusts only answers the resolver says it authenticated (the
// AD bit). The path to the resolver must itself be trusted (RFC 6698 4.1):
// use a resolver on the same host or network.
type SMIMEAResolver struct {
	// Server is the validating resolver, host:port (port 53 if omitted).
	Server string
	// Timeout bounds each exchange (DefaultDNSTimeout if zero); the
	// context's deadline also applies.
	Timeout time.Duration
	// Net is "udp" (the default; the query is repeated over TCP when the
	// answer is truncated) or "tcp".
	Net string
}

// SMIMEACert is a certificate from an SMIMEA record and the record's
// certificate usage (1 PKIX-EE or 3 DANE-EE).
type SMIMEACert struct {
	Cert  *x509.Certificate
	Usage uint8
}

// SMIMEAAnswer is what one SMIMEA query found.
type SMIMEAAnswer struct {
	// Name is the owner name asked for.
	Name string
	// Rcode is the response code ("NOERROR", "NXDOMAIN").
	Rcode string
	// Records are the certificates of the usable records (usage 1 or 3,
	// selector 0, matching type 0), in answer order.
	Records []SMIMEACert
	// Skipped counts records in another form (a trust anchor or CA
	// constraint, a public key only, or a hash), which cannot give a
	// certificate to encrypt to.
	Skipped int
	// Malformed counts full-certificate records whose data is not a
	// certificate.
	Malformed int
	// Net is the transport that gave the answer ("udp" or "tcp").
	Net string
}

// Certificates returns the certificates of the usable records.
func (a *SMIMEAAnswer) Certificates() []*x509.Certificate {
	if a == nil || len(a.Records) == 0 {
		return nil
	}
	out := make([]*x509.Certificate, len(a.Records))
	for i, r := range a.Records {
		out[i] = r.Cert
	}
	return out
}

// Lookup returns the certificates published for addr in SMIMEA records
// with certificate usage 1 or 3, selector 0 and matching type 0. A name
// that does not exist or has no SMIMEA record gives nil, nil; an answer
// without the AD bit gives an error wrapping ErrUnauthenticatedDNS; SERVFAIL
// (which a validating resolver also returns for bogus data), other
// response codes and transport failures give an error.
func (r *SMIMEAResolver) Lookup(ctx context.Context, addr string) ([]*x509.Certificate, error) {
	a, err := r.Query(ctx, addr)
	if err != nil {
		return nil, err
	}
	return a.Certificates(), nil
}

// Query is Lookup with the details: the records skipped, the response code
// and the transport. On an error the answer is nil.
func (r *SMIMEAResolver) Query(ctx context.Context, addr string) (*SMIMEAAnswer, error) {
	name, err := OwnerName(strings.TrimSpace(addr))
	if err != nil {
		return nil, err
	}
	server := r.Server
	if server == "" {
		return nil, errors.New("directory: SMIMEA: no resolver configured")
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	network := r.Net
	switch network {
	case "":
		network = "udp"
	case "udp", "tcp":
	default:
		return nil, fmt.Errorf("directory: SMIMEA: network %q is not udp or tcp", r.Net)
	}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeSMIMEA)
	q.RecursionDesired = true
	q.AuthenticatedData = true // RFC 6840 5.7: ask for the AD bit
	q.SetEdns0(4096, true)     // the DO bit: DNSSEC OK

	resp, err := r.exchange(ctx, q, network, server)
	if err == nil && resp.Truncated && network == "udp" {
		network = "tcp"
		resp, err = r.exchange(ctx, q, network, server)
	}
	if err != nil {
		return nil, fmt.Errorf("directory: SMIMEA %s via %s/%s: %w", name, network, server, err)
	}
	if resp.Truncated {
		return nil, fmt.Errorf("directory: SMIMEA %s via %s/%s: truncated answer", name, network, server)
	}
	ans := &SMIMEAAnswer{Name: name, Rcode: rcodeName(resp.Rcode), Net: network}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return ans, nil
	default:
		return nil, fmt.Errorf("directory: SMIMEA %s via %s/%s: %s", name, network, server, rcodeName(resp.Rcode))
	}
	// The records of the name asked for, or of the names it is an alias of.
	names := map[string]bool{strings.ToLower(name): true}
	for changed := true; changed; {
		changed = false
		for _, rr := range resp.Answer {
			if c, ok := rr.(*dns.CNAME); ok && names[strings.ToLower(c.Hdr.Name)] && !names[strings.ToLower(c.Target)] {
				names[strings.ToLower(c.Target)] = true
				changed = true
			}
		}
	}
	var recs []*dns.SMIMEA
	for _, rr := range resp.Answer {
		if s, ok := rr.(*dns.SMIMEA); ok && names[strings.ToLower(s.Hdr.Name)] {
			recs = append(recs, s)
		}
	}
	if len(recs) == 0 {
		return ans, nil // NODATA
	}
	if !resp.AuthenticatedData {
		return nil, fmt.Errorf("directory: SMIMEA %s via %s/%s: %w", name, network, server, ErrUnauthenticatedDNS)
	}
	for _, s := range recs {
		if (s.Usage != 1 && s.Usage != 3) || s.Selector != 0 || s.MatchingType != 0 {
			ans.Skipped++
			continue
		}
		der, err := hex.DecodeString(s.Certificate)
		if err != nil {
			ans.Malformed++
			continue
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			if cert, err = x509util.ParseLenient(der); err != nil {
				ans.Malformed++
				continue
			}
		}
		ans.Records = append(ans.Records, SMIMEACert{Cert: cert, Usage: s.Usage})
	}
	return ans, nil
}

// exchange sends q once over network; a cancelled context interrupts it.
func (r *SMIMEAResolver) exchange(ctx context.Context, q *dns.Msg, network, server string) (*dns.Msg, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultDNSTimeout
	}
	c := &dns.Client{Net: network, Timeout: timeout}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// The client honours the context's deadline but not its cancellation:
	// cut the connection's deadline short when the context ends.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	if len(resp.Question) > 0 && !strings.EqualFold(resp.Question[0].Name, q.Question[0].Name) {
		return nil, fmt.Errorf("answer for %s, not %s", resp.Question[0].Name, q.Question[0].Name)
	}
	return resp, nil
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("rcode %d", rc)
}
