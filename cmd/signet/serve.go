package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/signet-smime/signet/ca"
	"github.com/signet-smime/signet/directory/ldapserver"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

func newServeCommand() *cobra.Command {
	var addr string
	var lo ldapOptions
	var so smtpOptions
	var retry []string
	c := &cobra.Command{
		Use:   "serve [--http ADDR] [--ldap ADDR] [--ldaps ADDR] [--smtp ADDR --relay HOST:PORT --deliver HOST:PORT]",
		Short: "Serve CRLs, CA certificates, OCSP, the LDAP directory and the SMTP gateway",
		Long: `Serve runs Signet's services from the data folder (--data).

On its first run on an empty folder it sets up a trial organisation
("Signet Trial", domain example.org, public URL http://ADDR) so that it
works at once, and says how to set up a real one: stop it, choose a new
--data folder, set SIGNET_PASSPHRASE, and run "signet init" with your
organisation, domains and public URL.

HTTP (--http, default 127.0.0.1:8080):
  /crl/KEYID.crl   current CRL of the root or issuing CA (DER), re-issued
                   before its nextUpdate and whenever a certificate is revoked
  /ca/KEYID.crt    CA certificates (DER)
  /ocsp            OCSP responder (RFC 6960 POST; GET /ocsp/BASE64)
  /healthz         liveness

LDAP (--ldap ADDR for LDAP with StartTLS, --ldaps ADDR for LDAP over TLS):
the directory, read-only, as mail clients query it (Outlook, Thunderbird,
macOS Contacts, gpgsm/dirmngr): base DN --ldap-base (default from the first
domain: dc=example,dc=org), people at mail=ADDR,ou=people,BASE with mail,
cn, displayName, sn, givenName, userCertificate;binary (each a DER
certificate) and userSMIMECertificate (PKCS #7 certs-only with the CA
chain); groups at cn=…,ou=groups,BASE. Anonymous clients may look up
specific people (an equality, or a substring of at least 3 characters, on
mail, cn, sn, givenName, displayName or uid), at most 25 entries per search;
listing the directory needs a bind with an account of "signet directory
account add" (or --ldap-anonymous-list). Changes in the store show within
a few seconds. Without --ldap-cert/--ldap-key, TLS uses a self-signed
certificate made at start.

SMTP gateway (--smtp ADDR, with --relay and --deliver): accepts mail (ESMTP,
STARTTLS, SIZE, 8BITMIME, SMTPUTF8, PIPELINING), applies the organisation's
S/MIME settings and policy ("signet config", "signet policy"): outbound mail
(a local sender to external recipients, from --smtp-trusted networks only:
no open relay) is signed with the sender's key and encrypted for every
recipient whose certificate "signet lookup" finds; inbound mail is decrypted
for local recipients whose keys Signet holds and its signatures verified,
with the outcome in X-Signet-Signature and X-Signet-Encryption. Mail is
answered 250 only once every resulting message is durably queued (fsync,
sealed at rest under DATA/queue); the queue delivers to --relay (outbound)
or --deliver (inbound), retries with back-off (--smtp-retry) and bounces
with a DSN when a message finally fails. A full disk or a failing store is
answered 4xx. /metrics on the HTTP address gives Prometheus metrics.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			svc, err := openOrCreateTrial(ctx, c, addr)
			if err != nil {
				return err
			}
			defer svc.Close()
			// The servers read the same settings, recipients and
			// certificates for every request: cache them, following
			// changes made elsewhere (the command line) within a second.
			svc.Store = store.Cached(svc.Store, time.Second)
			svc.Actor = "serve" // what the servers change (harvested certificates, CRL numbers) is audited as theirs
			var h http.Handler
			h, err = newPKIHandler(ctx, svc)
			if err != nil {
				return err
			}
			stopLDAP, err := startLDAP(ctx, svc, lo, c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer stopLDAP()
			for _, r := range retry {
				d, err := time.ParseDuration(r)
				if err != nil || d <= 0 {
					return usagef("--smtp-retry: %q is not a positive duration", r)
				}
				so.retry = append(so.retry, d)
			}
			var smtpTLS *tls.Config
			if so.addr != "" {
				if smtpTLS, err = serverTLS("smtp", so.cert, so.key, so.addr, c.ErrOrStderr()); err != nil {
					return err
				}
			}
			stopSMTP, metrics, err := startGateway(ctx, svc, so, smtpTLS, c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer stopSMTP()
			if metrics != nil {
				mux := http.NewServeMux()
				mux.Handle("GET /metrics", metrics.Handler())
				mux.Handle("/", h)
				h = mux
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(c.ErrOrStderr(), "signet: serving %s on http://%s\n", dataDir, ln.Addr())
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(shut)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	c.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "listen on `ADDR` for HTTP")
	c.Flags().StringVar(&lo.addr, "ldap", "", "serve the directory over LDAP (with StartTLS) on `ADDR`")
	c.Flags().StringVar(&lo.tlsAddr, "ldaps", "", "serve the directory over LDAPS on `ADDR`")
	c.Flags().StringVar(&lo.base, "ldap-base", "", "the directory's base `DN` (default dc=… of the organisation's first domain)")
	c.Flags().StringVar(&lo.cert, "ldap-cert", "", "LDAP TLS certificate `FILE` (PEM, chain included)")
	c.Flags().StringVar(&lo.key, "ldap-key", "", "LDAP TLS private key `FILE` (PEM)")
	c.Flags().StringVar(&so.addr, "smtp", "", "run the SMTP gateway on `ADDR`")
	c.Flags().StringVar(&so.relay, "relay", "", "outbound mail goes to this smarthost `HOST:PORT`")
	c.Flags().StringVar(&so.deliver, "deliver", "", "inbound mail goes to the organisation's mail server at `HOST:PORT`")
	c.Flags().StringVar(&so.hostname, "smtp-hostname", "", "the gateway's host `NAME` in greetings and Received fields (default the system's)")
	c.Flags().StringVar(&so.cert, "smtp-cert", "", "STARTTLS certificate `FILE` (PEM; default a self-signed one made at start)")
	c.Flags().StringVar(&so.key, "smtp-key", "", "STARTTLS private key `FILE` (PEM)")
	c.Flags().StringArrayVar(&so.trusted, "smtp-trusted", nil, "a `NETWORK` (CIDR) whose clients may send to external recipients: the organisation's mail server (default loopback; repeat for several)")
	c.Flags().Int64Var(&so.maxSize, "smtp-max-size", 50<<20, "largest message accepted, in `BYTES`")
	c.Flags().StringSliceVar(&retry, "smtp-retry", nil, "delivery retry `DELAYS`, comma-separated (default 1m,5m,15m,30m,1h, then every 2h; messages bounce after 5 days)")
	c.Flags().Int64Var(&so.minFree, "smtp-min-free", 64<<20, "answer 452 (try later) while the queue's file system has less than `BYTES` free (negative: no minimum)")
	c.Flags().BoolVar(&so.auth, "smtp-auth", false, "offer AUTH PLAIN (after STARTTLS) to mail clients submitting directly: passwords from \"signet user password\"")
	c.Flags().StringArrayVar(&so.requireTLSFor, "smtp-require-tls-for", nil, "deliver to recipients in this `DOMAIN` only over STARTTLS with a verified certificate (repeat for several)")
	c.Flags().BoolVar(&so.requireTLS, "smtp-require-tls", false, "deliver only over STARTTLS with a verified certificate")
	c.Flags().BoolVar(&lo.anonList, "ldap-anonymous-list", false, "let anonymous LDAP clients list the whole directory (directory harvesting: keep it off on the internet)")
	return c
}

// ldapOptions are serve's LDAP flags.
type ldapOptions struct {
	addr, tlsAddr, base, cert, key string
	anonList                       bool
}

// startLDAP starts the LDAP listeners asked for; the function it returns
// stops them.
func startLDAP(ctx context.Context, svc *pki.Service, o ldapOptions, log io.Writer) (func(), error) {
	if o.addr == "" && o.tlsAddr == "" {
		return func() {}, nil
	}
	base := o.base
	if base == "" {
		info, err := svc.Store.GetCA(ctx)
		if err != nil {
			return nil, err
		}
		base = baseDNFor(info.Domains[0])
	}
	tlsAddr := o.addr
	if tlsAddr == "" {
		tlsAddr = o.tlsAddr
	}
	tc, err := serverTLS("ldap", o.cert, o.key, tlsAddr, log)
	if err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) { slog.Info(fmt.Sprintf(format, args...), "service", "ldap") }
	srv, err := ldapserver.New(ldapserver.Config{BaseDN: base, AllowAnonymousList: o.anonList, TLS: tc,
		Authenticate: ldapAuthenticator(svc.Store), Logf: logf})
	if err != nil {
		return nil, err
	}
	if _, err := ldapRefresher(ctx, svc.Store, srv, 2*time.Second, logf); err != nil {
		return nil, err
	}
	listen := func(addr string, tls bool) error {
		if addr == "" {
			return nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		scheme := "ldap"
		serve := srv.Serve
		if tls {
			scheme, serve = "ldaps", srv.ServeTLS
		}
		fmt.Fprintf(log, "signet: serving the directory on %s://%s (base %s)\n", scheme, ln.Addr(), base)
		go func() {
			if err := serve(ln); err != nil && !errors.Is(err, ldapserver.ErrServerClosed) {
				slog.Error("LDAP server stopped", "err", err)
			}
		}()
		return nil
	}
	if err := listen(o.addr, false); err != nil {
		srv.Close()
		return nil, err
	}
	if err := listen(o.tlsAddr, true); err != nil {
		srv.Close()
		return nil, err
	}
	return func() { srv.Close() }, nil
}

// openOrCreateTrial opens the data folder, or on an empty one sets up a
// trial organisation.
func openOrCreateTrial(ctx context.Context, c *cobra.Command, addr string) (*pki.Service, error) {
	if _, err := os.Stat(filepath.Join(dataDir, dbName)); err == nil {
		return openService(ctx)
	}
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty and holds no Signet data: choose another --data folder", dataDir)
	}
	svc, err := createService(ctx, c.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	host := addr
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	if _, err := svc.Init(ctx, pki.InitOptions{Org: "Signet Trial", Domains: []string{"example.org"}, PublicURL: "http://" + host}); err != nil {
		svc.Close()
		return nil, err
	}
	fmt.Fprintf(c.ErrOrStderr(), `signet: this is a TRIAL organisation ("Signet Trial", example.org) in %s.
signet: try: signet --data %s user add alice@example.org --issue
signet: add --ldap 127.0.0.1:3389 for the directory, --smtp ADDR --relay HOST:PORT --deliver HOST:PORT for the gateway
signet: for a real one: stop this, set SIGNET_PASSPHRASE, and run
signet:   signet --data NEWDIR init --org "Your Org" --domain your.domain --public-url http://pki.your.domain
signet:   signet --data NEWDIR serve --http :80
`, dataDir, dataDir)
	return svc, nil
}

// pkiHandler serves CRLs, CA certificates and OCSP.
type pkiHandler struct {
	svc       *pki.Service
	mux       *http.ServeMux
	ocsp      http.Handler
	root, iss string // key ids
	certs     map[string][]byte

	mu   sync.Mutex
	crls map[bool]cachedCRL // by root?
}

type cachedCRL struct {
	der      []byte
	issued   time.Time
	next     time.Time
	revoked  int
	lastRevo time.Time
}

func newPKIHandler(ctx context.Context, svc *pki.Service) (http.Handler, error) {
	_, root, iss, err := svc.CA(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := svc.Responder(ctx)
	if err != nil {
		return nil, err
	}
	h := &pkiHandler{svc: svc, mux: http.NewServeMux(), root: ca.KeyID(root), iss: ca.KeyID(iss),
		certs: map[string][]byte{ca.KeyID(root): root.Raw, ca.KeyID(iss): iss.Raw}, crls: map[bool]cachedCRL{}}
	h.ocsp = resp
	h.mux.HandleFunc("GET /crl/{name}", h.serveCRL)
	h.mux.HandleFunc("GET /ca/{name}", h.serveCert)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return h, nil
}

// ServeHTTP sends /ocsp and /ocsp/… straight to the responder: a ServeMux
// would redirect the "//" that base64 GET requests can contain.
func (h *pkiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ocsp" || strings.HasPrefix(r.URL.Path, "/ocsp/") {
		h.ocsp.ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *pkiHandler) serveCert(w http.ResponseWriter, r *http.Request) {
	der, ok := h.certs[strings.TrimSuffix(r.PathValue("name"), ".crt")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.Write(der)
}

func (h *pkiHandler) serveCRL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(r.PathValue("name"), ".crl")
	if id != h.root && id != h.iss {
		http.NotFound(w, r)
		return
	}
	der, err := h.crl(r.Context(), id == h.root)
	if err != nil {
		slog.Error("issuing CRL", "err", err)
		http.Error(w, "CRL unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(der)
}

// crl returns the cached CRL, re-issuing it when half its life has passed
// (well before nextUpdate) or when the revocations changed.
func (h *pkiHandler) crl(ctx context.Context, root bool) ([]byte, error) {
	info, err := h.svc.Store.GetCA(ctx)
	if err != nil {
		return nil, err
	}
	fp := info.IssuingFingerprint
	if root {
		fp = info.RootFingerprint
	}
	revs, err := h.svc.Store.ListRevoked(ctx, fp)
	if err != nil {
		return nil, err
	}
	var last time.Time
	for _, r := range revs {
		if r.RevokedAt.After(last) {
			last = r.RevokedAt
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.crls[root]
	now := time.Now()
	if ok && c.revoked == len(revs) && c.lastRevo.Equal(last) && now.Before(c.issued.Add(c.next.Sub(c.issued)/2)) {
		return c.der, nil
	}
	var der []byte
	var next time.Time
	if root {
		der, next, err = h.svc.RootCRL(ctx)
	} else {
		der, next, err = h.svc.CRL(ctx)
	}
	if err != nil {
		return nil, err
	}
	h.crls[root] = cachedCRL{der: der, issued: now, next: next, revoked: len(revs), lastRevo: last}
	return der, nil
}
