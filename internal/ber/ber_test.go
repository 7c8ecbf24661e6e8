package ber

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/signet-smime/signet/internal/shareddata"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

func readTestFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestNormalize(t *testing.T) {
	long200 := bytes.Repeat([]byte{0xab}, 200)
	long300 := bytes.Repeat([]byte{0xcd}, 300)
	tests := []struct {
		name string
		in   string
		want string // "" when the input is already DER (want == in)
	}{
		{"definite primitive", "02 01 05", ""},
		{"definite constructed", "30 03 02 01 05", ""},
		{"empty sequence", "30 00", ""},
		{"indefinite sequence", "30 80 02 01 05 00 00", "30 03 02 01 05"},
		{"empty indefinite sequence", "30 80 00 00", "30 00"},
		{"nested indefinite",
			"30 80 30 80 02 01 01 00 00 04 01 aa 00 00",
			"30 08 30 03 02 01 01 04 01 aa"},
		{"indefinite inside definite",
			"30 09 a0 80 02 01 07 00 00 05 00",
			"30 07 a0 03 02 01 07 05 00"},
		{"constructed octet string, indefinite",
			"24 80 04 02 aa bb 04 01 cc 00 00",
			"04 03 aa bb cc"},
		{"constructed octet string, definite",
			"24 07 04 02 aa bb 04 01 cc",
			"04 03 aa bb cc"},
		{"constructed octet string, no segments", "24 80 00 00", "04 00"},
		{"constructed octet string, empty segments", "24 80 04 00 04 00 00 00", "04 00"},
		{"nested constructed octet string",
			"24 80 04 01 aa 24 80 04 01 bb 24 03 04 01 cc 00 00 04 01 dd 00 00",
			"04 04 aa bb cc dd"},
		{"constructed bit string, one segment", "23 80 03 02 00 aa 00 00", "03 02 00 aa"},
		{"nested constructed bit string", "23 80 23 80 03 02 00 aa 00 00 00 00", "03 02 00 aa"},
		{"constructed UTF8String", "2c 80 0c 01 61 0c 02 62 63 00 00", "0c 03 61 62 63"},
		{"constructed string inside a sequence",
			"30 80 24 80 04 01 01 04 01 02 00 00 00 00",
			"30 04 04 02 01 02"},
		{"implicitly tagged constructed string is not flattened",
			"a0 80 04 01 01 04 01 02 00 00",
			"a0 06 04 01 01 04 01 02"},
		{"high tag number, primitive", "9f 1f 01 aa", ""},
		{"high tag number, two bytes", "bf 81 00 03 02 01 05", ""},
		{"high tag number, three bytes", "df 83 ff 7f 00", ""},
		{"high tag form for a low tag", "1f 02 01 05", "02 01 05"},
		{"non-minimal high tag", "9f 80 1f 01 aa", "9f 1f 01 aa"},
		{"non-minimal length, long form for short", "04 81 03 aa bb cc", "04 03 aa bb cc"},
		{"non-minimal length, leading zero", "04 82 00 03 aa bb cc", "04 03 aa bb cc"},
		{"non-minimal length on constructed", "30 81 03 02 01 05", "30 03 02 01 05"},
		{"non-minimal length nested",
			"30 05 04 81 02 aa bb",
			"30 04 04 02 aa bb"},
		{"long-form length 200", "04 81 c8 " + hex.EncodeToString(long200), ""},
		{"long-form length 300", "04 82 01 2c " + hex.EncodeToString(long300), ""},
		{"long-form length 300, non-minimal",
			"04 84 00 00 01 2c " + hex.EncodeToString(long300),
			"04 82 01 2c " + hex.EncodeToString(long300)},
		{"indefinite with long content",
			"30 80 04 82 01 2c " + hex.EncodeToString(long300) + " 00 00",
			"30 82 01 30 04 82 01 2c " + hex.EncodeToString(long300)},
		{"end-of-contents-like element inside a definite sequence", "30 02 00 00", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.in)
			want := in
			if tt.want != "" {
				want = unhex(t, tt.want)
			}
			got, err := Normalize(in)
			if err != nil {
				t.Fatalf("Normalize(%x): %v", in, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Normalize(%x)\n got %x\nwant %x", in, got, want)
			}
			again, err := Normalize(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("Normalize is not idempotent on %x: %x, %v", got, again, err)
			}
			// The same through a one-byte-at-a-time stream.
			d := NewDecoder(iotest.OneByteReader(bytes.NewReader(in)))
			h, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			el, err := d.ReadElement(h, 1<<20)
			if err != nil || !bytes.Equal(el, want) {
				t.Fatalf("ReadElement over OneByteReader: %x, %v", el, err)
			}
			if d.Pos() != int64(len(in)) {
				t.Fatalf("Pos = %d after the element, want %d", d.Pos(), len(in))
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty input", ""},
		{"tag only", "30"},
		{"truncated high tag", "9f 81"},
		{"truncated long-form length", "04 82 01"},
		{"truncated primitive", "04 05 aa bb"},
		{"truncated constructed", "30 05 02 01"},
		{"truncated inside indefinite", "30 80 02 01"},
		{"missing end-of-contents", "30 80 02 01 05"},
		{"half an end-of-contents", "30 80 02 01 05 00"},
		{"element overruns its container", "30 03 02 05 00 00 00 00 00"},
		{"element overruns its container by one", "30 02 02 01 05"},
		{"element overruns an indefinite element's definite parent", "30 04 30 80 05 00 00 00"},
		{"header overruns its container", "30 01 02 00"},
		{"indefinite length on a primitive", "04 80 aa 00 00"},
		{"indefinite length on a nested primitive", "30 80 02 80 01 00 00 00 00"},
		{"length of 8 octets", "04 88 00 00 00 00 00 00 00 01 aa"},
		{"length with 127 octets", "04 ff"},
		{"tag number too large", "1f 81 81 81 81 01 00"},
		{"trailing data", "02 01 05 00"},
		{"trailing end-of-contents", "30 00 00 00"},
		{"constructed string with a foreign segment", "24 80 02 01 05 00 00"},
		{"constructed string with an implicitly tagged segment", "24 80 80 01 05 00 00"},
		{"constructed string mixing string types", "24 80 0c 01 61 00 00"},
		{"constructed bit string with two segments", "23 80 03 02 00 aa 03 02 00 bb 00 00"},
		{"definite constructed with junk after its children", "30 04 02 01 05 00"},
		{"huge length", "04 87 7f ff ff ff ff ff ff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.in)
			out, err := Normalize(in)
			if err == nil {
				t.Fatalf("Normalize(%x) = %x, want an error", in, out)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Normalize(%x): error %v does not wrap ErrSyntax", in, err)
			}
		})
	}
}

// nest wraps inner in depth SEQUENCEs, definite or indefinite.
func nest(inner []byte, depth int, indefinite bool) []byte {
	out := inner
	for i := 0; i < depth; i++ {
		if indefinite {
			out = append(append([]byte{0x30, 0x80}, out...), 0, 0)
		} else {
			out = append(AppendLength([]byte{0x30}, len(out)), out...)
		}
	}
	return out
}

func TestDepthLimit(t *testing.T) {
	for _, indefinite := range []bool{false, true} {
		ok := nest([]byte{5, 0}, MaxDepth, indefinite)
		got, err := Normalize(ok)
		if err != nil {
			t.Fatalf("indefinite=%v: %d levels: %v", indefinite, MaxDepth, err)
		}
		if want := nest([]byte{5, 0}, MaxDepth, false); !bytes.Equal(got, want) {
			t.Fatalf("indefinite=%v: %d levels: got %x, want %x", indefinite, MaxDepth, got, want)
		}
		deep := nest([]byte{5, 0}, MaxDepth+1, indefinite)
		if _, err := Normalize(deep); err == nil || !strings.Contains(err.Error(), "nesting too deep") {
			t.Fatalf("indefinite=%v: %d levels: err = %v, want nesting too deep", indefinite, MaxDepth+1, err)
		}
		// Skip walks indefinite elements with the same limit.
		d := NewDecoder(bytes.NewReader(nest([]byte{5, 0}, MaxDepth+1, true)))
		h, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Skip(h); err == nil || !errors.Is(err, ErrSyntax) {
			t.Fatalf("Skip of %d indefinite levels: %v, want a syntax error", MaxDepth+1, err)
		}
	}
	// Constructed OCTET STRING segments nest under the same limit.
	seg := []byte{0x04, 0x01, 0xaa}
	for i := 0; i < MaxDepth+1; i++ {
		seg = append(append([]byte{0x24, 0x80}, seg...), 0, 0)
	}
	if _, err := Normalize(seg); err == nil {
		t.Fatal("Normalize accepted an OCTET STRING nested beyond MaxDepth")
	}
	d := NewDecoder(bytes.NewReader(seg))
	h, _ := d.Next()
	if _, err := io.ReadAll(d.OctetStream(h)); err == nil || !errors.Is(err, ErrSyntax) {
		t.Fatalf("OctetStream beyond MaxDepth: %v, want a syntax error", err)
	}
}

func TestHeader(t *testing.T) {
	tests := []struct {
		in          string
		class, tag  int
		constructed bool
		length      int64
	}{
		{"02 01", ClassUniversal, TagInteger, false, 1},
		{"30 80", ClassUniversal, TagSequence, true, -1},
		{"a0 82 01 00", ClassContext, 0, true, 256},
		{"9f 1f 00", ClassContext, 31, false, 0},
		{"7f 81 00 00", ClassApplication, 128, true, 0},
		{"df 83 ff 7f 00", ClassPrivate, 0xffff, false, 0},
		{"04 84 00 00 00 05", ClassUniversal, TagOctetString, false, 5},
	}
	for _, tt := range tests {
		in := unhex(t, tt.in)
		// Pad so that the announced length fits.
		data := append(append([]byte(nil), in...), make([]byte, 300)...)
		d := NewDecoder(bytes.NewReader(data))
		h, err := d.Next()
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if h.Class != tt.class || h.Tag != tt.tag || h.Constructed != tt.constructed || h.Length != tt.length {
			t.Errorf("%s: got %v, want class %d tag %d constructed %v length %d", tt.in, h, tt.class, tt.tag, tt.constructed, tt.length)
		}
		if !bytes.Equal(h.Raw, in) {
			t.Errorf("%s: Raw = %x", tt.in, h.Raw)
		}
		if h.Indefinite() != (tt.length < 0) {
			t.Errorf("%s: Indefinite() = %v", tt.in, h.Indefinite())
		}
		if d.Pos() != int64(len(in)) {
			t.Errorf("%s: Pos = %d, want %d", tt.in, d.Pos(), len(in))
		}
	}
}

// TestDecoderWalk drives Enter/More/Leave/Expect/Skip over a BER structure.
func TestDecoderWalk(t *testing.T) {
	// SEQUENCE (indefinite) { INTEGER 1, [0] (indefinite) { OCTET STRING "ab" }, SET {} , NULL }
	in := unhex(t, "30 80 02 01 01 a0 80 04 02 61 62 00 00 31 00 05 00 00 00 02 01 09")
	d := NewDecoder(iotest.HalfReader(bytes.NewReader(in)))
	h, err := d.Expect(ClassUniversal, TagSequence)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enter(h); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for {
		more, err := d.More()
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
		h, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, h.String())
		if h.Is(ClassContext, 0) {
			el, err := d.ReadElement(h, 100)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, "a0 04 04 02 61 62"); !bytes.Equal(el, want) {
				t.Fatalf("[0] = %x, want %x", el, want)
			}
			continue
		}
		if err := d.Skip(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Leave(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"[UNIVERSAL 2] constructed=false length=1",
		"[CONTEXT 0] constructed=true length=-1",
		"[UNIVERSAL 17] constructed=true length=0",
		"[UNIVERSAL 5] constructed=false length=0",
	}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Fatalf("elements:\n got %q\nwant %q", seen, want)
	}
	if d.Pos() != 19 {
		t.Fatalf("Pos = %d, want 19", d.Pos())
	}
	// The next top-level element follows.
	h, err = d.Expect(ClassUniversal, TagInteger)
	if err != nil {
		t.Fatal(err)
	}
	el, err := d.ReadElement(h, 10)
	if err != nil || !bytes.Equal(el, []byte{2, 1, 9}) {
		t.Fatalf("trailing INTEGER: %x, %v", el, err)
	}
	if more, _ := d.More(); more {
		t.Fatal("More at the end of the input")
	}
	if _, err := d.Next(); !errors.Is(err, ErrSyntax) {
		t.Fatalf("Next at the end of the input: %v", err)
	}
}

