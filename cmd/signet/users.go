package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/passhash"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

// recipientJSON is one recipient as "user list --json" and "user show
// --json" print it.
type recipientJSON struct {
	Email        string     `json:"email"`
	Kind         string     `json:"kind"`
	DisplayName  string     `json:"display_name,omitempty"`
	Status       string     `json:"status"`
	Aliases      []string   `json:"aliases"`
	Source       string     `json:"source,omitempty"`
	Members      []string   `json:"members,omitempty"`
	Certificates []certJSON `json:"certificates"`
}

// certJSON is one certificate of a recipient.
type certJSON struct {
	Usage     string    `json:"usage"`
	Serial    string    `json:"serial"`
	SHA256    string    `json:"sha256"`
	Issuer    string    `json:"issuer"`
	NotAfter  time.Time `json:"not_after"`
	Status    string    `json:"status"`
	Source    string    `json:"source,omitempty"`
	KeyHeld   bool      `json:"key_held"`
	Preferred string    `json:"preferred,omitempty"` // "sign", "encrypt"
}

func newUserCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "user",
		Short: "The organisation's mailboxes (add, list, show, disable, prefer, password)",
		Long: `User manages the directory's mailboxes: their display names, alias addresses
(Exchange's proxy addresses) and certificates. Mailboxes are served over LDAP
by "signet serve --ldap", published into an existing directory by "signet
directory publish", and found by "signet lookup".`,
	}
	c.AddCommand(newUserAddCommand(), newUserListCommand(), newUserShowCommand(), newUserDisableCommand(), newUserPasswordCommand(), newUserPreferCommand())
	return c
}

