// Package gcmstream implements streaming AES-GCM encryption and decryption
// (NIST SP 800-38D) with a 12-byte nonce and a 16-byte tag, for the
// AuthEnvelopedData content type of RFC 5083/5084. Memory use does not grow
// with the message length.
//
// It is built only from standard-library primitives: the keystream comes
// from cipher.NewCTR starting at counter block J0+1 = nonce || 0x00000002,
// and the authentication tag is assembled from GHASH values that the
// standard library's AES-GCM computes over 64 KiB chunks of ciphertext
// passed to it as additional data (see ghasher for the algebra), combined
// with a small GF(2^128) multiplication of this package.
//
// An Opener releases plaintext before the tag has been checked: callers must
// hold that plaintext back (for example in a spool) until Verify succeeds.
//
// Because it relies on cipher.NewGCM with a caller-chosen nonce, the package
// does not work in GODEBUG=fips140=only mode: NewSealer and NewOpener then
// return the standard library's error.
package gcmstream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// NonceSize and TagSize are the only nonce and tag sizes supported.
const (
	NonceSize = 12
	TagSize   = 16
)

// maxMessage is the GCM limit on the plaintext length, 2^32-2 blocks. It is
// also the point at which the 128-bit increment of cipher.NewCTR would stop
// matching GCM's 32-bit increment.
const maxMessage = (1<<32 - 2) * 16

var (
	// ErrAuth is returned by Opener.Verify when the tag does not match.
	ErrAuth = errors.New("gcmstream: message authentication failed")
	// ErrNonceSize is returned for a nonce that is not 12 bytes long.
	ErrNonceSize = errors.New("gcmstream: nonce must be 12 bytes")
	// ErrTooLong is returned when the message would exceed the GCM limit
	// of 2^32-2 blocks.
	ErrTooLong = errors.New("gcmstream: message too long for GCM")
	// ErrClosed is returned by writes after Close or Verify.
	ErrClosed = errors.New("gcmstream: write after close")
)

// outSize is the size of the Opener's plaintext scratch buffer.
const outSize = 16 << 10

// stream holds what a Sealer and an Opener share.
type stream struct {
	dst    io.Writer
	ctr    cipher.Stream
	gh     *ghasher
	buf    []byte // ciphertext of the current partial chunk, made on first use
	n      int    // bytes used in buf
	aadLen uint64
	ctLen  uint64
	done   bool
	err    error // sticky error from dst
}