func TestDecoderMisuse(t *testing.T) {
	d := NewDecoder(bytes.NewReader(unhex(t, "02 01 05")))
	h, err := d.Expect(ClassUniversal, TagSequence)
	if err == nil || !errors.Is(err, ErrSyntax) {
		t.Fatalf("Expect(SEQUENCE) on an INTEGER: %v", err)
	}
	if err := d.Enter(h); err == nil {
		t.Fatal("Enter on a primitive element succeeded")
	}
	if err := d.Leave(); err == nil {
		t.Fatal("Leave without Enter succeeded")
	}
	// Leave with unread children.
	d = NewDecoder(bytes.NewReader(unhex(t, "30 03 02 01 05")))
	h, _ = d.Next()
	if err := d.Enter(h); err != nil {
		t.Fatal(err)
	}
	if err := d.Leave(); err == nil || !errors.Is(err, ErrSyntax) {
		t.Fatalf("Leave before the end of a definite element: %v", err)
	}
	d = NewDecoder(bytes.NewReader(unhex(t, "30 80 02 01 05 00 00")))
	h, _ = d.Next()
	if err := d.Enter(h); err != nil {
		t.Fatal(err)
	}
	if err := d.Leave(); err == nil || !errors.Is(err, ErrSyntax) {
		t.Fatalf("Leave before the end-of-contents: %v", err)
	}
	// ReadElement honours its size limit, for primitive and constructed elements.
	for _, in := range []string{"04 05 0102030405", "30 80 04 03 010203 04 02 0405 00 00"} {
		d = NewDecoder(bytes.NewReader(unhex(t, in)))
		h, _ = d.Next()
		if _, err := d.ReadElement(h, 4); err == nil {
			t.Fatalf("ReadElement(%s, 4) succeeded", in)
		}
	}
	// A read error from the source is passed through, not turned into EOF.
	boom := errors.New("boom")
	d = NewDecoder(iotest.ErrReader(boom))
	if _, err := d.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next with a failing reader: %v", err)
	}
}

