package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/signet-smime/signet/directory"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

func newDirectoryCommand() *cobra.Command {
	c := &cobra.Command{Use: "directory", Short: "The directory of mailboxes and certificates (SMIMEA so far)"}
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
	c.AddCommand(smimea)
	return c
}
