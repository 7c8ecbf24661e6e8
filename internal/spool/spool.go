// Package spool provides a temporary, encrypted, constant-memory store for
// data that must not be released before it has been authenticated, such as
// the plaintext of an AES-GCM message whose tag is checked only at its end.
//
// A Spool writes to a temporary file that is unlinked at once where the
// operating system allows it (on Unix systems), so that nothing remains on
// disk if the process dies. Everything written is encrypted with a fresh
// random AES-256 key held only in memory, in AES-GCM chunks of 64 KiB whose
// nonce holds the chunk number and a flag marking the final chunk, so that
// altering, reordering, truncating or extending the file is detected when
// the data is read back.
//
// Data that fits in one chunk (64 KiB) never reaches the disk: the file and
// its key are made only when a second chunk begins, so a small message costs
// no file system work while memory stays bounded by the chunk size.
//
// A Spool is not safe for concurrent use.
package spool

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// chunkSize is the plaintext size of every chunk except the last.
const chunkSize = 64 << 10

// sealedSize is the on-disk size of a full chunk: plaintext plus GCM tag.
const sealedSize = chunkSize + 16

var (
	// ErrTampered is returned when the data read back fails authentication
	// or the file has the wrong length.
	ErrTampered = errors.New("spool: stored data was modified")
	// ErrClosed is returned by operations on a closed Spool.
	ErrClosed = errors.New("spool: closed")
	// ErrWriteAfterRead is returned by Write once Reader has been called.
	ErrWriteAfterRead = errors.New("spool: write after Reader")
)

// Spool is an encrypted temporary store. Write data, then call Reader to
// read it back, and Close to discard it.
type Spool struct {
	dir      string
	unlink   bool
	lazy     bool // keep the first chunk in memory; make the file only when needed
	f        *os.File
	path     string // name to remove on Close, if the file could not be unlinked
	key      []byte
	aead     cipher.AEAD
	buf      []byte // plaintext of the pending chunk, then its sealed form
	n        int    // plaintext bytes pending in buf
	chunks   uint64 // chunks written to the file
	size     int64  // plaintext bytes written
	diskSize int64  // bytes written to the file
	finished bool   // the final chunk has been written
	closed   bool
	err      error // sticky write error
}

// New creates a Spool backed by a new temporary file in dir, or in
// os.TempDir() if dir is empty.
func New(dir string) (*Spool, error) {
	return &Spool{dir: dir, unlink: true, lazy: true}, nil
}

// newSpool makes the file at once, with the unlinking optional, so that
// tests can inspect it.
func newSpool(dir string, unlink bool) (*Spool, error) {
	s := &Spool{dir: dir, unlink: unlink, buf: make([]byte, sealedSize)}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// open creates the key and the temporary file.
func (s *Spool) open() error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, "signet-spool-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.f, s.path, s.key, s.aead = f, f.Name(), key, aead
	if s.unlink && os.Remove(f.Name()) == nil {
		s.path = ""
	}
	return nil
}

// nonce returns the GCM nonce of chunk i: its number in the first eight
// bytes and, in the last byte, 1 for the final chunk and 0 otherwise.
func nonce(i uint64, final bool) [12]byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[:8], i)
	if final {
		n[11] = 1
	}
	return n
}

// Write encrypts p into the spool. It fails after Reader or Close.
func (s *Spool) Write(p []byte) (int, error) {
	switch {
	case s.closed:
		return 0, ErrClosed
	case s.finished:
		return 0, ErrWriteAfterRead
	case s.err != nil:
		return 0, s.err
	}
	written := 0
	for len(p) > 0 {
		// A full chunk is sealed only once more data arrives, so that the
		// chunk sealed by Reader is known to be the final one.
		if s.n == chunkSize {
			if err := s.flush(false); err != nil {
				return written, err
			}
		}
		s.grow(min(s.n+len(p), chunkSize))
		k := copy(s.buf[s.n:min(len(s.buf), chunkSize)], p)
		s.n += k
		s.size += int64(k)
		written += k
		p = p[k:]
	}
	return written, nil
}

// flush seals the pending chunk and appends it to the file.
func (s *Spool) flush(final bool) error {
	if s.f == nil {
		if err := s.open(); err != nil {
			s.err = err
			return err
		}
	}
	s.grow(sealedSize)
	nc := nonce(s.chunks, final)
	sealed := s.aead.Seal(s.buf[:0], nc[:], s.buf[:s.n], nil)
	if _, err := s.f.Write(sealed); err != nil {
		s.err = fmt.Errorf("spool: %w", err)
		return s.err
	}
	s.chunks++
	s.diskSize += int64(len(sealed))
	s.n = 0
	return nil
}

// grow makes buf at least n bytes long (at most sealedSize), so that a
// small spool allocates only what it holds.
func (s *Spool) grow(n int) {
	if len(s.buf) >= n {
		return
	}
	nb := getBuf(min(max(n, 2*len(s.buf), 4096), sealedSize))
	copy(nb, s.buf[:s.n])
	putBuf(s.buf)
	s.buf = nb
}

// Buffers are pooled by size (4, 8, 16, 32 KiB and a sealed chunk): a
// server spools several small messages per request.
var bufSizes = [...]int{4 << 10, 8 << 10, 16 << 10, 32 << 10, sealedSize}

var bufPools [len(bufSizes)]sync.Pool

// getBuf returns a zeroed buffer of the smallest pooled size >= n.
func getBuf(n int) []byte {
	for i, size := range bufSizes {
		if size >= n {
			if b, ok := bufPools[i].Get().(*[]byte); ok {
				return *b
			}
			return make([]byte, size)
		}
	}
	return make([]byte, n)
}

// putBuf clears a buffer and pools it if it has a pooled size.
func putBuf(b []byte) {
	if b == nil {
		return
	}
	b = b[:cap(b)]
	clear(b)
	for i, size := range bufSizes {
		if len(b) == size {
			bufPools[i].Put(&b)
			return
		}
	}
}

// Size returns the number of plaintext bytes written.
func (s *Spool) Size() int64 {
	return s.size
}

// Reader returns a reader of everything written. The first call seals the
// final chunk; no more data may be written afterwards. Reader may be called
// more than once; each reader starts at the beginning. A read error from the
// returned reader (ErrTampered in particular) must be treated as fatal: data
// returned before it came from earlier, intact chunks.
func (s *Spool) Reader() (io.ReadCloser, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if s.err != nil {
		return nil, s.err
	}
	if !s.finished && s.lazy && s.f == nil {
		// Everything fits in the first chunk: read it from memory.
		s.finished = true
		return &memReader{s: s, plain: s.buf[:s.n]}, nil
	}
	if s.lazy && s.f == nil {
		return &memReader{s: s, plain: s.buf[:s.n]}, nil
	}
	if !s.finished {
		if err := s.flush(true); err != nil {
			return nil, err
		}
		s.finished = true
		clear(s.buf)
	}
	fi, err := s.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if fi.Size() != s.diskSize {
		return nil, ErrTampered
	}
	return &reader{s: s, buf: make([]byte, sealedSize)}, nil
}

// Close closes and removes the file and forgets the key. Readers fail
// afterwards.
func (s *Spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	clear(s.key)
	putBuf(s.buf)
	s.buf = nil
	s.aead = nil
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	if s.path != "" {
		if rerr := os.Remove(s.path); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// reader decrypts the spool chunk by chunk.
type reader struct {
	s      *Spool
	buf    []byte // sealed chunk, decrypted in place
	plain  []byte // unread plaintext of the current chunk, within buf
	next   uint64 // next chunk to read
	err    error
	closed bool
}

func (r *reader) Read(p []byte) (int, error) {
	if r.closed || r.s.closed {
		return 0, ErrClosed
	}
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == r.s.chunks {
			return 0, io.EOF
		}
		r.err = r.load()
	}
	n := copy(p, r.plain)
	clear(r.plain[:n])
	r.plain = r.plain[n:]
	return n, nil
}

// load reads, authenticates and decrypts the next chunk. The final chunk
// may hold no plaintext; load then leaves r.plain empty.
func (r *reader) load() error {
	s := r.s
	i := r.next
	off := int64(i) * sealedSize
	size := int64(sealedSize)
	final := i == s.chunks-1
	if final {
		size = s.diskSize - off
	}
	sealed := r.buf[:size]
	if _, err := s.f.ReadAt(sealed, off); err != nil {
		if errors.Is(err, io.EOF) {
			return ErrTampered
		}
		return fmt.Errorf("spool: %w", err)
	}
	nc := nonce(i, final)
	plain, err := s.aead.Open(sealed[:0], nc[:], sealed, nil)
	if err != nil {
		return ErrTampered
	}
	r.plain = plain
	r.next++
	return nil
}

// Close releases the reader; it does not close the Spool.
func (r *reader) Close() error {
	r.closed = true
	clear(r.buf)
	r.plain = nil
	return nil
}

// memReader reads a spool that never left memory.
type memReader struct {
	s      *Spool
	plain  []byte
	closed bool
}

func (r *memReader) Read(p []byte) (int, error) {
	if r.closed || r.s.closed {
		return 0, ErrClosed
	}
	if len(r.plain) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

func (r *memReader) Close() error {
	r.closed = true
	return nil
}

// ReaderAt returns random access to everything written, for readers that
// go back and forth (the gateway reads a message once to decide and again
// to transform it). Like Reader, the first call ends writing. Each ReadAt
// authenticates the chunks it touches; ErrTampered is fatal.
func (s *Spool) ReaderAt() (io.ReaderAt, error) {
	if _, err := s.Reader(); err != nil {
		return nil, err
	}
	if s.f == nil {
		return &memReaderAt{s: s, r: bytes.NewReader(s.buf[:s.n])}, nil
	}
	return &readerAt{s: s, buf: make([]byte, sealedSize), cached: -1}, nil
}

// readerAt decrypts the chunks a ReadAt needs, keeping the last one.
type readerAt struct {
	s      *Spool
	mu     sync.Mutex
	buf    []byte
	plain  []byte
	cached int64 // chunk number in plain, -1 for none
}

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s.closed {
		return 0, ErrClosed
	}
	if off < 0 {
		return 0, errors.New("spool: negative offset")
	}
	n := 0
	for n < len(p) {
		if off >= r.s.size {
			return n, io.EOF
		}
		i := off / chunkSize
		if i != r.cached {
			rd := reader{s: r.s, buf: r.buf, next: uint64(i)}
			if err := rd.load(); err != nil {
				r.cached = -1
				return n, err
			}
			r.plain, r.cached = rd.plain, i
		}
		c := copy(p[n:], r.plain[off-i*chunkSize:])
		n += c
		off += int64(c)
	}
	return n, nil
}

// memReaderAt reads a spool that never left memory, and stops when the
// spool is closed (its buffer goes back to the pool).
type memReaderAt struct {
	s *Spool
	r *bytes.Reader
}

func (m *memReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if m.s.closed {
		return 0, ErrClosed
	}
	return m.r.ReadAt(p, off)
}
