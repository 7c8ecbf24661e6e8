// Package mimeio is the MIME byte layer of the S/MIME engine: it reads
// header blocks without losing their raw bytes (RFC 5322), splits multipart
// bodies into the exact bytes of each body part (RFC 2046, RFC 1847), and
// provides the streaming canonicalisation, transfer-encoding and
// classification helpers needed to produce and consume signed and
// enveloped MIME entities (RFC 2045, RFC 8551).
//
// Everything in this package streams: bodies are never held in memory as a
// whole, and the memory used does not grow with the size of a message.
// Only header blocks are buffered, and they are bounded by MaxHeaderBytes.
package mimeio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// MaxHeaderBytes is the largest header block, including folding, line
// endings and the terminating empty line, that ReadHeader accepts.
const MaxHeaderBytes = 1 << 20

// foldWidth is the line length (excluding CRLF) that generated header
// fields are folded to where the value contains whitespace (RFC 5322 §2.1.1).
const foldWidth = 78

var (
	// ErrHeaderTooLarge is returned by ReadHeader when the header block
	// exceeds MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New("mimeio: header block too large")
	// ErrMalformedHeader is returned for a header line that is neither a
	// field nor a continuation of one.
	ErrMalformedHeader = errors.New("mimeio: malformed header")
	// ErrInvalidField is returned by WriteHeaderField for a field name
	// that is not RFC 5322 ftext or a value containing CR or LF.
	ErrInvalidField = errors.New("mimeio: invalid header field")
)

// Field is one header field as it appeared on the wire.
type Field struct {
	// Name is the field name as written, without the colon.
	Name string
	// Value is the unfolded value: line breaks removed, leading and
	// trailing spaces and tabs trimmed.
	Value string
	// Raw holds the exact bytes of the field, including the name, any
	// folding and the final line ending (if there was one).
	Raw []byte
}

// Header is an ordered list of header fields.
type Header struct {
	Fields []Field
}

// Get returns the value of the first field named name (case-insensitive),
// or "" if there is none.
func (h *Header) Get(name string) string {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Del removes every field named name (case-insensitive).
func (h *Header) Del(name string) {
	out := h.Fields[:0]
	for _, f := range h.Fields {
		if !strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	clear(h.Fields[len(out):])
	h.Fields = out
}

// Set replaces the first field named name (keeping its position) and
// removes any later fields of that name, or appends a new field. Raw is
// regenerated as "Name: value\r\n", folded at 78 columns where the value
// has whitespace. CR and LF in value are replaced by spaces so that Set can
// never inject a field; leading and trailing whitespace is trimmed. Set
// panics if name is not a valid field name (printable US-ASCII other than
// colon): field names are program constants, and an invalid one would
// corrupt the header.
func (h *Header) Set(name, value string) {
	if !validFieldName(name) {
		panic(fmt.Sprintf("mimeio: Header.Set with invalid field name %q", name))
	}
	value = strings.Trim(lineBreakToSpace.Replace(value), " \t")
	f := Field{Name: name, Value: value, Raw: formatField(name, value)}
	for i := range h.Fields {
		if strings.EqualFold(h.Fields[i].Name, name) {
			rest := h.Fields[i+1:]
			h.Fields = h.Fields[:i+1]
			h.Fields[i] = f
			for _, g := range rest {
				if !strings.EqualFold(g.Name, name) {
					h.Fields = append(h.Fields, g)
				}
			}
			return
		}
	}
	h.Fields = append(h.Fields, f)
}

// lineBreakToSpace works on bytes, so values that are not UTF-8 survive.
var lineBreakToSpace = strings.NewReplacer("\r", " ", "\n", " ")

// Bytes returns the concatenated raw bytes of all fields, without the
// empty line that ends a header block.
func (h *Header) Bytes() []byte {
	n := 0
	for _, f := range h.Fields {
		n += len(f.Raw)
	}
	b := make([]byte, 0, n)
	for _, f := range h.Fields {
		b = append(b, f.Raw...)
	}
	return b
}

// ContentType parses the Content-Type field. When the field is absent the
// RFC 2045 §5.2 default "text/plain; charset=us-ascii" is returned.
func (h *Header) ContentType() (mediatype string, params map[string]string, err error) {
	v := h.Get("Content-Type")
	if v == "" {
		return "text/plain", map[string]string{"charset": "us-ascii"}, nil
	}
	return ParseMediaType(v)
}

// ParseMediaType parses a Content-Type style value with mime.ParseMediaType.
// The media type and parameter names are returned in lower case.
func ParseMediaType(v string) (mediatype string, params map[string]string, err error) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return mt, params, fmt.Errorf("mimeio: media type %q: %w", v, err)
	}
	return mt, params, nil
}

