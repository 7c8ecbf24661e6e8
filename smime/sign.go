package smime

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"io"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/smime/internal/mimeio"
)

// SignOptions control Sign.
type SignOptions struct {
	// Opaque writes application/pkcs7-mime signed-data instead of the
	// default clear-signed multipart/signed.
	Opaque bool
	// Chain certificates to include besides the signers' own.
	Chain []*x509.Certificate
	// AllowFromMismatch signs even when the From address is not in a
	// signer's certificate.
	AllowFromMismatch bool
	// TempDir holds encrypted spool files; the system's when empty.
	TempDir string
}

// micalg names a digest as RFC 8551 3.5.3.3 asks.
func micalg(h crypto.Hash) string {
	switch h {
	case crypto.SHA384:
		return "sha-384"
	case crypto.SHA512:
		return "sha-512"
	case crypto.SHA1:
		return "sha-1"
	}
	return "sha-256"
}

// Sign reads an RFC 5322 message from src and writes it to dst with its body
// signed: the message fields (From, To, Subject …) stay outside, the
// content is canonicalised and made 7-bit safe, then clear-signed
// (multipart/signed) or, with Opaque, wrapped in signed-data.
func Sign(dst io.Writer, src io.Reader, opts *SignOptions, signers ...*cms.Signer) error {
	if opts == nil {
		opts = &SignOptions{}
	}
	if len(signers) == 0 {
		return fmt.Errorf("smime: no signer")
	}
	br := pooledReader(src)
	defer releaseReader(br)
	h, err := mimeio.ReadHeader(br)
	if err != nil {
		return fmt.Errorf("smime: reading the message header: %w", err)
	}
	outer, content := splitHeader(h)
	if !opts.AllowFromMismatch {
		from, err := fromAddress(h)
		if err != nil {
			return fmt.Errorf("smime: %w", err)
		}
		for _, s := range signers {
			if !CertificateHasEmail(s.Certificate, from) {
				return &FromMismatchError{From: from, Emails: CertificateEmails(s.Certificate)}
			}
		}
	}
	if len(content.Fields) == 0 || content.Get("Content-Type") == "" {
		content.Set("Content-Type", "text/plain; charset=utf-8")
	}
	// The entity writer spools each body once to classify it, then streams
	// the canonical entity into the digest and the output in one pass. A
	// seekable source (a file) is classified in place instead, and when the
	// whole body is 7-bit safe it is streamed with no spool at all.
	ew := &entityWriter{tempDir: opts.TempDir, sevenBit: true}
	var body io.Reader = br
	if rs, ok := src.(io.ReadSeeker); ok {
		if pos, err := rs.Seek(0, io.SeekCurrent); err == nil {
			start := pos - int64(br.Buffered())
			var cls mimeio.Classifier
			if _, err := copyPooled(&cls, br); err != nil {
				return err
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return err
			}
			ew.knownSafe = sevenBitSafe(&cls)
			br.Reset(rs) // the header was read: reuse the reader for the body
			body = br
		}
	}
	if err := writeCanonical(dst, outer.Bytes()); err != nil {
		return err
	}
	cmsOpts := &cms.SignOptions{Detached: !opts.Opaque, Certificates: opts.Chain}
	if opts.Opaque {
		if err := writePKCS7MimeHeader(dst, "signed-data", "S/MIME Signed Message"); err != nil {
			return err
		}
		b64 := mimeio.NewBase64Writer(dst)
		sw, err := cms.Sign(b64, cmsOpts, signers...)
		if err != nil {
			return err
		}
		if err := ew.write(sw, content, body); err != nil {
			return err
		}
		if err := sw.Close(); err != nil {
			return err
		}
		return b64.Close()
	}
	boundary := mimeio.RandomBoundary()
	alg := micalg(signerDigest(signers[0]))
	if _, err := fmt.Fprintf(dst, "MIME-Version: 1.0\r\n"+
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=%s;\r\n boundary=\"%s\"\r\n\r\n"+
		"This is a cryptographically signed message in MIME format.\r\n\r\n--%s\r\n", alg, boundary, boundary); err != nil {
		return err
	}
	var sig sigBuffer
	sw, err := cms.Sign(&sig, cmsOpts, signers...)
	if err != nil {
		return err
	}
	if err := ew.write(io.MultiWriter(sw, dst), content, body); err != nil {
		return err
	}
	if err := sw.Close(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(dst, "\r\n--%s\r\n"+
		"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"+
		"Content-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename=smime.p7s\r\n"+
		"Content-Description: S/MIME Cryptographic Signature\r\n\r\n", boundary); err != nil {
		return err
	}
	b64 := mimeio.NewBase64Writer(dst)
	if _, err := b64.Write(sig.b); err != nil {
		return err
	}
	if err := b64.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(dst, "\r\n--%s--\r\n", boundary)
	return err
}

// sigBuffer collects a detached signature (small: certificates and signer infos).
type sigBuffer struct{ b []byte }

func (s *sigBuffer) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }

func signerDigest(s *cms.Signer) crypto.Hash {
	if _, ok := s.Key.Public().(ed25519.PublicKey); ok {
		return crypto.SHA512
	}
	if s.Digest != 0 {
		return s.Digest
	}
	return crypto.SHA256
}

// FromMismatchError says the sender's address is not in the certificate.
type FromMismatchError struct {
	From   string
	Emails []string
}

func (e *FromMismatchError) Error() string {
	return fmt.Sprintf("smime: From address %s is not in the signer's certificate (which names %v)", e.From, e.Emails)
}
