package mimeio

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/signet-smime/signet/internal/shareddata"
)

var fuzzSeeds = []string{
	"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b\"\r\n\r\n" +
		"preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nMIIB\r\n--b--\r\n",
	"Content-Type: multipart/mixed; boundary=xyz\n\n--xyz\nA: 1\n\nbody\n--xyz \t\n\n--xyz--\nepilogue",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\nx--b\r\n--bb\r\n\r\n--b--",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nunterminated\r\n",
	"--b\r\nno header at all\r\n--b--\r\n",
	"Content-Type: multipart/mixed; boundary=\"=_q\"\r\n\r\n--=_q\r\nA\r\r\n--=_q--\r",
}

// FuzzMultipart parses a message (header, then a multipart body if the
// header names a boundary; the whole input is also split with boundary
// "b"). It checks that nothing panics, that byte-at-a-time input with a
// minimal buffer gives the same result, that preamble, delimiters, parts
// and epilogue reproduce a well-formed input exactly, that a malformed
// input yields a prefix of itself, and that no part contains a line that
// is a delimiter.
func FuzzMultipart(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	shareddata.AddSeeds(f, "fuzz-cms/smime")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSplit(t, data, "b")
		src := bytes.NewReader(data)
		br := bufio.NewReader(src)
		h, err := ReadHeader(br)
		if err != nil {
			return
		}
		consumed := len(data) - src.Len() - br.Buffered()
		hb := h.Bytes()
		if !bytes.HasPrefix(data, hb) {
			t.Fatalf("header bytes %q are not a prefix of the input", hb)
		}
		if sep := string(data[len(hb):consumed]); sep != "" && sep != "\n" && sep != "\r\n" {
			t.Fatalf("header consumed %q after its fields", sep)
		}
		_, params, err := h.ContentType()
		if err != nil || params["boundary"] == "" {
			return
		}
		checkSplit(t, data[consumed:], params["boundary"])
	})
}

func checkSplit(t *testing.T, body []byte, boundary string) {
	got := split(NewMultipartReader(bytes.NewReader(body), boundary))
	slow := split(newMultipartReaderSize(iotest.OneByteReader(bytes.NewReader(body)), boundary, 1))
	if !sameSplit(got, slow) {
		t.Fatalf("one-byte reads with a small buffer differ:\n%+v\n%+v", got, slow)
	}
	if errors.Is(got.err, ErrBadBoundary) || len(got.preamble) == MaxPreamble {
		return
	}
	r := got.reconstruct()
	if got.err == nil && !bytes.Equal(r, body) {
		t.Fatalf("reconstruction differs:\n got %q\nwant %q", r, body)
	}
	if !bytes.HasPrefix(body, r) {
		t.Fatalf("output is not a prefix of the input:\n got %q\nbody %q", r, body)
	}
	if got.err != nil {
		return
	}
	dash := "--" + boundary
	for i, p := range append([][]byte{got.preamble}, got.parts...) {
		lines := strings.Split(string(p), "\n")
		for j, line := range lines {
			// The last line's line break belongs to the next delimiter
			// and is not in p; any CR left there is content.
			if j < len(lines)-1 {
				line = strings.TrimSuffix(line, "\r")
			}
			line = strings.TrimRight(line, " \t")
			if line == dash || line == dash+"--" {
				t.Fatalf("piece %d contains delimiter line %q", i, line)
			}
		}
		if i > 0 {
			// Part headers must not panic, whatever they contain.
			ReadHeader(bufio.NewReader(bytes.NewReader(p)))
		}
	}
}

func sameSplit(a, b splitResult) bool {
	return bytes.Equal(a.preamble, b.preamble) && equalParts(a.delims, b.delims) &&
		equalParts(a.parts, b.parts) && bytes.Equal(a.epilogue, b.epilogue) &&
		errText(a.err) == errText(b.err)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