// octetStreamCases are OCTET STRING encodings of "Hello, streaming world".
func octetStreamCases(t *testing.T) map[string][]byte {
	msg := "48656c6c6f2c2073747265616d696e6720776f726c64" // "Hello, streaming world"
	return map[string][]byte{
		"primitive":                unhex(t, "04 16"+msg),
		"primitive long form":      unhex(t, "04 81 16"+msg),
		"constructed definite":     unhex(t, "24 1a 04 05 48656c6c6f 04 11 2c2073747265616d696e6720776f726c64"),
		"constructed indefinite":   unhex(t, "24 80 04 05 48656c6c6f 04 00 04 11 2c2073747265616d696e6720776f726c64 00 00"),
		"nested constructed":       unhex(t, "24 80 04 02 4865 24 80 04 03 6c6c6f 24 04 04 02 2c20 00 00 04 0f 73747265616d696e6720776f726c64 00 00"),
		"implicit [0] constructed": unhex(t, "a0 80 04 05 48656c6c6f 04 11 2c2073747265616d696e6720776f726c64 00 00"),
		"implicit [0] primitive":   unhex(t, "80 16"+msg),
	}
}

func TestOctetStream(t *testing.T) {
	want := []byte("Hello, streaming world")
	trailer := []byte{0x05, 0x00} // a NULL after the string
	for name, enc := range octetStreamCases(t) {
		readers := map[string]func(io.Reader) io.Reader{
			"plain":         func(r io.Reader) io.Reader { return r },
			"OneByteReader": iotest.OneByteReader,
			"HalfReader":    iotest.HalfReader,
			"DataErrReader": iotest.DataErrReader,
		}
		for rname, wrap := range readers {
			t.Run(name+"/"+rname, func(t *testing.T) {
				in := append(append([]byte(nil), enc...), trailer...)
				d := NewDecoder(wrap(bytes.NewReader(in)))
				h, err := d.Next()
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(iotest.OneByteReader(d.OctetStream(h)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("got %q, want %q", got, want)
				}
				if d.Pos() != int64(len(enc)) {
					t.Fatalf("Pos = %d after the string, want %d", d.Pos(), len(enc))
				}
				h, err = d.Expect(ClassUniversal, TagNull)
				if err != nil {
					t.Fatalf("the element after the string: %v", err)
				}
				if err := d.Skip(h); err != nil {
					t.Fatal(err)
				}
			})
		}
		t.Run(name+"/iotest.TestReader", func(t *testing.T) {
			d := NewDecoder(iotest.OneByteReader(bytes.NewReader(enc)))
			h, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(d.OctetStream(h), want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOctetStreamErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"truncated primitive", "04 05 6162"},
		{"truncated segment", "24 80 04 05 6162"},
		{"missing end-of-contents", "24 80 04 02 6162"},
		{"foreign segment", "24 80 02 01 05 00 00"},
		{"implicitly tagged segment", "24 80 80 01 05 00 00"},
		{"segment overruns a definite string", "24 04 04 05 6162636465"},
		{"definite string with junk", "24 05 04 01 61 05 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(iotest.OneByteReader(bytes.NewReader(unhex(t, tt.in))))
			h, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			r := d.OctetStream(h)
			_, err = io.ReadAll(r)
			if err == nil || !errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v, want a syntax error", err)
			}
			// The error sticks.
			if _, err2 := r.Read(make([]byte, 8)); err2 == nil || err2 == io.EOF {
				t.Fatalf("second Read after %v returned %v", err, err2)
			}
		})
	}
	// OctetStream on a header that cannot be entered reports it.
	d := NewDecoder(bytes.NewReader(unhex(t, "24 00")))
	h, _ := d.Next()
	d.stack = make([]frame, MaxDepth) // as deep as allowed already
	if _, err := io.ReadAll(d.OctetStream(h)); err == nil {
		t.Fatal("OctetStream beyond the depth limit succeeded")
	}
}

func TestChunkWriterRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 17} {
		content := make([]byte, n)
		for i := range content {
			content[i] = byte(i * 7)
		}
		var buf bytes.Buffer
		if err := WriteIndefinite(&buf, 0x24); err != nil {
			t.Fatal(err)
		}
		cw := NewChunkWriter(&buf)
		// Write in odd pieces.
		for rest := content; len(rest) > 0; {
			k := min(len(rest), 1000+len(rest)%777)
			if _, err := cw.Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		if err := cw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := WriteEOC(&buf, 1); err != nil {
			t.Fatal(err)
		}
		enc := buf.Bytes()
		d := NewDecoder(bytes.NewReader(enc))
		h, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(d.OctetStream(h))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%d bytes: stream read back %d bytes, %v", n, len(got), err)
		}
		norm, err := Normalize(enc)
		if err != nil {
			t.Fatalf("%d bytes: Normalize: %v", n, err)
		}
		s := cryptobyte.String(norm)
		var v cryptobyte.String
		if !s.ReadASN1(&v, cbasn1.OCTET_STRING) || !s.Empty() || !bytes.Equal(v, content) {
			t.Fatalf("%d bytes: normalised string does not parse as DER OCTET STRING with the content", n)
		}
	}
}

