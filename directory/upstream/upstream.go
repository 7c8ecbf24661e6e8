// Package upstream reads people, contacts and groups from an existing
// directory (Active Directory or OpenLDAP) and writes S/MIME certificates
// back to it, over LDAP with github.com/go-ldap/ldap/v3.
//
// Reading (Fetch) gives a Snapshot that the caller applies to its store:
// people with their primary address, aliases, disabled flag and the
// certificates already published for them (userCertificate;binary and the
// PKCS #7 in userSMIMECertificate), contacts, and groups whose members are
// resolved to addresses. Searches are paged (RFC 2696), so a server size
// limit below the number of entries does not cut the result.
//
// Removals can only be seen by a full fetch (since zero; the Snapshot is
// Complete): an incremental fetch returns the entries changed since a time
// and nothing about deleted ones (AD tombstones and OpenLDAP's accesslog
// are not read). A sync should therefore do a full fetch: it is cheap
// (100,000 entries in about 2.5 s from a local slapd). Incremental fetches
// can be used between full ones to pick up changes sooner.
//
// Lookup finds one recipient's certificates by address, for the lookup
// chain. Publish writes Signet's certificates to the directory entries of
// their owners, leaving certificates from other CAs in place.
//
// Attribute names and filters come from a Mapping; AD() and OpenLDAP()
// are the presets.
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Config says where the directory is and how to read it.
type Config struct {
	URL      string // ldap://host[:port], ldaps://host[:port] or ldapi://%2Fpath
	BindDN   string // empty: anonymous
	Password string
	// BaseDN: searches are below it (subtree). Empty: the server's
	// defaultNamingContext (AD) or first namingContexts value, read from
	// the root DSE.
	BaseDN string
	// TLS is used for ldaps:// and for StartTLS; nil means the system roots
	// and the host name of the URL.
	TLS *tls.Config
	// StartTLS upgrades an ldap:// connection before binding.
	StartTLS bool
	// PageSize is the page size of paged searches; default 500.
	PageSize uint32
	// Timeout bounds connecting and each LDAP request; default 30 seconds.
	Timeout time.Duration
	Map     Mapping
}

// Mapping names the attributes and filters of one kind of directory.
type Mapping struct {
	Name string // "ad" or "openldap" for the presets; free text otherwise

	// UserFilter selects mailboxes; GroupFilter groups (also those without
	// an address: their members are expanded into the groups that contain
	// them); ContactFilter external contacts (people without a mailbox
	// here). An entry matched by ContactFilter is a contact even when
	// UserFilter also matches it. An empty filter selects nothing.
	UserFilter, GroupFilter, ContactFilter string

	Mail, DisplayName, CN, SN, GivenName string

	// Aliases is an attribute of further addresses. Values may be plain
	// addresses (mailAlternateAddress) or Exchange proxy addresses
	// (proxyAddresses): "SMTP:" marks the primary address, "smtp:" an
	// alias, and other types ("X500:", "SIP:", "x400:"…) are ignored. In
	// every mapping, mail values beyond the first are aliases too.
	Aliases string

	Member string // group members (DNs); AD range retrieval is followed

	// Disabled reports whether a user entry is disabled (nil: never). The
	// attributes it reads must be in Extra.
	Disabled func(*ldap.Entry) bool
	Extra    []string // further attributes to read for Disabled

	// UserCertificate holds DER certificates (any attribute options are
	// accepted on reading); SMIMECertificate a PKCS #7 certs-only
	// SignedData, or a bare certificate as some tools write it.
	UserCertificate, SMIMECertificate string

	// ID is a stable identifier: objectGUID (16 bytes, given as the usual
	// GUID string) or entryUUID.
	ID string
	// Changed is the time of the last change, for incremental fetches:
	// whenChanged (AD) or modifyTimestamp (OpenLDAP).
	Changed string
}

// AD is the preset for Active Directory (with Exchange attributes).
// Users are user objects that are not computers and have a mail address;
// a user is disabled when userAccountControl has ACCOUNTDISABLE (0x2).
// Membership through primaryGroupID is not seen (it is not in member).
func AD() Mapping {
	return Mapping{
		Name:             "ad",
		UserFilter:       "(&(objectClass=user)(!(objectClass=computer))(mail=*))",
		GroupFilter:      "(objectClass=group)",
		ContactFilter:    "(&(objectClass=contact)(mail=*))",
		Mail:             "mail",
		DisplayName:      "displayName",
		CN:               "cn",
		SN:               "sn",
		GivenName:        "givenName",
		Aliases:          "proxyAddresses",
		Member:           "member",
		Disabled:         adDisabled,
		Extra:            []string{"userAccountControl"},
		UserCertificate:  "userCertificate;binary",
		SMIMECertificate: "userSMIMECertificate",
		ID:               "objectGUID",
		Changed:          "whenChanged",
	}
}

// OpenLDAP is the preset for OpenLDAP with the standard schemas: users are
// inetOrgPerson entries with a mail address, groups groupOfNames (with a
// mail attribute, e.g. through extensibleObject, to have an address).
// Aliases are read from mailAlternateAddress when the server's schema has
// it (it is not in the standard schemas; servers ignore unknown attributes
// in requests) and from mail values beyond the first. No entries are
// contacts unless ContactFilter is set, e.g.
// "(&(objectClass=inetOrgPerson)(mail=*)(ou:dn:=contacts))" for the
// entries below an ou=contacts. Nobody is disabled (Disabled is nil).
func OpenLDAP() Mapping {
	return Mapping{
		Name:             "openldap",
		UserFilter:       "(&(objectClass=inetOrgPerson)(mail=*))",
		GroupFilter:      "(objectClass=groupOfNames)",
		Mail:             "mail",
		DisplayName:      "displayName",
		CN:               "cn",
		SN:               "sn",
		GivenName:        "givenName",
		Aliases:          "mailAlternateAddress",
		Member:           "member",
		UserCertificate:  "userCertificate;binary",
		SMIMECertificate: "userSMIMECertificate",
		ID:               "entryUUID",
		Changed:          "modifyTimestamp",
	}
}

// Preset returns the mapping named "ad" (also "activedirectory") or
// "openldap", without regard to case.
func Preset(name string) (Mapping, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "ad", "activedirectory", "active-directory":
		return AD(), nil
	case "openldap":
		return OpenLDAP(), nil
	}
	return Mapping{}, fmt.Errorf("upstream: unknown directory preset %q (ad or openldap)", name)
}

func adDisabled(e *ldap.Entry) bool {
	v, err := strconv.ParseInt(strings.TrimSpace(e.GetEqualFoldAttributeValue("userAccountControl")), 10, 64)
	return err == nil && v&0x2 != 0
}

// Person is a user or contact.
type Person struct {
	ID          string
	DN          string
	Mail        string   // primary address
	Aliases     []string // further addresses, without Mail, no duplicates
	DisplayName string   // displayName, else cn
	SN          string
	GivenName   string
	Disabled    bool
	Contact     bool
	// Certs are the end-entity certificates of the entry, from
	// UserCertificate and SMIMECertificate, without duplicates.
	Certs []*x509.Certificate
	// Chain are CA certificates found with them (in the PKCS #7).
	Chain   []*x509.Certificate
	Changed time.Time // zero when the directory does not say
}

// Group is a group with an address.
type Group struct {
	ID      string
	DN      string
	Mail    string
	Aliases []string
	Name    string // cn, else displayName
	// Members are addresses: people's primary addresses and nested groups'
	// addresses (kept as such, not expanded); the members of nested groups
	// without an address are expanded in their place. Members without an
	// address are left out and counted in the Snapshot's Warnings. A
	// member outside the fetched entries (outside BaseDN, not matched by
	// the filters, or unchanged in an incremental fetch) is read by DN
	// and counts with its mail address. A group is not its own member.
	Members []string
	Changed time.Time
}

// Snapshot is what a Fetch found.
type Snapshot struct {
	People []Person
	Groups []Group // groups with an address only
	// Complete is true for a full fetch: an entry not in it is gone.
	Complete bool
	// At is when the fetch began (whole seconds, UTC): the since of the
	// next incremental fetch.
	At       time.Time
	Warnings []string
}

// Errors that callers may want to tell apart (use errors.Is).
var (
	ErrInvalidCredentials = errors.New("invalid credentials (check the bind DN and password)")
	ErrUnreachable        = errors.New("directory unreachable")
	ErrNotFound           = errors.New("no directory entry has this address")
)

// Client is a connection bound to the directory. It is not safe for
// concurrent use.
type Client struct {
	cfg  Config
	conn *ldap.Conn
	stop func() bool
}

// Dial connects to the directory, upgrades with StartTLS when asked, and
// binds. The context bounds the whole life of the client: when it ends,
// the connection is closed.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.PageSize == 0 {
		cfg.PageSize = 500
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("upstream: bad directory URL %q", cfg.URL)
	}
	host := u.Hostname()
	tlsConfig := cfg.TLS
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	tlsConfig = tlsConfig.Clone()
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}

	d := &net.Dialer{Timeout: cfg.Timeout}
	var nc net.Conn
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		nc, err = d.DialContext(ctx, "tcp", hostPort(u, "389"))
	case "ldaps":
		if cfg.StartTLS {
			return nil, fmt.Errorf("upstream: StartTLS with an ldaps:// URL (%s): choose one", cfg.URL)
		}
		td := &tls.Dialer{NetDialer: d, Config: tlsConfig}
		nc, err = td.DialContext(ctx, "tcp", hostPort(u, "636"))
	case "ldapi":
		var path string
		path, err = url.PathUnescape(u.Host)
		if err == nil {
			nc, err = d.DialContext(ctx, "unix", path)
		}
	default:
		return nil, fmt.Errorf("upstream: directory URL %q: scheme must be ldap, ldaps or ldapi", cfg.URL)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream: connect to %s: %w", cfg.URL, ctx.Err())
		}
		return nil, fmt.Errorf("upstream: cannot reach %s: %w (%w)", cfg.URL, ErrUnreachable, err)
	}
	conn := ldap.NewConn(nc, strings.EqualFold(u.Scheme, "ldaps"))
	conn.Start()
	conn.SetTimeout(cfg.Timeout)
	c := &Client{cfg: cfg, conn: conn}
	c.stop = context.AfterFunc(ctx, func() { conn.Close() })

	if cfg.StartTLS {
		if err := conn.StartTLS(tlsConfig); err != nil {
			c.Close()
			return nil, c.wrap(ctx, fmt.Sprintf("StartTLS with %s", cfg.URL), err)
		}
	}
	if cfg.BindDN != "" {
		if err := conn.Bind(cfg.BindDN, cfg.Password); err != nil {
			c.Close()
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return nil, fmt.Errorf("upstream: bind to %s as %q: %w (%w)", cfg.URL, cfg.BindDN, ErrInvalidCredentials, err)
			}
			return nil, c.wrap(ctx, fmt.Sprintf("bind to %s as %q", cfg.URL, cfg.BindDN), err)
		}
	}
	if c.cfg.BaseDN == "" {
		base, err := c.namingContext(ctx)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.cfg.BaseDN = base
	}
	return c, nil
}

