package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-smime/signet/store"
	"github.com/signet-smime/signet/trust"
	"github.com/spf13/cobra"
)

func newTrustCommand() *cobra.Command {
	c := &cobra.Command{Use: "trust", Short: "The trust collection: the anchors and intermediates validation trusts"}
	c.AddCommand(newTrustImportCommand(), newTrustListCommand(), newTrustRemoveCommand(), newTrustExportCommand())
	return c
}

// trustFile is one parsed import file.
type trustFile struct {
	path   string
	format string
	certs  []*x509.Certificate
	labels map[string]string // fingerprint → SST friendly name
}

// readTrustFile reads and parses one file to import.
func readTrustFile(path string) (*trustFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, format, err := trust.Import(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &trustFile{path: path, format: format, certs: certs, labels: map[string]string{}}
	if format == trust.FormatSST {
		st, err := trust.ReadSST(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, c := range st.Certs {
			if c.FriendlyName != "" {
				f.labels[trust.Fingerprint(c.Cert)] = c.FriendlyName
			}
		}
	}
	return f, nil
}

func newTrustImportCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE...",
		Short: "Add CA certificates to the trust collection (SST, PKCS #7, PEM or DER, detected)",
		Long: `Import reads every FILE (a Microsoft serialized certificate store .sst, a
PKCS #7 certs-only bundle .p7b/.p7c, a PEM bundle or a DER certificate) and
adds its CA certificates to the trust collection. All files are read and
checked first: if one cannot be read, or holds an end-entity certificate,
nothing is imported. Certificates already in the collection are reported
and skipped; expired ones are imported and reported. A self-signed
certificate, or one whose issuer is not in the collection, is an anchor;
one whose issuer is, an intermediate.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var files []*trustFile
			var problems []string
			for _, p := range args {
				f, err := readTrustFile(p)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				files = append(files, f)
			}
			if len(problems) > 0 {
				return fmt.Errorf("nothing imported: %s", strings.Join(problems, "; "))
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			stored, err := svc.Store.ListTrustCerts(c.Context())
			if err != nil {
				return err
			}
			have := map[string]bool{}
			var existing []*x509.Certificate
			for _, tc := range stored {
				have[tc.Fingerprint] = true
				if cert, err := x509.ParseCertificate(tc.DER); err == nil {
					existing = append(existing, cert)
				}
			}
			// The new certificates, in file order, without duplicates.
			type item struct {
				cert *x509.Certificate
				file *trustFile
			}
			var items []item
			var newCerts []*x509.Certificate
			out := c.OutOrStdout()
			for _, f := range files {
				for _, cert := range f.certs {
					fp := trust.Fingerprint(cert)
					if have[fp] {
						fmt.Fprintf(out, "already in the collection: %s (%s)\n", cert.Subject, fp)
						continue
					}
					have[fp] = true
					items = append(items, item{cert, f})
					newCerts = append(newCerts, cert)
				}
			}
			kinds, err := trust.Classify(newCerts, existing)
			if err != nil {
				return fmt.Errorf("nothing imported: %w", err)
			}
			now := time.Now()
			var batch []store.TrustCert
			var expired []*x509.Certificate
			for i, it := range items {
				fp := trust.Fingerprint(it.cert)
				label := it.file.labels[fp]
				if label == "" {
					label = it.cert.Subject.CommonName
				}
				tc := store.TrustCert{Fingerprint: fp, Subject: it.cert.Subject.String(), Issuer: it.cert.Issuer.String(),
					NotBefore: it.cert.NotBefore, NotAfter: it.cert.NotAfter, DER: it.cert.Raw, Kind: kinds[i],
					Label: label, Source: fmt.Sprintf("%s (%s)", filepath.Base(it.file.path), it.file.format)}
				if _, err := svc.Store.GetTrustCert(c.Context(), fp); err == nil {
					fmt.Fprintf(out, "already in the collection: %s (%s)\n", tc.Subject, fp)
					continue
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				batch = append(batch, tc)
				if now.After(it.cert.NotAfter) {
					expired = append(expired, it.cert)
				}
			}
			// One transaction: a failure imports nothing.
			if err := svc.Store.PutTrustCerts(c.Context(), batch, svc.Actor); err != nil {
				return fmt.Errorf("nothing imported: %w", err)
			}
			for _, tc := range batch {
				fmt.Fprintf(out, "added %s %s (%s)\n", tc.Kind, tc.Subject, tc.Fingerprint)
			}
			for _, x := range expired {
				fmt.Fprintf(out, "expired on %s: %s (%s)\n", x.NotAfter.UTC().Format(time.DateOnly), x.Subject, trust.Fingerprint(x))
			}
			added := len(batch)
			fmt.Fprintf(out, "imported %d certificate(s)\n", added)
			return nil
		},
	}
}

// trustRow is one line of "trust list".
type trustRow struct {
	Subject  string    `json:"subject"`
	SHA256   string    `json:"sha256"`
	NotAfter time.Time `json:"not_after"`
	Kind     string    `json:"kind"`
	Label    string    `json:"label"`
	Source   string    `json:"source"`
	Expired  bool      `json:"expired"`
}

func newTrustListCommand() *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use: "list [--json]", Short: "List the trust collection, earliest expiry first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			tcs, err := svc.Store.ListTrustCerts(c.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			rows := []trustRow{}
			for _, tc := range tcs {
				rows = append(rows, trustRow{Subject: tc.Subject, SHA256: tc.Fingerprint, NotAfter: tc.NotAfter.UTC(),
					Kind: tc.Kind, Label: tc.Label, Source: tc.Source, Expired: now.After(tc.NotAfter)})
			}
			if jsonOut {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBJECT\tSHA-256\tNOT AFTER\tKIND")
			for _, r := range rows {
				na := r.NotAfter.Format(time.DateOnly)
				if r.Expired {
					na += " (expired)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Subject, r.SHA256, na, r.Kind)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(rows) == 0 {
				fmt.Fprintln(c.OutOrStdout(), "the trust collection is empty")
				return nil
			}
			fmt.Fprintf(c.OutOrStdout(), "earliest expiry: %s %s\n", rows[0].NotAfter.Format(time.DateOnly), rows[0].Subject)
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return c
}

func newTrustRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove FINGERPRINT",
		Short: "Remove a certificate from the trust collection (SHA-256, or a unique prefix of at least 8 hex digits)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			prefix := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(args[0])))
			if len(prefix) < 8 || len(prefix) > 64 || strings.Trim(prefix, "0123456789abcdef") != "" {
				return usagef("FINGERPRINT must be SHA-256 hex, or a prefix of at least 8 hex digits (got %q)", args[0])
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			tcs, err := svc.Store.ListTrustCerts(c.Context())
			if err != nil {
				return err
			}
			var match []store.TrustCert
			for _, tc := range tcs {
				if strings.HasPrefix(tc.Fingerprint, prefix) {
					match = append(match, tc)
				}
			}
			switch len(match) {
			case 0:
				return fmt.Errorf("no certificate %s in the trust collection", prefix)
			case 1:
			default:
				var fps []string
				for _, m := range match {
					fps = append(fps, m.Fingerprint)
				}
				return fmt.Errorf("%s matches %d certificates (%s): give more digits", prefix, len(match), strings.Join(fps, ", "))
			}
			if err := svc.Store.DeleteTrustCert(c.Context(), match[0].Fingerprint, svc.Actor); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "removed %s %s (%s)\n", match[0].Kind, match[0].Subject, match[0].Fingerprint)
			return nil
		},
	}
}

func newTrustExportCommand() *cobra.Command {
	var format, outPath string
	c := &cobra.Command{
		Use:   "export --format sst|p7b|pem --out FILE",
		Short: "Write the trust collection as an SST (for Exchange), a PKCS #7 bundle or PEM",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var write func([]*x509.Certificate) []byte
			switch format {
			case "sst":
				write = trust.WriteSST
			case "p7b":
				write = trust.WriteP7B
			case "pem":
				write = trust.WritePEM
			default:
				return usagef("--format must be sst, p7b or pem")
			}
			if outPath == "" {
				return usagef("give --out FILE")
			}
			svc, err := openService(c.Context())
			if err != nil {
				return err
			}
			defer svc.Close()
			tcs, err := svc.Store.ListTrustCerts(c.Context())
			if err != nil {
				return err
			}
			var certs []*x509.Certificate
			for _, tc := range tcs {
				cert, err := x509.ParseCertificate(tc.DER)
				if err != nil {
					return fmt.Errorf("stored trust certificate %s: %w", tc.Fingerprint, err)
				}
				certs = append(certs, cert)
			}
			if err := writeFileAtomic(outPath, write(certs), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %d certificate(s) to %s\n", len(certs), outPath)
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "", "`sst`, p7b or pem")
	c.Flags().StringVar(&outPath, "out", "", "the output `FILE`")
	return c
}