func newUserAddCommand() *cobra.Command {
	var name, key string
	var aliases []string
	var issue bool
	c := &cobra.Command{
		Use:   "add ADDR [--name NAME] [--alias ADDR]... [--issue]",
		Short: "Add a mailbox, with aliases, and optionally issue its certificates",
		Long: `Add records a mailbox of the organisation. The address and its aliases must
be in the organisation's domains. With --issue a signing and an encryption
certificate (the "pair" of "signet ca issue") are issued at once; otherwise
issue them later with "signet ca issue --email ADDR".`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			addr := strings.ToLower(strings.TrimSpace(args[0]))
			if !strings.Contains(addr, "@") {
				return usagef("%q is not an e-mail address", args[0])
			}
			if issue {
				if _, err := pki.NewKeyCheck(key); err != nil {
					return usageError{err}
				}
			}
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			for _, a := range append([]string{addr}, aliases...) {
				if err := svc.CheckDomain(ctx, a); err != nil {
					return err
				}
			}
			if u, alias, err := svc.Store.ResolveAddress(ctx, addr); err == nil {
				if alias {
					return fmt.Errorf("%s is already an alias of %s", addr, u.Email)
				}
				return fmt.Errorf("%s already exists (a %s; see \"signet user show %s\")", addr, u.Kind, addr)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := svc.Store.PutUser(ctx, store.User{Email: addr, DisplayName: name, Kind: store.KindMailbox}, svc.Actor); err != nil {
				return err
			}
			if len(aliases) > 0 {
				if err := svc.Store.SetAliases(ctx, addr, aliases, svc.Actor); err != nil {
					// Leave no half-made mailbox behind.
					_ = svc.Store.DeleteUser(ctx, addr, svc.Actor)
					return err
				}
			}
			fmt.Fprintf(c.OutOrStdout(), "added mailbox %s\n", addr)
			if !issue {
				return nil
			}
			issued, err := svc.Issue(ctx, pki.IssueOptions{Email: addr, Name: name, Key: key})
			if err != nil {
				return fmt.Errorf("mailbox added, but issuing its certificates failed: %w", err)
			}
			for _, i := range issued {
				fmt.Fprintf(c.OutOrStdout(), "issued %-7s %s serial %x key %s until %s\n", i.Usage, addr, i.Cert.SerialNumber,
					keyName(i.Cert), i.Cert.NotAfter.UTC().Format("2006-01-02"))
			}
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "display `NAME`")
	c.Flags().StringArrayVar(&aliases, "alias", nil, "an alias `ADDR` (repeat for several)")
	c.Flags().BoolVar(&issue, "issue", false, "issue the mailbox's signing and encryption certificates now")
	c.Flags().StringVar(&key, "key", "ecdsa-p256", "with --issue: key `TYPE` (ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519)")
	return c
}

// recipientView builds the JSON view of a recipient, with its certificates.
func recipientView(ctx context.Context, st store.Store, u store.User, certs []store.Certificate) (recipientJSON, error) {
	v := recipientJSON{Email: u.Email, Kind: u.Kind, DisplayName: u.DisplayName, Status: u.Status,
		Aliases: append([]string{}, u.Aliases...), Source: u.Source, Certificates: []certJSON{}}
	if u.Kind == store.KindGroup {
		ms, err := st.GroupMembers(ctx, u.Email)
		if err != nil {
			return v, err
		}
		v.Members = ms
	}
	for _, c := range certs {
		cj := certJSON{Usage: c.Usage, Serial: c.Serial, SHA256: c.Fingerprint, Issuer: c.Issuer, NotAfter: c.NotAfter,
			Status: c.Status, Source: c.Source, KeyHeld: c.KeyID != ""}
		switch c.Fingerprint {
		case u.PreferredSign:
			cj.Preferred = "sign"
		case u.PreferredEncrypt:
			cj.Preferred = "encrypt"
		}
		v.Certificates = append(v.Certificates, cj)
	}
	return v, nil
}

func newUserListCommand() *cobra.Command {
	var jsonOut, all bool
	var kind string
	c := &cobra.Command{
		Use:   "list [--json] [--kind mailbox|contact|group] [--all]",
		Short: "List mailboxes (or contacts, groups) with their aliases and certificates",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if all && kind != "" {
				return usagef("give --kind or --all, not both")
			}
			if !all && kind == "" {
				kind = store.KindMailbox
			}
			if kind != "" && kind != store.KindMailbox && kind != store.KindContact && kind != store.KindGroup {
				return usagef("--kind must be mailbox, contact or group, not %q", kind)
			}
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			users, err := svc.Store.ListUsers(ctx, store.UserFilter{Kind: kind})
			if err != nil {
				return err
			}
			certs, err := svc.Store.ListCertificates(ctx, store.CertFilter{})
			if err != nil {
				return err
			}
			byEmail := map[string][]store.Certificate{}
			for _, cert := range certs {
				byEmail[cert.Email] = append(byEmail[cert.Email], cert)
			}
			views := []recipientJSON{}
			for _, u := range users {
				v, err := recipientView(ctx, svc.Store, u, byEmail[u.Email])
				if err != nil {
					return err
				}
				views = append(views, v)
			}
			if jsonOut {
				return json.NewEncoder(c.OutOrStdout()).Encode(views)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ADDRESS\tKIND\tSTATUS\tNAME\tALIASES\tCERTIFICATES")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Email, v.Kind, v.Status, dash(v.DisplayName),
					dash(strings.Join(v.Aliases, ",")), certSummary(v))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	c.Flags().StringVar(&kind, "kind", "", "list recipients of this `KIND` (default mailbox)")
	c.Flags().BoolVar(&all, "all", false, "list every recipient: mailboxes, contacts and groups")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func certSummary(v recipientJSON) string {
	if v.Kind == store.KindGroup {
		return fmt.Sprintf("%d member(s)", len(v.Members))
	}
	var parts []string
	for _, c := range v.Certificates {
		parts = append(parts, c.Usage)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// findRecipient resolves an address or alias, with a clear error when the
// directory does not have it.
func findRecipient(ctx context.Context, st store.Store, addr string) (*store.User, error) {
	u, _, err := st.ResolveAddress(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s is not in the directory (see \"signet user list --all\")", addr)
	}
	return u, err
}

func newUserShowCommand() *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "show ADDR [--json]",
		Short: "Show a recipient (by address or alias): aliases, members and every certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			u, err := findRecipient(ctx, svc.Store, args[0])
			if err != nil {
				return err
			}
			certs, err := svc.Store.ListCertificates(ctx, store.CertFilter{Email: u.Email, IncludeRevoked: true})
			if err != nil {
				return err
			}
			v, err := recipientView(ctx, svc.Store, *u, certs)
			if err != nil {
				return err
			}
			if jsonOut {
				return json.NewEncoder(c.OutOrStdout()).Encode(v)
			}
			printRecipient(c.OutOrStdout(), v)
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return c
}

func printRecipient(w io.Writer, v recipientJSON) {
	fmt.Fprintf(w, "address:  %s\nkind:     %s\nstatus:   %s\n", v.Email, v.Kind, v.Status)
	if v.DisplayName != "" {
		fmt.Fprintf(w, "name:     %s\n", v.DisplayName)
	}
	if len(v.Aliases) > 0 {
		fmt.Fprintf(w, "aliases:  %s\n", strings.Join(v.Aliases, ", "))
	}
	if v.Source != "" {
		fmt.Fprintf(w, "synced from: %s\n", v.Source)
	}
	if v.Kind == store.KindGroup {
		fmt.Fprintf(w, "members:  %d\n", len(v.Members))
		for _, m := range v.Members {
			fmt.Fprintf(w, "  %s\n", m)
		}
		return
	}
	if len(v.Certificates) == 0 {
		fmt.Fprintf(w, "certificates: none\n")
		return
	}
	fmt.Fprintf(w, "certificates:\n")
	for _, c := range v.Certificates {
		extra := ""
		if c.Preferred != "" {
			extra += ", preferred for " + c.Preferred
		}
		if c.KeyHeld {
			extra += ", key held"
		}
		if c.Source != "" {
			extra += ", " + c.Source
		}
		fmt.Fprintf(w, "  %-7s serial %s until %s %s%s\n    sha256 %s\n    issuer %s\n", c.Usage, c.Serial,
			c.NotAfter.Format("2006-01-02"), c.Status, extra, c.SHA256, c.Issuer)
	}
}

func newUserDisableCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "disable ADDR",
		Short: "Disable a recipient: no longer served or found, certificates kept for old mail",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			u, err := findRecipient(ctx, svc.Store, args[0])
			if err != nil {
				return err
			}
			if err := svc.Store.DisableUser(ctx, u.Email, svc.Actor); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "disabled %s %s (its certificates are kept)\n", u.Kind, u.Email)
			return nil
		},
	}
}

