package transform

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// maxHeaderBytes bounds a message's header block, as package smime does.
const maxHeaderBytes = 1 << 20

// field is one header field exactly as it came: its first line and any
// folded continuation lines, line endings included. A line that is no
// field (no colon, a bad name, a continuation before any field) is kept
// as a field with an empty name, so that writing the header back gives
// the same bytes.
type field struct {
	name string // as written, without trailing white space; "" for junk
	raw  []byte
}

// value returns the unfolded, trimmed value.
func (f *field) value() string {
	i := bytes.IndexByte(f.raw, ':')
	if i < 0 {
		return ""
	}
	v := string(f.raw[i+1:])
	v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	return strings.TrimSpace(v)
}

// header is a parsed header block.
type header struct {
	fields []field
	// end is the empty line that ended the header, as written; nil when
	// the message ended inside the header (a header-only message).
	end []byte
	// eol is the line ending of the first line, for the fields we add.
	eol string
	// malformed says why the header is not well formed, "" when it is.
	malformed string
}

// readHeader reads a header block from r, leaving r at the body. The only
// errors are read errors and a header over maxHeaderBytes; malformed lines
// are kept and reported in malformed.
func readHeader(r *bufio.Reader) (*header, error) {
	h := &header{}
	total := 0
	for {
		line, err := readLine(r, &total)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if h.eol == "" && len(line) > 0 {
			h.eol = "\n"
			if bytes.HasSuffix(line, []byte("\r\n")) {
				h.eol = "\r\n"
			}
		}
		if len(line) == 0 {
			break
		}
		if string(line) == "\r\n" || string(line) == "\n" {
			h.end = line
			break
		}
		switch {
		case line[0] == ' ' || line[0] == '\t':
			if len(h.fields) == 0 || h.fields[len(h.fields)-1].name == "" {
				h.note("a continuation line before the first field")
				h.fields = append(h.fields, field{raw: line})
			} else {
				f := &h.fields[len(h.fields)-1]
				f.raw = append(f.raw, line...)
			}
		default:
			colon := bytes.IndexByte(line, ':')
			name := ""
			if colon > 0 {
				name = strings.TrimRight(string(line[:colon]), " \t")
			}
			if !validFieldName(name) {
				h.note(fmt.Sprintf("a header line that is not a field: %q", truncate(strings.TrimRight(string(line), "\r\n"), 40)))
				name = ""
			}
			h.fields = append(h.fields, field{name: name, raw: line})
		}
		if err == io.EOF {
			break
		}
	}
	if h.eol == "" {
		h.eol = "\r\n"
	}
	return h, nil
}

var errHeaderTooLarge = errors.New("the header is larger than 1 MiB")

func readLine(r *bufio.Reader, total *int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		*total += len(frag)
		if *total > maxHeaderBytes {
			return nil, errHeaderTooLarge
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

func (h *header) note(why string) {
	if h.malformed == "" {
		h.malformed = "malformed header: " + why
	}
}

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

// get returns the value of the first field called name.
func (h *header) get(name string) string {
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, name) {
			return h.fields[i].value()
		}
	}
	return ""
}

// values returns the values of every field called name.
func (h *header) values(name string) []string {
	var out []string
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, name) {
			out = append(out, h.fields[i].value())
		}
	}
	return out
}

// stripSignet removes every X-Signet-* field (a sender's spoofing
// attempt) and returns how many it removed.
func (h *header) stripSignet() int {
	n := 0
	kept := h.fields[:0]
	for _, f := range h.fields {
		if len(f.name) >= 9 && strings.EqualFold(f.name[:9], "X-Signet-") {
			n++
			continue
		}
		kept = append(kept, f)
	}
	h.fields = kept
	return n
}

// contentType returns the media type (lower case) and parameters; an
// absent or unparsable Content-Type is text/plain.
func (h *header) contentType() (string, map[string]string) {
	v := h.get("Content-Type")
	if v == "" {
		return "text/plain", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		if mt == "" {
			return "text/plain", map[string]string{}
		}
		params = map[string]string{}
	}
	return mt, params
}