// namingContext reads the default naming context from the root DSE.
func (c *Client) namingContext(ctx context.Context) (string, error) {
	e, err := c.readDN(ctx, "", []string{"defaultNamingContext", "namingContexts"})
	if err != nil {
		return "", err
	}
	if e != nil {
		if v := first(e, "defaultNamingContext"); v != "" {
			return v, nil
		}
		if v := first(e, "namingContexts"); v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("upstream: %s does not name its naming context: set the base DN", c.cfg.URL)
}

func hostPort(u *url.URL, port string) string {
	if u.Port() != "" {
		port = u.Port()
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Close unbinds and closes the connection.
func (c *Client) Close() error {
	c.stop()
	return c.conn.Close()
}

// wrap gives an LDAP error its context, preferring the context's error
// when the context ended (which closes the connection).
func (c *Client) wrap(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("upstream: %s: %w", what, ctx.Err())
	}
	if ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
		return fmt.Errorf("upstream: %s: connection lost: %w", what, err)
	}
	return fmt.Errorf("upstream: %s: %w", what, err)
}

// search runs a paged subtree (or base) search and calls fn for each entry.
// Referrals are counted, not followed.
func (c *Client) search(ctx context.Context, base string, scope int, filter string, attrs []string, fn func(*ldap.Entry) error) (referrals int, err error) {
	paging := ldap.NewControlPaging(c.cfg.PageSize)
	req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, []ldap.Control{paging})
	for {
		if err := ctx.Err(); err != nil {
			return referrals, fmt.Errorf("upstream: search %s: %w", filter, err)
		}
		res, err := c.conn.Search(req)
		if err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
				return referrals, fmt.Errorf("upstream: search %s under %q: the server stopped at its size limit even with paging (raise the limit for %q): %w",
					filter, base, c.cfg.BindDN, err)
			}
			return referrals, c.wrap(ctx, fmt.Sprintf("search %s under %q", filter, base), err)
		}
		for _, e := range res.Entries {
			if err := fn(e); err != nil {
				return referrals, err
			}
		}
		referrals += len(res.Referrals)
		ctrl, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if ctrl == nil || len(ctrl.Cookie) == 0 {
			return referrals, nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// readDN reads one entry by DN; a missing entry is nil without error.
func (c *Client) readDN(ctx context.Context, dn string, attrs []string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", attrs, nil)
	res, err := c.conn.Search(req)
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, nil
		}
		return nil, c.wrap(ctx, fmt.Sprintf("read %q", dn), err)
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	return res.Entries[0], nil
}

// attrs lists the attribute names to request, without empty names or
// duplicates.
func attrList(names ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		k := strings.ToLower(n)
		if n == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, n)
	}
	return out
}

// values returns the values of every attribute of e whose type (before any
// ";option") is the type of name, case-insensitively: "userCertificate"
// and "userCertificate;binary" are the same attribute here.
func values(e *ldap.Entry, name string) [][]byte {
	if name == "" {
		return nil
	}
	want, _, _ := strings.Cut(name, ";")
	var out [][]byte
	for _, a := range e.Attributes {
		typ, _, _ := strings.Cut(a.Name, ";")
		if strings.EqualFold(typ, want) {
			out = append(out, a.ByteValues...)
		}
	}
	return out
}

func strValues(e *ldap.Entry, name string) []string {
	var out []string
	for _, v := range values(e, name) {
		out = append(out, string(v))
	}
	return out
}

func first(e *ldap.Entry, name string) string {
	if v := values(e, name); len(v) > 0 {
		return strings.TrimSpace(string(v[0]))
	}
	return ""
}

// or joins filters with |, leaving out empty ones; "" when all are empty.
func or(filters ...string) string {
	var nonEmpty []string
	for _, f := range filters {
		if f != "" {
			nonEmpty = append(nonEmpty, f)
		}
	}
	switch len(nonEmpty) {
	case 0:
		return ""
	case 1:
		return nonEmpty[0]
	}
	return "(|" + strings.Join(nonEmpty, "") + ")"
}
