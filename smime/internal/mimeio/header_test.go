package mimeio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadHeader(t *testing.T) {
	type f struct{ name, value, raw string }
	tests := []struct {
		name   string
		in     string
		fields []f
		rest   string
		err    error
	}{
		{
			name: "crlf with folding",
			in:   "Subject: a\r\n b\r\nTo: x@example.com\r\n\r\nbody\r\n",
			fields: []f{
				{"Subject", "a b", "Subject: a\r\n b\r\n"},
				{"To", "x@example.com", "To: x@example.com\r\n"},
			},
			rest: "body\r\n",
		},
		{
			name: "lf with tab folding",
			in:   "Content-Type: multipart/mixed;\n\tboundary=\"x\"\n\nbody",
			fields: []f{
				{"Content-Type", "multipart/mixed;\tboundary=\"x\"", "Content-Type: multipart/mixed;\n\tboundary=\"x\"\n"},
			},
			rest: "body",
		},
		{
			name: "mixed endings, blank line LF",
			in:   "A: 1\r\nB: 2\n\n\r\nbody",
			fields: []f{
				{"A", "1", "A: 1\r\n"},
				{"B", "2", "B: 2\n"},
			},
			rest: "\r\nbody",
		},
		{
			name: "value whitespace trimmed, raw kept",
			in:   "X-Pad:   v  w \t\r\nEmpty:\r\n\r\n",
			fields: []f{
				{"X-Pad", "v  w", "X-Pad:   v  w \t\r\n"},
				{"Empty", "", "Empty:\r\n"},
			},
		},
		{
			name:   "whitespace before colon (obsolete syntax)",
			in:     "Subject : hi\r\n\r\n",
			fields: []f{{"Subject", "hi", "Subject : hi\r\n"}},
		},
		{
			name:   "folded continuation after obsolete name",
			in:     "Subject : a\r\n\tb\r\n\r\n",
			fields: []f{{"Subject", "a\tb", "Subject : a\r\n\tb\r\n"}},
		},
		{
			name:   "EOF after header without blank line",
			in:     "A: 1\r\nB: 2\r\n",
			fields: []f{{"A", "1", "A: 1\r\n"}, {"B", "2", "B: 2\r\n"}},
		},
		{
			name:   "EOF inside last line",
			in:     "A: 1\r\nB: 2",
			fields: []f{{"A", "1", "A: 1\r\n"}, {"B", "2", "B: 2"}},
		},
		{name: "empty header", in: "\r\nbody", rest: "body"},
		{name: "empty input", in: ""},
		{name: "continuation first", in: " x\r\n\r\n", err: ErrMalformedHeader},
		{name: "line without colon", in: "A: 1\r\nnot a field\r\n\r\n", err: ErrMalformedHeader},
		{name: "empty name", in: ": v\r\n\r\n", err: ErrMalformedHeader},
		{name: "space in name", in: "Bad Name: v\r\n\r\n", err: ErrMalformedHeader},
		{name: "8-bit in name", in: "N\xe4me: v\r\n\r\n", err: ErrMalformedHeader},
	}
	wraps := []struct {
		name string
		wrap func(io.Reader) io.Reader
		size int
	}{
		{"plain", func(r io.Reader) io.Reader { return r }, 4096},
		{"onebyte-smallbuf", iotest.OneByteReader, 16},
		{"half", iotest.HalfReader, 16},
	}
	for _, tt := range tests {
		for _, w := range wraps {
			t.Run(tt.name+"/"+w.name, func(t *testing.T) {
				br := bufio.NewReaderSize(w.wrap(strings.NewReader(tt.in)), w.size)
				h, err := ReadHeader(br)
				if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if err != nil {
					return
				}
				if len(h.Fields) != len(tt.fields) {
					t.Fatalf("got %d fields %q, want %d", len(h.Fields), h.Fields, len(tt.fields))
				}
				var raw strings.Builder
				for i, want := range tt.fields {
					got := h.Fields[i]
					if got.Name != want.name || got.Value != want.value || string(got.Raw) != want.raw {
						t.Errorf("field %d = {%q %q %q}, want {%q %q %q}", i, got.Name, got.Value, got.Raw, want.name, want.value, want.raw)
					}
					raw.WriteString(want.raw)
				}
				if string(h.Bytes()) != raw.String() {
					t.Errorf("Bytes() = %q, want %q", h.Bytes(), raw.String())
				}
				rest, _ := io.ReadAll(br)
				if string(rest) != tt.rest {
					t.Errorf("rest = %q, want %q", rest, tt.rest)
				}
			})
		}
	}
}

