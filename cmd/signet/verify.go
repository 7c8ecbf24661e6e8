package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/smime"
	"github.com/spf13/cobra"
)

func newVerifyCommand() *cobra.Command {
	var (
		files   ioFlags
		trust   []string
		jsonOut bool
		at      string
		certs   []string
		crls    []string
		offline bool
	)
	c := &cobra.Command{
		Use:   "verify [--trust FILE] [--crl FILE]... [--in FILE] [--out FILE] [--json] [--at RFC3339] [--offline]",
		Short: "Verify a signed message and report on every signer",
		Long: `Verify checks an S/MIME signed message (clear or opaque) and prints a
report on standard output: per signer the certificate, whether the
signature is good, whether the chain reaches a --trust anchor for e-mail
protection, whether the From address is in the certificate, the signing
time and any weak algorithm, and which part of the message is signed.

It exits 0 only when the whole message is signed and every signer passes
every check; otherwise it prints a one-line reason on standard error and
exits 1. --out receives the signed inner message, and only when every
signature is cryptographically valid. A signature over a part of the
message (say, a forwarded signed message inside multipart/mixed) does not
make the message signed.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var extra []*x509.Certificate
			for _, f := range certs {
				cs, err := keyfile.LoadCertificates(f)
				if err != nil {
					return err
				}
				extra = append(extra, cs...)
			}
			tin, err := readTrust(trust, crls, dataFolderTrust(c.Context()))
			if err != nil {
				return err
			}
			if err := tin.setFetcher(c.Context(), offline); err != nil {
				return err
			}
			when := time.Now()
			atSource := "now"
			atSigning := at == "signing-time"
			if atSigning {
				atSource = "each signer's claimed signing time (now where none is claimed)"
			} else if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usagef("--at: %v (want RFC 3339, e.g. 2026-01-31T12:00:00Z, or signing-time)", err)
				}
				when, atSource = t, "--at"
			}
			in, err := files.open(c)
			if err != nil {
				return err
			}
			defer in.Close()
			var out *output
			var dst io.Writer
			if files.out != "" {
				if out, err = files.create(c); err != nil {
					return err
				}
				dst = out
			}
			v, err := smime.Verify(dst, in, &smime.VerifyOptions{Intermediates: extra, At: when, Validate: tin.validator(), AtSigningTime: atSigning})
			if err != nil {
				if out != nil {
					out.Abort()
				}
				return err
			}
			if jsonOut {
				rep := struct {
					OK     bool   `json:"ok"`
					Reason string `json:"reason,omitempty"`
					*smime.Verified
				}{v.OK(), v.Reason(), v}
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printReport(c.OutOrStdout(), v, atSource)
			}
			if !v.OK() {
				if out != nil {
					out.Abort()
				}
				return failure{"verification failed: " + v.Reason()}
			}
			if out != nil {
				return out.Commit()
			}
			return nil
		},
	}
	files.add(c, "write the signed inner message to `FILE` (only when every signature is valid)")
	c.Flags().StringArrayVar(&trust, "trust", nil, "trust anchors `FILE` (PEM, DER or PKCS #7; repeatable; default: the data folder's trust collection and CA)")
	c.Flags().StringArrayVar(&crls, "crl", nil, "revocation data: a CRL `FILE` (DER or PEM; repeatable); CRLs carried in the message count too")
	c.Flags().BoolVar(&offline, "offline", false, "never fetch CRLs or ask OCSP responders (privacy); revocation is then checked only against --crl files and CRLs in the message")
	c.Flags().StringArrayVar(&certs, "certfile", nil, "extra intermediate certificates `FILE` (repeatable)")
	c.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON")
	c.Flags().StringVar(&at, "at", "", "validate certificates at this `TIME` (RFC 3339; default now), or \"signing-time\": at each signer's claimed signing time, for old mail")
	return c
}

func printReport(w io.Writer, v *smime.Verified, atSource string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	form := "clear (multipart/signed)"
	if v.Opaque {
		form = "opaque (application/pkcs7-mime signed-data)"
	}
	if v.Signed {
		p("signed:        yes, %s, over the whole message", form)
	} else {
		p("signed:        no: %s", v.Note)
	}
	p("validated at:  %s (%s)", v.At.UTC().Format(time.RFC3339), atSource)
	p("from:          %s", orNone(v.From))
	for i, s := range v.Signers {
		p("signer %d:      %s", i+1, orNone(s.Subject))
		p("  issuer:      %s", orNone(s.Issuer))
		p("  serial:      %s", orNone(s.Serial))
		p("  sha256:      %s", orNone(s.Fingerprint))
		p("  emails:      %s", orNone(strings.Join(s.Emails, ", ")))
		if s.SignatureOK {
			p("  signature:   good (%s, %s)", s.Algorithm, s.Digest)
		} else {
			p("  signature:   BAD: %s", s.SignatureErr)
		}
		if s.ChainOK {
			p("  chain:       trusted: %s", strings.Join(s.Chain, " <- "))
		} else {
			p("  chain:       NOT TRUSTED: %s", s.ChainErr)
		}
		if !s.ValidatedAt.Equal(v.At) && !s.ValidatedAt.IsZero() {
			p("  checked at:  %s (the signing time the signer claims; not proven by a time-stamp)", s.ValidatedAt.UTC().Format(time.RFC3339))
		}
		if s.ChainCode != 0 {
			p("  status:      %d %s", s.ChainCode, statusNames[s.ChainCode])
		}
		if s.Revocation != "" {
			p("  revocation:  %s", s.Revocation)
		}
		if s.FromNote != "" {
			p("  from match:  n/a: %s", s.FromNote)
		} else if s.FromMatches {
			p("  from match:  yes")
		} else {
			p("  from match:  NO (%s not in the certificate)", orNone(v.From))
		}
		if !s.SigningTime.IsZero() {
			p("  signed at:   %s (claimed by the signer)", s.SigningTime.UTC().Format(time.RFC3339))
		}
		if len(s.Capabilities) > 0 {
			p("  reads:       %s", strings.Join(s.Capabilities, ", "))
		}
		if s.EncryptionCertificate != nil {
			p("  encrypt to:  %s (serial %x)", s.EncryptionCertificate.Subject, s.EncryptionCertificate.SerialNumber)
		}
		if len(s.Weak) > 0 {
			p("  weak:        %s", strings.Join(s.Weak, "; "))
		}
	}
	if v.InnerType == "application/pkcs7-mime" || v.InnerType == "multipart/signed" {
		p("inner content: %s (decrypt or verify the --out message next)", v.InnerType)
	}
	if v.OK() {
		p("result:        GOOD")
	} else {
		p("result:        FAILED: %s", v.Reason())
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
