package main

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/smime"
	"github.com/spf13/cobra"
)

func newDemoCommand() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Create throw-away test identities and round-trip a message",
		Long: `Demo creates a throw-away certificate authority and two S/MIME identities
(alice@example.org with an ECDSA P-256 key, bob@example.org with RSA-2048),
writes them to --dir (a new temporary folder by default), then signs a
message as alice, encrypts it for bob, decrypts it as bob and verifies
alice's signature, printing each step and the commands to repeat it.

The identities are for trying Signet only: their keys are written in
plain text to the demo folder.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				var err error
				if dir, err = os.MkdirTemp("", "signet-demo-"); err != nil {
					return err
				}
			} else if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			return runDemo(c, dir)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "write the demo files to `DIR` (default: a new temporary folder)")
	return c
}

func runDemo(c *cobra.Command, dir string) error {
	w := c.OutOrStdout()
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	ca, err := testpki.NewCA("Signet Demo CA")
	if err != nil {
		return err
	}
	alice, err := ca.Issue("alice@example.org", testpki.P256, nil)
	if err != nil {
		return err
	}
	bob, err := ca.Issue("bob@example.org", testpki.RSA2048, nil)
	if err != nil {
		return err
	}
	caPath := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caPath, testpki.CertPEM(ca.Cert), 0o644); err != nil {
		return err
	}
	for name, id := range map[string]*testpki.Identity{"alice": alice, "bob": bob} {
		if _, _, _, err := id.WriteFiles(dir, name); err != nil {
			return err
		}
	}
	p("1. created a throw-away CA and two identities in %s", dir)
	p("   alice@example.org (ECDSA P-256), bob@example.org (RSA-2048), ca.crt")

	msg := "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Signet demo\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nHello Bob, this message is signed and encrypted.\r\n"
	msgPath := filepath.Join(dir, "message.eml")
	if err := os.WriteFile(msgPath, []byte(msg), 0o644); err != nil {
		return err
	}
	var signed, encrypted, decrypted, inner bytes.Buffer
	s := &cms.Signer{Certificate: alice.Cert, Key: alice.Signer(), ExtraAttributes: defaultCapabilities()}
	if err := smime.Sign(&signed, strings.NewReader(msg), nil, s); err != nil {
		return err
	}
	p("2. signed as alice (multipart/signed, ECDSA with SHA-256): %d bytes", signed.Len())
	r, err := cms.NewRecipient(bob.Cert, nil)
	if err != nil {
		return err
	}
	if err := smime.Encrypt(&encrypted, bytes.NewReader(signed.Bytes()), nil, r); err != nil {
		return err
	}
	encPath := filepath.Join(dir, "message.signed.encrypted.eml")
	if err := os.WriteFile(encPath, encrypted.Bytes(), 0o644); err != nil {
		return err
	}
	p("3. encrypted for bob (AES-256-GCM AuthEnvelopedData, RSA key transport): %s", encPath)
	d, err := smime.Decrypt(&decrypted, bytes.NewReader(encrypted.Bytes()), nil, &cms.Identity{Certificate: bob.Cert, Key: bob.Key})
	if err != nil {
		return err
	}
	p("4. decrypted as bob: %s, authenticated=%v, inner content %s", d.Cipher, d.Authenticated, d.InnerType)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	v, err := smime.Verify(&inner, bytes.NewReader(decrypted.Bytes()), &smime.VerifyOptions{Roots: roots})
	if err != nil {
		return err
	}
	if !v.OK() {
		return fmt.Errorf("demo verification failed: %s", v.Reason())
	}
	p("5. verified: signed by %s, chain trusted, From matches", v.Signers[0].Subject)
	if !strings.Contains(inner.String(), "Hello Bob") {
		return fmt.Errorf("demo: the round-tripped message lost its text")
	}
	p("   round trip OK: the text came back unchanged")
	p("")
	p("Do it yourself:")
	p("  cd %s", dir)
	p("  signet sign --cert alice.crt --key alice.key --in message.eml --out signed.eml")
	p("  signet encrypt --to bob.crt --in signed.eml --out encrypted.eml")
	p("  signet decrypt --cert bob.crt --key bob.key --in encrypted.eml --out decrypted.eml")
	p("  signet verify --trust ca.crt --in decrypted.eml")
	p("  openssl cms -decrypt -recip bob.crt -inkey bob.key -in encrypted.eml | openssl cms -verify -CAfile ca.crt")
	return nil
}
