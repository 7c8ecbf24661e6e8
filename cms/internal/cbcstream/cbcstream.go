// Package cbcstream implements streaming CBC-mode encryption and decryption
// with PKCS #7 padding (RFC 5652 section 6.3), as used by the CMS
// EnvelopedData content-encryption algorithms aes*-CBC and des-ede3-cbc.
// Memory use does not grow with the message length.
//
// A decrypter holds back the last ciphertext block until Close, where it
// checks and strips the padding without data-dependent branches and reports
// any failure as the single error ErrDecrypt. CBC is not authenticated: the
// plaintext written before Close is not checked in any way.
package cbcstream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"io"
)

var (
	// ErrDecrypt is returned by a decrypter's Close when the ciphertext is
	// empty, not a whole number of blocks, or ends in invalid padding.
	ErrDecrypt = errors.New("cbcstream: decryption failed")
	// ErrIVSize is returned when the IV is not one block long.
	ErrIVSize = errors.New("cbcstream: IV length must equal the block size")
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("cbcstream: write after close")
)

// bufSize is the size of the working buffer: a multiple of every supported
// block size, and at least two blocks.
const bufSize = 16 << 10

// NewEncrypter returns a writer that AES-CBC encrypts what is written to it
// and writes the ciphertext to dst. key must be 16, 24 or 32 bytes and iv 16
// bytes. Close writes the final, padded block; it does not close dst.
func NewEncrypter(dst io.Writer, key, iv []byte) (io.WriteCloser, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return NewBlockEncrypter(dst, b, iv)
}

// NewDecrypter returns a writer that AES-CBC decrypts what is written to it
// and writes the plaintext to dst, holding back the last block until Close.
// key must be 16, 24 or 32 bytes and iv 16 bytes.
func NewDecrypter(dst io.Writer, key, iv []byte) (io.WriteCloser, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return NewBlockDecrypter(dst, b, iv)
}

// NewBlockEncrypter is NewEncrypter for any block cipher, for example one
// from des.NewTripleDESCipher. iv must be one block long.
func NewBlockEncrypter(dst io.Writer, block cipher.Block, iv []byte) (io.WriteCloser, error) {
	if len(iv) != block.BlockSize() {
		return nil, ErrIVSize
	}
	return &encrypter{stream: newStream(dst, cipher.NewCBCEncrypter(block, iv))}, nil
}

// NewBlockDecrypter is NewDecrypter for any block cipher, for example one
// from des.NewTripleDESCipher. iv must be one block long.
func NewBlockDecrypter(dst io.Writer, block cipher.Block, iv []byte) (io.WriteCloser, error) {
	if len(iv) != block.BlockSize() {
		return nil, ErrIVSize
	}
	return &decrypter{stream: newStream(dst, cipher.NewCBCDecrypter(block, iv))}, nil
}

// stream is the state shared by encrypter and decrypter.
type stream struct {
	dst    io.Writer
	mode   cipher.BlockMode
	bs     int
	buf    []byte
	n      int // bytes pending in buf
	closed bool
	err    error // sticky error from dst
}

func newStream(dst io.Writer, mode cipher.BlockMode) stream {
	return stream{dst: dst, mode: mode, bs: mode.BlockSize(), buf: make([]byte, bufSize)}
}

// fill appends as much of p to the buffer as fits and returns the rest.
func (s *stream) fill(p []byte) []byte {
	k := copy(s.buf[s.n:], p)
	s.n += k
	return p[k:]
}

// process transforms the first m bytes of the buffer (a whole number of
// blocks), writes them to dst and moves the rest to the front.
func (s *stream) process(m int) error {
	if m == 0 {
		return nil
	}
	s.mode.CryptBlocks(s.buf[:m], s.buf[:m])
	if _, err := s.dst.Write(s.buf[:m]); err != nil {
		s.err = err
		return err
	}
	s.n = copy(s.buf, s.buf[m:s.n])
	return nil
}

func (s *stream) ready() error {
	if s.closed {
		return ErrClosed
	}
	return s.err
}

type encrypter struct {
	stream
}

func (e *encrypter) Write(p []byte) (int, error) {
	if err := e.ready(); err != nil {
		return 0, err
	}
	total := len(p)
	for len(p) > 0 {
		rest := e.fill(p)
		// Encrypt every whole block; keep a partial one for later.
		if err := e.process(e.n - e.n%e.bs); err != nil {
			return total - len(p), err
		}
		p = rest
	}
	return total, nil
}

// Close pads the pending partial block (n < bs bytes) with bs-n bytes of
// value bs-n, encrypts it and writes it.
func (e *encrypter) Close() error {
	if e.closed {
		return nil
	}
	if e.err != nil {
		return e.err
	}
	e.closed = true
	pad := e.bs - e.n
	for i := e.n; i < e.bs; i++ {
		e.buf[i] = byte(pad)
	}
	e.n = e.bs
	err := e.process(e.bs)
	clear(e.buf)
	return err
}

type decrypter struct {
	stream
}

func (d *decrypter) Write(p []byte) (int, error) {
	if err := d.ready(); err != nil {
		return 0, err
	}
	total := len(p)
	for len(p) > 0 {
		rest := d.fill(p)
		// Decrypt all whole blocks but keep back 1 to bs bytes, so that
		// the stream's last block is still pending when Close is called.
		m := (d.n - 1) / d.bs * d.bs
		if err := d.process(m); err != nil {
			return total - len(p), err
		}
		p = rest
	}
	return total, nil
}

// Close decrypts the held-back last block, checks its padding and writes the
// unpadded plaintext. It returns ErrDecrypt if the ciphertext was empty or
// not a whole number of blocks, or if the padding is invalid. It does not
// close dst.
func (d *decrypter) Close() error {
	if d.closed {
		return nil
	}
	if d.err != nil {
		return d.err
	}
	d.closed = true
	defer clear(d.buf)
	if d.n != d.bs {
		return ErrDecrypt
	}
	last := d.buf[:d.bs]
	d.mode.CryptBlocks(last, last)
	padLen, ok := checkPadding(last)
	if ok != 1 {
		return ErrDecrypt
	}
	if _, err := d.dst.Write(last[:d.bs-padLen]); err != nil {
		d.err = err
		return err
	}
	return nil
}

// checkPadding returns the PKCS #7 padding length of the final block and 1
// if the padding is valid (0 otherwise). It looks at every byte of the block
// whatever the padding value, so its timing does not depend on the data.
func checkPadding(block []byte) (padLen, ok int) {
	bs := len(block)
	padLen = int(block[bs-1])
	ok = subtle.ConstantTimeLessOrEq(1, padLen) & subtle.ConstantTimeLessOrEq(padLen, bs)
	for i := 0; i < bs; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i+1, padLen) // i < padLen
		eq := subtle.ConstantTimeByteEq(block[bs-1-i], byte(padLen))
		ok &= subtle.ConstantTimeSelect(inPad, eq, 1)
	}
	return padLen, ok
}
