package main

import (
	"errors"
	"fmt"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/smime"
	"github.com/spf13/cobra"
)

func newEncryptCommand() *cobra.Command {
	var (
		files  ioFlags
		to     []string
		cipher string
		oaep   bool
		useSKI bool
	)
	c := &cobra.Command{
		Use:   "encrypt --to FILE [--to FILE]... [--cipher aes256-gcm|aes128-gcm|aes256-cbc|aes128-cbc] [--rsa-oaep] [--in FILE] [--out FILE]",
		Short: "Encrypt a message for one or more recipients",
		Long: `Encrypt reads an RFC 5322 message and writes it with its content encrypted
for every --to certificate, as application/pkcs7-mime. The message fields
(From, To, Subject …) stay outside and readable.

The default, aes256-gcm, writes AuthEnvelopedData (RFC 5083): the content
is authenticated as well as encrypted. The CBC ciphers write EnvelopedData
for recipients that cannot read AES-GCM (Thunderbird/NSS, older Outlook);
they do not protect integrity. RSA recipients get the key by PKCS #1 v1.5
(or RSA-OAEP with SHA-256 with --rsa-oaep), EC recipients by ephemeral
ECDH (RFC 5753), X25519 recipients by RFC 8418.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(to) == 0 {
				return usagef("at least one --to FILE (a recipient certificate) is required")
			}
			ci, err := cms.ParseCipher(cipher)
			if err != nil {
				return usageError{err}
			}
			onSend, err := checkOnSend(c.Context())
			if err != nil {
				return err
			}
			var rs []cms.Recipient
			for _, f := range to {
				certs, err := keyfile.LoadCertificates(f)
				if err != nil {
					return err
				}
				if onSend != nil {
					if err := onSend(certs[0], certs[1:]); err != nil {
						return fmt.Errorf("%s: %w", f, err)
					}
				}
				r, err := cms.NewRecipient(certs[0], &cms.RecipientOptions{OAEP: oaep, SubjectKeyID: useSKI})
				if err != nil {
					return errors.New(f + ": " + err.Error())
				}
				rs = append(rs, r)
			}
			in, err := files.open(c)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := files.create(c)
			if err != nil {
				return err
			}
			if err := smime.Encrypt(out, in, &smime.EncryptOptions{Cipher: ci}, rs...); err != nil {
				out.Abort()
				return err
			}
			return out.Commit()
		},
	}
	files.add(c, "write the encrypted message to `FILE` (default standard output)")
	c.Flags().StringArrayVar(&to, "to", nil, "recipient certificate `FILE` (PEM or DER; repeatable; the first certificate in each file)")
	c.Flags().StringVar(&cipher, "cipher", "aes256-gcm", "content cipher: aes256-gcm, aes128-gcm, aes256-cbc or aes128-cbc")
	c.Flags().BoolVar(&oaep, "rsa-oaep", false, "deliver the key to RSA recipients with RSAES-OAEP (SHA-256)")
	c.Flags().BoolVar(&useSKI, "ski", false, "identify recipients by subject key identifier instead of issuer and serial")
	return c
}
