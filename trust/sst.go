package trust

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// The Microsoft serialized certificate store (".sst", MS-OSHARED 2.3.2.5
// and CertSaveStore's CERT_STORE_SAVE_AS_STORE): an 8-byte header (a zero
// version and the magic "CERT"), then elements {uint32 id, uint32 encoding
// type, uint32 length, value}, little-endian. Property elements precede
// the element they describe: a certificate (0x20), a CRL (0x21) or a CTL
// (0x22). An element with id 0 followed by eight zero bytes ends the store.
const (
	sstCertElement = 0x20
	sstCRLElement  = 0x21
	sstCTLElement  = 0x22

	sstPropSHA1         = 0x03 // CERT_SHA1_HASH_PROP_ID
	sstPropFriendlyName = 0x0B // CERT_FRIENDLY_NAME_PROP_ID, UTF-16LE with a NUL

	sstEncodingX509 = 0x00000001 // X509_ASN_ENCODING
)

var sstHeader = []byte{0, 0, 0, 0, 'C', 'E', 'R', 'T'}

// IsSST reports whether data starts with the serialized certificate store
// header.
func IsSST(data []byte) bool { return bytes.HasPrefix(data, sstHeader) }

// SSTCert is a certificate read from a serialized store with the
// properties Signet uses.
type SSTCert struct {
	Cert         *x509.Certificate
	FriendlyName string // the CERT_FRIENDLY_NAME_PROP_ID property, if any
}

// SSTContents is everything read from a serialized store.
type SSTContents struct {
	Certs []SSTCert
	CRLs  int // CRL elements, skipped
	CTLs  int // CTL elements, skipped
}

// ReadSST parses a serialized certificate store. Every length is checked
// against the data; a truncated or corrupt store (a missing end marker
// included) is an error and nothing is returned.
func ReadSST(data []byte) (*SSTContents, error) {
	if len(data) < len(sstHeader) {
		return nil, fmt.Errorf("sst: truncated header (%d bytes)", len(data))
	}
	if !IsSST(data) {
		return nil, errors.New("sst: not a serialized certificate store (header is not 00 00 00 00 'CERT')")
	}
	out := &SSTContents{}
	off := len(sstHeader)
	var props map[uint32][]byte
	for {
		if len(data)-off < 4 {
			return nil, fmt.Errorf("sst: truncated at offset %d: element header or end marker missing", off)
		}
		id := binary.LittleEndian.Uint32(data[off:])
		if id == 0 {
			if len(data)-off < 12 {
				return nil, fmt.Errorf("sst: truncated end marker at offset %d", off)
			}
			if binary.LittleEndian.Uint64(data[off+4:]) != 0 {
				return nil, fmt.Errorf("sst: corrupt end marker at offset %d", off)
			}
			break
		}
		if len(data)-off < 12 {
			return nil, fmt.Errorf("sst: truncated element header at offset %d", off)
		}
		enc := binary.LittleEndian.Uint32(data[off+4:])
		n := uint64(binary.LittleEndian.Uint32(data[off+8:]))
		start := off + 12
		if n > uint64(len(data)-start) {
			return nil, fmt.Errorf("sst: element 0x%x at offset %d claims %d bytes, only %d remain", id, off, n, len(data)-start)
		}
		value := data[start : start+int(n)]
		off = start + int(n)
		switch id {
		case sstCertElement:
			if enc&0xffff != sstEncodingX509 {
				return nil, fmt.Errorf("sst: certificate element at offset %d has encoding type 0x%x, want X509_ASN_ENCODING", start-12, enc)
			}
			c, err := x509.ParseCertificate(value)
			if err != nil {
				return nil, fmt.Errorf("sst: certificate element at offset %d: %w", start-12, err)
			}
			if h, ok := props[sstPropSHA1]; ok {
				sum := sha1.Sum(value)
				if !bytes.Equal(h, sum[:]) {
					return nil, fmt.Errorf("sst: certificate element at offset %d does not match its SHA-1 hash property", start-12)
				}
			}
			out.Certs = append(out.Certs, SSTCert{Cert: c, FriendlyName: utf16String(props[sstPropFriendlyName])})
			props = nil
		case sstCRLElement:
			out.CRLs++
			props = nil
		case sstCTLElement:
			out.CTLs++
			props = nil
		default:
			if props == nil {
				props = map[uint32][]byte{}
			}
			props[id] = value
		}
	}
	return out, nil
}

// ParseSST returns the certificates of a serialized certificate store,
// skipping CRL and CTL elements (see [ReadSST]).
func ParseSST(data []byte) ([]*x509.Certificate, error) {
	st, err := ReadSST(data)
	if err != nil {
		return nil, err
	}
	out := make([]*x509.Certificate, 0, len(st.Certs))
	for _, c := range st.Certs {
		out = append(out, c.Cert)
	}
	return out, nil
}

// utf16String decodes a little-endian UTF-16 string up to its first NUL.
func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		v := binary.LittleEndian.Uint16(b[i:])
		if v == 0 {
			break
		}
		u = append(u, v)
	}
	return string(utf16.Decode(u))
}

// sstElement appends one element.
func sstElement(b []byte, id uint32, value []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint32(b, sstEncodingX509)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

// WriteSST writes certs as a serialized certificate store, as Windows'
// CertSaveStore does: for each certificate its SHA-1 hash property and the
// certificate element, then the end marker.
func WriteSST(certs []*x509.Certificate) []byte {
	b := append([]byte(nil), sstHeader...)
	for _, c := range certs {
		sum := sha1.Sum(c.Raw)
		b = sstElement(b, sstPropSHA1, sum[:])
		b = sstElement(b, sstCertElement, c.Raw)
	}
	return append(b, make([]byte, 12)...)
}
