package mimeio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
)

// ErrUnknownEncoding is returned by DecodeTransfer for a
// Content-Transfer-Encoding it does not implement.
var ErrUnknownEncoding = errors.New("mimeio: unknown Content-Transfer-Encoding")

var (
	errWriterClosed   = errors.New("mimeio: write after Close")
	errBase64AfterPad = errors.New("mimeio: base64 data after padding")
)

// base64LineLen is the encoded line length used by NewBase64Writer
// (RFC 2045 §6.8 allows at most 76).
const base64LineLen = 76

// canonicalWriter converts every line break to CRLF.
type canonicalWriter struct {
	dst    io.Writer
	cr     bool // the last input byte was a CR whose CRLF is not yet written
	out    [4096]byte
	err    error
	closed bool
}

// NewCanonicalWriter returns a writer that converts bare LF and bare CR to
// CRLF and leaves CRLF alone, carrying state across Write calls (a CR at
// the end of one Write and an LF at the start of the next form one CRLF).
// Close writes the CRLF for a trailing bare CR; it does not close dst.
func NewCanonicalWriter(dst io.Writer) io.WriteCloser {
	return &canonicalWriter{dst: dst}
}

func (c *canonicalWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, errWriterClosed
	}
	total := len(p)
	o := 0 // bytes pending in c.out
	for len(p) > 0 {
		if c.cr {
			c.cr = false
			if o, c.err = c.emit(o, crlf); c.err != nil {
				return 0, c.err
			}
			if p[0] == '\n' {
				p = p[1:]
			}
			continue
		}
		// Runs that are already canonical go out as they are.
		if n := canonicalPrefix(p); n > 0 {
			if o, c.err = c.emit(o, p[:n]); c.err != nil {
				return 0, c.err
			}
			p = p[n:]
			continue
		}
		// p[0] is a bare LF, or a CR not followed by LF in p.
		if p[0] == '\r' {
			c.cr = true // its LF may start the next Write
		} else if o, c.err = c.emit(o, crlf); c.err != nil {
			return 0, c.err
		}
		p = p[1:]
	}
	if err := c.flush(o); err != nil {
		return 0, err
	}
	return total, nil
}

var (
	crlf = []byte("\r\n")
	cr   = []byte("\r")
)

// emit appends b to the o pending bytes of c.out, writing through when b is
// large or the buffer is full, and returns the new pending count.
func (c *canonicalWriter) emit(o int, b []byte) (int, error) {
	if len(b) > len(c.out)/2 {
		if err := c.flush(o); err != nil {
			return 0, err
		}
		_, err := c.dst.Write(b)
		return 0, err
	}
	if o+len(b) > len(c.out) {
		if err := c.flush(o); err != nil {
			return 0, err
		}
		o = 0
	}
	return o + copy(c.out[o:], b), nil
}

// canonicalPrefix returns the length of the longest prefix of p in which
// every LF is preceded by CR and every CR is followed by LF.
func canonicalPrefix(p []byte) int {
	// Fast path: every LF follows a CR and there are as many CRs as LFs,
	// so there is no bare CR either (one vectorised count, one scan for LF).
	if last := bytes.LastIndexByte(p, '\n'); last > 0 {
		q := p[:last+1]
		crs := bytes.Count(q, cr)
		lfs, ok := 0, true
		for i := 0; ok && i < len(q); {
			j := bytes.IndexByte(q[i:], '\n')
			ok = i+j > 0 && q[i+j-1] == '\r'
			lfs++
			i += j + 1
		}
		if ok && crs == lfs {
			// The rest has no LF; it is canonical up to its first CR.
			if k := bytes.IndexByte(p[len(q):], '\r'); k >= 0 {
				return len(q) + k
			}
			return len(p)
		}
	}
	i := 0
	for i < len(p) {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			if k := bytes.IndexByte(p[i:], '\r'); k >= 0 {
				return i + k
			}
			return len(p)
		}
		switch k := bytes.IndexByte(p[i:i+j], '\r'); {
		case k < 0: // bare LF
			return i + j
		case k < j-1: // bare CR inside the line
			return i + k
		}
		i += j + 1 // a CRLF-terminated line
	}
	return i
}

