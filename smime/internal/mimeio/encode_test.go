package mimeio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// writeSplit writes in to w, split at the given positions, then closes w.
func writeSplit(t *testing.T, w io.WriteCloser, in []byte, cuts ...int) {
	t.Helper()
	prev := 0
	for _, c := range append(cuts, len(in)) {
		if n, err := w.Write(in[prev:c]); err != nil || n != c-prev {
			t.Fatalf("Write = %d, %v", n, err)
		}
		prev = c
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestCanonicalWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"\r\r\n", "\r\n\r\n"},
		{"\n\r", "\r\n\r\n"},
		{"\r\n\n", "\r\n\r\n"},
		{"\r\r", "\r\n\r\n"},
		{"x\r\n\r\n\ry\n", "x\r\n\r\n\r\ny\r\n"},
		{"\x00\xff\r", "\x00\xff\r\n"},
	}
	for _, tt := range tests {
		// Every single cut point, and one byte per Write.
		for cut := 0; cut <= len(tt.in); cut++ {
			var b bytes.Buffer
			writeSplit(t, NewCanonicalWriter(&b), []byte(tt.in), cut)
			if b.String() != tt.want {
				t.Errorf("canonical(%q) cut at %d = %q, want %q", tt.in, cut, b.String(), tt.want)
			}
		}
		var cuts []int
		for i := 1; i < len(tt.in); i++ {
			cuts = append(cuts, i)
		}
		var b bytes.Buffer
		writeSplit(t, NewCanonicalWriter(&b), []byte(tt.in), cuts...)
		if b.String() != tt.want {
			t.Errorf("canonical(%q) bytewise = %q, want %q", tt.in, b.String(), tt.want)
		}
	}
	// Large input exercising internal buffer flushes.
	in := strings.Repeat("line\n\r\nx\r", 5000)
	want := strings.Repeat("line\r\n\r\nx\r\n", 5000)
	var b bytes.Buffer
	writeSplit(t, NewCanonicalWriter(&b), []byte(in), 7, 4099, 30001)
	if b.String() != want {
		t.Error("large canonicalisation differs")
	}
	// Writes after Close fail.
	w := NewCanonicalWriter(&b)
	w.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWritersReportErrors(t *testing.T) {
	big := bytes.Repeat([]byte("a\n"), 10000)
	for name, mk := range map[string]func(io.Writer) io.WriteCloser{
		"canonical": NewCanonicalWriter, "base64": NewBase64Writer, "qp": NewQPWriter,
	} {
		w := mk(&failWriter{after: 1})
		_, err := w.Write(big)
		if err == nil {
			err = w.Close()
		}
		if err == nil {
			t.Errorf("%s: error from destination was lost", name)
		}
	}
}

func TestBase64Writer(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"hello", "aGVsbG8=\r\n"},
		{strings.Repeat("\x00", 57), strings.Repeat("A", 76) + "\r\n"},
		{strings.Repeat("\x00", 58), strings.Repeat("A", 76) + "\r\nAA==\r\n"},
		{strings.Repeat("\xff", 114), strings.Repeat("/", 76) + "\r\n" + strings.Repeat("/", 76) + "\r\n"},
	}
	for _, tt := range tests {
		for cut := 0; cut <= len(tt.in); cut += 7 {
			var b bytes.Buffer
			writeSplit(t, NewBase64Writer(&b), []byte(tt.in), cut)
			if b.String() != tt.want {
				t.Errorf("base64(%q) = %q, want %q", tt.in, b.String(), tt.want)
			}
		}
	}
}

func TestBase64RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 2, 3, 56, 57, 58, 1000, 70000} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.UintN(256))
		}
		var enc bytes.Buffer
		writeSplit(t, NewBase64Writer(&enc), data, size/3)
		for _, line := range strings.Split(enc.String(), "\r\n") {
			if len(line) > 76 {
				t.Fatalf("size %d: line of %d characters", size, len(line))
			}
		}
		if strings.Contains(strings.ReplaceAll(enc.String(), "\r\n", ""), "\n") {
			t.Fatalf("size %d: bare LF in output", size)
		}
		for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader} {
			got, err := io.ReadAll(NewBase64Reader(wrap(bytes.NewReader(enc.Bytes()))))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d: round trip differs (%v)", size, err)
			}
		}
	}
}