func newStream(dst io.Writer, key, nonce, aad []byte) (*stream, error) {
	if len(nonce) != NonceSize {
		return nil, ErrNonceSize
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce = append([]byte(nil), nonce...)
	var ctr [16]byte
	copy(ctr[:], nonce)
	binary.BigEndian.PutUint32(ctr[12:], 2)
	s := &stream{
		dst:    dst,
		ctr:    cipher.NewCTR(block, ctr[:]),
		gh:     newGHasher(block, aead, nonce),
		aadLen: uint64(len(aad)),
	}
	s.gh.absorbAAD(aad)
	return s, nil
}

// check reports whether n more bytes may be processed.
func (s *stream) check(n int) error {
	switch {
	case s.done:
		return ErrClosed
	case s.err != nil:
		return s.err
	case uint64(n) > maxMessage-s.ctLen:
		return ErrTooLong
	}
	return nil
}

// chunkBufs recycles chunk buffers between streams.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// chunkBuf returns the chunk buffer, taking it from the pool on first use;
// finish gives it back.
func (s *stream) chunkBuf() []byte {
	if s.buf == nil {
		s.buf = *chunkBufs.Get().(*[]byte)
	}
	return s.buf
}

// finish absorbs the last partial chunk and returns the computed tag.
func (s *stream) finish() [16]byte {
	if s.n > 0 {
		s.gh.absorb(s.buf[:s.n])
	}
	t := s.gh.tag(s.aadLen, s.ctLen)
	s.gh.wipe()
	s.done = true
	if s.buf != nil {
		clear(s.buf[:s.n]) // it may hold plaintext (Opener) or ciphertext
		b := s.buf
		s.buf = nil
		chunkBufs.Put(&b)
	}
	return t
}

// Sealer encrypts a stream with AES-GCM. Plaintext written to it is
// encrypted and the ciphertext written to the destination as it is
// produced; Close writes nothing and makes Tag available.
type Sealer struct {
	s   *stream
	tag []byte
}

// NewSealer returns a Sealer that writes the AES-GCM encryption of what is
// written to it to dst. key must be 16, 24 or 32 bytes, nonce 12 bytes; aad
// is the additional authenticated data (it may be empty). The nonce must
// never be reused with the same key.
func NewSealer(dst io.Writer, key, nonce, aad []byte) (*Sealer, error) {
	s, err := newStream(dst, key, nonce, aad)
	if err != nil {
		return nil, err
	}
	return &Sealer{s: s}, nil
}

// Write encrypts p and writes the ciphertext to the destination.
func (w *Sealer) Write(p []byte) (int, error) {
	s := w.s
	if err := s.check(len(p)); err != nil {
		return 0, err
	}
	buf := s.chunkBuf()
	written := 0
	for len(p) > 0 {
		k := min(len(p), chunkSize-s.n)
		out := buf[s.n : s.n+k]
		s.ctr.XORKeyStream(out, p[:k])
		if _, err := s.dst.Write(out); err != nil {
			s.err = err
			return written, err
		}
		s.n += k
		s.ctLen += uint64(k)
		written += k
		p = p[k:]
		if s.n == chunkSize {
			s.gh.absorb(buf)
			s.n = 0
		}
	}
	return written, nil
}

// Close completes the tag computation. It writes nothing to the destination
// and does not close it. It returns the first error the destination
// returned, if any.
func (w *Sealer) Close() error {
	s := w.s
	if s.done {
		return nil
	}
	t := s.finish()
	if s.err == nil {
		w.tag = t[:]
	}
	return s.err
}

// Tag returns the 16-byte authentication tag, or nil before Close or if
// writing to the destination failed.
func (w *Sealer) Tag() []byte {
	if w.tag == nil {
		return nil
	}
	return append([]byte(nil), w.tag...)
}

// Opener decrypts a stream with AES-GCM. Ciphertext written to it is
// decrypted and the plaintext written to the destination at once, before
// it is authenticated: the caller must not release that plaintext until
// Verify, called after all ciphertext has been written, returns nil.
type Opener struct {
	s   *stream
	out []byte // plaintext scratch of outSize bytes
	sum []byte // computed tag, set by the first Verify
}

// NewOpener returns an Opener that writes the AES-GCM decryption of what is
// written to it to dst. key must be 16, 24 or 32 bytes, nonce 12 bytes; aad
// is the additional authenticated data (it may be empty).
func NewOpener(dst io.Writer, key, nonce, aad []byte) (*Opener, error) {
	s, err := newStream(dst, key, nonce, aad)
	if err != nil {
		return nil, err
	}
	return &Opener{s: s, out: make([]byte, outSize)}, nil
}

// Write decrypts p and writes the (not yet authenticated) plaintext to the
// destination.
func (r *Opener) Write(p []byte) (int, error) {
	s := r.s
	if err := s.check(len(p)); err != nil {
		return 0, err
	}
	written := 0
	for len(p) > 0 {
		var k int
		if s.n == 0 && len(p) >= 16 {
			// Block-aligned data: hash it in place, without copying.
			k = min(len(p), chunkSize) &^ 15
			s.gh.absorb(p[:k])
		} else {
			buf := s.chunkBuf()
			k = min(len(p), chunkSize-s.n)
			copy(buf[s.n:], p[:k])
			s.n += k
			if s.n == chunkSize {
				s.gh.absorb(buf)
				s.n = 0
			}
		}
		for in := p[:k]; len(in) > 0; {
			out := r.out[:min(len(in), outSize)]
			s.ctr.XORKeyStream(out, in[:len(out)])
			if _, err := s.dst.Write(out); err != nil {
				s.err = err
				return written, err
			}
			s.ctLen += uint64(len(out))
			written += len(out)
			in = in[len(out):]
		}
		p = p[k:]
	}
	return written, nil
}

// Verify checks tag against the tag computed over all ciphertext written so
// far, in constant time, and returns ErrAuth on mismatch (including a tag
// that is not 16 bytes long). No more ciphertext may be written afterwards.
// It returns the destination's first write error, if any, in preference to
// the result of the comparison.
func (r *Opener) Verify(tag []byte) error {
	s := r.s
	if !s.done {
		t := s.finish()
		r.sum = t[:]
		clear(r.out)
	}
	if s.err != nil {
		return s.err
	}
	if subtle.ConstantTimeCompare(tag, r.sum) != 1 {
		return ErrAuth
	}
	return nil
}