// ReadHeader reads a header block up to and including the empty line that
// ends it (CRLF or LF). Reaching EOF instead of the empty line is not an
// error: the entity simply has no body. A last line without a line ending
// is kept as is in Raw.
func ReadHeader(r *bufio.Reader) (Header, error) {
	var h Header
	total := 0
	var line []byte
	for {
		line = line[:0]
		var err error
		for {
			var frag []byte
			frag, err = r.ReadSlice('\n')
			total += len(frag)
			if total > MaxHeaderBytes {
				return Header{}, ErrHeaderTooLarge
			}
			line = append(line, frag...)
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return Header{}, err
		}
		if len(line) == 0 || string(line) == "\r\n" || string(line) == "\n" {
			break // EOF at a line start, or the empty line
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(h.Fields) == 0 {
				return Header{}, fmt.Errorf("%w: continuation line before first field", ErrMalformedHeader)
			}
			f := &h.Fields[len(h.Fields)-1]
			f.Raw = append(f.Raw, line...)
		} else {
			f, perr := parseFieldLine(line)
			if perr != nil {
				return Header{}, perr
			}
			h.Fields = append(h.Fields, f)
		}
		if err == io.EOF {
			break
		}
	}
	for i := range h.Fields {
		f := &h.Fields[i]
		f.Value = unfold(f.Raw[bytes.IndexByte(f.Raw, ':')+1:])
	}
	return h, nil
}

// parseFieldLine parses the first line of a field; Value is filled in by
// ReadHeader once the field is complete. Whitespace between the name and
// the colon (RFC 5322 obs-optional) is accepted and dropped from Name; Raw
// keeps it.
func parseFieldLine(line []byte) (Field, error) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return Field{}, fmt.Errorf("%w: line without colon", ErrMalformedHeader)
	}
	name := strings.TrimRight(string(line[:colon]), " \t")
	if !validFieldName(name) {
		return Field{}, fmt.Errorf("%w: bad field name %q", ErrMalformedHeader, name)
	}
	return Field{Name: name, Raw: append([]byte(nil), line...)}, nil
}

// unfold turns the raw bytes after the colon into a field value: every CR
// and LF is dropped (RFC 5322 §2.2.3 unfolding) and the result is trimmed.
// A CR that is not part of a line ending cannot occur in a well-formed
// field; it is dropped too, so that Value never contains a line break.
func unfold(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c != '\r' && c != '\n' {
			sb.WriteByte(c)
		}
	}
	return strings.Trim(sb.String(), " \t")
}

// validFieldName reports whether name is a non-empty RFC 5322 field name:
// printable US-ASCII except colon.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// WriteHeaderField writes "name: value\r\n", folded at 78 columns where
// value has whitespace. It rejects invalid names and values containing CR
// or LF, so a caller can never inject additional fields.
func WriteHeaderField(w io.Writer, name, value string) error {
	if !validFieldName(name) {
		return fmt.Errorf("%w: name %q", ErrInvalidField, name)
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("%w: line break in value of %s", ErrInvalidField, name)
	}
	_, err := w.Write(formatField(name, strings.Trim(value, " \t")))
	return err
}

// formatField renders a field, folding before a run of whitespace whenever
// the current line would exceed foldWidth. Folds happen only before the
// first whitespace byte of a run, so no line consists of whitespace alone
// (RFC 5322 §3.2.2). A word longer than the width is left unbroken.
func formatField(name, value string) []byte {
	b := make([]byte, 0, len(name)+len(value)+8)
	b = append(b, name...)
	b = append(b, ": "...)
	lineStart := 0
	i := 0
	for i < len(value) {
		// The next word: from i (possibly starting with whitespace) up to
		// the next whitespace that follows a non-whitespace byte.
		j := i
		for j < len(value) && isWSP(value[j]) {
			j++
		}
		for j < len(value) && !isWSP(value[j]) {
			j++
		}
		word := value[i:j]
		if i > 0 && isWSP(word[0]) && len(b)-lineStart+len(word) > foldWidth {
			b = append(b, '\r', '\n')
			lineStart = len(b)
		}
		b = append(b, word...)
		i = j
	}
	return append(b, '\r', '\n')
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }
