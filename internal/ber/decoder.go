// Package ber reads ASN.1 BER (indefinite lengths included) as a stream and
// writes the few BER constructs that streaming output needs.
//
// A Decoder walks a BER encoding element by element without holding it in
// memory: small elements (certificates, attributes, algorithm identifiers)
// are read whole and normalised to DER-style definite lengths so that
// cryptobyte can parse them, while large string values (the content of a
// CMS message) are exposed as an io.Reader.
package ber

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Classes of a tag.
const (
	ClassUniversal   = 0
	ClassApplication = 1
	ClassContext     = 2
	ClassPrivate     = 3
)

// Universal tag numbers used by CMS.
const (
	TagBoolean     = 1
	TagInteger     = 2
	TagBitString   = 3
	TagOctetString = 4
	TagNull        = 5
	TagOID         = 6
	TagUTF8String  = 12
	TagSequence    = 16
	TagSet         = 17
)

// ErrSyntax is wrapped by every error about malformed input.
var ErrSyntax = errors.New("malformed BER")

// MaxDepth bounds the nesting of constructed elements.
const MaxDepth = 64

// Header is the identifier and length octets of one element.
type Header struct {
	Class       int
	Tag         int
	Constructed bool
	Length      int64 // -1 for the indefinite form
	Raw         []byte
}

// Indefinite reports whether the element uses the indefinite-length form.
func (h Header) Indefinite() bool { return h.Length < 0 }

// Is reports whether h has the given class and tag.
func (h Header) Is(class, tag int) bool { return h.Class == class && h.Tag == tag }

func (h Header) String() string {
	c := [...]string{"UNIVERSAL", "APPLICATION", "CONTEXT", "PRIVATE"}[h.Class]
	return fmt.Sprintf("[%s %d] constructed=%v length=%d", c, h.Tag, h.Constructed, h.Length)
}

type frame struct {
	end int64 // -1: indefinite
}

// Decoder reads BER elements from a stream, tracking the nesting of
// constructed elements entered with Enter.
type Decoder struct {
	r     *bufio.Reader
	pos   int64
	stack []frame
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 16<<10)
	}
	return &Decoder{r: br}
}

// Pos is the number of bytes consumed so far.
func (d *Decoder) Pos() int64 { return d.pos }

func syntaxf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, a...)...)
}

func (d *Decoder) readByte() (byte, error) {
	b, err := d.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, syntaxf("unexpected end of input")
		}
		return 0, err
	}
	d.pos++
	return b, nil
}

// Next reads the header of the next element in the current frame.
func (d *Decoder) Next() (Header, error) {
	if err := d.checkRoom(2); err != nil {
		return Header{}, err
	}
	var raw []byte
	b, err := d.readByte()
	if err != nil {
		return Header{}, err
	}
	raw = append(raw, b)
	h := Header{Class: int(b >> 6), Constructed: b&0x20 != 0, Tag: int(b & 0x1f)}
	if h.Tag == 0x1f {
		h.Tag = 0
		for i := 0; ; i++ {
			if i == 4 {
				return Header{}, syntaxf("tag number too large")
			}
			b, err = d.readByte()
			if err != nil {
				return Header{}, err
			}
			raw = append(raw, b)
			h.Tag = h.Tag<<7 | int(b&0x7f)
			if b&0x80 == 0 {
				break
			}
		}
	}
	b, err = d.readByte()
	if err != nil {
		return Header{}, err
	}
	raw = append(raw, b)
	switch {
	case b < 0x80:
		h.Length = int64(b)
	case b == 0x80:
		if !h.Constructed {
			return Header{}, syntaxf("indefinite length on a primitive element")
		}
		h.Length = -1
	default:
		n := int(b & 0x7f)
		if n > 7 {
			return Header{}, syntaxf("length too large")
		}
		for i := 0; i < n; i++ {
			b, err = d.readByte()
			if err != nil {
				return Header{}, err
			}
			raw = append(raw, b)
			h.Length = h.Length<<8 | int64(b)
		}
		if h.Length < 0 {
			return Header{}, syntaxf("negative length")
		}
	}
	h.Raw = raw
	if h.Length >= 0 {
		if err := d.checkRoom(h.Length); err != nil {
			return Header{}, err
		}
	}
	return h, nil
}

