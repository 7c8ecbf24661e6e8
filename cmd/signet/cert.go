package main

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/pkcs12"
	"github.com/signet-smime/signet/internal/x509util"
	"github.com/signet-smime/signet/store"
	"github.com/spf13/cobra"
)

// certRow is one line of "cert list".
type certRow struct {
	Email      string    `json:"email"`
	Usage      string    `json:"usage"`
	Serial     string    `json:"serial"`
	SHA256     string    `json:"sha256"`
	NotAfter   time.Time `json:"not_after"`
	Key        string    `json:"key"`
	Status     string    `json:"status"`
	KeyHeld    bool      `json:"key_held"`
	ThirdParty bool      `json:"third_party"`
}

// keyName names a certificate's key type.
func keyName(c *x509.Certificate) string {
	pub, err := x509util.PublicKey(c)
	if err != nil {
		return "unknown"
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return fmt.Sprintf("ecdsa-p%d", k.Curve.Params().BitSize)
	case ed25519.PublicKey:
		return "ed25519"
	case *ecdh.PublicKey:
		return "x25519"
	}
	return "unknown"
}

func newCertCommand() *cobra.Command {
	c := &cobra.Command{Use: "cert", Short: "Mailbox certificates: list, export, import"}
	c.AddCommand(newCertListCommand(), newCertExportCommand(), newCertImportCommand(), newCertCheckCommand())
	return c
}

func newCertListCommand() *cobra.Command {
	var email string
	var jsonOut, all bool
	c := &cobra.Command{
		Use: "list [--email ADDR] [--json] [--all]", Short: "List mailbox certificates", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			cs, err := svc.Store.ListCertificates(c.Context(), store.CertFilter{Email: email, IncludeRevoked: all})
			if err != nil {
				return err
			}
			var rows []certRow
			for _, sc := range cs {
				if sc.Usage == store.UsageCARoot || sc.Usage == store.UsageCAIssuing {
					continue
				}
				cert, err := x509.ParseCertificate(sc.DER)
				if err != nil {
					return err
				}
				rows = append(rows, certRow{Email: sc.Email, Usage: sc.Usage, Serial: sc.Serial, SHA256: sc.Fingerprint,
					NotAfter: sc.NotAfter.UTC(), Key: keyName(cert), Status: sc.Status, KeyHeld: sc.KeyID != "", ThirdParty: sc.ThirdParty})
			}
			if jsonOut {
				if rows == nil {
					rows = []certRow{}
				}
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EMAIL\tUSAGE\tKEY\tSERIAL\tNOT AFTER\tSTATUS\tKEY HELD")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", r.Email, r.Usage, r.Key, r.Serial, r.NotAfter.Format("2006-01-02"), r.Status, r.KeyHeld)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&email, "email", "", "only the certificates of `ADDR`")
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	c.Flags().BoolVar(&all, "all", false, "include revoked certificates")
	return c
}

