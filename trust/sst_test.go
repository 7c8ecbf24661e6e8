package trust

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"
)

// element builds one SST element with an explicit encoding type.
func element(id, enc uint32, value []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, id)
	b = binary.LittleEndian.AppendUint32(b, enc)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

// handBuiltSST lays out a store the way Windows writes one (MS-OSHARED
// 2.3.2.5): properties before each element, a CRL and a CTL group to skip.
func handBuiltSST(certs []*x509.Certificate) []byte {
	b := []byte{0, 0, 0, 0, 'C', 'E', 'R', 'T'}
	for i, c := range certs {
		sum := sha1.Sum(c.Raw)
		b = append(b, element(0x14, 1, []byte("key-identifier-0123"))...) // CERT_KEY_IDENTIFIER_PROP_ID
		b = append(b, element(0x03, 1, sum[:])...)                        // SHA-1 hash
		b = append(b, element(0x0B, 1, utf16z("Friendly "+c.Subject.CommonName))...)
		b = append(b, element(0x5C, 1, []byte{0x30, 0x00})...) // some property Signet ignores
		b = append(b, element(0x20, 1, c.Raw)...)
		if i == 0 {
			// A CRL with a property, then a CTL: skipped, counted.
			b = append(b, element(0x03, 1, make([]byte, 20))...)
			b = append(b, element(0x21, 1, []byte{0x30, 0x03, 0x02, 0x01, 0x00})...)
			b = append(b, element(0x22, 1, []byte{0x30, 0x00})...)
		}
	}
	return append(b, make([]byte, 12)...)
}

func TestSSTRoundTrip(t *testing.T) {
	root, sub, root2, leaf := hierarchy(t)
	certs := []*x509.Certificate{root.cert, sub.cert, root2.cert, leaf.cert}
	sst := WriteSST(certs)
	if !bytes.HasPrefix(sst, []byte("\x00\x00\x00\x00CERT")) || !bytes.HasSuffix(sst, make([]byte, 12)) {
		t.Fatalf("WriteSST framing: % x … % x", sst[:8], sst[len(sst)-12:])
	}
	// Header, then per certificate a 20-byte hash property and the certificate, then the end marker.
	want := 8 + 12
	for _, c := range certs {
		want += 12 + 20 + 12 + len(c.Raw)
	}
	if len(sst) != want {
		t.Fatalf("WriteSST length %d, want %d", len(sst), want)
	}
	got, err := ParseSST(sst)
	if err != nil {
		t.Fatal(err)
	}
	sameSet(t, "write → parse", got, certs)
	for i := range certs {
		if !got[i].Equal(certs[i]) {
			t.Fatalf("order changed at %d", i)
		}
	}
	if again := WriteSST(got); !bytes.Equal(again, sst) {
		t.Fatal("write → parse → write differs")
	}
	// An empty store.
	if got, err := ParseSST(WriteSST(nil)); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
}

func TestSSTHandBuilt(t *testing.T) {
	root, sub, root2, _ := hierarchy(t)
	certs := []*x509.Certificate{root.cert, sub.cert, root2.cert}
	data := handBuiltSST(certs)
	st, err := ReadSST(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Certs) != 3 || st.CRLs != 1 || st.CTLs != 1 {
		t.Fatalf("ReadSST: %d certificates, %d CRLs, %d CTLs; want 3, 1, 1", len(st.Certs), st.CRLs, st.CTLs)
	}
	for i, c := range st.Certs {
		if want := "Friendly " + certs[i].Subject.CommonName; c.FriendlyName != want {
			t.Errorf("friendly name %q, want %q", c.FriendlyName, want)
		}
	}
	got, err := ParseSST(data)
	if err != nil {
		t.Fatal(err)
	}
	sameSet(t, "hand-built", got, certs)
	// Import then export gives the same set.
	imported, format, err := Import(data)
	if err != nil || format != FormatSST {
		t.Fatalf("Import = %v, %v", format, err)
	}
	back, err := ParseSST(WriteSST(imported))
	if err != nil {
		t.Fatal(err)
	}
	sameSet(t, "hand-built → import → export", back, certs)
	// Trailing bytes after the end marker are ignored.
	if got, err := ParseSST(append(bytes.Clone(data), 1, 2, 3)); err != nil || len(got) != 3 {
		t.Fatalf("trailing data: %d, %v", len(got), err)
	}
}

func TestSSTTruncated(t *testing.T) {
	root, sub, _, _ := hierarchy(t)
	data := handBuiltSST([]*x509.Certificate{root.cert, sub.cert})
	for n := range len(data) {
		got, err := ParseSST(data[:n])
		if err == nil || got != nil {
			t.Fatalf("truncated to %d of %d bytes: %d certificates, err %v", n, len(data), len(got), err)
		}
		if !strings.HasPrefix(err.Error(), "sst: ") {
			t.Fatalf("truncated to %d: unclear error %q", n, err)
		}
	}
}

func TestSSTCorrupt(t *testing.T) {
	root, _, _, _ := hierarchy(t)
	good := WriteSST([]*x509.Certificate{root.cert})
	hdr := []byte{0, 0, 0, 0, 'C', 'E', 'R', 'T'}
	end := make([]byte, 12)
	sum := sha1.Sum(root.cert.Raw)
	corrupt := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	for name, data := range map[string][]byte{
		"bad magic":        corrupt(func(b []byte) { b[4] = 'X' }),
		"bad version":      corrupt(func(b []byte) { b[0] = 1 }),
		"huge length":      corrupt(func(b []byte) { binary.LittleEndian.PutUint32(b[8+8:], 0xffffffff) }),
		"length past end":  corrupt(func(b []byte) { binary.LittleEndian.PutUint32(b[8+32+8:], uint32(len(b))) }),
		"bad end marker":   corrupt(func(b []byte) { b[len(b)-1] = 1 }),
		"cert bit flipped": corrupt(func(b []byte) { b[8+32+12+4] ^= 0xff }),
		"hash mismatch":    corrupt(func(b []byte) { b[8+12] ^= 1 }),
		"bad encoding":     join(hdr, element(0x20, 2, root.cert.Raw), end),
		"not a cert":       join(hdr, element(0x20, 1, []byte{0x30, 0x00}), end),
		"empty cert":       join(hdr, element(0x20, 1, nil), end),
		"no end marker":    join(hdr, element(0x03, 1, sum[:]), element(0x20, 1, root.cert.Raw)),
	} {
		got, err := ParseSST(data)
		if err == nil || got != nil {
			t.Errorf("%s: %d certificates, err %v; want an error", name, len(got), err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func FuzzParseSST(f *testing.F) {
	root, sub, _, _ := hierarchy(f)
	f.Add(WriteSST([]*x509.Certificate{root.cert, sub.cert}))
	f.Add(handBuiltSST([]*x509.Certificate{root.cert}))
	f.Add(WriteSST(nil))
	f.Add([]byte("\x00\x00\x00\x00CERT"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ReadSST(data)
		if err != nil {
			if st != nil {
				t.Fatal("error with contents")
			}
			return
		}
		var certs []*x509.Certificate
		for _, c := range st.Certs {
			certs = append(certs, c.Cert)
		}
		back, err := ParseSST(WriteSST(certs))
		if err != nil {
			t.Fatalf("re-parsing a written store: %v", err)
		}
		if len(back) != len(certs) {
			t.Fatalf("re-parse gave %d certificates, want %d", len(back), len(certs))
		}
		for i := range back {
			if !back[i].Equal(certs[i]) {
				t.Fatalf("certificate %d changed", i)
			}
		}
	})
}
