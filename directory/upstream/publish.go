package upstream

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/signet-smime/signet/internal/keyfile"
)

// Lookup connects, returns the end-entity certificates of the entry (or
// entries) with this address as mail or alias, and closes. It returns
// ErrNotFound when no user or contact has the address, and no
// certificates without error when the entry has none.
func Lookup(ctx context.Context, cfg Config, addr string) ([]*x509.Certificate, error) {
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Lookup(ctx, addr)
}

// Lookup is the package function Lookup on an open client.
func (c *Client) Lookup(ctx context.Context, addr string) ([]*x509.Certificate, error) {
	m := c.cfg.Map
	entries, err := c.findByAddress(ctx, addr, attrList(m.Mail, m.UserCertificate, m.SMIMECertificate))
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("upstream: %s: %w", addr, ErrNotFound)
	}
	var out []*x509.Certificate
	have := map[string]bool{}
	for _, e := range entries {
		certs, _ := entryCerts(e, m) // unreadable values are skipped
		for _, cert := range certs {
			if !cert.IsCA && !have[string(cert.Raw)] {
				have[string(cert.Raw)] = true
				out = append(out, cert)
			}
		}
	}
	return out, nil
}

// addressFilter is the filter for users and contacts with addr as mail or
// alias; the address is escaped.
func (c *Client) addressFilter(addr string) string {
	m := c.cfg.Map
	v := ldap.EscapeFilter(addr)
	match := "(" + m.Mail + "=" + v + ")"
	if m.Aliases != "" {
		// Plain alias values and Exchange proxy addresses ("smtp:" matches
		// "SMTP:" too: AD compares proxyAddresses without case).
		match += "(" + m.Aliases + "=" + v + ")(" + m.Aliases + "=smtp:" + v + ")"
	}
	who := or(m.UserFilter, m.ContactFilter)
	if who == "" {
		return "(|" + match + ")"
	}
	return "(&" + who + "(|" + match + "))"
}

