package upstream

import (
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/x509util"
)

// Fetch connects, reads the directory and closes. With a zero since it
// reads everything (Snapshot.Complete); otherwise only the entries whose
// Changed attribute is at or after since (whole seconds), which says
// nothing about removals. Group members outside the fetched entries are
// read one by one.
func Fetch(ctx context.Context, cfg Config, since time.Time) (*Snapshot, error) {
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Fetch(ctx, since)
}

// node is a fetched or read entry, for group member resolution.
type node struct {
	mail    string
	members []string // DNs; nil for people
	group   bool
}

// Fetch reads the directory; see the package function Fetch.
func (c *Client) Fetch(ctx context.Context, since time.Time) (*Snapshot, error) {
	m := c.cfg.Map
	snap := &Snapshot{Complete: since.IsZero(), At: time.Now().UTC().Truncate(time.Second)}
	changed := func(filter string) string {
		if filter == "" || since.IsZero() || m.Changed == "" {
			return filter
		}
		return "(&" + filter + "(" + m.Changed + ">=" + since.UTC().Format("20060102150405") + ".0Z))"
	}
	if !since.IsZero() && m.Changed == "" {
		return nil, fmt.Errorf("upstream: incremental fetch: the %q mapping has no Changed attribute", m.Name)
	}

	personAttrs := attrList(append([]string{"objectClass", m.Mail, m.DisplayName, m.CN, m.SN, m.GivenName, m.Aliases,
		m.UserCertificate, m.SMIMECertificate, m.ID, m.Changed}, m.Extra...)...)
	groupAttrs := attrList("objectClass", m.Mail, m.Aliases, m.CN, m.DisplayName, m.Member, m.ID, m.Changed)

	nodes := map[string]*node{} // by normalised DN
	seen := map[string]bool{}
	noAddress := 0
	referrals := 0
	addPerson := func(contact bool) func(*ldap.Entry) error {
		return func(e *ldap.Entry) error {
			key := normDN(e.DN)
			if seen[key] {
				return nil
			}
			seen[key] = true
			p, warns := c.person(e, contact)
			snap.Warnings = append(snap.Warnings, warns...)
			if p.Mail == "" {
				noAddress++
				return nil
			}
			nodes[key] = &node{mail: p.Mail}
			snap.People = append(snap.People, p)
			return nil
		}
	}
	if f := changed(m.ContactFilter); f != "" {
		n, err := c.search(ctx, c.cfg.BaseDN, ldap.ScopeWholeSubtree, f, personAttrs, addPerson(true))
		if err != nil {
			return nil, err
		}
		referrals += n
	}
	if f := changed(m.UserFilter); f != "" {
		n, err := c.search(ctx, c.cfg.BaseDN, ldap.ScopeWholeSubtree, f, personAttrs, addPerson(false))
		if err != nil {
			return nil, err
		}
		referrals += n
	}

	var groups []*Group
	if f := changed(m.GroupFilter); f != "" {
		n, err := c.search(ctx, c.cfg.BaseDN, ldap.ScopeWholeSubtree, f, groupAttrs, func(e *ldap.Entry) error {
			key := normDN(e.DN)
			if seen[key] {
				return nil
			}
			seen[key] = true
			members, err := c.memberValues(ctx, e)
			if err != nil {
				return err
			}
			mail, aliases := addresses(strValues(e, m.Mail), strValues(e, m.Aliases))
			nodes[key] = &node{mail: mail, members: members, group: true}
			if mail == "" {
				return nil
			}
			name := first(e, m.CN)
			if name == "" {
				name = first(e, m.DisplayName)
			}
			groups = append(groups, &Group{
				ID: c.id(e), DN: e.DN, Mail: mail, Aliases: aliases, Name: name,
				Members: members, // DNs for now
				Changed: parseTime(first(e, m.Changed)),
			})
			return nil
		})
		if err != nil {
			return nil, err
		}
		referrals += n
	}

	// Resolve member DNs to addresses.
	r := &resolver{c: c, ctx: ctx, nodes: nodes}
	for _, g := range groups {
		dns := g.Members
		g.Members = nil
		have := map[string]bool{}
		skipped, err := r.expand(dns, map[string]bool{normDN(g.DN): true}, func(addr string) {
			if k := strings.ToLower(addr); !have[k] && !strings.EqualFold(addr, g.Mail) {
				have[k] = true
				g.Members = append(g.Members, addr)
			}
		})
		if err != nil {
			return nil, err
		}
		if skipped > 0 {
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("group %s: %d members without an address left out", g.Mail, skipped))
		}
		snap.Groups = append(snap.Groups, *g)
	}
	if noAddress > 0 {
		snap.Warnings = append(snap.Warnings, fmt.Sprintf("%d entries without an address left out", noAddress))
	}
	if referrals > 0 {
		snap.Warnings = append(snap.Warnings, fmt.Sprintf("%d referrals to other directories not followed", referrals))
	}
	return snap, nil
}

