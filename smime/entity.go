package smime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"sync"

	"github.com/signet-smime/signet/internal/spool"
	"github.com/signet-smime/signet/smime/internal/mimeio"
)

// splitHeader separates the fields that describe the content (Content-*),
// which move into the protected entity, from the message fields (From, To,
// Subject, Date, Message-ID …), which stay outside. MIME-Version is dropped
// from both: the writer adds its own.
func splitHeader(h mimeio.Header) (outer, content mimeio.Header) {
	for _, f := range h.Fields {
		name := strings.ToLower(f.Name)
		switch {
		case strings.HasPrefix(name, "content-"):
			content.Fields = append(content.Fields, f)
		case name == "mime-version":
		default:
			outer.Fields = append(outer.Fields, f)
		}
	}
	return outer, content
}

// writeCanonical writes b with every line ending made CRLF.
func writeCanonical(w io.Writer, b []byte) error {
	cw := mimeio.NewCanonicalWriter(w)
	if _, err := cw.Write(b); err != nil {
		return err
	}
	return cw.Close()
}

// entityWriter turns a MIME entity into its canonical, 7-bit-safe form
// (RFC 8551 3.1): CRLF line endings, and any 8-bit, binary or over-long
// body re-encoded as quoted-printable (text) or base64, part by part in
// multiparts. Bodies are spooled (encrypted) so memory stays flat.
type entityWriter struct {
	tempDir   string
	sevenBit  bool // re-encode for 7-bit transport (signing); false keeps 8bit text (encryption)
	knownSafe bool // the whole body is known to be 7-bit safe: canonicalise only
	depth     int
}

// sevenBitSafe reports whether classified content can be signed as it is,
// once its line endings are CRLF: no 8-bit byte, NUL or bare CR, and no line
// over 998 bytes (RFC 8551 3.1.1, RFC 5322 2.1.1).
func sevenBitSafe(c *mimeio.Classifier) bool {
	return !c.Has8Bit() && !c.HasNUL() && !c.HasBareCR() && c.MaxLineLen() <= mimeio.MaxLine7Bit
}

// writeCanonicalEntity writes header, blank line and body, all with CRLF
// line endings.
func writeCanonicalEntity(w io.Writer, h mimeio.Header, body io.Reader) error {
	if err := writeCanonical(w, append(h.Bytes(), '\n')); err != nil {
		return err
	}
	cw := mimeio.NewCanonicalWriter(w)
	if _, err := copyPooled(cw, body); err != nil {
		return err
	}
	return cw.Close()
}

const maxMultipartDepth = 32

// write reads the body of an entity with header h from body and writes the
// canonical entity (header, blank line, body) to w.
func (e *entityWriter) write(w io.Writer, h mimeio.Header, body io.Reader) error {
	mt, params, err := h.ContentType()
	if err != nil || mt == "" {
		mt, params = "text/plain", nil
	}
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if e.knownSafe || (!e.sevenBit && cte != "binary") {
		// 7-bit safe already (the caller classified the whole body), or
		// inside an envelope where 8-bit is fine: canonical line endings,
		// one pass, no spool.
		return writeCanonicalEntity(w, h, body)
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && e.depth < maxMultipartDepth {
		return e.writeMultipart(w, h, params["boundary"], body)
	}
	if !e.sevenBit { // binary inside an envelope: as it is
		if err := writeCanonical(w, append(h.Bytes(), '\n')); err != nil {
			return err
		}
		_, err := copyPooled(w, body)
		return err
	}
	sp, err := spool.New(e.tempDir)
	if err != nil {
		return err
	}
	defer sp.Close()
	var cls mimeio.Classifier
	if _, err := copyPooled(io.MultiWriter(sp, &cls), body); err != nil {
		return err
	}
	r, err := sp.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	if sevenBitSafe(&cls) {
		return writeCanonicalEntity(w, h, r)
	}
	// Re-encode: decode what is there, then base64 or quoted-printable.
	dec, err := mimeio.DecodeTransfer(r, cte)
	if err != nil {
		return fmt.Errorf("smime: cannot re-encode a body with Content-Transfer-Encoding %q: %w", cte, err)
	}
	enc := "base64"
	if strings.HasPrefix(mt, "text/") && cte != "binary" && !cls.HasNUL() {
		enc = "quoted-printable"
	}
	h.Set("Content-Transfer-Encoding", enc)
	if err := writeCanonical(w, append(h.Bytes(), '\n')); err != nil {
		return err
	}
	var bw io.WriteCloser
	if enc == "base64" {
		bw = mimeio.NewBase64Writer(w)
	} else {
		bw = mimeio.NewQPWriter(w)
	}
	if _, err := copyPooled(bw, dec); err != nil {
		return err
	}
	return bw.Close()
}

func (e *entityWriter) writeMultipart(w io.Writer, h mimeio.Header, boundary string, body io.Reader) error {
	if err := writeCanonical(w, append(h.Bytes(), '\n')); err != nil {
		return err
	}
	mr := mimeio.NewMultipartReader(body, boundary)
	first := true
	for {
		part, err := mr.NextPart()
		if first {
			if pre := mr.Preamble(); len(pre) > 0 {
				if err := writeCanonical(w, pre); err != nil {
					return err
				}
				if _, err := io.WriteString(w, "\r\n"); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("smime: reading multipart: %w", err)
		}
		if first {
			_, err = fmt.Fprintf(w, "--%s\r\n", boundary)
		} else {
			_, err = fmt.Fprintf(w, "\r\n--%s\r\n", boundary)
		}
		if err != nil {
			return err
		}
		first = false
		br := bufio.NewReader(part)
		ph, err := mimeio.ReadHeader(br)
		if err != nil {
			return err
		}
		sub := &entityWriter{tempDir: e.tempDir, sevenBit: e.sevenBit, depth: e.depth + 1}
		if err := sub.write(w, ph, br); err != nil {
			return err
		}
	}
	if first {
		return errors.New("smime: multipart without parts")
	}
	if _, err := fmt.Fprintf(w, "\r\n--%s--\r\n", boundary); err != nil {
		return err
	}
	// Keep the epilogue: readers ignore it, but it is the sender's content.
	cw := mimeio.NewCanonicalWriter(w)
	if _, err := copyPooled(cw, mr.Epilogue()); err != nil {
		return err
	}
	return cw.Close()
}

// fromAddress returns the address in the From field, lower-cased.
func fromAddress(h mimeio.Header) (string, error) {
	v := h.Get("From")
	if v == "" {
		return "", errors.New("the message has no From field")
	}
	addrs, err := mail.ParseAddressList(v)
	if err != nil || len(addrs) == 0 {
		return "", fmt.Errorf("cannot parse From %q", v)
	}
	return strings.ToLower(addrs[0].Address), nil
}

// copyBufs recycles the buffers of the many small copies a message needs.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyPooled is io.Copy with a pooled buffer.
func copyPooled(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(dst, src, *bp)
}

// readers recycles the buffered readers each message needs.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// pooledReader returns a buffered reader of r from the pool; give it back
// with releaseReader when the message is done.
func pooledReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func releaseReader(br *bufio.Reader) {
	br.Reset(nil)
	readers.Put(br)
}
