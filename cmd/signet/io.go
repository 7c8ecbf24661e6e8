package main

import (
	"bufio"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/spf13/cobra"
)

// ioFlags are --in and --out, shared by the message verbs.
type ioFlags struct {
	in, out string
}

func (f *ioFlags) add(c *cobra.Command, outHelp string) {
	c.Flags().StringVar(&f.in, "in", "", "read the message from `FILE` (default standard input)")
	c.Flags().StringVar(&f.out, "out", "", outHelp)
}

func (f *ioFlags) open(c *cobra.Command) (io.ReadCloser, error) {
	if f.in == "" || f.in == "-" {
		return io.NopCloser(c.InOrStdin()), nil
	}
	return os.Open(f.in)
}

// output is a destination that appears only when complete: a file is
// written under a temporary name beside the target and renamed on Commit,
// so a failure never leaves a partial or unauthenticated output behind.
type output struct {
	w    *bufio.Writer
	tmp  *os.File
	path string
}

func (f *ioFlags) create(c *cobra.Command) (*output, error) {
	if f.out == "" || f.out == "-" {
		return &output{w: bufio.NewWriterSize(c.OutOrStdout(), 64<<10)}, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.out), "."+filepath.Base(f.out)+".tmp*")
	if err != nil {
		return nil, err
	}
	return &output{w: bufio.NewWriterSize(tmp, 64<<10), tmp: tmp, path: f.out}, nil
}

func (o *output) Write(p []byte) (int, error) { return o.w.Write(p) }

// Commit flushes and, for a file, moves it into place.
func (o *output) Commit() error {
	if err := o.w.Flush(); err != nil {
		o.Abort()
		return err
	}
	if o.tmp == nil {
		return nil
	}
	if err := o.tmp.Close(); err != nil {
		os.Remove(o.tmp.Name())
		return err
	}
	if err := os.Chmod(o.tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(o.tmp.Name(), o.path)
}

// Abort discards the output file; standard output cannot be unwritten, but
// the operations release nothing unauthenticated to it.
func (o *output) Abort() {
	if o.tmp != nil {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
	}
}

// identityFlags are --cert/--key or --p12/--pass-file.
type identityFlags struct {
	cert, key, p12, passFile string
}

func (f *identityFlags) add(c *cobra.Command, what string) {
	c.Flags().StringVar(&f.cert, "cert", "", "the "+what+" certificate `FILE` (PEM or DER)")
	c.Flags().StringVar(&f.key, "key", "", "its private key `FILE` (PEM or DER; PKCS #8, PKCS #1 or SEC 1)")
	c.Flags().StringVar(&f.p12, "p12", "", "a PKCS #12 `FILE` holding certificate and key, instead of --cert and --key")
	c.Flags().StringVar(&f.passFile, "pass-file", "", "`FILE` whose first line is the PKCS #12 password")
}

func (f *identityFlags) load() (*x509.Certificate, crypto.PrivateKey, []*x509.Certificate, error) {
	switch {
	case f.p12 != "" && (f.cert != "" || f.key != ""):
		return nil, nil, nil, usagef("give either --p12 or --cert and --key, not both")
	case f.p12 != "":
		pass := ""
		if f.passFile != "" {
			var err error
			if pass, err = keyfile.ReadPassFile(f.passFile); err != nil {
				return nil, nil, nil, err
			}
		}
		key, cert, chain, err := keyfile.LoadPKCS12(f.p12, pass)
		return cert, key, chain, err
	case f.cert == "" || f.key == "":
		return nil, nil, nil, usagef("--cert and --key are required (or --p12 with --pass-file)")
	}
	certs, err := keyfile.LoadCertificates(f.cert)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := keyfile.LoadPrivateKey(f.key)
	if err != nil {
		return nil, nil, nil, err
	}
	type pub interface{ Public() crypto.PublicKey }
	k, ok := key.(pub)
	if !ok {
		return nil, nil, nil, errors.New("unsupported private key type")
	}
	type eq interface{ Equal(crypto.PublicKey) bool }
	if e, ok := certs[0].PublicKey.(eq); ok && !e.Equal(k.Public()) {
		return nil, nil, nil, fmt.Errorf("the key in %s does not belong to the certificate in %s", f.key, f.cert)
	}
	return certs[0], key, certs[1:], nil
}