func TestReadHeaderLimits(t *testing.T) {
	// A long folded field (longer than the bufio buffer) is fine.
	long := "X-Long: " + strings.Repeat("word ", 20000) + "\r\n\r\n"
	h, err := ReadHeader(bufio.NewReaderSize(strings.NewReader(long), 16))
	if err != nil || len(h.Fields) != 1 || string(h.Fields[0].Raw) != long[:len(long)-2] {
		t.Fatalf("long field: %v, %d fields", err, len(h.Fields))
	}
	// A header block over MaxHeaderBytes is rejected, and the reader
	// does not have to produce the whole block to notice.
	line := "X-Filler: " + strings.Repeat("a", 90) + "\r\n"
	src := &repeatReader{line: []byte(line), n: MaxHeaderBytes/len(line) + 10}
	_, err = ReadHeader(bufio.NewReader(src))
	if !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("err = %v, want ErrHeaderTooLarge", err)
	}
	if src.n == 0 {
		t.Errorf("ReadHeader consumed the entire oversized input")
	}
	// Exactly at the limit is accepted.
	exact := strings.Repeat("X: y\r\n", (MaxHeaderBytes-100)/6)
	exact += "Z: " + strings.Repeat("q", MaxHeaderBytes-len(exact)-7) + "\r\n\r\n"
	if len(exact) != MaxHeaderBytes {
		t.Fatalf("test setup: %d bytes", len(exact))
	}
	if _, err := ReadHeader(bufio.NewReader(strings.NewReader(exact))); err != nil {
		t.Errorf("header of exactly MaxHeaderBytes: %v", err)
	}
	if _, err := ReadHeader(bufio.NewReader(strings.NewReader("A: b\r\n" + exact))); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("header one field over MaxHeaderBytes: %v", err)
	}
}

type repeatReader struct {
	line []byte
	n    int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	r.n--
	return copy(p, r.line), nil
}