func newCertExportCommand() *cobra.Command {
	var email, usage, pemOut, p12Out, passFile string
	var legacy bool
	c := &cobra.Command{
		Use:   "export --email ADDR [--usage sign|encrypt] (--pem FILE | --p12 FILE --pass-file FILE [--legacy])",
		Short: "Export a certificate (PEM) or a certificate with its key (PKCS #12)",
		Long: `Export writes the newest valid certificate of an address with its chain
(PEM, no key), or with its private key as PKCS #12 (--p12, password from the
first line of --pass-file), named by the display name given at issuance
(friendly name). The PKCS #12 is modern by default (PBES2 with AES-256-CBC
and PBKDF2-SHA-256, 100,000 iterations, SHA-256 MAC); --legacy writes 3DES and
SHA-1 for old Windows, macOS and GnuPG gpgsm 2.2.

With KeyCustody "client" a signing key leaves Signet in its first PKCS #12
and is then deleted from the data folder.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if email == "" || (pemOut == "") == (p12Out == "") {
				return usagef("give --email and exactly one of --pem FILE or --p12 FILE")
			}
			if p12Out != "" && passFile == "" {
				return usagef("--p12 needs --pass-file FILE (the PKCS #12 password)")
			}
			if usage != "" && usage != "sign" && usage != "encrypt" {
				return usagef("--usage must be sign or encrypt")
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			sc, cert, err := svc.Find(c.Context(), email, usage)
			if err != nil {
				return err
			}
			var chain []*x509.Certificate
			if !sc.ThirdParty {
				if chain, err = svc.Chain(c.Context()); err != nil {
					return err
				}
			}
			if pemOut != "" {
				var data []byte
				for _, x := range append([]*x509.Certificate{cert}, chain...) {
					data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})...)
				}
				return writeFileAtomic(pemOut, data, 0o644)
			}
			pass, err := keyfile.ReadPassFile(passFile)
			if err != nil {
				return err
			}
			if pass == "" {
				return errors.New("the password file is empty: a PKCS #12 with a private key needs a password")
			}
			key, err := svc.PrivateKey(c.Context(), sc)
			if err != nil {
				return err
			}
			name := svc.DisplayName(c.Context(), sc.Email)
			if name == "" {
				name = sc.Email
			} else {
				name += " <" + sc.Email + ">"
			}
			data, err := pkcs12.Encode(key, cert, chain, pass, pkcs12.EncodeOptions{FriendlyName: name, Legacy: legacy})
			if err != nil {
				return err
			}
			if err := writeFileAtomic(p12Out, data, 0o600); err != nil {
				return err
			}
			deleted, err := svc.Released(c.Context(), sc)
			if err != nil {
				return err
			}
			if deleted {
				fmt.Fprintf(c.ErrOrStderr(), "signet: the signing key of %s has left Signet (KeyCustody client): keep %s safe\n", sc.Email, p12Out)
			}
			return nil
		},
	}
	c.Flags().StringVar(&email, "email", "", "the mailbox `ADDR`")
	c.Flags().StringVar(&usage, "usage", "", "sign or encrypt (default: the newest of either)")
	c.Flags().StringVar(&pemOut, "pem", "", "write the certificate and chain as PEM to `FILE`")
	c.Flags().StringVar(&p12Out, "p12", "", "write certificate, chain and key as PKCS #12 to `FILE`")
	c.Flags().StringVar(&passFile, "pass-file", "", "`FILE` whose first line is the PKCS #12 password")
	c.Flags().BoolVar(&legacy, "legacy", false, "3DES/SHA-1 PKCS #12 for old clients and gpgsm")
	return c
}

func newCertImportCommand() *cobra.Command {
	var passFile string
	c := &cobra.Command{
		Use:   "import FILE [--pass-file FILE]",
		Short: "Import another CA's certificate, or a PKCS #12 with its key",
		Long: `Import keeps mailbox certificates of other CAs as third-party certificates
(PEM, DER or PKCS #7). A PKCS #12 (with --pass-file) brings its key too, sealed
like Signet's own, so the identity can sign and decrypt.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if certs, perr := keyfile.ParseCertificates(data); perr == nil {
				// Mailbox certificates are imported; CA certificates in the
				// same file (a chain) are passed over. All are checked first,
				// so that a refusal changes nothing.
				var leaves, cas []*x509.Certificate
				for _, cert := range certs {
					if cert.IsCA {
						cas = append(cas, cert)
						continue
					}
					if err := svc.CheckImport(c.Context(), cert, nil); err != nil {
						return err
					}
					leaves = append(leaves, cert)
				}
				if len(leaves) == 0 {
					return fmt.Errorf("%s holds only CA certificates, and CA certificates belong in the trust collection, not among mailbox certificates", args[0])
				}
				for _, cert := range cas {
					fmt.Fprintf(c.ErrOrStderr(), "signet: note: skipping CA certificate %s (CA certificates belong in the trust collection)\n", cert.Subject)
				}
				for _, cert := range leaves {
					if err := svc.Import(c.Context(), cert, nil); err != nil {
						return err
					}
					fmt.Fprintf(c.OutOrStdout(), "imported %s (certificate only)\n", cert.Subject)
				}
				return nil
			}
			pass := ""
			if passFile != "" {
				if pass, err = keyfile.ReadPassFile(passFile); err != nil {
					return err
				}
			}
			key, cert, _, err := keyfile.LoadPKCS12(args[0], pass)
			if err != nil {
				return fmt.Errorf("%s is neither certificates nor a PKCS #12 this password opens: %w", args[0], err)
			}
			if err := svc.Import(c.Context(), cert, key); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "imported %s with its key\n", cert.Subject)
			return nil
		},
	}
	c.Flags().StringVar(&passFile, "pass-file", "", "`FILE` whose first line is the PKCS #12 password")
	return c
}