// checkRoom fails when n more bytes cannot fit in the enclosing definite frame.
func (d *Decoder) checkRoom(n int64) error {
	for i := len(d.stack) - 1; i >= 0; i-- {
		if f := d.stack[i]; f.end >= 0 {
			if d.pos+n > f.end {
				return syntaxf("element overruns its container")
			}
			return nil
		}
	}
	return nil
}

// Enter descends into the constructed element whose header was just read.
func (d *Decoder) Enter(h Header) error {
	if !h.Constructed {
		return syntaxf("expected a constructed element, got %v", h)
	}
	if len(d.stack) >= MaxDepth {
		return syntaxf("nesting too deep")
	}
	end := int64(-1)
	if h.Length >= 0 {
		end = d.pos + h.Length
	}
	d.stack = append(d.stack, frame{end: end})
	return nil
}

// More reports whether the current frame holds another element. At the end
// of an indefinite frame it does not consume the end-of-contents octets:
// Leave does.
func (d *Decoder) More() (bool, error) {
	if len(d.stack) == 0 {
		_, err := d.r.Peek(1)
		return err == nil, nil
	}
	f := d.stack[len(d.stack)-1]
	if f.end >= 0 {
		return d.pos < f.end, nil
	}
	p, err := d.r.Peek(2)
	if err != nil {
		return false, syntaxf("unexpected end of input in indefinite-length element")
	}
	return !(p[0] == 0 && p[1] == 0), nil
}

// Leave ends the current frame: remaining elements are an error.
func (d *Decoder) Leave() error {
	if len(d.stack) == 0 {
		return errors.New("ber: Leave without Enter")
	}
	f := d.stack[len(d.stack)-1]
	if f.end >= 0 {
		if d.pos != f.end {
			return syntaxf("unexpected data at end of element")
		}
	} else {
		p, err := d.r.Peek(2)
		if err != nil || p[0] != 0 || p[1] != 0 {
			return syntaxf("missing end-of-contents")
		}
		d.r.Discard(2)
		d.pos += 2
	}
	d.stack = d.stack[:len(d.stack)-1]
	return nil
}

// Expect reads the next header and checks its class and tag.
func (d *Decoder) Expect(class, tag int) (Header, error) {
	h, err := d.Next()
	if err != nil {
		return h, err
	}
	if !h.Is(class, tag) {
		return h, syntaxf("expected [%d %d], got %v", class, tag, h)
	}
	return h, nil
}

// Skip discards the element whose header was just read.
func (d *Decoder) Skip(h Header) error {
	_, err := d.readBody(h, -1, io.Discard)
	return err
}

// ReadElement reads the element whose header was just read and returns it
// whole, re-encoded with definite lengths (DER-style length octets) and with
// constructed universal strings flattened, so that a DER parser accepts it.
// Elements already in DER come back byte for byte. max bounds the size.
func (d *Decoder) ReadElement(h Header, max int64) ([]byte, error) {
	var content []byte
	if !h.Constructed {
		if h.Length > max {
			return nil, syntaxf("element of %d bytes exceeds the limit of %d", h.Length, max)
		}
		if h.Length <= 64<<10 {
			content = make([]byte, h.Length)
			n, err := io.ReadFull(d.r, content)
			d.pos += int64(n)
			if err != nil {
				return nil, syntaxf("unexpected end of input")
			}
		} else {
			// Grow with the data actually read, so that a short hostile
			// input cannot make a large allocation by declaring a large length.
			var buf bytes.Buffer
			n, err := io.CopyN(&buf, d.r, h.Length)
			d.pos += n
			if err != nil {
				return nil, syntaxf("unexpected end of input")
			}
			content = buf.Bytes()
		}
		return append(encodeHeader(h.Raw, h.Class, h.Tag, false, len(content), h.Length >= 0 && isMinimal(h)), content...), nil
	}
	if err := d.Enter(h); err != nil {
		return nil, err
	}
	flatten := h.Class == ClassUniversal && isStringTag(h.Tag)
	var total int64
	for {
		more, err := d.More()
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		ch, err := d.Next()
		if err != nil {
			return nil, err
		}
		child, err := d.ReadElement(ch, max-total)
		if err != nil {
			return nil, err
		}
		if flatten {
			// A segment may itself be constructed (X.690 8.7.3.2): the
			// recursive ReadElement has already flattened it.
			if ch.Class != ClassUniversal || ch.Tag != h.Tag {
				return nil, syntaxf("bad segment in constructed string")
			}
			child = child[headerLen(child):]
			if h.Tag == TagBitString && len(content) > 0 {
				return nil, syntaxf("constructed BIT STRING not supported")
			}
		}
		total += int64(len(child))
		if total > max {
			return nil, syntaxf("element exceeds the limit of %d bytes", max)
		}
		content = append(content, child...)
	}
	if err := d.Leave(); err != nil {
		return nil, err
	}
	minimal := h.Length >= 0 && isMinimal(h) && int64(len(content)) == h.Length
	return append(encodeHeader(h.Raw, h.Class, h.Tag, h.Constructed && !flatten, len(content), minimal), content...), nil
}

