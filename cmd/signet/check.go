package main

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/smime"
	"github.com/spf13/cobra"
)

func newCertCheckCommand() *cobra.Command {
	var (
		email, usage, at string
		trustFiles, crls []string
		certFiles        []string
		offline          bool
	)
	c := &cobra.Command{
		Use:   "check FILE [--email ADDR] [--usage sign|encrypt] [--at RFC3339] [--trust FILE] [--crl FILE]... [--certfile FILE]... [--offline]",
		Short: "Check a certificate for S/MIME: chain, time, usage, address, revocation",
		Long: `Check validates a certificate (the first in FILE; the rest are offered as
intermediates) for S/MIME at a time (--at, default now): an RFC 5280 path to a
trust anchor (--trust, or the data folder's trust collection and CA) with
policy processing and name constraints, revocation (--crl files, then CRLs
fetched from HTTP distribution points and OCSP unless --offline), the
emailProtection extended key usage, key usage for --usage (sign:
digitalSignature or nonRepudiation; encrypt: keyEncipherment or
keyAgreement) and the address (--email, against rfc822Name and the subject's
emailAddress). It prints "status: N name" with the Exchange ActiveSync
ValidateCert code and exits 0 only for 1 (success).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if usage != "" && usage != "sign" && usage != "encrypt" {
				return usagef("--usage must be sign or encrypt")
			}
			when, src := time.Now(), "now"
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usagef("--at: %v (want RFC 3339, e.g. 2026-01-31T12:00:00Z)", err)
				}
				when, src = t, "--at"
			}
			certs, err := keyfile.LoadCertificates(args[0])
			if err != nil {
				return err
			}
			tin, err := readTrust(trustFiles, crls, dataFolderTrust(c.Context()))
			if err != nil {
				return err
			}
			if err := tin.setFetcher(c.Context(), offline); err != nil {
				return err
			}
			extra := certs[1:]
			for _, f := range certFiles {
				cs, err := keyfile.LoadCertificates(f)
				if err != nil {
					return err
				}
				extra = append(extra, cs...)
			}
			leaf := certs[0]
			code, reason, v := checkCertificate(leaf, extra, tin, email, usage, when)
			w := c.OutOrStdout()
			fmt.Fprintf(w, "certificate:  %s\nvalidated at: %s (%s)\n", leaf.Subject, when.UTC().Format(time.RFC3339), src)
			if len(v.Chain) > 0 {
				var names []string
				for _, x := range v.Chain {
					names = append(names, x.Subject.String())
				}
				fmt.Fprintf(w, "chain:        %s\n", strings.Join(names, " <- "))
			}
			if v.Revocation != "" {
				fmt.Fprintf(w, "revocation:   %s\n", v.Revocation)
			}
			if len(v.Weak) > 0 {
				fmt.Fprintf(w, "weak:         %s\n", strings.Join(v.Weak, "; "))
			}
			fmt.Fprintf(w, "status: %d %s\n", code, statusNames[code])
			if code != 1 {
				return failure{fmt.Sprintf("status %d %s: %s", code, statusNames[code], reason)}
			}
			return nil
		},
	}
	c.Flags().StringVar(&email, "email", "", "the address the certificate must name")
	c.Flags().StringVar(&usage, "usage", "", "sign or encrypt: check the key usage for it")
	c.Flags().StringVar(&at, "at", "", "validate at this `TIME` (RFC 3339; default now)")
	c.Flags().StringArrayVar(&trustFiles, "trust", nil, "trust anchors `FILE` (repeatable; default: the data folder's collection and CA)")
	c.Flags().StringArrayVar(&crls, "crl", nil, "a CRL `FILE` (repeatable)")
	c.Flags().StringArrayVar(&certFiles, "certfile", nil, "intermediate certificates `FILE` (repeatable)")
	c.Flags().BoolVar(&offline, "offline", false, "never fetch CRLs or ask OCSP responders (privacy); only --crl files count")
	return c
}

// checkCertificate applies the S/MIME checks and path validation.
func checkCertificate(leaf *x509.Certificate, extra []*x509.Certificate, tin *trustInputs, email, usage string, at time.Time) (int, string, smime.ChainVerdict) {
	if email != "" && !smime.CertificateHasEmail(leaf, email) {
		return 12, fmt.Sprintf("the certificate names %v, not %s", smime.CertificateEmails(leaf), email), smime.ChainVerdict{}
	}
	ku := leaf.KeyUsage
	switch {
	case usage == "sign" && ku != 0 && ku&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0:
		return 6, "the key usage does not allow signing", smime.ChainVerdict{}
	case usage == "encrypt" && ku != 0 && ku&(x509.KeyUsageKeyEncipherment|x509.KeyUsageKeyAgreement) == 0:
		return 9, "the key usage does not allow encryption", smime.ChainVerdict{}
	}
	if !smime.EmailProtectionAllowed(leaf) {
		return 9, "the extended key usage does not include emailProtection", smime.ChainVerdict{}
	}
	v := tin.validator()(leaf, extra, nil, at)
	return v.Code, v.Reason, v
}
