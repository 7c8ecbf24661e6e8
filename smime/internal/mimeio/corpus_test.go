package mimeio

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/signet-smime/signet/internal/shareddata"
)

// parseMessage reads a top-level header and splits the multipart body.
func parseMessage(t *testing.T, r io.Reader) (Header, string, map[string]string, splitResult) {
	t.Helper()
	br := bufio.NewReader(r)
	h, err := ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := h.ContentType()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("top-level type %q", mt)
	}
	return h, mt, params, split(NewMultipartReader(br, params["boundary"]))
}

func TestThunderbirdSigned(t *testing.T) {
	raw := shareddata.ReadFile(t, "mimekit-smime/thunderbird-signed.txt")
	for _, wrap := range []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader,
	} {
		_, mt, params, got := parseMessage(t, wrap(bytes.NewReader(raw)))
		if mt != "multipart/signed" || params["protocol"] != "application/pkcs7-signature" || params["micalg"] != "sha1" {
			t.Fatalf("Content-Type = %q %v", mt, params)
		}
		if got.err != nil || len(got.parts) != 2 {
			t.Fatalf("got %d parts, err %v; want 2 parts", len(got.parts), got.err)
		}
		// Independent oracle: the signed bytes run from after the first
		// delimiter line to before the LF that precedes the second one.
		const outer = "--------------ms000505020301050400050509"
		first := bytes.Index(raw, []byte("\n"+outer+"\n")) + len(outer) + 2
		second := bytes.Index(raw[first:], []byte("\n"+outer+"\n")) + first
		signed := got.parts[0]
		if !bytes.Equal(signed, raw[first:second]) {
			t.Fatalf("first part (%d bytes) is not raw[%d:%d]", len(signed), first, second)
		}
		if !bytes.HasPrefix(signed, []byte("Content-Type: multipart/mixed;\n boundary=\"------------090306060102060402000809\"\n\n")) {
			t.Errorf("first part starts %q", signed[:80])
		}
		if !bytes.HasSuffix(signed, []byte("\n--------------090306060102060402000809--\n")) || bytes.HasSuffix(signed, []byte("\n\n")) {
			t.Errorf("first part ends %q; want the inner close delimiter and one LF", signed[len(signed)-50:])
		}
		if string(got.preamble) != "This is a cryptographically signed message in MIME format.\n" {
			t.Errorf("preamble = %q", got.preamble)
		}
		if len(got.epilogue) != 0 || string(got.delims[2]) != "\n"+outer+"--\n" {
			t.Errorf("epilogue %q, close delimiter %q", got.epilogue, got.delims[2])
		}
		if !bytes.Equal(append(rawHeaderPrefix(raw), got.reconstruct()...), raw) {
			t.Error("header + reconstruction differs from the file")
		}

		// The signature part decodes to a DER/BER SEQUENCE.
		sig := bufio.NewReader(bytes.NewReader(got.parts[1]))
		sh, err := ReadHeader(sig)
		if err != nil || sh.Get("content-type") != `application/pkcs7-signature; name="smime.p7s"` {
			t.Fatalf("signature header %q, %v", sh.Get("content-type"), err)
		}
		dec, err := DecodeTransfer(sig, sh.Get("Content-Transfer-Encoding"))
		if err != nil {
			t.Fatal(err)
		}
		p7s, err := io.ReadAll(dec)
		if err != nil || len(p7s) < 1000 || p7s[0] != 0x30 {
			t.Fatalf("signature: %d bytes, err %v", len(p7s), err)
		}

		// The signed content is itself multipart/mixed with 2 parts.
		_, imt, _, inner := parseMessage(t, bytes.NewReader(signed))
		if imt != "multipart/mixed" || inner.err != nil || len(inner.parts) != 2 {
			t.Fatalf("inner %q: %d parts, %v", imt, len(inner.parts), inner.err)
		}
		tb := bufio.NewReader(bytes.NewReader(inner.parts[0]))
		th, err := ReadHeader(tb)
		if err != nil {
			t.Fatal(err)
		}
		dec, err = DecodeTransfer(tb, th.Get("Content-Transfer-Encoding"))
		if err != nil {
			t.Fatal(err)
		}
		text, err := io.ReadAll(dec)
		want := "using \nmy free personal S/MIME certificate obtained from https://www.startssl.com\n"
		if err != nil || !strings.Contains(string(text), want) {
			t.Errorf("decoded text part %q, %v", text, err)
		}
	}
}

// rawHeaderPrefix returns the header block of raw including the blank line.
func rawHeaderPrefix(raw []byte) []byte {
	i := bytes.Index(raw, []byte("\n\n"))
	return raw[:i+2]
}

func TestMixedLineEndingsSigned(t *testing.T) {
	f, err := os.Open(shareddata.Path(t, "mimekit-smime/octet-stream-with-mixed-line-endings.dat"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, mt, _, got := parseMessage(t, iotest.HalfReader(f))
	if mt != "multipart/signed" || got.err != nil || len(got.parts) != 2 {
		t.Fatalf("%q: %d parts, %v", mt, len(got.parts), got.err)
	}
	// The signed part ends in a bare LF; the CRLF before the delimiter is
	// not part of it, and nothing is canonicalised.
	want := "Content-Type: application/octet-stream\r\n\r\nThis is a test from OT GXS. Please ignore.\n"
	if string(got.parts[0]) != want {
		t.Errorf("signed part = %q, want %q", got.parts[0], want)
	}
	// The binary signature part is exactly Content-Length bytes, even
	// though it contains CR and LF bytes.
	br := bufio.NewReader(bytes.NewReader(got.parts[1]))
	h, err := ReadHeader(br)
	if err != nil || h.Get("Content-Length") != "1953" {
		t.Fatalf("signature header %q, %v", h.Bytes(), err)
	}
	body, _ := io.ReadAll(br)
	if len(body) != 1953 || body[0] != 0x30 || !bytes.ContainsAny(body, "\r\n") {
		t.Errorf("binary signature: %d bytes, want 1953 starting with 0x30", len(body))
	}
}

func TestOpenSSLFuzzSeed(t *testing.T) {
	raw := shareddata.ReadFile(t, "fuzz-cms/smime/b6cf925eec43acc9cc43c3104f17ac16d71439d0")
	_, _, _, got := parseMessage(t, iotest.OneByteReader(bytes.NewReader(raw)))
	if got.err != nil || len(got.parts) != 2 {
		t.Fatalf("%d parts, %v", len(got.parts), got.err)
	}
	// CRLF inside the part, LF before the delimiter.
	if want := "Content-Type: text/plain\r\n\r\nThis is a sample signed message.\r\n"; string(got.parts[0]) != want {
		t.Errorf("signed part = %q, want %q", got.parts[0], want)
	}
}