func isStringTag(tag int) bool {
	switch tag {
	case TagBitString, TagOctetString, TagUTF8String, 18, 19, 20, 21, 22, 25, 26, 27, 28, 30:
		return true
	}
	return false
}

// isMinimal reports whether the header's length octets are the DER ones.
func isMinimal(h Header) bool {
	want := encodeHeader(nil, h.Class, h.Tag, h.Constructed, int(h.Length), false)
	return string(want) == string(h.Raw)
}

func encodeHeader(raw []byte, class, tag int, constructed bool, length int, keepRaw bool) []byte {
	if keepRaw {
		return append([]byte(nil), raw...)
	}
	var out []byte
	b := byte(class << 6)
	if constructed {
		b |= 0x20
	}
	if tag < 31 {
		out = append(out, b|byte(tag))
	} else {
		out = append(out, b|0x1f)
		var t []byte
		for v := tag; v > 0; v >>= 7 {
			t = append([]byte{byte(v & 0x7f)}, t...)
		}
		for i := 0; i < len(t)-1; i++ {
			t[i] |= 0x80
		}
		out = append(out, t...)
	}
	return AppendLength(out, length)
}

// AppendLength appends DER length octets.
func AppendLength(out []byte, n int) []byte {
	if n < 0x80 {
		return append(out, byte(n))
	}
	var l []byte
	for v := n; v > 0; v >>= 8 {
		l = append([]byte{byte(v)}, l...)
	}
	return append(append(out, 0x80|byte(len(l))), l...)
}

// Contents returns the contents octets of an element as ReadElement and
// Normalize return it (without its identifier and length octets).
func Contents(der []byte) []byte { return der[headerLen(der):] }

func headerLen(der []byte) int {
	i := 1
	if der[0]&0x1f == 0x1f {
		for der[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if der[i] < 0x80 {
		return i + 1
	}
	return i + 1 + int(der[i]&0x7f)
}

// readBody copies the content of the element whose header was just read to
// w, or discards it; a constructed element is copied raw (headers included).
func (d *Decoder) readBody(h Header, max int64, w io.Writer) (int64, error) {
	if h.Length >= 0 {
		if max >= 0 && h.Length > max {
			return 0, syntaxf("element too large")
		}
		n, err := io.CopyN(w, d.r, h.Length)
		d.pos += n
		if err != nil {
			return n, syntaxf("unexpected end of input")
		}
		return n, nil
	}
	if err := d.Enter(h); err != nil {
		return 0, err
	}
	var total int64
	for {
		more, err := d.More()
		if err != nil {
			return total, err
		}
		if !more {
			break
		}
		ch, err := d.Next()
		if err != nil {
			return total, err
		}
		if _, err := w.Write(ch.Raw); err != nil {
			return total, err
		}
		n, err := d.readBody(ch, -1, w)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, d.Leave()
}
