package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/gateway"
	"github.com/signet-smime/signet/gateway/queue"
	"github.com/signet-smime/signet/gateway/transform"
	"github.com/signet-smime/signet/internal/passhash"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/policy"
	"github.com/signet-smime/signet/smime"
	"github.com/signet-smime/signet/store"
)

// smtpOptions are serve's gateway flags.
type smtpOptions struct {
	addr, relay, deliver, hostname, cert, key string
	trusted                                   []string
	maxSize, minFree                          int64
	retry                                     []time.Duration
	requireTLS                                bool
	requireTLSFor                             []string
	auth                                      bool
}

// gatewayKeys adapts pki.GatewayKeys to the gateway's error.
type gatewayKeys struct{ k *pki.GatewayKeys }

func noKey(err error) error {
	if errors.Is(err, pki.ErrNotFound) {
		return fmt.Errorf("%w: %v", gateway.ErrNoKey, err)
	}
	return err
}

func (g gatewayKeys) Signer(ctx context.Context, addr string) (crypto.Signer, *x509.Certificate, []*x509.Certificate, error) {
	s, c, ch, err := g.k.Signer(ctx, addr)
	return s, c, ch, noKey(err)
}

func (g gatewayKeys) Identities(ctx context.Context, addr string) ([]*cms.Identity, error) {
	ids, err := g.k.Identities(ctx, addr)
	return ids, noKey(err)
}

func (g gatewayKeys) EncryptionCert(ctx context.Context, addr string) (*x509.Certificate, error) {
	c, err := g.k.EncryptionCert(ctx, addr)
	return c, noKey(err)
}

// localDomains reports whether an address is in the organisation's
// domains (or their subdomains).
func localDomains(domains []string) func(string) bool {
	return func(addr string) bool {
		_, d, ok := strings.Cut(strings.ToLower(addr), "@")
		if !ok {
			return false
		}
		for _, od := range domains {
			od = strings.ToLower(od)
			if d == od || strings.HasSuffix(d, "."+od) {
				return true
			}
		}
		return false
	}
}

