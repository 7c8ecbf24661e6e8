package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/signet-smime/signet/directory/dirsync"
	"github.com/signet-smime/signet/directory/upstream"
	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

// upstreamFlags are the connection flags of directory publish and sync.
type upstreamFlags struct {
	url, bindDN, passFile, base, preset, caFile string
	maps                                        []string
	startTLS                                    bool
	pageSize                                    uint32
	timeout                                     time.Duration
}

func (f *upstreamFlags) add(c *cobra.Command, withPreset bool) {
	c.Flags().StringVar(&f.url, "url", "", "the directory's `URL`: ldap://HOST[:PORT] or ldaps://HOST[:PORT]")
	c.Flags().StringVar(&f.bindDN, "bind-dn", "", "bind as `DN` (empty: anonymous)")
	c.Flags().StringVar(&f.passFile, "password-file", "", "read the bind password from `FILE` (first line)")
	c.Flags().StringVar(&f.base, "base", "", "search below this `DN`")
	c.Flags().StringVar(&f.caFile, "ca-file", "", "trust these CA certificates (PEM `FILE`) for ldaps:// and --starttls, instead of the system's")
	c.Flags().BoolVar(&f.startTLS, "starttls", false, "upgrade an ldap:// connection with StartTLS before binding")
	c.Flags().Uint32Var(&f.pageSize, "page-size", 500, "entries per page of paged searches")
	c.Flags().DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for connecting and for each request")
	if withPreset {
		c.Flags().StringVar(&f.preset, "preset", "", "attribute mapping: ad (Active Directory with Exchange attributes) or openldap (default: the UpstreamLDAPPreset setting)")
	}
	c.Flags().StringArrayVar(&f.maps, "map", nil, "change one part of the preset's mapping, `KEY=VALUE` (repeat): "+strings.Join(mapKeys(), ", "))
}