func TestBase64Reader(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"aGVsbG8=", "hello", true},
		{"aGVs\r\nbG8=\r\n", "hello", true},
		{" aG Vs\tbG\n8 =\r\n\r\n", "hello", true},
		{"aGVsbG8", "", false},      // missing padding
		{"aGVs*G8=", "", false},     // bad character
		{"aGVsbG8=QQ==", "", false}, // data after padding
	}
	for _, tt := range tests {
		got, err := io.ReadAll(NewBase64Reader(iotest.OneByteReader(strings.NewReader(tt.in))))
		if (err == nil) != tt.ok {
			t.Errorf("decode(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if tt.ok && string(got) != tt.want {
			t.Errorf("decode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestQPWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"a\nb", "a\r\nb"},
		{"a\r\nb\rc", "a\r\nb\r\nc"},
		{"caf\xc3\xa9 \n", "caf=C3=A9=20\r\n"},
		{"x=y\t\r\n", "x=3Dy=09\r\n"},
		{strings.Repeat("a", 80), strings.Repeat("a", 75) + "=\r\n" + "aaaaa"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		writeSplit(t, NewQPWriter(&b), []byte(tt.in), len(tt.in)/2)
		if b.String() != tt.want {
			t.Errorf("qp(%q) = %q, want %q", tt.in, b.String(), tt.want)
		}
	}
}

func TestQPRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 10, 200, 5000} {
		// Canonical input (CRLF only) survives a round trip exactly.
		var raw bytes.Buffer
		cw := NewCanonicalWriter(&raw)
		for range size {
			c := byte(rng.UintN(256))
			if rng.UintN(20) == 0 {
				c = '\n'
			}
			cw.Write([]byte{c})
		}
		cw.Close()
		var enc bytes.Buffer
		writeSplit(t, NewQPWriter(&enc), raw.Bytes(), raw.Len()/2)
		for _, line := range strings.Split(enc.String(), "\r\n") {
			if len(line) > 76 || strings.ContainsAny(line, "\r\n") {
				t.Fatalf("size %d: bad QP line %q", size, line)
			}
		}
		for _, c := range enc.Bytes() {
			if c >= 0x80 {
				t.Fatalf("size %d: 8-bit byte in QP output", size)
			}
		}
		dec, err := DecodeTransfer(iotest.HalfReader(bytes.NewReader(enc.Bytes())), "Quoted-Printable")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(dec)
		if err != nil || !bytes.Equal(got, raw.Bytes()) {
			t.Fatalf("size %d: QP round trip differs (%v)", size, err)
		}
	}
}

func TestDecodeTransfer(t *testing.T) {
	tests := []struct {
		cte, in, want string
		err           error
	}{
		{"", "a=3D\r\n", "a=3D\r\n", nil},
		{"7bit", "a=3D\r\n", "a=3D\r\n", nil},
		{" 8BIT ", "\xe9\n", "\xe9\n", nil},
		{"binary", "\x00\r\x00", "\x00\r\x00", nil},
		{"Base64", "aGVs\r\nbG8=\r\n", "hello", nil},
		{"quoted-printable", "a=3Db=\r\nc\r\n", "a=bc\r\n", nil},
		{"x-uuencode", "", "", ErrUnknownEncoding},
		{"base-64", "", "", ErrUnknownEncoding},
	}
	for _, tt := range tests {
		r, err := DecodeTransfer(strings.NewReader(tt.in), tt.cte)
		if !errors.Is(err, tt.err) {
			t.Errorf("DecodeTransfer(%q) err = %v, want %v", tt.cte, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != tt.want {
			t.Errorf("DecodeTransfer(%q) = %q, %v; want %q", tt.cte, got, err, tt.want)
		}
	}
}
