package mimeio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// splitResult is everything a MultipartReader produced for one input.
type splitResult struct {
	preamble []byte
	delims   [][]byte
	parts    [][]byte
	epilogue []byte
	err      error // final error: nil means NextPart ended with io.EOF
}

// reconstruct concatenates preamble, delimiters, parts and epilogue in
// input order.
func (s splitResult) reconstruct() []byte {
	var b bytes.Buffer
	b.Write(s.preamble)
	for i, d := range s.delims {
		b.Write(d)
		if i < len(s.parts) {
			b.Write(s.parts[i])
		}
	}
	b.Write(s.epilogue)
	return b.Bytes()
}

// split reads a whole multipart body. Part bytes read before an error are
// kept.
func split(m *MultipartReader) splitResult {
	var res splitResult
	for {
		p, err := m.NextPart()
		if res.preamble == nil {
			res.preamble = append([]byte{}, m.Preamble()...)
		}
		if d := m.Delimiter(); len(d) > 0 && (err == nil || err == io.EOF) {
			res.delims = append(res.delims, append([]byte(nil), d...))
		}
		if err == io.EOF {
			ep, eerr := io.ReadAll(m.Epilogue())
			res.epilogue = ep
			res.err = eerr
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		b, rerr := io.ReadAll(p)
		res.parts = append(res.parts, b)
		if rerr != nil {
			res.err = rerr
			return res
		}
	}
}

type readerWrap struct {
	name string
	wrap func(io.Reader) io.Reader
	size int // buffer size for newMultipartReaderSize
}

var readerWraps = []readerWrap{
	{"plain", func(r io.Reader) io.Reader { return r }, defaultBufSize},
	{"onebyte", iotest.OneByteReader, defaultBufSize},
	{"half", iotest.HalfReader, defaultBufSize},
	{"dataerr", iotest.DataErrReader, defaultBufSize},
	{"smallbuf", func(r io.Reader) io.Reader { return r }, 1},
	{"smallbuf-onebyte", iotest.OneByteReader, 1},
	{"smallbuf-half", iotest.HalfReader, 1},
}

func bs(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i := range s {
		out[i] = []byte(s[i])
	}
	return out
}

func TestMultipartSplit(t *testing.T) {
	tests := []struct {
		name     string
		boundary string
		in       string
		preamble string
		parts    []string
		delims   []string
		epilogue string
		err      error
	}{
		{
			name: "crlf", boundary: "b",
			in:       "pre\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n\r\nsecond\r\n--b--\r\nepi\r\n",
			preamble: "pre",
			parts:    []string{"Content-Type: text/plain\r\n\r\nhello", "\r\nsecond"},
			delims:   []string{"\r\n--b\r\n", "\r\n--b\r\n", "\r\n--b--\r\n"},
			epilogue: "epi\r\n",
		},
		{
			name: "lf", boundary: "b",
			in:       "pre\n--b\nA: 1\n\nhello\n\n--b\n\nsecond\n--b--\n",
			preamble: "pre",
			parts:    []string{"A: 1\n\nhello\n", "\nsecond"},
			delims:   []string{"\n--b\n", "\n--b\n", "\n--b--\n"},
		},
		{
			name: "mixed endings are kept exactly", boundary: "b",
			in:     "--b\r\nX\r\n\n--b\nY\n\r\n--b--\r\n",
			parts:  []string{"X\r\n", "Y\n"},
			delims: []string{"--b\r\n", "\n--b\n", "\r\n--b--\r\n"},
		},
		{
			name: "no preamble, close at EOF without line end", boundary: "b",
			in:     "--b\r\nA\r\n--b--",
			parts:  []string{"A"},
			delims: []string{"--b\r\n", "\r\n--b--"},
		},
		{
			name: "empty preamble line", boundary: "b",
			in:     "\r\n--b\r\nA\r\n--b--\r\n",
			parts:  []string{"A"},
			delims: []string{"\r\n--b\r\n", "\r\n--b--\r\n"},
		},
		{
			name: "transport padding", boundary: "b",
			in:     "--b \t \r\nA\r\n--b\t\nB\r\n--b--  \r\n",
			parts:  []string{"A", "B"},
			delims: []string{"--b \t \r\n", "\r\n--b\t\n", "\r\n--b--  \r\n"},
		},
		{
			name: "delimiter-like text is content", boundary: "b",
			in: "--b\r\nx--b\r\n--bx\r\n--b-x\r\n--b--x\r\n--b x\r\n---b\r\n --b\r\n--b\rz\r\n--B\r\n--b--\r\n",
			parts: []string{
				"x--b\r\n--bx\r\n--b-x\r\n--b--x\r\n--b x\r\n---b\r\n --b\r\n--b\rz\r\n--B",
			},
			delims: []string{"--b\r\n", "\r\n--b--\r\n"},
		},
		{
			name: "empty parts", boundary: "b",
			in:     "--b\r\n\r\n--b\r\n\r\n--b--\r\n",
			parts:  []string{"", ""},
			delims: []string{"--b\r\n", "\r\n--b\r\n", "\r\n--b--\r\n"},
		},
		{
			name: "delimiter directly after delimiter", boundary: "b",
			in:     "--b\r\n--b\r\nX\r\n--b--\r\n",
			parts:  []string{"", "X"},
			delims: []string{"--b\r\n", "--b\r\n", "\r\n--b--\r\n"},
		},
		{
			name: "only a close delimiter", boundary: "b",
			in:       "pre\r\n--b--\r\n",
			preamble: "pre",
			delims:   []string{"\r\n--b--\r\n"},
		},
		{
			name: "longer boundary with dashes", boundary: "------------ms0005",
			in:     "x\r\n--------------ms0005\r\n--------------ms00055\r\n--------------ms0005--\r\n",
			parts:  []string{"--------------ms00055"},
			delims: []string{"\r\n--------------ms0005\r\n", "\r\n--------------ms0005--\r\n"},
			// preamble "x"
			preamble: "x",
		},
		{
			name: "part ends with CR before delimiter", boundary: "b",
			in:     "--b\r\nA\r\r\n--b--\r\n",
			parts:  []string{"A\r"},
			delims: []string{"--b\r\n", "\r\n--b--\r\n"},
		},
		{
			name: "missing close delimiter", boundary: "b",
			in:     "--b\r\nA\r\n",
			parts:  []string{"A\r\n"},
			delims: []string{"--b\r\n"},
			err:    ErrTruncated,
		},
		{
			name: "last delimiter not closed", boundary: "b",
			in:     "--b\r\nA\r\n--b\r\nB",
			parts:  []string{"A", "B"},
			delims: []string{"--b\r\n", "\r\n--b\r\n"},
			err:    ErrTruncated,
		},
		{
			name: "input ends at delimiter", boundary: "b",
			in:     "--b\r\nA\r\n--b",
			parts:  []string{"A"},
			delims: []string{"--b\r\n"},
			err:    ErrTruncated,
		},
		{
			name: "close delimiter followed by bare CR at EOF", boundary: "b",
			in:     "--b\r\nA\r\n--b--\r",
			parts:  []string{"A\r\n--b--\r"},
			delims: []string{"--b\r\n"},
			err:    ErrTruncated,
		},
		{
			name: "bare CR is not a line break", boundary: "b",
			in:     "--b\r\nA\r--b--\r\n",
			parts:  []string{"A\r--b--\r\n"},
			delims: []string{"--b\r\n"},
			err:    ErrTruncated,
		},
		{
			name: "no delimiter at all", boundary: "b",
			in:  "just text\r\n",
			err: ErrTruncated, preamble: "just text\r\n",
		},
		{
			name: "empty input", boundary: "b",
			in: "", err: ErrTruncated,
		},
		{name: "empty boundary", boundary: "", in: "--\r\n", err: ErrBadBoundary},
		{name: "boundary with CRLF", boundary: "a\r\nb", in: "--a\r\nb\r\n", err: ErrBadBoundary},
		{name: "boundary too long", boundary: strings.Repeat("x", MaxBoundaryLen+1), in: "", err: ErrBadBoundary},
	}
	for _, tt := range tests {
		for _, w := range readerWraps {
			t.Run(tt.name+"/"+w.name, func(t *testing.T) {
				m := newMultipartReaderSize(w.wrap(strings.NewReader(tt.in)), tt.boundary, w.size)
				got := split(m)
				if !errors.Is(got.err, tt.err) || (tt.err == nil) != (got.err == nil) {
					t.Fatalf("err = %v, want %v", got.err, tt.err)
				}
				if string(got.preamble) != tt.preamble {
					t.Errorf("preamble = %q, want %q", got.preamble, tt.preamble)
				}
				if !equalParts(got.parts, bs(tt.parts...)) {
					t.Errorf("parts = %q, want %q", got.parts, tt.parts)
				}
				if !equalParts(got.delims, bs(tt.delims...)) {
					t.Errorf("delimiters = %q, want %q", got.delims, tt.delims)
				}
				if string(got.epilogue) != tt.epilogue {
					t.Errorf("epilogue = %q, want %q", got.epilogue, tt.epilogue)
				}
				if tt.err == nil {
					if r := got.reconstruct(); string(r) != tt.in {
						t.Errorf("reconstruction = %q, want input %q", r, tt.in)
					}
				}
			})
		}
	}
}

func equalParts(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestMultipartBufferBoundaries moves a delimiter across every offset of
// a small buffer, for CRLF and LF, with every reader wrapping.
func TestMultipartBufferBoundaries(t *testing.T) {
	const boundary = "=_frontier"
	for _, nl := range []string{"\r\n", "\n"} {
		for k := 0; k < 200; k++ {
			content := strings.Repeat("y", k/2) + nl + strings.Repeat("z", k-k/2)
			in := "--" + boundary + nl + content + nl + "--" + boundary + nl + content + nl + "--" + boundary + "--" + nl
			for _, w := range readerWraps {
				got := split(newMultipartReaderSize(w.wrap(strings.NewReader(in)), boundary, w.size))
				if got.err != nil || !equalParts(got.parts, bs(content, content)) {
					t.Fatalf("nl=%q k=%d %s: parts=%q err=%v", nl, k, w.name, got.parts, got.err)
				}
			}
		}
	}
}

func TestMultipartDrainAndStaleReader(t *testing.T) {
	in := "--b\r\nfirst part with some text\r\n--b\r\nsecond\r\n--b--\r\n"
	m := newMultipartReaderSize(iotest.OneByteReader(strings.NewReader(in)), "b", 1)
	p1, err := m.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if n, err := io.ReadFull(p1, buf); err != nil || string(buf[:n]) != "first" {
		t.Fatalf("partial read = %q, %v", buf[:n], err)
	}
	p2, err := m.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p1.Read(buf); err == nil || n != 0 {
		t.Errorf("stale part Read = %d, %v; want error", n, err)
	}
	b, err := io.ReadAll(p2)
	if err != nil || string(b) != "second" {
		t.Errorf("second part = %q, %v", b, err)
	}
	if _, err := m.NextPart(); err != io.EOF {
		t.Errorf("NextPart after close = %v, want io.EOF", err)
	}
	if _, err := m.NextPart(); err != io.EOF {
		t.Errorf("NextPart again = %v, want io.EOF", err)
	}
}

func TestMultipartLongPreambleIsBounded(t *testing.T) {
	pre := strings.Repeat("preamble line\r\n", MaxPreamble/10)
	in := pre + "--b\r\nA\r\n--b--\r\n"
	m := NewMultipartReader(strings.NewReader(in), "b")
	got := split(m)
	if got.err != nil || !equalParts(got.parts, bs("A")) {
		t.Fatalf("parts=%q err=%v", got.parts, got.err)
	}
	if len(got.preamble) != MaxPreamble || !strings.HasPrefix(pre, string(got.preamble)) {
		t.Errorf("preamble length %d, want first %d bytes", len(got.preamble), MaxPreamble)
	}
}

func TestMultipartDelimiterPadding(t *testing.T) {
	// Padding that fits in the buffer is accepted...
	in := "--b" + strings.Repeat(" ", 1000) + "\r\nA\r\n--b--\r\n"
	got := split(NewMultipartReader(strings.NewReader(in), "b"))
	if got.err != nil || !equalParts(got.parts, bs("A")) {
		t.Fatalf("parts=%q err=%v", got.parts, got.err)
	}
	// ...padding that does not is reported, not silently misparsed.
	in = "--b\r\nA\r\n--b" + strings.Repeat(" ", 3*defaultBufSize) + "\r\n"
	got = split(NewMultipartReader(strings.NewReader(in), "b"))
	if !errors.Is(got.err, ErrDelimiterTooLong) {
		t.Fatalf("err = %v, want ErrDelimiterTooLong", got.err)
	}
}

func TestMultipartSourceError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("--b\r\nsome content"), iotest.ErrReader(boom))
	m := NewMultipartReader(r, "b")
	p, err := m.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(p)
	if !errors.Is(err, boom) || string(b) != "some content" {
		t.Fatalf("ReadAll = %q, %v; want content and boom", b, err)
	}
	if _, err := m.NextPart(); !errors.Is(err, boom) {
		t.Errorf("NextPart = %v, want boom", err)
	}
}

