package main

import (
	"crypto"
	"crypto/x509"
	"errors"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/smime"
	"github.com/spf13/cobra"
)

func newSignCommand() *cobra.Command {
	var (
		files   ioFlags
		id      identityFlags
		chain   string
		opaque  bool
		digest  string
		pss     bool
		useSKI  bool
		noCerts bool
		encCert string
	)
	c := &cobra.Command{
		Use:   "sign --cert FILE --key FILE [--chain FILE] [--opaque] [--digest sha256|sha384|sha512] [--in FILE] [--out FILE]",
		Short: "Sign a message (clear-signed multipart/signed by default)",
		Long: `Sign reads an RFC 5322 message and writes it signed.

The message fields (From, To, Subject, Date, Message-ID …) stay outside; the
content is canonicalised to CRLF and made 7-bit safe (8-bit or long-lined
bodies are re-encoded as quoted-printable or base64) before it is signed.
The default is a clear signature (multipart/signed, readable without
S/MIME support); --opaque writes application/pkcs7-mime signed-data.

Signing is refused when the From address is not in the certificate (SAN
rfc822Name or subject emailAddress).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var h crypto.Hash
			switch digest {
			case "sha256":
				h = crypto.SHA256
			case "sha384":
				h = crypto.SHA384
			case "sha512":
				h = crypto.SHA512
			default:
				return usagef("--digest must be sha256, sha384 or sha512 (SHA-1 is not offered for new signatures)")
			}
			cert, key, extra, err := id.load()
			if err != nil {
				return err
			}
			signer, ok := key.(crypto.Signer)
			if !ok {
				return errors.New("the private key cannot sign")
			}
			var chainCerts []*x509.Certificate
			if chain != "" {
				if chainCerts, err = keyfile.LoadCertificates(chain); err != nil {
					return err
				}
			}
			chainCerts = append(chainCerts, extra...)
			in, err := files.open(c)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := files.create(c)
			if err != nil {
				return err
			}
			s := &cms.Signer{Certificate: cert, Key: signer, Digest: h, PSS: pss, SubjectKeyID: useSKI}
			s.ExtraAttributes = defaultCapabilities()
			pref := cert
			if encCert != "" {
				ec, err := keyfile.LoadCertificates(encCert)
				if err != nil {
					return err
				}
				pref = ec[0]
				chainCerts = append(chainCerts, pref) // correspondents need it to encrypt
			}
			if encCert != "" || canEncrypt(cert) {
				s.ExtraAttributes = append(s.ExtraAttributes, cms.EncryptionKeyPreferenceAttribute(pref))
			}
			opts := &smime.SignOptions{Opaque: opaque, Chain: chainCerts}
			if noCerts {
				opts.Chain = nil
			}
			if err := smime.Sign(out, in, opts, s); err != nil {
				out.Abort()
				return err
			}
			return out.Commit()
		},
	}
	files.add(c, "write the signed message to `FILE` (default standard output)")
	id.add(c, "signer's")
	c.Flags().StringVar(&chain, "chain", "", "intermediate certificates `FILE` to include (PEM or DER)")
	c.Flags().BoolVar(&opaque, "opaque", false, "write application/pkcs7-mime signed-data instead of multipart/signed")
	c.Flags().StringVar(&digest, "digest", "sha256", "digest algorithm: sha256, sha384 or sha512 (Ed25519 always uses sha512)")
	c.Flags().BoolVar(&pss, "pss", false, "sign with RSASSA-PSS instead of PKCS #1 v1.5 (RSA keys)")
	c.Flags().BoolVar(&useSKI, "ski", false, "identify the signer by subject key identifier instead of issuer and serial")
	c.Flags().BoolVar(&noCerts, "no-chain", false, "include only the signer's certificate")
	c.Flags().StringVar(&encCert, "encryption-cert", "", "announce this certificate `FILE` as the one to encrypt to (SMIMEEncryptionKeyPreference) and include it")
	return c
}

// canEncrypt reports whether a certificate's key usage allows receiving
// encrypted mail (no key usage extension allows everything).
func canEncrypt(c *x509.Certificate) bool {
	return c.KeyUsage == 0 || c.KeyUsage&(x509.KeyUsageKeyEncipherment|x509.KeyUsageKeyAgreement) != 0
}

// defaultCapabilities announces what Signet reads (RFC 8551 2.5.2), in
// order of preference.
func defaultCapabilities() []cms.Attribute {
	return []cms.Attribute{cms.CapabilitiesAttribute(cms.AES256GCM, cms.AES128GCM, cms.AES256CBC, cms.AES128CBC)}
}