// startGateway starts the SMTP gateway and its delivery queue; the function
// it returns stops them. metrics is where /metrics goes.
func startGateway(ctx context.Context, svc *pki.Service, o smtpOptions, tc *tls.Config, log io.Writer) (stop func(), metrics *gateway.Metrics, err error) {
	if o.addr == "" {
		return func() {}, nil, nil
	}
	if o.relay == "" || o.deliver == "" {
		return nil, nil, usagef("--smtp needs --relay HOST:PORT (the smarthost for outbound mail) and --deliver HOST:PORT (the organisation's mail server)")
	}
	info, err := svc.Store.GetCA(ctx)
	if err != nil {
		return nil, nil, err
	}
	local := localDomains(info.Domains)
	live := &liveLookup{ctx: ctx, svc: svc}
	if err := live.refresh(ctx); err != nil {
		return nil, nil, err
	}
	issuing := info.IssuingFingerprint
	proc := &transform.Processor{
		Policy:   &policy.Engine{Store: svc.Store},
		Lookup:   live,
		Keys:     gatewayKeys{&pki.GatewayKeys{Svc: svc}},
		Local:    local,
		Validate: live.validate,
		Harvest: func(ctx context.Context, cert *x509.Certificate, from string) error {
			_, err := svc.PutExternalCertificate(ctx, cert, store.SourceHarvested)
			return err
		},
		Capabilities: func(ctx context.Context, addr string) []string {
			cs, _, err := svc.Store.Capabilities(ctx, addr)
			if err != nil {
				return nil
			}
			return cs
		},
		Announce: func(ctx context.Context, from string, ciphers []string) error {
			return svc.Store.SetCapabilities(ctx, from, ciphers, svc.Actor)
		},
		KnownGCM: func(cert *x509.Certificate) bool {
			// Signet's own certificates: their holders read mail through
			// Signet (or a client Signet set up), which reads AES-GCM.
			c, err := svc.Store.GetCertificate(ctx, pki.Fingerprint(cert))
			return err == nil && c.IssuerFingerprint == issuing
		},
	}
	key, err := svc.Master.DeriveKey("gateway queue")
	if err != nil {
		return nil, nil, err
	}
	hostname := o.hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil || hostname == "" {
			hostname = "localhost"
		}
	}
	logf := func(format string, args ...any) { slog.Info(fmt.Sprintf(format, args...), "service", "smtp") }
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dataDir, "queue"), Key: key, Hostname: hostname, Backoff: o.retry, MinFree: o.minFree, LocalSender: local, Logf: logf})
	if err != nil {
		return nil, nil, err
	}
	var trusted []*net.IPNet
	for _, c := range o.trusted {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			q.Close()
			return nil, nil, usagef("--smtp-trusted %q: want a network like 10.0.0.0/8", c)
		}
		trusted = append(trusted, n)
	}
	m := gateway.NewMetrics(func() map[string]float64 {
		st := q.Stats()
		return map[string]float64{"queued": float64(st.Queued), "deferred": float64(st.Deferred)}
	})
	gcfg := gateway.Config{Hostname: hostname, TLS: tc, MaxMessageBytes: o.maxSize, Local: local,
		Trusted: trusted, Transformer: proc, Queue: q, SpoolDir: filepath.Join(dataDir, "queue"), Observe: m.Observe, Logf: logf,
		// Every message sees the settings, rules and certificates as they
		// are when it arrives: the store's change mark is read once per
		// message, and the cache is dropped when it moved.
		Fresh: live.refresh}
	if o.auth {
		gcfg.Authenticate = func(ctx context.Context, user, password string) (bool, error) {
			h, err := svc.Store.DirectoryAccount(ctx, submissionAccount(user))
			if errors.Is(err, store.ErrNotFound) {
				_, _ = passhash.Check(dummyHash, []byte(password)) // same time as a real check
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if u, err := svc.Store.GetUser(ctx, user); err != nil || u.Status != store.UserActive {
				return false, nil
			}
			return passhash.Check(h, []byte(password))
		}
		gcfg.SendAs = func(ctx context.Context, user, sender string) bool {
			u, _, err := svc.Store.ResolveAddress(ctx, sender)
			return err == nil && u.Email == user
		}
	}
	srv, err := gateway.NewServer(gcfg)
	if err != nil {
		q.Close()
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		q.Close()
		return nil, nil, err
	}
	dctx, cancel := context.WithCancel(ctx)
	deliverer := &queue.SMTPDeliverer{RelayAddr: o.relay, DeliverAddr: o.deliver, HeloName: hostname, RequireTLS: o.requireTLS,
		TLS: &tls.Config{MinVersion: tls.VersionTLS12}}
	if len(o.requireTLSFor) > 0 {
		required := localDomains(o.requireTLSFor)
		deliverer.RequireTLSFor = func(domain string) bool { return required("x@" + domain) }
	}
	go func() {
		if err := q.Run(dctx, deliverer); err != nil && !errors.Is(err, context.Canceled) {
			slog.Error("delivery queue stopped", "err", err)
		}
	}()
	go func() {
		if err := srv.Serve(ln); err != nil {
			slog.Error("SMTP server stopped", "err", err)
		}
	}()
	fmt.Fprintf(log, "signet: SMTP gateway on %s (outbound to %s, inbound to %s, queue %s)\n", ln.Addr(), o.relay, o.deliver, filepath.Join(dataDir, "queue"))
	return func() {
		srv.Close()
		cancel()
		q.Close()
		deliverer.Close()
	}, m, nil
}

// liveLookup is the gateway's lookup and trust inputs, rebuilt from the
// settings and the trust collection whenever the store changed: refresh
// runs before each message (gateway.Config.Fresh), so a change made with
// the command line applies to the next message.
type liveLookup struct {
	ctx context.Context
	svc *pki.Service

	mu   sync.Mutex
	mark int64
	l    *directory.Lookup
	tin  *trustInputs
}

// refresh reads the store's change mark (which also drops the store's
// cache when it moved) and rebuilds what depends on it.
func (ll *liveLookup) refresh(ctx context.Context) error {
	m, err := ll.svc.Store.ChangeMark(ctx)
	if err != nil {
		return err
	}
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if ll.l != nil && m == ll.mark {
		return nil
	}
	l, err := newLookup(ll.ctx, ll.svc, false)
	if err != nil {
		return err
	}
	tin, err := readTrust(nil, nil, storeTrust(ll.ctx, ll.svc.Store))
	if err != nil {
		return err
	}
	if err := tin.setFetcher(ll.ctx, false); err != nil {
		return err
	}
	ll.l, ll.tin, ll.mark = l, tin, m
	return nil
}

func (ll *liveLookup) current() (*directory.Lookup, *trustInputs) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	return ll.l, ll.tin
}

// Find and Expand make liveLookup a transform.Finder.
func (ll *liveLookup) Find(ctx context.Context, addr string) (*directory.Result, error) {
	l, _ := ll.current()
	return l.Find(ctx, addr)
}

func (ll *liveLookup) Expand(ctx context.Context, addr string) (*directory.Expansion, error) {
	l, _ := ll.current()
	return l.Expand(ctx, addr)
}

// validate checks an inbound signer's chain with the current trust inputs.
func (ll *liveLookup) validate(leaf *x509.Certificate, pool []*x509.Certificate, crls [][]byte, at time.Time) smime.ChainVerdict {
	_, tin := ll.current()
	return tin.validator()(leaf, pool, crls, at)
}