func (c *Client) findByAddress(ctx context.Context, addr string, attrs []string) ([]*ldap.Entry, error) {
	if strings.TrimSpace(addr) == "" {
		return nil, errors.New("upstream: empty address")
	}
	var out []*ldap.Entry
	_, err := c.search(ctx, c.cfg.BaseDN, ldap.ScopeWholeSubtree, c.addressFilter(addr), attrs, func(e *ldap.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Published is what Publish writes for one address: the end-entity
// certificates Signet issued for it and their chain (for the PKCS #7).
type Published struct {
	Mail  string
	Certs []*x509.Certificate
	Chain []*x509.Certificate
}

// PublishReport lists the addresses of the items by outcome.
type PublishReport struct {
	Updated   []string
	Unchanged []string
	NotFound  []string
	Errors    map[string]error
}

// Publish connects, publishes and closes; see Client.Publish.
func Publish(ctx context.Context, cfg Config, items []Published, ownedBy func(*x509.Certificate) bool) (*PublishReport, error) {
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Publish(ctx, items, ownedBy)
}

// Publish writes each item's certificates to the entry that has its
// address (mail or alias) below BaseDN. ownedBy says which certificates
// are Signet's (e.g. issued by its CA).
//
// The entry's UserCertificate becomes its certificates that are not
// Signet's (kept as they are, unreadable values included) plus
// item.Certs: older Signet certificates are removed, so a renewal
// replaces the certificate it renews. Its SMIMECertificate becomes one
// certs-only PKCS #7 of item.Certs and item.Chain, when it was absent or
// Signet's (every end-entity certificate in it owned); another's is left
// alone. An item without certificates removes Signet's.
//
// One Modify with Replace operations is sent only when a value set
// changes, so publishing the same items again changes nothing (Unchanged).
// An address without an entry is NotFound; an address with several
// entries, or a refused write, is in Errors; neither stops the run. The
// error is for the connection (a lost connection or an ended context
// stops the run and is returned with the report so far).
func (c *Client) Publish(ctx context.Context, items []Published, ownedBy func(*x509.Certificate) bool) (*PublishReport, error) {
	if ownedBy == nil {
		return nil, errors.New("upstream: Publish needs ownedBy")
	}
	rep := &PublishReport{Errors: map[string]error{}}
	for _, it := range items {
		updated, err := c.publishOne(ctx, it, ownedBy)
		switch {
		case errors.Is(err, ErrNotFound):
			rep.NotFound = append(rep.NotFound, it.Mail)
		case err != nil:
			rep.Errors[it.Mail] = err
			if ctx.Err() != nil || c.conn.IsClosing() {
				return rep, err
			}
		case updated:
			rep.Updated = append(rep.Updated, it.Mail)
		default:
			rep.Unchanged = append(rep.Unchanged, it.Mail)
		}
	}
	return rep, nil
}

func (c *Client) publishOne(ctx context.Context, it Published, ownedBy func(*x509.Certificate) bool) (bool, error) {
	m := c.cfg.Map
	entries, err := c.findByAddress(ctx, it.Mail, attrList(m.UserCertificate, m.SMIMECertificate))
	if err != nil {
		return false, err
	}
	switch len(entries) {
	case 0:
		return false, ErrNotFound
	case 1:
	default:
		dns := make([]string, len(entries))
		for i, e := range entries {
			dns[i] = e.DN
		}
		return false, fmt.Errorf("upstream: %s: %d entries have this address (%s)", it.Mail, len(entries), strings.Join(dns, "; "))
	}
	e := entries[0]

	// userCertificate: others' values, then ours.
	old := values(e, m.UserCertificate)
	var next [][]byte
	have := map[string]bool{}
	for _, v := range old {
		if cert, err := parseCert(v); err == nil && ownedBy(cert) {
			continue
		}
		if !have[string(v)] {
			have[string(v)] = true
			next = append(next, v)
		}
	}
	for _, cert := range it.Certs {
		if !have[string(cert.Raw)] {
			have[string(cert.Raw)] = true
			next = append(next, cert.Raw)
		}
	}

	req := ldap.NewModifyRequest(e.DN, nil)
	if !sameSet(old, next) {
		req.Replace(m.UserCertificate, byteStrings(next))
	}

	// userSMIMECertificate: replaced only when absent or ours.
	if m.SMIMECertificate != "" {
		oldP7 := values(e, m.SMIMECertificate)
		ours := true
		for _, v := range oldP7 {
			ours = ours && p7Owned(v, ownedBy)
		}
		if ours {
			var want [][]byte
			if len(it.Certs) > 0 {
				want = [][]byte{CertsOnly(append(append([]*x509.Certificate{}, it.Certs...), it.Chain...))}
			}
			if !sameSet(oldP7, want) {
				req.Replace(m.SMIMECertificate, byteStrings(want))
			}
		}
	}

	if len(req.Changes) == 0 {
		return false, nil
	}
	if err := c.conn.Modify(req); err != nil {
		return false, c.wrap(ctx, fmt.Sprintf("publish %s to %q", it.Mail, e.DN), err)
	}
	return true, nil
}

// p7Owned reports whether a userSMIMECertificate value is Signet's: it
// reads, and its end-entity certificates (at least one) are all owned.
func p7Owned(v []byte, ownedBy func(*x509.Certificate) bool) bool {
	certs, err := keyfile.ParseCertificates(v)
	if err != nil {
		return false
	}
	n := 0
	for _, c := range certs {
		if c.IsCA {
			continue
		}
		if !ownedBy(c) {
			return false
		}
		n++
	}
	return n > 0
}

// sameSet compares value sets (order does not matter in LDAP).
func sameSet(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	sa := append([][]byte{}, a...)
	sb := append([][]byte{}, b...)
	less := func(s [][]byte) func(i, j int) bool {
		return func(i, j int) bool { return bytes.Compare(s[i], s[j]) < 0 }
	}
	sort.Slice(sa, less(sa))
	sort.Slice(sb, less(sb))
	for i := range sa {
		if !bytes.Equal(sa[i], sb[i]) {
			return false
		}
	}
	return true
}

func byteStrings(vs [][]byte) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}
