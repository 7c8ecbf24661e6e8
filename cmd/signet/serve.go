package main

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/signet-smime/signet/pki"
	"github.com/spf13/cobra"
)

func newServeCommand() *cobra.Command {
	var addr string
	c := &cobra.Command{
		Use:   "serve [--http ADDR]",
		Short: "Serve CRLs, CA certificates and OCSP (and, later, the rest of Signet)",
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
  /healthz         liveness`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			svc, err := openOrCreateTrial(ctx, c, addr)
			if err != nil {
				return err
			}
			defer svc.Close()
			h, err := newPKIHandler(ctx, svc)
			if err != nil {
				return err
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
	return c
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
signet: try: signet --data %s ca issue --email alice@example.org
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