// bytes returns the header as it will be written: added fields first (each
// "Name: value" without line ending), then the kept fields, then the
// empty line.
func (h *header) bytes(add []string) []byte {
	var b bytes.Buffer
	for _, a := range add {
		b.WriteString(a)
		b.WriteString(h.eol)
	}
	for _, f := range h.fields {
		b.Write(f.raw)
		if !bytes.HasSuffix(f.raw, []byte("\n")) {
			b.WriteString(h.eol) // the last line of a header-only message
		}
	}
	if h.end != nil {
		b.Write(h.end)
	} else {
		b.WriteString(h.eol)
	}
	return b.Bytes()
}

// setSubject replaces the Subject field's value (the first Subject field),
// adding one if there is none.
func (h *header) setSubject(v string) {
	raw := []byte("Subject: " + foldValue(v, h.eol) + h.eol)
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, "Subject") {
			h.fields[i] = field{name: "Subject", raw: raw}
			return
		}
	}
	h.fields = append(h.fields, field{name: "Subject", raw: raw})
}

// tagSubject prepends tag to the Subject field, keeping the rest of the
// field's bytes (encoded words stay as they are).
func (h *header) tagSubject(tag string) {
	for i := range h.fields {
		f := &h.fields[i]
		if !strings.EqualFold(f.name, "Subject") {
			continue
		}
		colon := bytes.IndexByte(f.raw, ':')
		rest := bytes.TrimLeft(f.raw[colon+1:], " \t")
		if bytes.HasPrefix(rest, []byte(tag)) {
			return // tagged already
		}
		raw := make([]byte, 0, len(f.raw)+len(tag)+2)
		raw = append(raw, f.raw[:colon+1]...)
		raw = append(raw, ' ')
		raw = append(raw, tag...)
		if len(rest) > 0 && rest[0] != '\r' && rest[0] != '\n' {
			raw = append(raw, ' ')
		}
		raw = append(raw, rest...)
		f.raw = raw
		return
	}
	h.fields = append(h.fields, field{name: "Subject", raw: []byte("Subject: " + tag + h.eol)})
}

// decodeSubject returns the Subject with RFC 2047 encoded words decoded,
// and whether it could be decoded.
func decodeSubject(raw string) (string, bool) {
	if !strings.Contains(raw, "=?") {
		return raw, true
	}
	s, err := (&mime.WordDecoder{}).DecodeHeader(raw)
	if err != nil {
		return raw, false
	}
	return s, true
}

// removeTriggers removes every occurrence of the triggers from s, without
// regard to case, and tidies the spaces they leave.
func removeTriggers(s string, triggers []string) (string, bool) {
	changed := false
	for _, t := range triggers {
		if t == "" {
			continue
		}
		for {
			i := indexFold(s, t)
			if i < 0 {
				break
			}
			changed = true
			before, after := strings.TrimRight(s[:i], " \t"), strings.TrimLeft(s[i+len(t):], " \t")
			switch {
			case before == "":
				s = after
			case after == "":
				s = before
			default:
				s = before + " " + after
			}
		}
	}
	return s, changed
}

// indexFold is strings.Index without regard to case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if utf8.RuneStart(s[i]) && strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// encodeSubject returns a field value for s: as it is when it is ASCII,
// otherwise as UTF-8 encoded words.
func encodeSubject(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || (s[i] < 0x20 && s[i] != '\t') {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// foldValue folds a value at white space so that lines stay under 78
// characters where possible.
func foldValue(v, eol string) string {
	const width = 78
	if len(v)+9 <= width {
		return v
	}
	var b strings.Builder
	col := 9 // "Subject: "
	for i, w := range strings.Split(v, " ") {
		if i > 0 {
			if col+1+len(w) > width {
				b.WriteString(eol)
				col = 0
			}
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

// addressList returns the lower-case addresses in the fields named.
func (h *header) addressList(names ...string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		for _, v := range h.values(n) {
			list, err := (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).ParseList(v)
			if err != nil {
				// Be generous: pick out anything that looks like an address.
				for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" ,;<>\"\t", r) }) {
					if strings.Contains(tok, "@") {
						out[strings.ToLower(tok)] = true
					}
				}
				continue
			}
			for _, a := range list {
				out[strings.ToLower(a.Address)] = true
			}
		}
	}
	return out
}

// quote makes s safe as a quoted header parameter value: one line, no
// quotes or backslashes, at most 200 characters.
func quote(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '\\':
			return '\''
		case r < 0x20 || r == 0x7f:
			return ' '
		case r >= 0x80:
			return '?'
		}
		return r
	}, s)
	return `"` + truncate(s, 200) + `"`
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
