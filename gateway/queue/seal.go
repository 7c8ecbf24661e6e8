package queue

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The sealed file format (see the package documentation).
const (
	magic       = "SIGNETQ1"
	chunkSize   = 64 << 10
	tagSize     = 16
	sealedChunk = chunkSize + tagSize
	wrapNonce   = 12
	headerSize  = len(magic) + 1 + wrapNonce + 32 + tagSize
)

// File kinds, bound into every file's authenticated data.
const (
	kindData     byte = 'D'
	kindMeta     byte = 'M'
	kindKeyCheck byte = 'K'
)

// ErrCorrupt is wrapped by the errors for a sealed file that cannot be
// opened with the queue's key or whose content fails authentication
// (another key, damage, truncation, a file swapped for another).
var ErrCorrupt = errors.New("queue: sealed file unreadable (wrong key or damaged)")

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additionalData binds a file to its kind and message id.
func additionalData(kind byte, id string) []byte {
	ad := make([]byte, 0, len(magic)+1+len(id))
	ad = append(ad, magic...)
	ad = append(ad, kind)
	return append(ad, id...)
}

// chunkNonce is the nonce of chunk i: its number, and 1 in the last byte
// for the final chunk.
func chunkNonce(i uint64, final bool) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[:8], i)
	if final {
		n[11] = 1
	}
	return n
}

// sealWriter encrypts a stream into a sealed file: the header (with the
// file's data key wrapped by the queue key), then 64 KiB chunks.
type sealWriter struct {
	w      io.Writer
	aead   cipher.AEAD
	ad     []byte
	buf    []byte // plaintext of the pending chunk (cap sealedChunk)
	chunks uint64
	size   int64 // plaintext bytes written
	closed bool
}

// newSealWriter writes the header to w and returns the writer of the
// content.
func newSealWriter(w io.Writer, master cipher.AEAD, kind byte, id string) (*sealWriter, error) {
	key := make([]byte, 32)
	nonce := make([]byte, wrapNonce)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	ad := additionalData(kind, id)
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, magic...)
	hdr = append(hdr, kind)
	hdr = append(hdr, nonce...)
	hdr = master.Seal(hdr, nonce, key, ad)
	clear(key)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	// The buffer grows with the message (append in Write) up to one
	// chunk: a 10 KiB message does not cost a 64 KiB allocation.
	return &sealWriter{w: w, aead: aead, ad: ad}, nil
}

func (s *sealWriter) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("queue: write after commit")
	}
	n := 0
	for len(p) > 0 {
		if len(s.buf) == chunkSize {
			if err := s.flush(false); err != nil {
				return n, err
			}
		}
		k := min(len(p), chunkSize-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		n += k
		s.size += int64(k)
	}
	return n, nil
}

func (s *sealWriter) flush(final bool) error {
	if cap(s.buf) < len(s.buf)+tagSize {
		s.buf = append(make([]byte, 0, len(s.buf)+tagSize), s.buf...)
	}
	sealed := s.aead.Seal(s.buf[:0], chunkNonce(s.chunks, final), s.buf, s.ad)
	_, err := s.w.Write(sealed)
	clear(s.buf[:cap(s.buf)])
	s.buf = s.buf[:0]
	s.chunks++
	return err
}

// Close seals the final chunk (possibly empty).
func (s *sealWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.flush(true)
}

// sealReader decrypts a sealed file chunk by chunk. Every chunk is
// authenticated before any of its bytes are returned; a read error other
// than io.EOF wraps ErrCorrupt or is an I/O error.
type sealReader struct {
	r       io.ReaderAt
	aead    cipher.AEAD
	ad      []byte
	body    int64 // sealed bytes after the header
	nchunks uint64
	next    uint64
	buf     []byte
	plain   []byte
	err     error
}