// resolver turns member DNs into addresses, reading entries it has not
// fetched.
type resolver struct {
	c     *Client
	ctx   context.Context
	nodes map[string]*node
}

// expand calls add for the address of each member, expanding groups
// without an address (each group once: visited breaks cycles), and returns
// how many members had no address.
func (r *resolver) expand(dns []string, visited map[string]bool, add func(string)) (int, error) {
	skipped := 0
	for _, dn := range dns {
		key := normDN(dn)
		n, err := r.node(dn, key)
		if err != nil {
			return 0, err
		}
		switch {
		case n == nil:
			skipped++
		case n.mail != "":
			add(n.mail)
		case n.group && !visited[key]:
			visited[key] = true
			s, err := r.expand(n.members, visited, add)
			if err != nil {
				return 0, err
			}
			skipped += s
		case !n.group:
			skipped++
		}
	}
	return skipped, nil
}

func (r *resolver) node(dn, key string) (*node, error) {
	if n, ok := r.nodes[key]; ok {
		return n, nil
	}
	m := r.c.cfg.Map
	e, err := r.c.readDN(r.ctx, dn, attrList("objectClass", m.Mail, m.Aliases, m.Member))
	if err != nil {
		return nil, err
	}
	var n *node
	if e != nil {
		mail, _ := addresses(strValues(e, m.Mail), strValues(e, m.Aliases))
		n = &node{mail: mail}
		if members, err := r.c.memberValues(r.ctx, e); err != nil {
			return nil, err
		} else if len(members) > 0 {
			n.members, n.group = members, true
		}
	}
	r.nodes[key] = n
	return n, nil
}

// memberValues returns the member DNs of e, following AD's range
// retrieval ("member;range=0-1499" and then "member;range=1500-*"…).
func (c *Client) memberValues(ctx context.Context, e *ldap.Entry) ([]string, error) {
	attr := c.cfg.Map.Member
	if attr == "" {
		return nil, nil
	}
	var out []string
	for round := 0; ; round++ {
		next := -1
		for _, a := range e.Attributes {
			typ, opts, _ := strings.Cut(a.Name, ";")
			if !strings.EqualFold(typ, attr) {
				continue
			}
			out = append(out, a.Values...)
			if hi, ok := rangeEnd(opts); ok && hi >= 0 {
				next = hi + 1
			}
		}
		if next < 0 || round > 100000 {
			return out, nil
		}
		var err error
		e, err = c.readDN(ctx, e.DN, []string{fmt.Sprintf("%s;range=%d-*", attr, next)})
		if err != nil || e == nil {
			return out, err
		}
	}
}

