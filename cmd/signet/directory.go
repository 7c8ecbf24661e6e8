package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/passhash"

	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

func newDirectoryCommand() *cobra.Command {
	c := &cobra.Command{Use: "directory", Short: "The directory: publish to and sync from AD/LDAP, SMIMEA records, LDAP bind accounts"}
	var out string
	var ttl int
	smimea := &cobra.Command{
		Use:   "smimea [--out FILE] [--ttl SECONDS]",
		Short: "Write SMIMEA records (RFC 8162) for every mailbox's encryption certificate",
		Long: `Smimea writes zone-file lines publishing each active mailbox's newest valid
encryption certificate (usage encrypt or both) as an SMIMEA record: owner
SHA-256(local part) truncated to 28 octets, in hex, "._smimecert." and the
domain; usage 3 (DANE-EE), selector 0, matching type 0 (the certificate
itself). Mailboxes without an encryption certificate are listed as comments.
Sign the zone with DNSSEC: correspondents must trust only validated answers.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if ttl <= 0 {
				return usagef("--ttl must be a positive number of seconds")
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			users, err := svc.Store.ListUsers(c.Context(), store.UserFilter{Status: store.UserActive, Kind: store.KindMailbox})
			if err != nil {
				return err
			}
			var zone bytes.Buffer
			fmt.Fprintf(&zone, "; SMIMEA records (RFC 8162) written by signet\n")
			for _, u := range users {
				_, cert, err := svc.Find(c.Context(), u.Email, store.UsageEncrypt)
				if errors.Is(err, pki.ErrNotFound) {
					fmt.Fprintf(&zone, "; %s: no valid encryption certificate\n", u.Email)
					continue
				}
				if err != nil {
					return err
				}
				rec, err := directory.SMIMEARecord(u.Email, cert, ttl)
				if err != nil {
					return err
				}
				fmt.Fprintf(&zone, "; %s\n%s\n", u.Email, rec)
			}
			if out == "" {
				_, err := c.OutOrStdout().Write(zone.Bytes())
				return err
			}
			return writeFileAtomic(out, zone.Bytes(), 0o644)
		},
	}
	smimea.Flags().StringVar(&out, "out", "", "write the records to `FILE` (default standard output)")
	smimea.Flags().IntVar(&ttl, "ttl", 3600, "record TTL in `SECONDS`")
	c.AddCommand(smimea, newDirectoryAccountCommand(), newDirectoryPublishCommand(), newDirectorySyncCommand())
	return c
}

// normBindDN is the form bind accounts are stored and matched in: lower
// case, no spaces around the RDN separators.
func normBindDN(dn string) string {
	parts := strings.Split(dn, ",")
	for i, p := range parts {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		parts[i] = strings.ToLower(strings.TrimSpace(k)) + "=" + strings.ToLower(strings.TrimSpace(v))
	}
	return strings.Join(parts, ",")
}

func newDirectoryAccountCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "account",
		Short: "Accounts that admin tools bind with to Signet's LDAP server (add, list, remove)",
		Long: `Account manages the bind accounts of "signet serve --ldap". Anonymous clients
may look up specific people only; a bound account may list the whole
directory (paged). Passwords are kept as Argon2id hashes.`,
	}
	var passFile string
	add := &cobra.Command{
		Use:   "add DN --password-file FILE",
		Short: "Create a bind account (or set its password)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if passFile == "" {
				return usagef("--password-file FILE is required")
			}
			if !strings.Contains(args[0], "=") {
				return usagef("%q is not a DN (for example cn=admin,dc=example,dc=org)", args[0])
			}
			pass, err := keyfile.ReadPassFile(passFile)
			if err != nil {
				return err
			}
			if len(pass) < 12 {
				return usagef("the password must have at least 12 characters")
			}
			h, err := passhash.Hash([]byte(pass))
			if err != nil {
				return err
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			dn := normBindDN(args[0])
			if err := svc.Store.PutDirectoryAccount(c.Context(), dn, h, svc.Actor); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "bind account %s set\n", dn)
			return nil
		},
	}
	add.Flags().StringVar(&passFile, "password-file", "", "read the password from `FILE` (first line)")
	list := &cobra.Command{
		Use: "list", Short: "List the bind accounts", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			ns, err := svc.Store.ListDirectoryAccounts(c.Context())
			if err != nil {
				return err
			}
			for _, n := range ns {
				if strings.HasPrefix(n, "smtp:") {
					continue // submission passwords (signet user password)
				}
				fmt.Fprintln(c.OutOrStdout(), n)
			}
			return nil
		},
	}
	remove := &cobra.Command{
		Use: "remove DN", Short: "Remove a bind account", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			return svc.Store.DeleteDirectoryAccount(c.Context(), normBindDN(args[0]), svc.Actor)
		},
	}
	c.AddCommand(add, list, remove)
	return c
}
