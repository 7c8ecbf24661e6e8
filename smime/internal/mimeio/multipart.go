package mimeio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	// MaxPreamble is the number of preamble bytes kept for Preamble; the
	// rest of a longer preamble is read and discarded.
	MaxPreamble = 64 << 10
	// MaxBoundaryLen is the longest boundary NewMultipartReader accepts.
	// RFC 2046 allows 70 characters; some generators exceed that.
	MaxBoundaryLen = 200

	defaultBufSize = 16 << 10
	lazyRescan     = 256
)

var (
	// ErrTruncated is returned when a multipart body ends before its close
	// delimiter, or contains no delimiter at all.
	ErrTruncated = errors.New("mimeio: multipart body truncated (missing close delimiter)")
	// ErrBadBoundary is returned by NextPart when the boundary given to
	// NewMultipartReader is empty, too long or contains a line break.
	ErrBadBoundary = errors.New("mimeio: invalid multipart boundary")
	// ErrDelimiterTooLong is returned when a line that starts like a
	// delimiter (typically through transport padding) is longer than the
	// reader's buffer, so it cannot be classified in bounded memory.
	ErrDelimiterTooLong = errors.New("mimeio: delimiter line too long")

	errStalePart = errors.New("mimeio: part reader used after NextPart")
)

// MultipartReader splits a multipart body into the exact raw bytes of its
// body parts (RFC 2046 §5.1.1). It streams with a fixed-size buffer.
//
// A delimiter line is "--" boundary, optionally "--" (close delimiter),
// optional spaces and tabs (transport padding), then CRLF, LF or, for the
// last line of the input, nothing. It is recognised only at the start of a
// line; the line break before it (CRLF or LF) belongs to the delimiter and
// is not part of the preceding body part or preamble. A delimiter line
// that immediately follows another delimiter line ends an empty part.
// "--boundary" followed by anything else is ordinary content.
type MultipartReader struct {
	src  io.Reader
	dash []byte // "--" + boundary
	buf  []byte
	r, w int
	serr error // sticky error from src (io.EOF included)

	started   bool
	done      bool  // close delimiter consumed
	err       error // sticky parse error
	lineStart bool  // buf[r] is at the start of a line not yet examined

	avail    int  // bytes at buf[r:] known to be content
	atDelim  bool // a delimiter line starts at buf[r+avail]
	delimLen int  // its length, including the preceding line break
	isClose  bool

	gen       int // incremented by NextPart; invalidates old parts
	preamble  []byte
	lastDelim []byte
}

// NewMultipartReader reads a multipart body (the bytes after the top-level
// header) with the given boundary. An invalid boundary is reported by the
// first call to NextPart.
func NewMultipartReader(r io.Reader, boundary string) *MultipartReader {
	return newMultipartReaderSize(r, boundary, defaultBufSize)
}

func newMultipartReaderSize(r io.Reader, boundary string, size int) *MultipartReader {
	m := &MultipartReader{src: r, lineStart: true}
	if boundary == "" || len(boundary) > MaxBoundaryLen || strings.ContainsAny(boundary, "\r\n") {
		m.err = fmt.Errorf("%w: %q", ErrBadBoundary, boundary)
		return m
	}
	m.dash = []byte("--" + boundary)
	if minSize := len(m.dash) + 64; size < minSize {
		size = minSize
	}
	m.buf = make([]byte, size)
	return m
}

// Preamble returns the bytes before the first delimiter line, without the
// line break that precedes the delimiter. It is available once NextPart
// has been called and holds at most MaxPreamble bytes.
func (m *MultipartReader) Preamble() []byte { return m.preamble }

// Delimiter returns the exact bytes of the delimiter line consumed by the
// most recent NextPart call: the preceding line break (if any), "--"
// boundary, the optional "--", transport padding and the line ending (if
// any). The slice is reused by the next call.
func (m *MultipartReader) Delimiter() []byte { return m.lastDelim }

// Epilogue returns a reader over the bytes after the close delimiter line.
// It is only meaningful after NextPart has returned io.EOF; before that it
// returns an empty reader.
func (m *MultipartReader) Epilogue() io.Reader {
	if !m.done {
		return bytes.NewReader(nil)
	}
	m.gen++
	return &epilogueReader{m: m, gen: m.gen}
}