func newGroupCommand() *cobra.Command {
	c := &cobra.Command{Use: "group", Short: "Distribution groups (add; see them with user list --kind group and user show)"}
	var name string
	var members []string
	add := &cobra.Command{
		Use:   "add ADDR --member ADDR... [--name NAME]",
		Short: "Create a group, or add members to an existing one",
		Long: `Add creates a distribution group with members (mailboxes, contacts, other
groups or any address), or adds the members to an existing group. "signet
lookup GROUP" expands it, nested groups included, within DLExpansionTimeout.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if len(members) == 0 {
				return usagef("give at least one --member ADDR")
			}
			addr := strings.ToLower(strings.TrimSpace(args[0]))
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			var old []string
			if u, alias, err := svc.Store.ResolveAddress(ctx, addr); err == nil {
				if alias || u.Kind != store.KindGroup {
					return fmt.Errorf("%s is already a %s in the directory, not a group", addr, map[bool]string{true: "alias", false: u.Kind}[alias])
				}
				if old, err = svc.Store.GroupMembers(ctx, addr); err != nil {
					return err
				}
				if name == "" {
					name = u.DisplayName
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := svc.Store.PutUser(ctx, store.User{Email: addr, DisplayName: name, Kind: store.KindGroup}, svc.Actor); err != nil {
				return err
			}
			all := append(slices.Clone(old), members...)
			if err := svc.Store.SetGroupMembers(ctx, addr, all, svc.Actor); err != nil {
				return err
			}
			now, err := svc.Store.GroupMembers(ctx, addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "group %s: %d member(s)\n", addr, len(now))
			return nil
		},
	}
	add.Flags().StringArrayVar(&members, "member", nil, "a member `ADDR` (repeat for several)")
	add.Flags().StringVar(&name, "name", "", "display `NAME`")
	c.AddCommand(add)
	return c
}

func newContactCommand() *cobra.Command {
	c := &cobra.Command{Use: "contact", Short: "External contacts and their certificates (add)"}
	var name string
	var certFiles []string
	add := &cobra.Command{
		Use:   "add ADDR --cert FILE... [--name NAME]",
		Short: "Add an external correspondent's certificate(s)",
		Long: `Add records an external contact (a partner outside the organisation) with
certificates read from FILE (PEM, DER or PKCS #7; repeat --cert for several).
Each certificate must name the address. "signet lookup" finds them after the
organisation's own mailboxes; they are validated against the trust
collection whenever they are used.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if len(certFiles) == 0 {
				return usagef("give --cert FILE")
			}
			var certs []*x509.Certificate
			for _, f := range certFiles {
				cs, err := keyfile.LoadCertificates(f)
				if err != nil {
					return err
				}
				certs = append(certs, cs...)
			}
			svc, err := openService(ctx)
			if err != nil {
				return err
			}
			defer svc.Close()
			if err := svc.AddContact(ctx, args[0], name, certs); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "contact %s: %d certificate(s) added\n", strings.ToLower(args[0]), len(certs))
			return nil
		},
	}
	add.Flags().StringArrayVar(&certFiles, "cert", nil, "certificate `FILE` (repeat for several)")
	add.Flags().StringVar(&name, "name", "", "display `NAME`")
	c.AddCommand(add)
	return c
}