// rangeEnd reads the end of a "range=LOW-HIGH" attribute option: HIGH, or
// -1 for "*" (the last part).
func rangeEnd(opts string) (int, bool) {
	for _, o := range strings.Split(opts, ";") {
		if len(o) < 6 || !strings.EqualFold(o[:6], "range=") {
			continue
		}
		_, hi, ok := strings.Cut(o[6:], "-")
		if !ok {
			return 0, false
		}
		if hi == "*" {
			return -1, true
		}
		n, err := strconv.Atoi(hi)
		if err != nil || n < 0 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// person builds a Person; Mail is empty when the entry has no address.
func (c *Client) person(e *ldap.Entry, contact bool) (Person, []string) {
	m := c.cfg.Map
	p := Person{
		ID:          c.id(e),
		DN:          e.DN,
		DisplayName: first(e, m.DisplayName),
		SN:          first(e, m.SN),
		GivenName:   first(e, m.GivenName),
		Contact:     contact,
		Changed:     parseTime(first(e, m.Changed)),
	}
	if p.DisplayName == "" {
		p.DisplayName = first(e, m.CN)
	}
	p.Mail, p.Aliases = addresses(strValues(e, m.Mail), strValues(e, m.Aliases))
	if !contact && m.Disabled != nil {
		p.Disabled = m.Disabled(e)
	}
	var warns []string
	certs, err := entryCerts(e, m)
	for _, err := range err {
		warns = append(warns, fmt.Sprintf("%s: %v", e.DN, err))
	}
	for _, cert := range certs {
		if cert.IsCA {
			p.Chain = append(p.Chain, cert)
		} else {
			p.Certs = append(p.Certs, cert)
		}
	}
	return p, warns
}

// entryCerts reads the certificates of an entry, without duplicates, and
// the errors of values that could not be read.
func entryCerts(e *ldap.Entry, m Mapping) ([]*x509.Certificate, []error) {
	var out []*x509.Certificate
	var errs []error
	have := map[string]bool{}
	add := func(c *x509.Certificate) {
		if !have[string(c.Raw)] {
			have[string(c.Raw)] = true
			out = append(out, c)
		}
	}
	for i, v := range values(e, m.UserCertificate) {
		c, err := parseCert(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s value %d: %w", m.UserCertificate, i+1, err))
			continue
		}
		add(c)
	}
	for i, v := range values(e, m.SMIMECertificate) {
		cs, err := keyfile.ParseCertificates(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s value %d: %w", m.SMIMECertificate, i+1, err))
			continue
		}
		for _, c := range cs {
			add(c)
		}
	}
	return out, errs
}

func parseCert(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return c, nil
	}
	if c, err2 := x509util.ParseLenient(der); err2 == nil {
		return c, nil
	}
	return nil, err
}

// addresses returns the primary address and the aliases from mail values
// and alias values (plain or Exchange proxy addresses). The primary
// address is the first mail value, else the "SMTP:" proxy address, else the
// first alias.
func addresses(mails, aliasValues []string) (string, []string) {
	var primary string
	var rest []string
	for _, v := range mails {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if primary == "" {
			primary = v
		} else {
			rest = append(rest, v)
		}
	}
	var proxyPrimary string
	var aliases []string
	for _, v := range aliasValues {
		v = strings.TrimSpace(v)
		addr, isPrimary, ok := proxyAddress(v)
		if !ok {
			continue
		}
		if isPrimary && proxyPrimary == "" {
			proxyPrimary = addr
			continue
		}
		aliases = append(aliases, addr)
	}
	all := append(append([]string{proxyPrimary}, rest...), aliases...)
	if primary == "" {
		for i, a := range all {
			if a != "" {
				primary, all = a, all[i+1:]
				break
			}
		}
	}
	seen := map[string]bool{strings.ToLower(primary): true}
	var out []string
	for _, a := range all {
		if k := strings.ToLower(a); a != "" && !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return primary, out
}

// proxyAddress reads an alias value: "SMTP:a@b" (primary), "smtp:a@b", a
// plain address, or another address type (not ok).
func proxyAddress(v string) (addr string, primary, ok bool) {
	colon := strings.IndexByte(v, ':')
	at := strings.IndexByte(v, '@')
	if colon >= 0 && (at < 0 || colon < at) {
		typ := v[:colon]
		if !strings.EqualFold(typ, "smtp") {
			return "", false, false
		}
		addr = strings.TrimSpace(v[colon+1:])
		return addr, typ == "SMTP", strings.Contains(addr, "@")
	}
	return v, false, at > 0
}

// id returns the entry's stable identifier; objectGUID is binary and
// given in the usual GUID form (first three fields little-endian).
func (c *Client) id(e *ldap.Entry) string {
	name := c.cfg.Map.ID
	v := values(e, name)
	if len(v) == 0 {
		return ""
	}
	if b := v[0]; strings.EqualFold(name, "objectGUID") && len(b) == 16 {
		return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
	}
	return string(v[0])
}

// parseTime reads an LDAP GeneralizedTime (YYYYMMDDHHMMSS[.frac]Z or with
// an offset); zero when it cannot.
func parseTime(s string) time.Time {
	for _, layout := range []string{"20060102150405Z0700", "20060102150405.999999999Z0700", "20060102150405Z", "20060102150405.999999999Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	// "…,0Z": a comma before the fraction is also allowed.
	if t, err := time.Parse("20060102150405.999999999Z0700", strings.Replace(s, ",", ".", 1)); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// normDN is a key for a DN: parsed and lowercased, so that spacing and
// case do not matter; an unparseable DN is lowercased as is.
func normDN(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	for i, rdn := range d.RDNs {
		if i > 0 {
			b.WriteByte(0)
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte(1)
			}
			b.WriteString(strings.ToLower(a.Type))
			b.WriteByte('=')
			b.WriteString(strings.ToLower(a.Value))
		}
	}
	return b.String()
}
