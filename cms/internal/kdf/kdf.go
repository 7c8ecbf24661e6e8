// Package kdf implements the ANSI X9.63 key derivation function used by the
// CMS elliptic-curve key agreement schemes of RFC 5753 (section 7.1.8, where
// it is referred to as the KDF of SEC 1 section 3.6.1).
//
// HKDF (RFC 5869), which RFC 8418 uses for X25519 and X448 key agreement, is
// not implemented here: callers use the standard library package crypto/hkdf
// directly. This package's tests run the Wycheproof HKDF-SHA-256 vectors
// through crypto/hkdf to check that use.
package kdf

import (
	"crypto"
	_ "crypto/sha1"   // register SHA-1 for crypto.Hash
	_ "crypto/sha256" // register SHA-224 and SHA-256
	_ "crypto/sha512" // register SHA-384 and SHA-512
	"encoding/binary"
	"errors"
)

// ErrHashUnavailable is returned when the requested hash function is not
// linked into the binary.
var ErrHashUnavailable = errors.New("kdf: hash function unavailable")

// ErrLength is returned when the requested output length is negative or
// exceeds the KDF's limit of (2^32-1) hash outputs.
var ErrLength = errors.New("kdf: invalid output length")

// X963 derives length bytes from the shared secret z and the optional
// sharedInfo using the ANSI X9.63 KDF with hash h:
//
//	K = Hash(Z || Counter || SharedInfo) for Counter = 1, 2, ...
//
// where Counter is a 32-bit big-endian integer, and the output is the
// concatenation of the K values truncated to length bytes.
func X963(h crypto.Hash, z, sharedInfo []byte, length int) ([]byte, error) {
	if !h.Available() {
		return nil, ErrHashUnavailable
	}
	if length < 0 || uint64(length) > uint64(h.Size())*(1<<32-1) {
		return nil, ErrLength
	}
	out := make([]byte, 0, length+h.Size())
	hh := h.New()
	var counter [4]byte
	for i := uint32(1); len(out) < length; i++ {
		binary.BigEndian.PutUint32(counter[:], i)
		hh.Reset()
		hh.Write(z)
		hh.Write(counter[:])
		hh.Write(sharedInfo)
		out = hh.Sum(out)
	}
	clear(out[length:cap(out)])
	return out[:length], nil
}