func (c *canonicalWriter) flush(n int) error {
	if n == 0 {
		return nil
	}
	if _, err := c.dst.Write(c.out[:n]); err != nil {
		c.err = err
		return err
	}
	return nil
}

func (c *canonicalWriter) Close() error {
	if c.closed {
		return c.err
	}
	c.closed = true
	if c.err != nil {
		return c.err
	}
	if c.cr {
		c.cr = false
		c.out[0], c.out[1] = '\r', '\n'
		return c.flush(2)
	}
	return nil
}

// lineWrapper inserts CRLF after every base64LineLen bytes.
type lineWrapper struct {
	dst io.Writer
	col int
	out [1024]byte
	err error
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	total := len(p)
	o := 0
	for len(p) > 0 {
		if o > len(l.out)-base64LineLen-2 {
			if err := l.flush(o); err != nil {
				return 0, err
			}
			o = 0
		}
		n := copy(l.out[o:o+min(len(p), base64LineLen-l.col)], p)
		o += n
		p = p[n:]
		l.col += n
		if l.col == base64LineLen {
			l.out[o], l.out[o+1] = '\r', '\n'
			o += 2
			l.col = 0
		}
	}
	if err := l.flush(o); err != nil {
		return 0, err
	}
	return total, nil
}

func (l *lineWrapper) flush(n int) error {
	if n == 0 {
		return nil
	}
	if _, err := l.dst.Write(l.out[:n]); err != nil {
		l.err = err
		return err
	}
	return nil
}

type base64Writer struct {
	enc    io.WriteCloser
	lw     *lineWrapper
	closed bool
}

// NewBase64Writer returns a writer that base64-encodes to dst with a CRLF
// after every 76 characters. Close flushes the final quantum and ends a
// partial last line with CRLF, so non-empty output always ends with CRLF.
// Close does not close dst.
func NewBase64Writer(dst io.Writer) io.WriteCloser {
	lw := &lineWrapper{dst: dst}
	return &base64Writer{enc: base64.NewEncoder(base64.StdEncoding, lw), lw: lw}
}

func (w *base64Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	return w.enc.Write(p)
}

func (w *base64Writer) Close() error {
	if w.closed {
		return w.lw.err
	}
	w.closed = true
	if err := w.enc.Close(); err != nil {
		return err
	}
	if w.lw.col > 0 {
		w.lw.col = 0
		w.lw.out[0], w.lw.out[1] = '\r', '\n'
		return w.lw.flush(2)
	}
	return nil
}

// NewQPWriter returns a quoted-printable encoder (RFC 2045 §6.7) writing
// CRLF line breaks: input CRLF, bare LF and bare CR all become CRLF, soft
// line breaks are "=\r\n" and lines are at most 76 characters. Close
// flushes but does not close dst.
func NewQPWriter(dst io.Writer) io.WriteCloser {
	return quotedprintable.NewWriter(dst)
}

// NewBase64Reader returns a reader that decodes base64 from r, ignoring
// CR, LF, spaces and tabs (and form feeds and vertical tabs). Padding is
// required, as in RFC 2045; data after the padding is an error.
func NewBase64Reader(r io.Reader) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, &wspFilter{r: r})
}

// wspFilter drops whitespace from the stream and rejects data after
// base64 padding. (encoding/base64's streaming decoder would otherwise
// accept or reject "QQ==QQ==" depending on how the input is chunked.)
type wspFilter struct {
	r      io.Reader
	padded bool
}

func (f *wspFilter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			switch c {
			case '\r', '\n', ' ', '\t', '\f', '\v':
				continue
			case '=':
				f.padded = true
			default:
				if f.padded {
					return 0, errBase64AfterPad
				}
			}
			p[k] = c
			k++
		}
		if k > 0 || err != nil || n == 0 {
			return k, err
		}
	}
}

// DecodeTransfer returns a reader that undoes the Content-Transfer-Encoding
// cte (case-insensitive, surrounding whitespace ignored). The identity
// encodings 7bit, 8bit and binary, and an absent value (""), return r
// unchanged; base64 and quoted-printable are decoded as they stream.
// Anything else returns ErrUnknownEncoding.
func DecodeTransfer(r io.Reader, cte string) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return r, nil
	case "base64":
		return NewBase64Reader(r), nil
	case "quoted-printable":
		return quotedprintable.NewReader(r), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEncoding, cte)
}
