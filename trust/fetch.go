package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Fetcher defaults.
const (
	DefaultConnectionTimeout = 15 * time.Second
	DefaultRetrievalTimeout  = 60 * time.Second
	DefaultMaxCRLSize        = 64 << 20
)

// Fetcher retrieves revocation data (CRLs from HTTP distribution points, OCSP
// responses) over the network. The zero value works: it uses
// http.DefaultClient, the default timeouts and no cache.
type Fetcher struct {
	Client *http.Client
	// ConnectionTimeout bounds each fetch (default 15s).
	ConnectionTimeout time.Duration
	// RetrievalTimeout bounds all fetches of one validation together
	// (default 60s); see WithRetrievalTimeout.
	RetrievalTimeout time.Duration
	Cache            *CRLCache
	// Offline forbids any network access: every fetch fails with ErrOffline.
	Offline bool
	// MaxCRLSize refuses larger CRLs and OCSP responses (default 64 MiB).
	MaxCRLSize int64
}

// ErrOffline is the error of every fetch by an offline Fetcher.
var ErrOffline = errors.New("offline: revocation data is not fetched")

// ErrUnsupportedScheme reports a distribution point Signet cannot fetch
// (ldap:// and others).
var ErrUnsupportedScheme = errors.New("unsupported distribution point scheme")

// FetchError is a failure to obtain revocation data for Cert from URL.
type FetchError struct {
	Cert *x509.Certificate
	URL  string
	Err  error
}

func (e *FetchError) Error() string {
	who := ""
	if e.Cert != nil {
		who = e.Cert.Subject.String() + ": "
	}
	return who + e.URL + ": " + e.Err.Error()
}

func (e *FetchError) Unwrap() error { return e.Err }

// CRLCache keeps fetched CRLs by URL until their nextUpdate, and OCSP
// responses until theirs. It is safe for concurrent use.
type CRLCache struct {
	mu   sync.Mutex
	crls map[string]*x509.RevocationList
	ocsp map[string]ocspEntry
	// Now is the clock deciding expiry (default time.Now).
	Now func() time.Time
	// Dir, when set, also keeps CRLs on disk (one DER file per URL, named
	// by the URL's SHA-256), so they survive the process. Write failures
	// are ignored: the cache is an optimisation.
	Dir string
}

// NewCRLCache returns an empty in-memory cache.
func NewCRLCache() *CRLCache { return &CRLCache{} }

func (c *CRLCache) file(u string) string {
	sum := sha256.Sum256([]byte(u))
	return filepath.Join(c.Dir, hex.EncodeToString(sum[:])+".crl")
}

func (c *CRLCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// current reports whether revocation data issued at this and valid until
// next may answer for a validation at at without being refetched: it must not
// be past its nextUpdate now, and must cover at (for a historical at, a
// CRL that was current then is fine).
func (c *CRLCache) current(this, next, at time.Time) bool {
	now := c.now()
	if next.IsZero() {
		return false // no promise of freshness: always refetch
	}
	if at.Before(now.Add(-time.Hour)) {
		// historical validation: the data must cover at
		return !this.After(at) && !next.Before(at)
	}
	return !next.Before(now) && !next.Before(at)
}

func (c *CRLCache) getCRL(u string, at time.Time) *x509.RevocationList {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	crl := c.crls[u]
	if crl == nil && c.Dir != "" {
		if der, err := os.ReadFile(c.file(u)); err == nil {
			if parsed, err := x509.ParseRevocationList(der); err == nil {
				crl = parsed
				if c.crls == nil {
					c.crls = map[string]*x509.RevocationList{}
				}
				c.crls[u] = crl
			}
		}
	}
	if crl == nil || !c.current(crl.ThisUpdate, crl.NextUpdate, at) {
		return nil
	}
	return crl
}

func (c *CRLCache) putCRL(u string, crl *x509.RevocationList) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crls == nil {
		c.crls = map[string]*x509.RevocationList{}
	}
	c.crls[u] = crl
	if c.Dir != "" {
		if err := os.MkdirAll(c.Dir, 0o700); err == nil {
			tmp := c.file(u) + ".tmp"
			if os.WriteFile(tmp, crl.Raw, 0o600) == nil {
				os.Rename(tmp, c.file(u))
			}
		}
	}
}

