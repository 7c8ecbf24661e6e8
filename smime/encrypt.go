package smime

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/spool"
	"github.com/signet-smime/signet/smime/internal/mimeio"
)

// EncryptOptions control Encrypt.
type EncryptOptions struct {
	// Cipher defaults to AES-256-GCM (AuthEnvelopedData).
	Cipher cms.Cipher
	// TempDir holds encrypted spool files; the system's when empty.
	TempDir string
}

// Encrypt reads an RFC 5322 message from src and writes it to dst with its
// content encrypted for the recipients as application/pkcs7-mime
// (authEnveloped-data for AES-GCM, enveloped-data for AES-CBC). The message
// fields stay outside.
func Encrypt(dst io.Writer, src io.Reader, opts *EncryptOptions, recipients ...cms.Recipient) error {
	if opts == nil {
		opts = &EncryptOptions{}
	}
	c := opts.Cipher
	if c == 0 {
		c = cms.AES256GCM
	}
	br := pooledReader(src)
	defer releaseReader(br)
	h, err := mimeio.ReadHeader(br)
	if err != nil {
		return fmt.Errorf("smime: reading the message header: %w", err)
	}
	outer, content := splitHeader(h)
	if content.Get("Content-Type") == "" {
		content.Set("Content-Type", "text/plain; charset=utf-8")
	}
	smimeType := "enveloped-data"
	if c.Authenticated() {
		smimeType = "authEnveloped-data"
	}
	if err := writeCanonical(dst, outer.Bytes()); err != nil {
		return err
	}
	if err := writePKCS7MimeHeader(dst, smimeType, "S/MIME Encrypted Message"); err != nil {
		return err
	}
	b64 := mimeio.NewBase64Writer(dst)
	ew, err := cms.Encrypt(b64, &cms.EncryptOptions{Cipher: c}, recipients...)
	if err != nil {
		return err
	}
	inner := &entityWriter{tempDir: opts.TempDir}
	if err := inner.write(ew, content, br); err != nil {
		return err
	}
	if err := ew.Close(); err != nil {
		return err
	}
	return b64.Close()
}

// Decrypted describes a decrypted message.
type Decrypted struct {
	cms.DecryptInfo
	// InnerType is the media type of the decrypted entity; a signed inner
	// entity (sign-then-encrypt) still needs Verify.
	InnerType string
	// NotMIME is set when the decrypted content is not a MIME entity (as
	// "openssl cms -encrypt" without -text makes): it was written as the
	// body, unchanged.
	NotMIME bool
}

// Signed reports whether the decrypted content is itself S/MIME signed.
func (d *Decrypted) Signed() bool {
	return d.InnerType == "multipart/signed" || d.InnerType == "application/pkcs7-mime"
}

// DecryptOptions control Decrypt.
type DecryptOptions struct {
	TempDir string
}

// ErrNotEncrypted says the message is not an S/MIME encrypted message.
var ErrNotEncrypted = errors.New("smime: the message is not encrypted (no application/pkcs7-mime enveloped content)")

