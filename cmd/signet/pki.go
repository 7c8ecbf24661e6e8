package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/signet-smime/signet/ca"
	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

func newInitCommand() *cobra.Command {
	var o pki.InitOptions
	var domains []string
	var tokenSpec string
	c := &cobra.Command{
		Use:   "init --org NAME --domain DOMAIN [--domain DOMAIN]... [--public-url URL] [--ca-key ecdsa-p384|rsa-4096]",
		Short: "Create an organisation's certificate authority in the data folder",
		Long: `Init creates the data folder (--data) with a root CA and an issuing CA under
it, for the organisation's mail domains. Certificates, settings and the audit
log live in signet.db; private keys are sealed: with SIGNET_PASSPHRASE set,
under a key derived from it (Argon2id), otherwise under a key file made in the
data folder (for trials only: set SIGNET_PASSPHRASE for real use). With
--ca-key-pkcs11 the CA keys are made in a PKCS #11 token (an HSM; SoftHSM2 in
the tests) and never leave it; the commands that sign then need
SIGNET_PKCS11=MODULE:TOKEN and SIGNET_PKCS11_PIN in their environment.

The CA certificates follow the CA/Browser Forum S/MIME Baseline Requirements;
a P-384 CA signs with SHA-384. --public-url is the http address where
"signet serve" publishes CRLs, CA certificates and OCSP; it goes into every
certificate, so choose it for good.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.Org == "" || len(domains) == 0 {
				return usagef("--org and at least one --domain are required")
			}
			o.Domains = domains
			if o.PublicURL == "" {
				o.PublicURL = "http://localhost:8080"
			}
			svc, err := createService(c.Context(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer svc.Close()
			var info *store.CAInfo
			if tokenSpec != "" {
				if err := attachToken(svc, tokenSpec); err != nil {
					return err
				}
				info, err = svc.InitWithToken(c.Context(), o, svc.Token)
			} else {
				info, err = svc.Init(c.Context(), o)
			}
			if err != nil {
				return err
			}
			if tokenSpec != "" {
				fmt.Fprintf(c.ErrOrStderr(), "signet: the CA keys are in the PKCS #11 token %s: set %s=%s (and SIGNET_PKCS11_PIN) for the commands that sign\n", tokenSpec, envPKCS11, tokenSpec)
			}
			fmt.Fprintf(c.OutOrStdout(), "initialised %s for %s (%s)\nroot CA:    %s\nissuing CA: %s\npublic URL: %s\n",
				dataDir, info.Org, strings.Join(info.Domains, ", "), info.RootFingerprint, info.IssuingFingerprint, info.PublicURL)
			return nil
		},
	}
	c.Flags().StringVar(&o.Org, "org", "", "the organisation's `NAME`")
	c.Flags().StringArrayVar(&domains, "domain", nil, "a mail `DOMAIN` of the organisation (repeatable)")
	c.Flags().StringVar(&o.PublicURL, "public-url", "", "http base `URL` of CRL, CA certificates and OCSP (default http://localhost:8080)")
	c.Flags().StringVar(&o.CAKey, "ca-key", "ecdsa-p384", "CA key type: ecdsa-p384 or rsa-4096")
	c.Flags().StringVar(&tokenSpec, "ca-key-pkcs11", "", "make the CA keys in a PKCS #11 token: `MODULE:TOKEN` or a pkcs11: URI (PIN from SIGNET_PKCS11_PIN)")
	c.Flags().StringVar(&o.Country, "country", "", "two-letter ISO 3166-1 `CODE` for the CA certificates (the S/MIME BR require it for public trust)")
	return c
}

func newCACommand() *cobra.Command {
	c := &cobra.Command{Use: "ca", Short: "The organisation's certificate authority: show, export, issue, revoke, CRL"}
	c.AddCommand(newCAShowCommand(), newCAExportCommand(), newCAIssueCommand(), newCARevokeCommand(), newCACRLCommand())
	return c
}

func newCAShowCommand() *cobra.Command {
	return &cobra.Command{
		Use: "show", Short: "Show the root and issuing CA", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			info, root, iss, err := svc.CA(c.Context())
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "organisation: %s\ndomains:      %s\npublic URL:   %s\n", info.Org, strings.Join(info.Domains, ", "), info.PublicURL)
			for _, x := range []struct {
				name string
				fp   string
			}{{"root CA", info.RootFingerprint}, {"issuing CA", info.IssuingFingerprint}} {
				cert := root
				if x.name == "issuing CA" {
					cert = iss
				}
				fmt.Fprintf(w, "%s:\n  subject:   %s\n  sha256:    %s\n  key:       %s\n  signature: %s\n  valid:     %s to %s\n",
					x.name, cert.Subject, x.fp, keyName(cert), cert.SignatureAlgorithm, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(w, "CRL:          %s\nOCSP:         %s\n", ca.CRLURL(orgFromInfo(info), iss), ca.OCSPURL(orgFromInfo(info)))
			return nil
		},
	}
}

func orgFromInfo(info *store.CAInfo) ca.Org {
	return ca.Org{Name: info.Org, Domains: info.Domains, PublicURL: info.PublicURL}
}

func newCAExportCommand() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use: "export --pem FILE", Short: "Write the issuing and root CA certificates as PEM", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--pem FILE is required")
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			_, root, iss, err := svc.CA(c.Context())
			if err != nil {
				return err
			}
			data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})...)
			return writeFileAtomic(out, data, 0o644)
		},
	}
	c.Flags().StringVar(&out, "pem", "", "write to `FILE`")
	return c
}

func newCAIssueCommand() *cobra.Command {
	var o pki.IssueOptions
	var jsonOut bool
	var csrFile, out string
	c := &cobra.Command{
		Use:   "issue --email ADDR [--name NAME] [--key TYPE] [--usage pair|both|sign|encrypt] [--profile strict|multipurpose] [--validity DAYS]",
		Short: "Issue S/MIME certificates for an address",
		Long: `Issue makes S/MIME certificates (CA/B Forum S/MIME BR, mailbox-validated,
strict or multipurpose profile) for an address in the organisation's domains.

--usage pair (the default) makes two certificates, each with its own key: one
for signing (digitalSignature) and one for encryption (keyEncipherment for
RSA, keyAgreement for EC). An ed25519 key can only sign: with pair, the
encryption certificate gets an ECDH P-256 key (BR-conformant, and readable by
OpenSSL and gpgsm, unlike X25519); with both or encrypt it is refused.
--usage both makes one dual-use certificate.

With --csr the requester keeps the key: one certificate (--usage sign,
encrypt or both; default both) is issued for the request's key.

The keys are sealed in the data folder. With KeyCustody "client" (the default)
a signing key leaves Signet once, in the PKCS #12 of "signet cert export",
and is then deleted; encryption keys are always kept (escrowed).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.Email == "" {
				return usagef("--email ADDR is required")
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			var issued []pki.Issued
			if csrFile != "" {
				csr, err := keyfile.LoadCSR(csrFile)
				if err != nil {
					return err
				}
				i, err := svc.IssueCSR(c.Context(), o, csr)
				if err != nil {
					return err
				}
				issued = []pki.Issued{*i}
				if out != "" {
					if err := writeFileAtomic(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.Cert.Raw}), 0o644); err != nil {
						return err
					}
				}
			} else if issued, err = svc.Issue(c.Context(), o); err != nil {
				return err
			}
			if jsonOut {
				var rows []certRow
				for _, i := range issued {
					rows = append(rows, certRow{Email: o.Email, Usage: i.Usage, Serial: fmt.Sprintf("%x", i.Cert.SerialNumber),
						SHA256: pki.Fingerprint(i.Cert), NotAfter: i.Cert.NotAfter.UTC(), Key: keyName(i.Cert), Status: store.StatusValid, KeyHeld: i.Kept})
				}
				return json.NewEncoder(c.OutOrStdout()).Encode(rows)
			}
			for _, i := range issued {
				fmt.Fprintf(c.OutOrStdout(), "issued %-7s %s serial %x key %s until %s\n", i.Usage, o.Email, i.Cert.SerialNumber, keyName(i.Cert), i.Cert.NotAfter.UTC().Format("2006-01-02"))
			}
			return nil
		},
	}
	c.Flags().StringVar(&o.Email, "email", "", "the mailbox `ADDR`")
	c.Flags().StringVar(&o.Name, "name", "", "display `NAME` (the PKCS #12 friendly name; the S/MIME BR keep names out of mailbox-validated certificates)")
	c.Flags().StringVar(&o.Key, "key", "ecdsa-p256", "key `TYPE`: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519")
	c.Flags().StringVar(&o.Usage, "usage", "pair", "pair, both, sign or encrypt")
	c.Flags().StringVar(&o.Profile, "profile", "strict", "strict or multipurpose")
	c.Flags().IntVar(&o.Days, "validity", 0, "validity in `DAYS` (default 365, at most 825)")
	c.Flags().BoolVar(&jsonOut, "json", false, "print the issued certificates as JSON")
	c.Flags().StringVar(&csrFile, "csr", "", "issue one certificate for the key of this PKCS #10 request `FILE` (PEM or DER); the key stays with the requester")
	c.Flags().StringVar(&out, "out", "", "with --csr: write the certificate (PEM) to `FILE`")
	return c
}

