// Package keywrap implements the AES key wrap algorithm of RFC 3394 and the
// AES key wrap with padding algorithm of RFC 5649 (NIST SP 800-38F KW and
// KWP), as used by CMS for KEKRecipientInfo and for the key-encryption step
// of KeyAgreeRecipientInfo.
//
// Unwrap and UnwrapPad check the integrity value in constant time and report
// every failure, whatever its cause, as the single error ErrUnwrap.
package keywrap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"math/bits"
)

// ErrUnwrap is returned by Unwrap and UnwrapPad for every failure: a bad KEK
// size, a wrapped key of invalid length, or a failed integrity check.
var ErrUnwrap = errors.New("keywrap: unwrap failed")

// ErrWrapInput is returned by Wrap and WrapPad when the key to be wrapped has
// a length the algorithm does not support.
var ErrWrapInput = errors.New("keywrap: invalid length of key to wrap")

// defaultIV is the RFC 3394 section 2.2.3.1 default initial value.
var defaultIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// aivPrefix is the constant first half of the RFC 5649 alternative initial
// value; the second half is the 32-bit message length indicator.
var aivPrefix = [4]byte{0xA6, 0x59, 0x59, 0xA6}

// maxKWPLen is the largest key RFC 5649 can wrap (its length must fit the
// 32-bit message length indicator).
const maxKWPLen = 1<<32 - 1

// Wrap wraps cek under kek (16, 24 or 32 bytes) per RFC 3394 with the
// default initial value. cek must be a multiple of 8 bytes and at least 16
// bytes long; the result is 8 bytes longer than cek.
func Wrap(kek, cek []byte) ([]byte, error) {
	if len(cek) < 16 || len(cek)%8 != 0 {
		return nil, ErrWrapInput
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8+len(cek))
	copy(out[8:], cek)
	wrapCore(b, defaultIV, out)
	return out, nil
}

// Unwrap reverses Wrap. It returns ErrUnwrap if kek has an invalid size, if
// wrapped is not a multiple of 8 bytes of at least 24 bytes, or if the
// recovered integrity value differs from the RFC 3394 default initial value.
func Unwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, ErrUnwrap
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, ErrUnwrap
	}
	buf := make([]byte, len(wrapped))
	copy(buf, wrapped)
	a := unwrapCore(b, buf)
	if subtle.ConstantTimeCompare(a[:], defaultIV[:]) != 1 {
		clear(buf)
		return nil, ErrUnwrap
	}
	return buf[8:], nil
}

// WrapPad wraps key under kek per RFC 5649. key may have any length from 1
// to 2^32-1 bytes; the result is key padded to a multiple of 8 bytes plus 8.
func WrapPad(kek, key []byte) ([]byte, error) {
	if len(key) == 0 || uint64(len(key)) > maxKWPLen {
		return nil, ErrWrapInput
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	var aiv [8]byte
	copy(aiv[:4], aivPrefix[:])
	binary.BigEndian.PutUint32(aiv[4:], uint32(len(key)))

	padded := (len(key) + 7) &^ 7
	out := make([]byte, 8+padded) // zero padding comes from make
	copy(out[8:], key)
	if padded == 8 {
		// RFC 5649 section 4.1: a single 64-bit block is encrypted with
		// AES in ECB mode together with the AIV.
		copy(out[:8], aiv[:])
		b.Encrypt(out, out)
		return out, nil
	}
	wrapCore(b, aiv, out)
	return out, nil
}

// UnwrapPad reverses WrapPad. It returns ErrUnwrap if kek has an invalid
// size, if wrapped is not a multiple of 8 bytes of at least 16 bytes, or if
// the recovered alternative initial value, length indicator or padding is
// wrong.
func UnwrapPad(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 16 || len(wrapped)%8 != 0 {
		return nil, ErrUnwrap
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, ErrUnwrap
	}
	buf := make([]byte, len(wrapped))
	var a [8]byte
	if len(wrapped) == 16 {
		b.Decrypt(buf, wrapped)
		copy(a[:], buf[:8])
	} else {
		copy(buf, wrapped)
		a = unwrapCore(b, buf)
	}
	plain := buf[8:]
	n := len(plain) // padded length, a multiple of 8

	ok := subtle.ConstantTimeCompare(a[:4], aivPrefix[:])
	mli := binary.BigEndian.Uint32(a[4:])
	// The length indicator must satisfy n-8 < mli <= n. Compare as 64-bit
	// values so that a huge mli cannot wrap around.
	m := uint64(mli)
	ok &= ctLessOrEq64(uint64(n-8)+1, m)
	ok &= ctLessOrEq64(m, uint64(n))
	// Every byte at index >= mli in the last block must be zero. The check
	// looks at all eight bytes so that its timing does not depend on mli.
	var nonZero byte
	for i := n - 8; i < n; i++ {
		inPad := byte(ctLessOrEq64(m, uint64(i))) // 1 iff i >= mli
		nonZero |= plain[i] & -inPad
	}
	ok &= subtle.ConstantTimeByteEq(nonZero, 0)
	if ok != 1 {
		clear(buf)
		return nil, ErrUnwrap
	}
	return plain[:mli], nil
}

// ctLessOrEq64 returns 1 if x <= y and 0 otherwise, in constant time.
func ctLessOrEq64(x, y uint64) int {
	_, borrow := bits.Sub64(y, x, 0) // borrows exactly when x > y
	return int(1 - borrow)
}

// wrapCore runs the RFC 3394 section 2.2.1 wrapping process (index-based
// form) in place. buf holds an 8-byte slot for A followed by the n 64-bit
// registers R[1..n] (n >= 2); on return it holds C[0..n].
func wrapCore(b cipher.Block, iv [8]byte, buf []byte) {
	n := len(buf)/8 - 1
	var blk [16]byte
	copy(blk[:8], iv[:])
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			r := buf[8*i : 8*i+8]
			copy(blk[8:], r)
			b.Encrypt(blk[:], blk[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(blk[:8], binary.BigEndian.Uint64(blk[:8])^t)
			copy(r, blk[8:])
		}
	}
	copy(buf[:8], blk[:8])
	clear(blk[:])
}

// unwrapCore runs the RFC 3394 section 2.2.2 unwrapping process in place on
// buf = C[0..n] (n >= 2) and returns the recovered integrity value A. On
// return buf[8:] holds the candidate plaintext P[1..n].
func unwrapCore(b cipher.Block, buf []byte) [8]byte {
	n := len(buf)/8 - 1
	var blk [16]byte
	copy(blk[:8], buf[:8])
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			r := buf[8*i : 8*i+8]
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(blk[:8], binary.BigEndian.Uint64(blk[:8])^t)
			copy(blk[8:], r)
			b.Decrypt(blk[:], blk[:])
			copy(r, blk[8:])
		}
	}
	var a [8]byte
	copy(a[:], blk[:8])
	clear(blk[:])
	return a
}