// NextPart returns an io.Reader over the exact raw bytes of the next body
// part: its header and body, excluding the line break that precedes the
// next delimiter line. It returns io.EOF after the close delimiter and
// ErrTruncated if the input ends first. The previous part is drained and
// its reader becomes invalid.
func (m *MultipartReader) NextPart() (io.Reader, error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.done {
		return nil, io.EOF
	}
	m.gen++
	if !m.started {
		m.started = true
		if err := m.skipContent(true); err != nil {
			return nil, m.fail(err)
		}
	} else if err := m.skipContent(false); err != nil {
		return nil, m.fail(err)
	}
	// A delimiter line starts at buf[r].
	m.lastDelim = append(m.lastDelim[:0], m.buf[m.r:m.r+m.delimLen]...)
	lineEnded := m.lastDelim[len(m.lastDelim)-1] == '\n'
	m.r += m.delimLen
	m.atDelim = false
	m.lineStart = true
	if m.isClose {
		m.done = true
		return nil, io.EOF
	}
	if !lineEnded {
		// "--boundary" was the last line of the input: no close delimiter.
		return nil, m.fail(ErrTruncated)
	}
	return &partReader{m: m, gen: m.gen}, nil
}

func (m *MultipartReader) fail(err error) error {
	if m.err == nil {
		m.err = err
	}
	return m.err
}

// skipContent consumes content up to the next delimiter line, keeping it
// as preamble if keep is set.
func (m *MultipartReader) skipContent(keep bool) error {
	for {
		if m.avail == 0 {
			if m.atDelim {
				return nil
			}
			if err := m.scan(); err != nil {
				return err
			}
			continue
		}
		if keep && len(m.preamble) < MaxPreamble {
			n := min(m.avail, MaxPreamble-len(m.preamble))
			m.preamble = append(m.preamble, m.buf[m.r:m.r+n]...)
		}
		m.consume(m.avail)
	}
}

func (m *MultipartReader) consume(n int) {
	m.r += n
	m.avail -= n
	if n > 0 {
		m.lineStart = false
	}
}

// scan classifies the buffered bytes, reading more input as needed, until
// some content is known to be available or a delimiter line is found at
// the current position. It returns ErrTruncated at the end of the input.
func (m *MultipartReader) scan() error {
	for {
		data := m.buf[m.r:m.w]
		eof := m.serr != nil
		res := findDelimiter(data, m.dash, m.lineStart, eof)
		if res.found {
			m.avail, m.atDelim, m.delimLen, m.isClose = res.start, true, res.length, res.close
			return nil
		}
		if res.start > 0 {
			m.avail = res.start
			return nil
		}
		if eof {
			if m.serr == io.EOF {
				return ErrTruncated
			}
			return m.serr
		}
		if m.r == 0 && m.w == len(m.buf) {
			return ErrDelimiterTooLong
		}
		// Read more. Once an undecided line (long transport padding) fills
		// lazyRescan bytes, it is re-examined only after the window has
		// doubled, so that tiny reads cannot make scanning quadratic.
		want := m.w - m.r + 1
		if n := m.w - m.r; n >= lazyRescan {
			want = min(2*n, len(m.buf))
		}
		for m.serr == nil && m.w-m.r < want {
			m.fill()
		}
	}
}

// fill moves the unread bytes to the front of the buffer and reads once.
func (m *MultipartReader) fill() {
	if m.r > 0 {
		copy(m.buf, m.buf[m.r:m.w])
		m.w -= m.r
		m.r = 0
	}
	for range 100 {
		n, err := m.src.Read(m.buf[m.w:])
		if n < 0 || n > len(m.buf)-m.w {
			m.serr = errors.New("mimeio: invalid Read count from source")
			return
		}
		m.w += n
		if err != nil {
			m.serr = err
			return
		}
		if n > 0 {
			return
		}
	}
	m.serr = io.ErrNoProgress
}

// scanResult describes the first delimiter line in a window, or how much
// of the window is certainly content.
type scanResult struct {
	start  int  // content bytes before the delimiter or the undecided tail
	found  bool // a delimiter line starts at start
	length int  // delimiter length including its preceding line break
	close  bool
}

