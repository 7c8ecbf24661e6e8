package trust

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-smime/signet/ca"
	"golang.org/x/crypto/ocsp"
)

// fetchPKI is a root, an issuing CA and a leaf whose CRL and OCSP URLs point
// at a local server.
type fetchPKI struct {
	org                 ca.Org
	root, issuing, leaf *x509.Certificate
	rootKey, issKey     crypto.Signer
	now                 time.Time
	mu                  sync.Mutex
	files               map[string][]byte // path -> body
	requests            atomic.Int64
	ocspStatus          ca.CertStatus
	srv                 *httptest.Server
}

func genKey(t testing.TB, c elliptic.Curve) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newFetchPKI makes the PKI with certificates pointing at base (an
// httptest server URL or a dead address); serve starts the server.
func newFetchPKI(t *testing.T, base string) *fetchPKI {
	t.Helper()
	p := &fetchPKI{files: map[string][]byte{}, now: time.Now().Add(-time.Hour)}
	p.org = ca.Org{Name: "Fetch Test", Domains: []string{"example.com"}, PublicURL: base}
	p.rootKey, p.issKey = genKey(t, elliptic.P384()), genKey(t, elliptic.P384())
	var err error
	if p.root, err = ca.NewRoot(p.org, p.rootKey, p.now); err != nil {
		t.Fatal(err)
	}
	if p.issuing, err = ca.NewIssuing(p.org, p.root, p.rootKey, p.issKey, p.now); err != nil {
		t.Fatal(err)
	}
	if p.leaf, err = ca.Issue(p.org, p.issuing, p.issKey, ca.Request{Email: "alice@example.com", PublicKey: genKey(t, elliptic.P256()).Public(), Now: p.now}); err != nil {
		t.Fatal(err)
	}
	p.ocspStatus = ca.CertStatus{Status: ca.StatusGood}
	return p
}

func (p *fetchPKI) path(c *x509.Certificate) string {
	return strings.TrimPrefix(ca.CRLURL(p.org, c), strings.TrimRight(p.org.PublicURL, "/"))
}

// publish serves issuer's CRL listing revoked, made at now.
func (p *fetchPKI) publish(t *testing.T, issuer *x509.Certificate, key crypto.Signer, now time.Time, revoked ...*big.Int) {
	t.Helper()
	var rs []ca.Revoked
	for _, s := range revoked {
		rs = append(rs, ca.Revoked{Serial: s, At: now.Add(-time.Minute), Reason: 1})
	}
	der, err := ca.CRL(p.org, issuer, key, now.Unix(), rs, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.files[p.path(issuer)] = der
	p.mu.Unlock()
}

func (p *fetchPKI) handler() http.Handler {
	resp := &ca.Responder{CAs: []ca.Authority{{Cert: p.issuing, Key: p.issKey}, {Cert: p.root, Key: p.rootKey}},
		Lookup: func(issuer *x509.Certificate, serial *big.Int) (ca.CertStatus, error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.ocspStatus, nil
		}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if strings.HasPrefix(r.URL.Path, "/ocsp") {
			http.StripPrefix("/ocsp", resp).ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		b, ok := p.files[r.URL.Path]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
}

// servedPKI starts a server and a PKI pointing at it.
func servedPKI(t *testing.T) *fetchPKI {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	p := newFetchPKI(t, srv.URL)
	p.srv = srv
	h = p.handler()
	return p
}

func (p *fetchPKI) opts(at time.Time) ValidateOptions {
	return ValidateOptions{At: at, Anchors: []*x509.Certificate{p.root}, Intermediates: []*x509.Certificate{p.issuing}}
}

func TestFetchCRLCached(t *testing.T) {
	p := servedPKI(t)
	p.publish(t, p.issuing, p.issKey, p.now)
	p.publish(t, p.root, p.rootKey, p.now)
	f := &Fetcher{Cache: NewCRLCache()}
	at := time.Now()
	r, rep, err := ValidateOnline(context.Background(), p.leaf, p.opts(at), f)
	if err != nil || r.Code != CodeSuccess {
		t.Fatalf("code %v err %v: %v (%s)", r.Code, err, r.Reason, rep)
	}
	if !strings.Contains(rep.String(), "fetched CRL") {
		t.Errorf("report %q does not name the fetched CRL", rep)
	}
	if n := p.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (two CRLs)", n)
	}
	r, _, _ = ValidateOnline(context.Background(), p.leaf, p.opts(at), f)
	if r.Code != CodeSuccess {
		t.Fatalf("second validation: %d %s", r.Code, r.Reason)
	}
	if n := p.requests.Load(); n != 2 {
		t.Errorf("%d requests after the second validation, want 2 (cached)", n)
	}
}

func TestFetchCRLExpiredRefetched(t *testing.T) {
	p := servedPKI(t)
	p.publish(t, p.issuing, p.issKey, p.now)
	p.publish(t, p.root, p.rootKey, p.now)
	clock := time.Now()
	cache := &CRLCache{Now: func() time.Time { return clock }}
	f := &Fetcher{Cache: cache}
	if r, _, _ := ValidateOnline(context.Background(), p.leaf, p.opts(clock), f); r.Code != CodeSuccess {
		t.Fatalf("%d %s", r.Code, r.Reason)
	}
	// Eight days on the issuing CA's CRL (seven days) has expired.
	clock = clock.Add(8 * 24 * time.Hour)
	p.publish(t, p.issuing, p.issKey, clock.Add(-time.Hour))
	before := p.requests.Load()
	r, rep, _ := ValidateOnline(context.Background(), p.leaf, p.opts(clock), f)
	if r.Code != CodeSuccess {
		t.Fatalf("%d %s (%s)", r.Code, r.Reason, rep)
	}
	if n := p.requests.Load() - before; n != 1 {
		t.Errorf("%d requests, want 1 (the expired issuing CRL refetched, the root's cached)", n)
	}
}

func TestFetchStaleCRLNotUsed(t *testing.T) {
	p := servedPKI(t)
	p.publish(t, p.issuing, p.issKey, p.now)
	p.publish(t, p.root, p.rootKey, p.now)
	at := time.Now().Add(8 * 24 * time.Hour) // after the issuing CRL's nextUpdate
	p.mu.Lock()
	p.ocspStatus = ca.CertStatus{Status: ca.StatusUnknown}
	p.mu.Unlock()
	f := &Fetcher{Cache: NewCRLCache()}
	crls, errs := f.CRLsFor(context.Background(), []*x509.Certificate{p.leaf}, at)
	if len(crls) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "stale") {
		t.Fatalf("crls %d, errs %v: want the stale CRL refused", len(crls), errs)
	}
	r, _, _ := ValidateOnline(context.Background(), p.leaf, p.opts(at), f)
	if r.Code == CodeSuccess {
		t.Fatalf("validated with a stale CRL")
	}
}

func TestFetchRevoked(t *testing.T) {
	p := servedPKI(t)
	p.publish(t, p.issuing, p.issKey, p.now, p.leaf.SerialNumber)
	p.publish(t, p.root, p.rootKey, p.now)
	at := time.Now()
	r, _, _ := ValidateOnline(context.Background(), p.leaf, p.opts(at), &Fetcher{})
	if r.Code != CodeRevoked {
		t.Errorf("revoked leaf: %d %s, want 13", r.Code, r.Reason)
	}
	p.publish(t, p.issuing, p.issKey, p.now)
	p.publish(t, p.root, p.rootKey, p.now, p.issuing.SerialNumber)
	r, _, _ = ValidateOnline(context.Background(), p.leaf, p.opts(at), &Fetcher{})
	if r.Code != CodeChainRevoked {
		t.Errorf("revoked intermediate: %d %s, want 15", r.Code, r.Reason)
	}
}

func TestFetchOCSP(t *testing.T) {
	p := servedPKI(t)
	p.publish(t, p.root, p.rootKey, p.now) // no CRL for the issuing CA: OCSP answers
	at := time.Now()
	f := &Fetcher{Cache: NewCRLCache()}
	r, rep, _ := ValidateOnline(context.Background(), p.leaf, p.opts(at), f)
	if r.Code != CodeSuccess || !strings.Contains(rep.String(), "good per OCSP") {
		t.Fatalf("OCSP good: %d %s (%s)", r.Code, r.Reason, rep)
	}
	st, _, _, err := f.OCSP(context.Background(), p.leaf, p.issuing, at)
	if err != nil || st != OCSPGood {
		t.Fatalf("OCSP: %d %v", st, err)
	}
	p.mu.Lock()
	p.ocspStatus = ca.CertStatus{Status: ca.StatusRevoked, RevokedAt: p.now, Reason: 1}
	p.mu.Unlock()
	r, _, _ = ValidateOnline(context.Background(), p.leaf, p.opts(at), &Fetcher{})
	if r.Code != CodeRevoked {
		t.Fatalf("OCSP revoked: %d %s", r.Code, r.Reason)
	}
	// The cached good answer stands until its nextUpdate.
	if st, _, _, _ := f.OCSP(context.Background(), p.leaf, p.issuing, at); st != OCSPGood {
		t.Errorf("cached OCSP status %d, want good", st)
	}
}

func TestFetchOffline(t *testing.T) {
	p := servedPKI(t)
	p.publish(t, p.issuing, p.issKey, p.now)
	p.publish(t, p.root, p.rootKey, p.now)
	r, _, _ := ValidateOnline(context.Background(), p.leaf, p.opts(time.Now()), &Fetcher{Offline: true})
	if r.Code != CodeRevocationUnavailable {
		t.Errorf("offline: %d %s, want 14", r.Code, r.Reason)
	}
	if n := p.requests.Load(); n != 0 {
		t.Errorf("offline made %d requests", n)
	}
}

func TestFetchOversized(t *testing.T) {
	p := servedPKI(t)
	p.publish(t, p.issuing, p.issKey, p.now)
	f := &Fetcher{MaxCRLSize: 100}
	_, errs := f.CRLsFor(context.Background(), []*x509.Certificate{p.leaf}, time.Now())
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "exceeds") {
		t.Fatalf("errs %v, want the CRL refused as too large", errs)
	}
}

func TestFetchUnreachable(t *testing.T) {
	// A listener that accepts and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hang.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	// A closed port.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for name, base := range map[string]string{"hanging": "http://" + hang.Addr().String(), "closed": "http://" + closedAddr} {
		t.Run(name, func(t *testing.T) {
			p := newFetchPKI(t, base)
			f := &Fetcher{ConnectionTimeout: 200 * time.Millisecond}
			_, errs := f.CRLsFor(context.Background(), []*x509.Certificate{p.leaf}, time.Now())
			if len(errs) != 1 {
				t.Fatalf("errs %v", errs)
			}
			var fe *FetchError
			if !errors.As(errs[0], &fe) || fe.Cert != p.leaf {
				t.Errorf("error %v is not a FetchError for the leaf", errs[0])
			}
			if name == "hanging" && !strings.Contains(errs[0].Error(), "timeout") {
				t.Errorf("error %q does not say timeout", errs[0])
			}
			r, _, _ := ValidateOnline(context.Background(), p.leaf, p.opts(time.Now()), f)
			if r.Code != CodeRevocationUnavailable {
				t.Errorf("%d %s, want 14", r.Code, r.Reason)
			}
		})
	}
}

func TestFetchRetrievalTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := servedPKI(t)
	p.publish(t, p.issuing, p.issKey, p.now)
	_, errs := (&Fetcher{}).CRLsFor(ctx, []*x509.Certificate{p.leaf}, time.Now())
	if len(errs) != 1 {
		t.Fatalf("errs %v: want the cancelled retrieval to fail", errs)
	}
}

func TestFetchLDAPUnsupported(t *testing.T) {
	c := &x509.Certificate{CRLDistributionPoints: []string{"ldap://dir.example.com/cn=CA?certificateRevocationList"}}
	crls, errs := (&Fetcher{}).CRLsFor(context.Background(), []*x509.Certificate{c}, time.Now())
	if len(crls) != 0 || len(errs) != 1 || !errors.Is(errs[0], ErrUnsupportedScheme) {
		t.Fatalf("crls %v errs %v: want ldap reported unsupported", crls, errs)
	}
}

func TestFetchNoRevocationSource(t *testing.T) {
	p := servedPKI(t)
	// A leaf without CRL distribution point or OCSP responder.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: p.now, NotAfter: p.now.Add(48 * time.Hour),
		Subject: p.leaf.Subject, EmailAddresses: []string{"alice@example.com"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.root, genKey(t, elliptic.P256()).Public(), p.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	r, rep, _ := ValidateOnline(context.Background(), leaf, p.opts(time.Now()), &Fetcher{})
	if r.Code != CodeSuccess || !strings.Contains(rep.String(), "not checked") || p.requests.Load() != 0 {
		t.Fatalf("%d %s (%s), %d requests", r.Code, r.Reason, rep, p.requests.Load())
	}
}

func TestFetchCacheDir(t *testing.T) {
	p := servedPKI(t)
	p.publish(t, p.issuing, p.issKey, p.now)
	p.publish(t, p.root, p.rootKey, p.now)
	dir := t.TempDir()
	at := time.Now()
	if r, _, _ := ValidateOnline(context.Background(), p.leaf, p.opts(at), &Fetcher{Cache: &CRLCache{Dir: dir}}); r.Code != CodeSuccess {
		t.Fatalf("%d %s", r.Code, r.Reason)
	}
	before := p.requests.Load()
	// A new cache on the same folder (a new process) needs no request.
	if r, _, _ := ValidateOnline(context.Background(), p.leaf, p.opts(at), &Fetcher{Cache: &CRLCache{Dir: dir}}); r.Code != CodeSuccess {
		t.Fatalf("%d %s", r.Code, r.Reason)
	}
	if n := p.requests.Load() - before; n != 0 {
		t.Errorf("%d requests with the CRLs on disk, want 0", n)
	}
}

func TestFetchRevokedOutranksUnavailable(t *testing.T) {
	p := servedPKI(t)
	// No CRL for the leaf and OCSP says nothing useful; the root's CRL revokes the issuing CA.
	p.publish(t, p.root, p.rootKey, p.now, p.issuing.SerialNumber)
	p.mu.Lock()
	p.ocspStatus = ca.CertStatus{Status: ca.StatusUnknown}
	p.mu.Unlock()
	r, _, _ := ValidateOnline(context.Background(), p.leaf, p.opts(time.Now()), &Fetcher{})
	if r.Code != CodeChainRevoked {
		t.Fatalf("%d %s, want 15", r.Code, r.Reason)
	}
}

// TestFetchOCSPDelegated: a responder certificate issued by the CA answers
// only with id-kp-OCSPSigning.
func TestFetchOCSPDelegated(t *testing.T) {
	for _, withEKU := range []bool{true, false} {
		var h http.Handler
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
		defer srv.Close()
		p := newFetchPKI(t, srv.URL)
		rk := genKey(t, elliptic.P256())
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "OCSP responder"},
			NotBefore: p.now, NotAfter: p.now.Add(48 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		if withEKU {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p.issuing, rk.Public(), p.issKey)
		if err != nil {
			t.Fatal(err)
		}
		responder, _ := x509.ParseCertificate(der)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := ocsp.CreateResponse(p.issuing, responder, ocsp.Response{Status: ocsp.Good, SerialNumber: p.leaf.SerialNumber,
				ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour), Certificate: responder}, rk)
			if err != nil {
				t.Error(err)
			}
			w.Write(resp)
		})
		st, _, _, err := (&Fetcher{}).OCSP(context.Background(), p.leaf, p.issuing, time.Now())
		if withEKU && (err != nil || st != OCSPGood) {
			t.Errorf("delegated responder with id-kp-OCSPSigning: %d %v", st, err)
		}
		if !withEKU && (err == nil || !strings.Contains(err.Error(), "OCSPSigning")) {
			t.Errorf("delegated responder without id-kp-OCSPSigning accepted: %d %v", st, err)
		}
	}
}