// Decrypt reads an encrypted S/MIME message from src and writes the
// decrypted message (the outer message fields, then the decrypted entity)
// to dst. Nothing is written to dst unless decryption and, for AES-GCM,
// authentication succeed: the plaintext waits in an encrypted spool.
func Decrypt(dst io.Writer, src io.Reader, opts *DecryptOptions, ids ...*cms.Identity) (*Decrypted, error) {
	if opts == nil {
		opts = &DecryptOptions{}
	}
	br := pooledReader(src)
	defer releaseReader(br)
	h, err := mimeio.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("smime: reading the message header: %w", err)
	}
	outer, _ := splitHeader(h)
	mt, params, _ := h.ContentType()
	if !isPKCS7Mime(mt, params) {
		return nil, ErrNotEncrypted
	}
	if st := strings.ToLower(params["smime-type"]); st == "signed-data" || st == "certs-only" {
		return nil, ErrNotEncrypted
	}
	body, err := mimeio.DecodeTransfer(br, h.Get("Content-Transfer-Encoding"))
	if err != nil {
		return nil, err
	}
	sp, err := spool.New(opts.TempDir)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	info, err := cms.Decrypt(body, sp, ids...)
	if err != nil {
		var cte *cms.ContentTypeError
		if errors.As(err, &cte) {
			return nil, ErrNotEncrypted
		}
		return nil, err
	}
	r, err := sp.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ir := pooledReader(r)
	defer releaseReader(ir)
	ih, err := mimeio.ReadHeader(ir)
	if err != nil && !info.Authenticated && !looksLikeText(sp) {
		// CBC gives no integrity: content that is neither MIME nor plain
		// text (RFC 4134 5.3 encrypts bare text) is most likely the
		// garbage a wrong key makes.
		return nil, cms.ErrDecrypt
	}
	if err != nil {
		// Authentic but not MIME: give the content back as it is.
		raw, rerr := sp.Reader()
		if rerr != nil {
			return nil, rerr
		}
		defer raw.Close()
		if err := writeCanonical(dst, append(outer.Bytes(), '\n')); err != nil {
			return nil, err
		}
		if _, err := copyPooled(dst, raw); err != nil {
			return nil, err
		}
		return &Decrypted{DecryptInfo: *info, NotMIME: true}, nil
	}
	d := &Decrypted{DecryptInfo: *info}
	d.InnerType, _, _ = ih.ContentType()
	if err := writeUnwrapped(dst, outer, ih, ir); err != nil {
		return nil, err
	}
	return d, nil
}

// looksLikeText reports whether the spooled content starts with non-empty
// UTF-8 text without control characters other than tab, form feed and line
// breaks: what a wrong CBC key (random bytes) practically never yields.
func looksLikeText(sp *spool.Spool) bool {
	r, err := sp.Reader()
	if err != nil {
		return false
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	n, _ := io.ReadFull(r, buf)
	b := buf[:n]
	if n == len(buf) {
		// The sample may end inside a character.
		for k := 1; k <= utf8.UTFMax && k <= len(b); k++ {
			if utf8.RuneStart(b[len(b)-k]) {
				if !utf8.FullRune(b[len(b)-k:]) {
					b = b[:len(b)-k]
				}
				break
			}
		}
	}
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7f {
			return false
		}
	}
	return true
}

// writeUnwrapped writes the message that an S/MIME layer protected: the
// outer message fields, one MIME-Version, the inner entity's header (less
// its own MIME-Version) and its body.
func writeUnwrapped(dst io.Writer, outer, inner mimeio.Header, body io.Reader) error {
	inner.Del("MIME-Version")
	if err := writeCanonical(dst, outer.Bytes()); err != nil {
		return err
	}
	if _, err := io.WriteString(dst, "MIME-Version: 1.0\r\n"); err != nil {
		return err
	}
	if err := writeCanonical(dst, inner.Bytes()); err != nil {
		return err
	}
	if _, err := io.WriteString(dst, "\r\n"); err != nil {
		return err
	}
	_, err := copyPooled(dst, body)
	return err
}

// writePKCS7MimeHeader writes the MIME fields of an application/pkcs7-mime
// body (RFC 8551 3.2) and the blank line; the base64 CMS object follows.
func writePKCS7MimeHeader(dst io.Writer, smimeType, description string) error {
	_, err := fmt.Fprintf(dst, "MIME-Version: 1.0\r\n"+
		"Content-Type: application/pkcs7-mime; smime-type=%s; name=smime.p7m\r\n"+
		"Content-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename=smime.p7m\r\n"+
		"Content-Description: %s\r\n\r\n", smimeType, description)
	return err
}

func isPKCS7Mime(mt string, params map[string]string) bool {
	switch mt {
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		return true
	case "application/octet-stream":
		n := strings.ToLower(params["name"])
		return strings.HasSuffix(n, ".p7m")
	}
	return false
}