// patternReader produces "--b\r\n" + header + n blocks of content +
// "\r\n--b--\r\n" without holding the message.
type patternReader struct {
	blocks, done int
	cur          []byte
	stage        int
}

var (
	patHead  = []byte("--b\r\nContent-Type: application/octet-stream\r\n\r\n")
	patBlock = []byte("line\r\n--bx not a delimiter\r\n-- b\r\n--b-\n--b--x\r\n\r\n\n" +
		strings.Repeat("0123456789abcdef", 60) + "\r\n")
	patTail = []byte("\r\n--b--\r\n")
)

func (p *patternReader) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		switch {
		case p.stage == 0:
			p.cur, p.stage = patHead, 1
		case p.stage == 1 && p.done < p.blocks:
			p.cur = patBlock
			p.done++
		case p.stage == 1:
			p.cur, p.stage = patTail, 2
		default:
			return 0, io.EOF
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// countWriter counts bytes and checks them against the block pattern.
type countWriter struct {
	n   int64
	bad bool
}

func (c *countWriter) Write(p []byte) (int, error) {
	hl := int64(len(patHead) - len("--b\r\n"))
	for i, b := range p {
		off := c.n + int64(i)
		if off >= hl && b != patBlock[(off-hl)%int64(len(patBlock))] {
			c.bad = true
		}
	}
	c.n += int64(len(p))
	return len(p), nil
}

func parsePattern(t testing.TB, blocks int, copyBuf []byte) int64 {
	m := NewMultipartReader(&patternReader{blocks: blocks}, "b")
	p, err := m.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var cw countWriter
	if _, err := io.CopyBuffer(&cw, p, copyBuf); err != nil {
		t.Fatal(err)
	}
	if _, err := m.NextPart(); err != io.EOF {
		t.Fatalf("NextPart after big part = %v, want io.EOF", err)
	}
	if cw.bad {
		t.Fatal("part content differs from the generated content")
	}
	return cw.n
}

// TestMultipartLargeMessageConstantMemory parses messages of 1 MB and
// 16 MB: the part must be exact and allocations must not grow with size.
func TestMultipartLargeMessageConstantMemory(t *testing.T) {
	copyBuf := make([]byte, 4096)
	small, large := (1<<20)/len(patBlock), (16<<20)/len(patBlock)
	wantLen := int64(len(patHead)-len("--b\r\n")) + int64(large)*int64(len(patBlock))
	if n := parsePattern(t, large, copyBuf); n != wantLen {
		t.Fatalf("part length = %d, want %d", n, wantLen)
	}
	allocsSmall := testing.AllocsPerRun(2, func() { parsePattern(t, small, copyBuf) })
	allocsLarge := testing.AllocsPerRun(2, func() { parsePattern(t, large, copyBuf) })
	if allocsLarge > allocsSmall || allocsLarge > 20 {
		t.Errorf("allocations: 1 MB message %v, 16 MB message %v; want equal and small", allocsSmall, allocsLarge)
	}
	t.Logf("allocations per parse: %v (1 MB), %v (16 MB)", allocsSmall, allocsLarge)

	// Bytes allocated while parsing 16 MB stay far below the message size.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	parsePattern(t, large, copyBuf)
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 256<<10 {
		t.Errorf("parsing a 16 MB message allocated %d bytes", d)
	}
}

func TestRandomBoundary(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		b := RandomBoundary()
		if len(b) == 0 || len(b) > 70 || seen[b] || !strings.Contains(b, "=_") {
			t.Fatalf("bad or repeated boundary %q", b)
		}
		for _, c := range b {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '=' || c == '_') {
				t.Fatalf("boundary %q has character %q", b, c)
			}
		}
		seen[b] = true
	}
	b := RandomBoundary()
	mt, params, err := ParseMediaType(fmt.Sprintf("multipart/signed; boundary=%q", b))
	if err != nil || mt != "multipart/signed" || params["boundary"] != b {
		t.Fatalf("ParseMediaType = %q %v %v", mt, params, err)
	}
	got := split(NewMultipartReader(strings.NewReader("--"+b+"\r\nX\r\n--"+b+"--\r\n"), b))
	if got.err != nil || !equalParts(got.parts, bs("X")) {
		t.Errorf("parts=%q err=%v", got.parts, got.err)
	}
}

// TestPathologicalInputs checks the results on inputs that were once
// quadratic (long transport padding delivered one byte per Read, a header
// field with many continuation lines); BenchmarkPathologicalInputs
// measures their speed.
func TestPathologicalInputs(t *testing.T) { pathological(t) }

func BenchmarkPathologicalInputs(b *testing.B) {
	for b.Loop() {
		pathological(b)
	}
}

func pathological(t testing.TB) {
	line := "x\r\n--b" + strings.Repeat(" ", 15000) + "x"
	in := "--b\r\n" + strings.Repeat(line, 60) + "\r\n--b--\r\n"
	got := split(NewMultipartReader(iotest.OneByteReader(strings.NewReader(in)), "b"))
	want := strings.Repeat(line, 60)
	if got.err != nil || !equalParts(got.parts, bs(want)) {
		t.Fatalf("padding: %d parts, err %v", len(got.parts), got.err)
	}
	field := "X-Long: a\r\n" + strings.Repeat(" x\r\n", 200000)
	h, err := ReadHeader(bufio.NewReader(strings.NewReader(field + "\r\n")))
	if err != nil || len(h.Fields) != 1 || len(h.Fields[0].Value) != 1+2*200000 {
		t.Fatalf("folded field: %v", err)
	}
}