// submissionAccount is the name a mailbox's SMTP submission password is
// kept under, among the directory accounts.
func submissionAccount(addr string) string { return "smtp:" + strings.ToLower(addr) }

func newUserPasswordCommand() *cobra.Command {
	var passFile string
	c := &cobra.Command{
		Use:   "password ADDR --password-file FILE",
		Short: "Set a mailbox's password for SMTP submission (AUTH) to the gateway",
		Long: `Password sets the password a mailbox's mail client authenticates with to
"signet serve --smtp ... --smtp-auth" (AUTH PLAIN, only after STARTTLS). It
is kept as an Argon2id hash.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if passFile == "" {
				return usagef("--password-file FILE is required")
			}
			pass, err := keyfile.ReadPassFile(passFile)
			if err != nil {
				return err
			}
			if len(pass) < 12 {
				return usagef("the password must have at least 12 characters")
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			u, err := findRecipient(c.Context(), svc.Store, args[0])
			if err != nil {
				return err
			}
			if u.Kind != store.KindMailbox {
				return fmt.Errorf("%s is a %s, not a mailbox", u.Email, u.Kind)
			}
			h, err := passhash.Hash([]byte(pass))
			if err != nil {
				return err
			}
			if err := svc.Store.PutDirectoryAccount(c.Context(), submissionAccount(u.Email), h, svc.Actor); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "submission password set for %s\n", u.Email)
			return nil
		},
	}
	c.Flags().StringVar(&passFile, "password-file", "", "read the password from `FILE` (first line)")
	return c
}

func newUserPreferCommand() *cobra.Command {
	var usage, fp string
	c := &cobra.Command{
		Use:   "prefer ADDR --usage sign|encrypt --sha256 FINGERPRINT",
		Short: "Choose which of a recipient's certificates is preferred for signing or for encryption",
		Long: `Prefer marks one of a recipient's certificates (by its SHA-256 fingerprint, as
"signet user show" lists them) as the one to use first: for encryption, the
lookup, the LDAP directory (first userCertificate value) and the gateway use
it before newer ones; --sha256 "" clears the choice (newest first again).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if usage != store.UsageSign && usage != store.UsageEncrypt {
				return usagef("--usage must be sign or encrypt")
			}
			if !c.Flags().Changed("sha256") {
				return usagef("give --sha256 FINGERPRINT (or --sha256 \"\" to clear)")
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			u, err := findRecipient(c.Context(), svc.Store, args[0])
			if err != nil {
				return err
			}
			if err := svc.Store.SetPreferred(c.Context(), u.Email, usage, strings.ToLower(strings.ReplaceAll(fp, ":", "")), svc.Actor); err != nil {
				return err
			}
			if fp == "" {
				fmt.Fprintf(c.OutOrStdout(), "%s: no preferred %s certificate (newest first)\n", u.Email, usage)
			} else {
				fmt.Fprintf(c.OutOrStdout(), "%s: preferred %s certificate %s\n", u.Email, usage, fp)
			}
			return nil
		},
	}
	c.Flags().StringVar(&usage, "usage", "encrypt", "sign or encrypt")
	c.Flags().StringVar(&fp, "sha256", "", "the certificate's SHA-256 `FINGERPRINT` (hex)")
	return c
}
