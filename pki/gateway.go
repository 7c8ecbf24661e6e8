package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/store"
)

// ErrNoKey: Signet holds no usable key for an address. (The gateway maps
// it to its own ErrNoKey.)
var ErrNoKey = fmt.Errorf("%w: no key held", ErrNotFound)

// GatewayKeys gives the gateway the keys Signet holds for its users: a
// sender's signing key (KeyCustody gateway keeps them) and every decryption
// key a recipient ever had. Opened keys are cached for a minute.
type GatewayKeys struct {
	Svc *Service
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key crypto.PrivateKey
	at  time.Time
}

func (g *GatewayKeys) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *GatewayKeys) open(ctx context.Context, c *store.Certificate) (crypto.PrivateKey, error) {
	g.mu.Lock()
	if k, ok := g.cache[c.KeyID]; ok && g.now().Sub(k.at) < time.Minute {
		g.mu.Unlock()
		return k.key, nil
	}
	g.mu.Unlock()
	k, err := g.Svc.PrivateKey(ctx, c)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	if g.cache == nil {
		g.cache = map[string]cachedKey{}
	}
	g.cache[c.KeyID] = cachedKey{k, g.now()}
	g.mu.Unlock()
	return k, nil
}

// Signer returns a local sender's newest valid signing certificate with a
// held key, and the chain (issuing CA, root).
func (g *GatewayKeys) Signer(ctx context.Context, addr string) (crypto.Signer, *x509.Certificate, []*x509.Certificate, error) {
	cs, err := g.Svc.Store.ListCertificates(ctx, store.CertFilter{Email: strings.ToLower(addr)})
	if err != nil {
		return nil, nil, nil, err
	}
	now := g.now()
	var best *store.Certificate
	for i := range cs {
		c := &cs[i]
		if c.KeyID == "" || c.ThirdParty || (c.Usage != store.UsageSign && c.Usage != store.UsageBoth) ||
			now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		if best == nil || c.NotBefore.After(best.NotBefore) {
			best = c
		}
	}
	if best == nil {
		return nil, nil, nil, fmt.Errorf("%w for signing as %s (KeyCustody gateway keeps signing keys; with client they leave at export)", ErrNoKey, addr)
	}
	k, err := g.open(ctx, best)
	if err != nil {
		return nil, nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, nil, fmt.Errorf("the key of %s cannot sign", addr)
	}
	cert, err := x509.ParseCertificate(best.DER)
	if err != nil {
		return nil, nil, nil, err
	}
	chain, err := g.Svc.Chain(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return signer, cert, chain, nil
}

// Identities returns every decryption identity held for a local recipient,
// revoked and expired ones included: old mail stays readable.
func (g *GatewayKeys) Identities(ctx context.Context, addr string) ([]*cms.Identity, error) {
	cs, err := g.Svc.Store.ListCertificates(ctx, store.CertFilter{Email: strings.ToLower(addr), IncludeRevoked: true})
	if err != nil {
		return nil, err
	}
	var ids []*cms.Identity
	for i := range cs {
		c := &cs[i]
		if c.KeyID == "" || (c.Usage != store.UsageEncrypt && c.Usage != store.UsageBoth) {
			continue
		}
		k, err := g.open(ctx, c)
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return nil, err
		}
		ids = append(ids, &cms.Identity{Certificate: cert, Key: k})
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w for decrypting mail to %s", ErrNoKey, addr)
	}
	return ids, nil
}

// EncryptionCert returns a local user's newest valid encryption
// certificate.
func (g *GatewayKeys) EncryptionCert(ctx context.Context, addr string) (*x509.Certificate, error) {
	_, cert, err := g.Svc.Find(ctx, addr, store.UsageEncrypt)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKey, err)
	}
	return cert, nil
}