// derFiles returns DER certificates from the shared test data: the RFC 4134
// .cer files and the PEM certificates of pyca and MimeKit.
func derFiles(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	rfc := shareddata.Path(t, "rfc4134")
	cers, _ := filepath.Glob(filepath.Join(rfc, "*.cer"))
	for _, f := range cers {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	var pems []string
	pems = append(pems, filepath.Join(shareddata.Path(t, "pyca-pkcs7"), "custom-ca", "rsa_ca.pem"))
	pems = append(pems, filepath.Join(shareddata.Path(t, "pyca-pkcs7"), "custom-ca", "ca.pem"))
	mk := shareddata.Path(t, "mimekit-smime")
	pems = append(pems, filepath.Join(mk, "StartComCertificationAuthority.crt"), filepath.Join(mk, "StartComClass1PrimaryIntermediateClientCA.crt"))
	more, _ := filepath.Glob(filepath.Join(mk, "sm*.pem"))
	pems = append(pems, more...)
	for _, f := range pems {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type == "CERTIFICATE" {
				out[filepath.Base(f)+"#"+string(rune('0'+i))] = blk.Bytes
			}
		}
	}
	if len(out) < 15 {
		t.Fatalf("found only %d certificates in the test data", len(out))
	}
	return out
}

func TestNormalizeIdentityOnDER(t *testing.T) {
	files := derFiles(t)
	rfc := shareddata.Path(t, "rfc4134")
	// DER CMS objects and CRLs too (4.5.bin is BER and checked below).
	for _, n := range []string{"3.2.bin", "4.1.bin", "4.2.bin", "4.4.bin", "4.10.bin", "4.11.bin", "5.1.bin", "6.0.bin", "CarlRSACRLForAll.crl", "CarlDSSCRLForAll.crl"} {
		b, err := os.ReadFile(filepath.Join(rfc, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	// NIST PKITS: 405 DER certificates and 173 DER CRLs.
	pk := shareddata.Path(t, "pkits")
	n := 0
	for _, pat := range []string{"certs/*.crt", "crls/*.crl"} {
		fs, _ := filepath.Glob(filepath.Join(pk, pat))
		for _, f := range fs {
			files["pkits/"+filepath.Base(f)] = readTestFile(t, f)
			n++
		}
	}
	if n < 500 {
		t.Fatalf("only %d PKITS files", n)
	}
	for name, der := range files {
		if strings.HasSuffix(name, ".cer") && !strings.Contains(name, "Inherit") {
			if _, err := x509.ParseCertificate(der); err != nil {
				t.Errorf("%s: not a certificate: %v", name, err)
				continue
			}
		}
		got, err := Normalize(der)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, der) {
			t.Errorf("%s: Normalize changed DER input", name)
		}
	}
}

// TestNormalizeBER checks BER files of RFC 4134 against their DER twins.
func TestNormalizeBER(t *testing.T) {
	rfc := shareddata.Path(t, "rfc4134")
	ber31, err := os.ReadFile(filepath.Join(rfc, "3.1.bin"))
	if err != nil {
		t.Fatal(err)
	}
	der32, err := os.ReadFile(filepath.Join(rfc, "3.2.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ber31, der32) {
		t.Fatal("3.1.bin and 3.2.bin are identical: the test would prove nothing")
	}
	got, err := Normalize(ber31)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, der32) {
		t.Fatalf("Normalize(3.1.bin) = %x\nwant 3.2.bin  %x", got, der32)
	}
	// 4.5.bin is an indefinite-length SignedData; its normalised form must be
	// DER that encoding/asn1-style parsers walk, holding the same certificates.
	b45, err := os.ReadFile(filepath.Join(rfc, "4.5.bin"))
	if err != nil {
		t.Fatal(err)
	}
	n45, err := Normalize(b45)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(n45, b45) {
		t.Fatal("Normalize left the indefinite-length 4.5.bin unchanged")
	}
	s := cryptobyte.String(n45)
	var ci, content, sd, certs cryptobyte.String
	var oid, ct, inner cryptobyte.String
	var version int64
	if !s.ReadASN1(&ci, cbasn1.SEQUENCE) || !s.Empty() ||
		!ci.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&content, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!content.ReadASN1(&sd, cbasn1.SEQUENCE) ||
		!sd.ReadASN1Integer(&version) ||
		!sd.SkipASN1(cbasn1.SET) ||
		!sd.ReadASN1(&ct, cbasn1.SEQUENCE) ||
		!ct.SkipASN1(cbasn1.OBJECT_IDENTIFIER) ||
		!ct.ReadASN1(&inner, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!sd.ReadASN1(&certs, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		t.Fatal("normalised 4.5.bin does not parse as DER SignedData")
	}
	var data cryptobyte.String
	if !inner.ReadASN1(&data, cbasn1.OCTET_STRING) || string(data) != "This is some sample content." {
		t.Fatalf("normalised 4.5.bin content = %q", data)
	}
	n := 0
	for !certs.Empty() {
		var c cryptobyte.String
		if !certs.ReadASN1Element(&c, cbasn1.SEQUENCE) {
			t.Fatal("bad certificate in normalised 4.5.bin")
		}
		if _, err := x509.ParseCertificate(c); err != nil {
			t.Fatalf("certificate %d of normalised 4.5.bin: %v", n, err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("normalised 4.5.bin has %d certificates, want 2 (RFC 4134 4.5)", n)
	}
}