func newCARevokeCommand() *cobra.Command {
	var serial, email, reason string
	c := &cobra.Command{
		Use:   "revoke (--serial HEX | --email ADDR) [--reason REASON]",
		Short: "Revoke a certificate, or every valid certificate of an address",
		Long: `Revoke marks certificates revoked; the next CRL ("signet ca crl", or the one
"signet serve" publishes) lists them, and OCSP answers revoked at once.
Reasons (RFC 5280): unspecified, keyCompromise, affiliationChanged,
superseded, cessationOfOperation, certificateHold, privilegeWithdrawn.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if (serial == "") == (email == "") {
				return usagef("give exactly one of --serial HEX or --email ADDR")
			}
			code := 0
			if reason != "" {
				var err error
				if code, err = ca.ParseReason(reason); err != nil {
					return usageError{err}
				}
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			done, err := svc.Revoke(c.Context(), serial, email, code)
			if err != nil {
				return err
			}
			// Fetched CRLs are cached until their nextUpdate; the
			// organisation's own verifications must see this revocation now.
			if err := os.RemoveAll(filepath.Join(dataDir, "crl-cache")); err != nil {
				return err
			}
			for _, r := range done {
				fmt.Fprintf(c.OutOrStdout(), "revoked %s %s serial %s (%s)\n", r.Usage, r.Email, r.Serial, ca.ReasonName(code))
			}
			return nil
		},
	}
	c.Flags().StringVar(&serial, "serial", "", "serial number in `HEX`")
	c.Flags().StringVar(&email, "email", "", "revoke every valid certificate of `ADDR`")
	c.Flags().StringVar(&reason, "reason", "", "RFC 5280 `REASON` (default unspecified)")
	return c
}

func newCACRLCommand() *cobra.Command {
	var files ioFlags
	c := &cobra.Command{
		Use: "crl [--out FILE]", Short: "Issue the current CRL (DER)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			der, _, err := svc.CRL(c.Context())
			if err != nil {
				return err
			}
			out, err := files.create(c)
			if err != nil {
				return err
			}
			if _, err := out.Write(der); err != nil {
				out.Abort()
				return err
			}
			return out.Commit()
		},
	}
	c.Flags().StringVar(&files.out, "out", "", "write the DER CRL to `FILE` (default standard output)")
	return c
}

// writeFileAtomic writes a file under a temporary name and renames it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
