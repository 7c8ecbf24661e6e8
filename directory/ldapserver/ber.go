package ldapserver

import "errors"

// This file holds the small BER reader and DER writer the server runs on.
//
// The request side works on one PDU that has already been read whole into a
// buffer whose size was checked against Config.MaxPDU, so every length met
// here is checked against the bytes actually present before anything is
// sliced; nothing is allocated according to a claimed length. LDAP (RFC 4511
// §5.1) allows only definite lengths, but not necessarily minimal ones:
// OpenLDAP's liblber writes four-byte lengths for every SEQUENCE, so
// cryptobyte's DER reader cannot be used. The asn1-ber package's decoder
// allocates a Packet, a bytes.Buffer and a child slice per element and takes
// its limits from process-wide variables, which would defeat both the
// per-connection bounds and the allocation-free hot path; it is used by the
// tests to build requests.

var errMalformed = errors.New("ldapserver: malformed BER")

// BER identifier octets used by LDAP.
const (
	tagBoolean     = 0x01
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagSequence    = 0x30
	tagSet         = 0x31

	classApplication = 0x40
	classContext     = 0x80
	constructed      = 0x20
)

// berReader reads consecutive elements of a byte slice.
type berReader struct {
	b []byte
}

func (r *berReader) empty() bool { return len(r.b) == 0 }

// peek returns the identifier octet of the next element (0 when empty).
func (r *berReader) peek() byte {
	if len(r.b) == 0 {
		return 0
	}
	return r.b[0]
}

// next reads one element and returns its identifier octet and contents.
// High tag numbers (identifier low bits 0x1f) are not used by LDAP and are
// refused, as are indefinite lengths and lengths of more than four octets.
func (r *berReader) next() (tag byte, content []byte, err error) {
	b := r.b
	if len(b) < 2 {
		return 0, nil, errMalformed
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, errMalformed
	}
	l := int(b[1])
	hdr := 2
	if l >= 0x80 {
		n := l & 0x7f
		if n == 0 || n > 4 || len(b) < 2+n {
			return 0, nil, errMalformed
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		hdr += n
	}
	if l < 0 || l > len(b)-hdr {
		return 0, nil, errMalformed
	}
	content = b[hdr : hdr+l]
	r.b = b[hdr+l:]
	return tag, content, nil
}

// expect reads one element that must have the given identifier.
func (r *berReader) expect(tag byte) ([]byte, error) {
	t, c, err := r.next()
	if err != nil {
		return nil, err
	}
	if t != tag {
		return nil, errMalformed
	}
	return c, nil
}

// parseInt decodes a BER INTEGER or ENUMERATED content of at most 8 octets.
func parseInt(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, errMalformed
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// readInt reads an element with the given tag and decodes it as an integer.
func (r *berReader) readInt(tag byte) (int64, error) {
	c, err := r.expect(tag)
	if err != nil {
		return 0, err
	}
	return parseInt(c)
}

// readBool reads a BOOLEAN.
func (r *berReader) readBool() (bool, error) {
	c, err := r.expect(tagBoolean)
	if err != nil {
		return false, err
	}
	if len(c) != 1 {
		return false, errMalformed
	}
	return c[0] != 0, nil
}

// Writing. All output is DER (minimal lengths).

// lenLen is the size of a DER length encoding of n.
func lenLen(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffff:
		return 4
	}
	return 5
}

// appendHeader appends an identifier and a DER length.
func appendHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// tlvLen is the full size of an element with n content octets.
func tlvLen(n int) int { return 1 + lenLen(n) + n }

func appendTLV(b []byte, tag byte, content []byte) []byte {
	b = appendHeader(b, tag, len(content))
	return append(b, content...)
}

func appendTLVString(b []byte, tag byte, content string) []byte {
	b = appendHeader(b, tag, len(content))
	return append(b, content...)
}

// intLen is the number of content octets of a DER INTEGER holding v ≥ 0.
func intLen(v int64) int {
	n := 1
	for v > 127 {
		n++
		v >>= 8
	}
	return n
}

func appendInt(b []byte, tag byte, v int64) []byte {
	n := intLen(v)
	b = append(b, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}