// WithRetrievalTimeout returns ctx bounded by f's RetrievalTimeout: use it
// once per validation around all its fetches.
func (f *Fetcher) WithRetrievalTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	d := f.RetrievalTimeout
	if d <= 0 {
		d = DefaultRetrievalTimeout
	}
	return context.WithTimeout(ctx, d)
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return http.DefaultClient
}

func (f *Fetcher) maxSize() int64 {
	if f.MaxCRLSize > 0 {
		return f.MaxCRLSize
	}
	return DefaultMaxCRLSize
}

// httpURLs returns c's fetchable CRL distribution points, and errors for the
// others.
func crlURLs(c *x509.Certificate) (urls []string, errs []error) {
	for _, u := range c.CRLDistributionPoints {
		p, err := url.Parse(u)
		if err != nil {
			errs = append(errs, &FetchError{Cert: c, URL: u, Err: err})
			continue
		}
		switch strings.ToLower(p.Scheme) {
		case "http", "https":
			urls = append(urls, u)
		default:
			errs = append(errs, &FetchError{Cert: c, URL: u, Err: fmt.Errorf("%w %q", ErrUnsupportedScheme, p.Scheme)})
		}
	}
	return urls, errs
}

// CRLsFor fetches (or takes from the cache) the CRLs of the HTTP(S)
// distribution points of certs, for a validation at at. It returns the CRLs
// obtained and one *FetchError per distribution point that failed
// (unreachable, timeout, too large, unparsable, stale, unsupported scheme).
// The whole call is bounded by RetrievalTimeout, each fetch by
// ConnectionTimeout.
func (f *Fetcher) CRLsFor(ctx context.Context, certs []*x509.Certificate, at time.Time) ([]*x509.RevocationList, []error) {
	if at.IsZero() {
		at = time.Now()
	}
	ctx, cancel := f.WithRetrievalTimeout(ctx)
	defer cancel()
	var out []*x509.RevocationList
	var errs []error
	seen := map[string]bool{}
	for _, c := range certs {
		urls, bad := crlURLs(c)
		errs = append(errs, bad...)
		for _, u := range urls {
			if seen[u] {
				continue
			}
			seen[u] = true
			crl, err := f.CRL(ctx, u, at)
			if err != nil {
				errs = append(errs, &FetchError{Cert: c, URL: u, Err: err})
				continue
			}
			out = append(out, crl)
		}
	}
	return out, errs
}

// CRL returns the CRL at u (http or https) for a validation at at, from the
// cache when it is still current, else fetched.
func (f *Fetcher) CRL(ctx context.Context, u string, at time.Time) (*x509.RevocationList, error) {
	if crl := f.Cache.getCRL(u, at); crl != nil {
		return crl, nil
	}
	body, err := f.get(ctx, http.MethodGet, u, "", nil)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(body); b != nil && b.Type == "X509 CRL" {
		body = b.Bytes
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		return nil, fmt.Errorf("not a CRL: %w", err)
	}
	if !crl.NextUpdate.IsZero() && crl.NextUpdate.Before(at) {
		return nil, fmt.Errorf("stale CRL: nextUpdate %s is before %s", crl.NextUpdate.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	f.Cache.putCRL(u, crl)
	return crl, nil
}

// get performs one bounded request and reads a bounded body.
func (f *Fetcher) get(ctx context.Context, method, u, contentType string, body []byte) ([]byte, error) {
	if f.Offline {
		return nil, ErrOffline
	}
	d := f.ConnectionTimeout
	if d <= 0 {
		d = DefaultConnectionTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, timeoutErr(ctx, err, d)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	max := f.maxSize()
	if resp.ContentLength > max {
		return nil, fmt.Errorf("response of %d bytes exceeds the limit of %d", resp.ContentLength, max)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, timeoutErr(ctx, err, d)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("response exceeds the limit of %d bytes", max)
	}
	return data, nil
}

func timeoutErr(ctx context.Context, err error, d time.Duration) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("timeout (connection timeout %s or retrieval timeout reached): %w", d, err)
	}
	return err
}