func TestHeaderGetDelSet(t *testing.T) {
	in := "From: a\r\ncontent-type: text/plain\r\nX: 1\r\nContent-Type: text/html\r\nX: 2\r\n\r\n"
	h, err := ReadHeader(bufio.NewReader(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("CONTENT-TYPE"); got != "text/plain" {
		t.Errorf("Get = %q, want first occurrence text/plain", got)
	}
	if got := h.Get("Missing"); got != "" {
		t.Errorf("Get(Missing) = %q", got)
	}
	h.Set("Content-Type", "application/pkcs7-mime;\r\nX-Injected: yes")
	want := "From: a\r\nContent-Type: application/pkcs7-mime;  X-Injected: yes\r\nX: 1\r\nX: 2\r\n"
	if string(h.Bytes()) != want {
		t.Errorf("after Set: %q, want %q", h.Bytes(), want)
	}
	h.Set("X-Latin1", "caf\xe9")
	if f := h.Fields[len(h.Fields)-1]; f.Value != "caf\xe9" || string(f.Raw) != "X-Latin1: caf\xe9\r\n" {
		t.Errorf("8-bit value not kept byte for byte: %q", f.Raw)
	}
	h.Del("x-latin1")
	h.Del("x")
	h.Set("MIME-Version", " 1.0 ")
	want = "From: a\r\nContent-Type: application/pkcs7-mime;  X-Injected: yes\r\nMIME-Version: 1.0\r\n"
	if string(h.Bytes()) != want {
		t.Errorf("after Del/Set: %q, want %q", h.Bytes(), want)
	}
	if h.Get("MIME-Version") != "1.0" || len(h.Fields) != 3 {
		t.Errorf("fields = %q", h.Fields)
	}
	// A re-read of the generated bytes gives the same fields.
	h2, err := ReadHeader(bufio.NewReader(bytes.NewReader(h.Bytes())))
	if err != nil || len(h2.Fields) != 3 {
		t.Fatalf("reparse: %v %q", err, h2.Fields)
	}
	for i := range h.Fields {
		a, b := h.Fields[i], h2.Fields[i]
		if a.Name != b.Name || a.Value != b.Value || !bytes.Equal(a.Raw, b.Raw) {
			t.Errorf("reparse field %d: %q vs %q", i, a, b)
		}
	}
}

func TestWriteHeaderFieldFolding(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"Subject", "short", "Subject: short\r\n"},
		{"Subject", "", "Subject: \r\n"},
		{
			"Content-Type",
			`multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="signet=_ABCDEFGHIJKLMNOPQRSTUVWXYZ"`,
			"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n" +
				" micalg=sha-256; boundary=\"signet=_ABCDEFGHIJKLMNOPQRSTUVWXYZ\"\r\n",
		},
		{
			// A word longer than the width is not broken; the fold goes
			// before it and the line stays long.
			"X", "a " + strings.Repeat("b", 100) + " c",
			"X: a\r\n " + strings.Repeat("b", 100) + "\r\n c\r\n",
		},
		{
			// Folds go before the first blank of a run: no blank-only lines.
			"X", strings.Repeat("w", 74) + "     z",
			"X: " + strings.Repeat("w", 74) + "\r\n     z\r\n",
		},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := WriteHeaderField(&b, tt.name, tt.value); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("WriteHeaderField(%q, %q) = %q, want %q", tt.name, tt.value, b.String(), tt.want)
		}
		for _, line := range strings.SplitAfter(b.String(), "\r\n") {
			if strings.Trim(line, " \t\r\n") == "" && line != "" {
				t.Errorf("blank-only line in %q", b.String())
			}
		}
		h, err := ReadHeader(bufio.NewReader(&b))
		if err != nil || len(h.Fields) != 1 || h.Fields[0].Value != tt.value {
			t.Errorf("reparse of %q: %v %q", tt.want, err, h.Fields)
		}
	}
	// Generated lines fit in 78 columns when the value allows it.
	var b bytes.Buffer
	if err := WriteHeaderField(&b, "Subject", strings.Repeat("lorem ipsum ", 30)); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\r\n"), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d columns: %q", len(line), line)
		}
	}
	if n := strings.Count(b.String(), "\r\n"); n < 4 {
		t.Errorf("expected the 360-byte value to be folded, got %d lines", n)
	}
}

func TestWriteHeaderFieldRejects(t *testing.T) {
	for _, tt := range []struct{ name, value string }{
		{"Subject", "a\r\nBcc: evil@example.com"},
		{"Subject", "a\nb"},
		{"Subject", "a\rb"},
		{"", "v"},
		{"Sub ject", "v"},
		{"Subject:", "v"},
	} {
		var b bytes.Buffer
		if err := WriteHeaderField(&b, tt.name, tt.value); !errors.Is(err, ErrInvalidField) {
			t.Errorf("WriteHeaderField(%q, %q) = %v, want ErrInvalidField", tt.name, tt.value, err)
		}
		if b.Len() != 0 {
			t.Errorf("wrote %q on error", b.String())
		}
	}
}

func TestContentType(t *testing.T) {
	var h Header
	mt, params, err := h.ContentType()
	if err != nil || mt != "text/plain" || params["charset"] != "us-ascii" {
		t.Errorf("default = %q %v %v", mt, params, err)
	}
	h.Set("Content-Type", `Multipart/Signed; Protocol="application/pkcs7-signature"; micalg=SHA-256; boundary="a b"`)
	mt, params, err = h.ContentType()
	if err != nil || mt != "multipart/signed" || params["protocol"] != "application/pkcs7-signature" ||
		params["micalg"] != "SHA-256" || params["boundary"] != "a b" {
		t.Errorf("parsed = %q %v %v", mt, params, err)
	}
	h.Set("Content-Type", "text/plain; charset")
	if _, _, err := h.ContentType(); err == nil {
		t.Error("malformed parameter: want error")
	}
}

func TestHeaderSetInvalidNamePanics(t *testing.T) {
	for _, name := range []string{"", "X\r\nBcc", "A B", "A:"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Set(%q) did not panic", name)
				}
			}()
			var h Header
			h.Set(name, "v")
		}()
	}
}
