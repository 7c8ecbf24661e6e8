package ber

import (
	"bytes"
	"io"
)

// OctetStream returns a reader over the value of the OCTET STRING (or an
// implicitly tagged one) whose header was just read: primitive, or
// constructed from segments, definite or indefinite. Once the reader has
// returned io.EOF the decoder stands after the element.
func (d *Decoder) OctetStream(h Header) io.Reader {
	s := &octetStream{d: d}
	if !h.Constructed {
		s.remain = h.Length
		s.depth = 0
	} else {
		if err := d.Enter(h); err != nil {
			s.err = err
		}
		s.depth = 1
	}
	return s
}

type octetStream struct {
	d      *Decoder
	remain int64 // bytes left in the current primitive segment
	depth  int   // constructed levels entered
	err    error
}

func (s *octetStream) Read(p []byte) (int, error) {
	for s.err == nil {
		if s.remain > 0 {
			if int64(len(p)) > s.remain {
				p = p[:s.remain]
			}
			n, err := s.d.r.Read(p)
			s.d.pos += int64(n)
			s.remain -= int64(n)
			if err == io.EOF {
				if s.remain > 0 {
					err = syntaxf("unexpected end of input in string")
				} else {
					err = nil
				}
			}
			if err != nil {
				s.err = err
			}
			return n, err
		}
		if s.depth == 0 {
			s.err = io.EOF
			break
		}
		more, err := s.d.More()
		if err != nil {
			s.err = err
			break
		}
		if !more {
			if err := s.d.Leave(); err != nil {
				s.err = err
				break
			}
			s.depth--
			continue
		}
		h, err := s.d.Next()
		if err != nil {
			s.err = err
			break
		}
		if h.Class != ClassUniversal || h.Tag != TagOctetString {
			s.err = syntaxf("bad segment %v in constructed OCTET STRING", h)
			break
		}
		if h.Constructed {
			if err := s.d.Enter(h); err != nil {
				s.err = err
				break
			}
			s.depth++
			continue
		}
		s.remain = h.Length
	}
	return 0, s.err
}

// Writing.

// WriteIndefinite writes an identifier octet followed by the indefinite
// length octet.
func WriteIndefinite(w io.Writer, ident byte) error {
	_, err := w.Write([]byte{ident, 0x80})
	return err
}

// WriteEOC writes n end-of-contents markers.
func WriteEOC(w io.Writer, n int) error {
	_, err := w.Write(make([]byte, 2*n))
	return err
}

// ChunkSize is the size of each OCTET STRING segment that ChunkWriter emits.
const ChunkSize = 32 << 10

// ChunkWriter writes its input as a series of primitive OCTET STRING
// segments of at most ChunkSize bytes, for the inside of a constructed,
// indefinite-length OCTET STRING. Close flushes the last segment; the caller
// writes the end-of-contents.
type ChunkWriter struct {
	w   io.Writer
	buf []byte
}

// NewChunkWriter returns a ChunkWriter writing to w.
func NewChunkWriter(w io.Writer) *ChunkWriter {
	return &ChunkWriter{w: w, buf: make([]byte, 0, ChunkSize)}
}

func (c *ChunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf = c.buf[:len(c.buf)+k]
		p = p[k:]
		n += k
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (c *ChunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	hdr := AppendLength([]byte{TagOctetString}, len(c.buf))
	if _, err := c.w.Write(hdr); err != nil {
		return err
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// Close writes the pending segment.
func (c *ChunkWriter) Close() error { return c.flush() }

// Normalize re-encodes one complete in-memory BER element with definite
// lengths and flattened universal strings (see ReadElement), so that a DER
// parser accepts it. Trailing data is an error.
func Normalize(data []byte) ([]byte, error) {
	d := NewDecoder(bytes.NewReader(data))
	h, err := d.Next()
	if err != nil {
		return nil, err
	}
	out, err := d.ReadElement(h, int64(len(data))*2+64)
	if err != nil {
		return nil, err
	}
	if d.Pos() != int64(len(data)) {
		return nil, syntaxf("trailing data after the element")
	}
	return out, nil
}