// openSealed reads the header of a sealed file of the given size and
// unwraps its data key.
func openSealed(r io.ReaderAt, size int64, master cipher.AEAD, kind byte, id string) (*sealReader, error) {
	if size < int64(headerSize+tagSize) {
		return nil, fmt.Errorf("%w: too short", ErrCorrupt)
	}
	hdr := make([]byte, headerSize)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, err
	}
	if string(hdr[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a queue file", ErrCorrupt)
	}
	if hdr[len(magic)] != kind {
		return nil, fmt.Errorf("%w: wrong file kind", ErrCorrupt)
	}
	ad := additionalData(kind, id)
	nonce := hdr[len(magic)+1 : len(magic)+1+wrapNonce]
	key, err := master.Open(nil, nonce, hdr[len(magic)+1+wrapNonce:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: data key does not unwrap (another key?)", ErrCorrupt)
	}
	aead, err := newGCM(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	body := size - int64(headerSize)
	n := uint64((body + sealedChunk - 1) / sealedChunk)
	if last := body - int64(n-1)*sealedChunk; last < tagSize {
		return nil, fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	return &sealReader{r: r, aead: aead, ad: ad, body: body, nchunks: n, buf: make([]byte, min(int64(sealedChunk), body))}, nil
}

func (s *sealReader) Read(p []byte) (int, error) {
	for len(s.plain) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.next == s.nchunks {
			return 0, io.EOF
		}
		s.err = s.load()
	}
	n := copy(p, s.plain)
	s.plain = s.plain[n:]
	return n, nil
}

func (s *sealReader) load() error {
	i := s.next
	off := int64(i) * sealedChunk
	final := i == s.nchunks-1
	size := int64(sealedChunk)
	if final {
		size = s.body - off
	}
	sealed := s.buf[:size]
	if _, err := s.r.ReadAt(sealed, int64(headerSize)+off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		return err
	}
	plain, err := s.aead.Open(sealed[:0], chunkNonce(i, final), sealed, s.ad)
	if err != nil {
		return fmt.Errorf("%w: chunk %d fails authentication", ErrCorrupt, i)
	}
	s.plain = plain
	s.next++
	return nil
}

// readSealedFile reads and decrypts a whole (small) sealed file.
func readSealedFile(path string, master cipher.AEAD, kind byte, id string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r, err := openSealed(f, fi.Size(), master, kind, id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// The message file (queue format 2): the sealed data (kind D), then the
// sealed metadata as committed (kind M), then a footer giving both
// lengths. Both sections are sealed files exactly as above.
const (
	footerMagic = "SIGNETQ2"
	footerSize  = len(footerMagic) + 8 + 8
)

// sealedLen is the length of a sealed file holding n bytes of plaintext:
// the header and at least one chunk (the final chunk may be empty).
func sealedLen(n int64) int64 {
	chunks := max((n+chunkSize-1)/chunkSize, 1)
	return int64(headerSize) + n + chunks*tagSize
}

// appendFooter appends the footer of a message file.
func appendFooter(b []byte, dataLen, metaLen int64) []byte {
	b = append(b, footerMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(dataLen))
	return binary.BigEndian.AppendUint64(b, uint64(metaLen))
}

// readFooter returns the sections of a message file of the given size.
// The footer is not authenticated, but wrong lengths only make the
// sections fail to open (each is sealed with its own final-chunk flag
// and authenticated length), and the data's length is checked against
// the size the metadata records.
func readFooter(r io.ReaderAt, size int64) (data, meta *io.SectionReader, err error) {
	if size < int64(footerSize+2*(headerSize+tagSize)) {
		return nil, nil, fmt.Errorf("%w: message file too short", ErrCorrupt)
	}
	f := make([]byte, footerSize)
	if _, err := r.ReadAt(f, size-int64(footerSize)); err != nil {
		return nil, nil, err
	}
	if string(f[:len(footerMagic)]) != footerMagic {
		return nil, nil, fmt.Errorf("%w: not a queue message file", ErrCorrupt)
	}
	dl := binary.BigEndian.Uint64(f[len(footerMagic):])
	ml := binary.BigEndian.Uint64(f[len(footerMagic)+8:])
	body := uint64(size) - uint64(footerSize)
	if dl > body || ml != body-dl {
		return nil, nil, fmt.Errorf("%w: inconsistent message file footer", ErrCorrupt)
	}
	return io.NewSectionReader(r, 0, int64(dl)), io.NewSectionReader(r, int64(dl), int64(ml)), nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