// findDelimiter looks for the first delimiter line in data. lineStart says
// whether data[0] begins a line (the delimiter then needs no preceding line
// break). eof says whether data is all that remains of the input. If no
// delimiter is found, start is the length of the prefix that can safely be
// returned as content: it stops before a line break that might still begin
// a delimiter, and before a trailing CR that might be the start of a CRLF.
func findDelimiter(data, dash []byte, lineStart, eof bool) scanResult {
	if lineStart {
		switch n, cl, st := matchDelimLine(data, dash, eof); st {
		case matchFound:
			return scanResult{found: true, length: n, close: cl}
		case matchMore:
			return scanResult{}
		}
	}
	i := 0
	for {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		j += i
		lb := j
		if j > 0 && data[j-1] == '\r' {
			lb = j - 1
		}
		switch n, cl, st := matchDelimLine(data[j+1:], dash, eof); st {
		case matchFound:
			return scanResult{start: lb, found: true, length: j + 1 - lb + n, close: cl}
		case matchMore:
			return scanResult{start: lb}
		}
		i = j + 1
	}
	n := len(data)
	if !eof && n > 0 && data[n-1] == '\r' {
		n--
	}
	return scanResult{start: n}
}

const (
	matchNone = iota
	matchFound
	matchMore // not decidable without more input
)

// matchDelimLine reports whether b starts with a delimiter line (without
// the preceding line break) and, if so, its length and whether it is the
// close delimiter.
func matchDelimLine(b, dash []byte, eof bool) (n int, isClose bool, status int) {
	more := matchMore
	if eof {
		more = matchNone
	}
	if len(b) < len(dash) {
		if bytes.Equal(b, dash[:len(b)]) {
			return 0, false, more
		}
		return 0, false, matchNone
	}
	if !bytes.Equal(b[:len(dash)], dash) {
		return 0, false, matchNone
	}
	i := len(dash)
	if i < len(b) && b[i] == '-' {
		if i+1 == len(b) {
			return 0, false, more
		}
		if b[i+1] != '-' {
			return 0, false, matchNone
		}
		isClose = true
		i += 2
	}
	for i < len(b) && isWSP(b[i]) {
		i++
	}
	if i == len(b) {
		if eof {
			return i, isClose, matchFound
		}
		return 0, false, matchMore
	}
	switch b[i] {
	case '\n':
		return i + 1, isClose, matchFound
	case '\r':
		if i+1 == len(b) {
			return 0, false, more
		}
		if b[i+1] == '\n' {
			return i + 2, isClose, matchFound
		}
	}
	return 0, false, matchNone
}

// partReader reads the content of one body part.
type partReader struct {
	m   *MultipartReader
	gen int
}

func (p *partReader) Read(b []byte) (int, error) {
	m := p.m
	if p.gen != m.gen {
		return 0, errStalePart
	}
	if m.err != nil {
		return 0, m.err
	}
	if len(b) == 0 {
		return 0, nil
	}
	if m.avail == 0 {
		if m.atDelim {
			return 0, io.EOF
		}
		if err := m.scan(); err != nil {
			return 0, m.fail(err)
		}
		if m.avail == 0 {
			return 0, io.EOF
		}
	}
	n := copy(b, m.buf[m.r:m.r+m.avail])
	m.consume(n)
	return n, nil
}

// epilogueReader returns what follows the close delimiter line.
type epilogueReader struct {
	m   *MultipartReader
	gen int
}

func (e *epilogueReader) Read(b []byte) (int, error) {
	m := e.m
	if e.gen != m.gen {
		return 0, errStalePart
	}
	if m.r < m.w {
		n := copy(b, m.buf[m.r:m.w])
		m.r += n
		return n, nil
	}
	if m.serr != nil {
		return 0, m.serr
	}
	return m.src.Read(b)
}

// RandomBoundary returns a fresh boundary of 34 characters drawn from
// crypto/rand. It contains "=_", which cannot occur in base64 or
// quoted-printable encoded content, and otherwise only letters and digits.
func RandomBoundary() string {
	return "signet=_" + rand.Text()
}