// config turns the flags into an upstream configuration; preset is the
// default mapping.
func (f *upstreamFlags) config(preset string) (upstream.Config, error) {
	if f.url == "" || f.base == "" {
		return upstream.Config{}, usagef("--url and --base are required")
	}
	if (f.bindDN == "") != (f.passFile == "") {
		return upstream.Config{}, usagef("give --bind-dn and --password-file together (or neither, for an anonymous bind)")
	}
	cfg := upstream.Config{URL: f.url, BindDN: f.bindDN, BaseDN: f.base, StartTLS: f.startTLS, PageSize: f.pageSize, Timeout: f.timeout}
	if f.passFile != "" {
		p, err := keyfile.ReadPassFile(f.passFile)
		if err != nil {
			return cfg, err
		}
		cfg.Password = p
	}
	if f.caFile != "" {
		certs, err := keyfile.LoadCertificates(f.caFile)
		if err != nil {
			return cfg, err
		}
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if f.preset != "" {
		preset = f.preset
	}
	m, err := upstream.Preset(preset)
	if err != nil {
		return cfg, usageError{err}
	}
	for _, kv := range f.maps {
		k, v, ok := strings.Cut(kv, "=")
		field, known := mapFields(&m)[strings.ToLower(strings.TrimSpace(k))]
		if !ok || !known {
			return cfg, usagef("--map %q: want KEY=VALUE with KEY one of %s", kv, strings.Join(mapKeys(), ", "))
		}
		*field = strings.TrimSpace(v)
	}
	cfg.Map = m
	return cfg, nil
}

// mapFields names the parts of a mapping --map can change.
func mapFields(m *upstream.Mapping) map[string]*string {
	return map[string]*string{
		"user-filter": &m.UserFilter, "group-filter": &m.GroupFilter, "contact-filter": &m.ContactFilter,
		"mail": &m.Mail, "display-name": &m.DisplayName, "cn": &m.CN, "sn": &m.SN, "given-name": &m.GivenName,
		"aliases": &m.Aliases, "member": &m.Member, "user-certificate": &m.UserCertificate,
		"smime-certificate": &m.SMIMECertificate, "id": &m.ID, "changed": &m.Changed,
	}
}

func mapKeys() []string {
	var ks []string
	for k := range mapFields(&upstream.Mapping{}) {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func newDirectoryPublishCommand() *cobra.Command {
	var f upstreamFlags
	c := &cobra.Command{
		Use:   "publish --url URL --bind-dn DN --password-file FILE --base DN",
		Short: "Write each mailbox's certificates into an existing AD/LDAP directory",
		Long: `Publish writes each active mailbox's current certificates issued by Signet's CA
into the entry of an existing directory that has its address (mail, or an
alias: proxyAddresses, or further mail values): userCertificate;binary
(each certificate, DER) and userSMIMECertificate (one PKCS #7 with the
certificates and the CA chain). Certificates of other issuers in the entry
are left alone; Signet's older ones (renewed, revoked, expired) are removed.
An entry that already holds exactly this is not written again. Mailboxes
without an entry are listed as not found.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			cfg, err := f.config("openldap")
			if err != nil {
				return err
			}
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			items, owned, err := publishItems(ctx, svc, time.Now())
			if err != nil {
				return err
			}
			rep, err := upstream.Publish(ctx, cfg, items, owned)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "published to %s: %d updated, %d unchanged, %d not found, %d failed\n", cfg.URL,
				len(rep.Updated), len(rep.Unchanged), len(rep.NotFound), len(rep.Errors))
			for _, a := range rep.Updated {
				fmt.Fprintf(out, "updated   %s\n", a)
			}
			for _, a := range rep.NotFound {
				fmt.Fprintf(out, "not found %s\n", a)
			}
			for a, err := range rep.Errors {
				fmt.Fprintf(out, "failed    %s: %v\n", a, err)
			}
			_ = svc.Store.Audit(ctx, store.AuditEntry{Actor: svc.Actor, Action: "directory.publish", Subject: cfg.URL,
				Detail: fmt.Sprintf("updated=%d unchanged=%d not_found=%d failed=%d", len(rep.Updated), len(rep.Unchanged), len(rep.NotFound), len(rep.Errors))})
			if len(rep.Errors) > 0 {
				return failure{fmt.Sprintf("%d entries could not be written", len(rep.Errors))}
			}
			return nil
		},
	}
	f.add(c, false)
	return c
}

// publishItems lists every active mailbox with its valid certificates
// issued by Signet's CA, and says which certificates are Signet's.
func publishItems(ctx context.Context, svc *pki.Service, now time.Time) ([]upstream.Published, func(*x509.Certificate) bool, error) {
	_, root, iss, err := svc.CA(ctx)
	if err != nil {
		return nil, nil, err
	}
	owned := func(c *x509.Certificate) bool { return c.CheckSignatureFrom(iss) == nil }
	users, err := svc.Store.ListUsers(ctx, store.UserFilter{Status: store.UserActive, Kind: store.KindMailbox})
	if err != nil {
		return nil, nil, err
	}
	certs, err := svc.Store.ListCertificates(ctx, store.CertFilter{})
	if err != nil {
		return nil, nil, err
	}
	info, err := svc.Store.GetCA(ctx)
	if err != nil {
		return nil, nil, err
	}
	byEmail := map[string][]*x509.Certificate{}
	for _, c := range certs {
		if c.IssuerFingerprint != info.IssuingFingerprint || now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return nil, nil, fmt.Errorf("stored certificate %s: %w", c.Fingerprint, err)
		}
		byEmail[c.Email] = append(byEmail[c.Email], cert)
	}
	items := make([]upstream.Published, 0, len(users))
	for _, u := range users {
		items = append(items, upstream.Published{Mail: u.Email, Certs: byEmail[u.Email], Chain: []*x509.Certificate{iss, root}})
	}
	return items, owned, nil
}

func newDirectorySyncCommand() *cobra.Command {
	var f upstreamFlags
	var every time.Duration
	c := &cobra.Command{
		Use:   "sync --url URL --bind-dn DN --password-file FILE --base DN [--preset ad|openldap] [--every DURATION]",
		Short: "Import users, aliases, groups and certificates from an existing AD/LDAP directory",
		Long: `Sync reads an existing directory (paged) and brings it into Signet's:
users become mailboxes (AD: user objects with mail; OpenLDAP: inetOrgPerson
entries with mail), with display names, aliases (AD proxyAddresses "smtp:"
values, or further mail values) and the certificates their entries hold
(userCertificate, userSMIMECertificate; each must name the address and is
validated whenever it is used); AD contact objects become contacts; groups
with an address become groups with their members (nested groups kept as
members, expanded by lookup). A user disabled in the directory (AD
userAccountControl), or gone from it, is disabled here — never deleted —
and keeps its certificates for reading old mail. Recipients made in Signet
are not touched, except that a mailbox made here with the same address as a
directory user is adopted.

Every run reads the whole directory (removals can only be seen that way);
with --every it runs again after each interval until stopped.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if every < 0 || (every > 0 && every < 10*time.Second) {
				return usagef("--every must be at least 10s")
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			preset, ok, err := svc.Store.GetSetting(ctx, "UpstreamLDAPPreset")
			if err != nil {
				return err
			}
			if !ok {
				preset = settingDefault("UpstreamLDAPPreset")
			}
			cfg, err := f.config(preset)
			if err != nil {
				return err
			}
			source := strings.TrimRight(cfg.URL, "/") + "/" + cfg.BaseDN
			for {
				err := syncOnce(ctx, svc, cfg, source, c.OutOrStdout())
				if every == 0 {
					return err
				}
				if err != nil {
					fmt.Fprintf(c.ErrOrStderr(), "signet: sync failed (next try in %s): %v\n", every, err)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	f.add(c, true)
	c.Flags().DurationVar(&every, "every", 0, "run again after each `DURATION` (e.g. 15m) until stopped")
	return c
}

// syncOnce fetches the whole directory and applies it, printing a report.
func syncOnce(ctx context.Context, svc *pki.Service, cfg upstream.Config, source string, out io.Writer) error {
	snap, err := upstream.Fetch(ctx, cfg, time.Time{})
	if err != nil {
		return err
	}
	rep, err := dirsync.Apply(ctx, svc, source, snap)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s synced from %s: %d mailboxes, %d contacts, %d groups; %d added, %d updated, %d disabled, %d re-enabled, %d unchanged; %d certificates added\n",
		time.Now().UTC().Format(time.RFC3339), source, rep.Mailboxes, rep.Contacts, rep.Groups, len(rep.Added), len(rep.Updated),
		len(rep.Disabled), len(rep.Reenabled), rep.Unchanged, rep.CertificatesAdded)
	for _, a := range rep.Added {
		fmt.Fprintf(out, "added     %s\n", a)
	}
	for _, a := range rep.Updated {
		fmt.Fprintf(out, "updated   %s\n", a)
	}
	for _, a := range rep.Disabled {
		fmt.Fprintf(out, "disabled  %s\n", a)
	}
	for _, a := range rep.Reenabled {
		fmt.Fprintf(out, "enabled   %s\n", a)
	}
	for _, w := range append(snap.Warnings, rep.Warnings...) {
		fmt.Fprintf(out, "warning   %s\n", w)
	}
	return svc.Store.Audit(ctx, store.AuditEntry{Actor: svc.Actor, Action: "directory.sync", Subject: source,
		Detail: fmt.Sprintf("added=%d updated=%d disabled=%d reenabled=%d unchanged=%d certificates=%d warnings=%d",
			len(rep.Added), len(rep.Updated), len(rep.Disabled), len(rep.Reenabled), rep.Unchanged, rep.CertificatesAdded, len(rep.Warnings))})
}
