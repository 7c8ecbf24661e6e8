package gcmstream

import "encoding/binary"

// elem is an element of GF(2^128) in the GCM representation of NIST SP
// 800-38D: bit 0 of the 16-byte block (the most significant bit of its
// first byte) is the coefficient of x^0 and bit 127 that of x^127. hi holds
// bytes 0-7 big-endian and lo bytes 8-15, so the most significant bit of hi
// is the x^0 coefficient and the least significant bit of lo the x^127 one.
type elem struct {
	hi, lo uint64
}

// one is the multiplicative identity, the polynomial 1 = x^0.
var one = elem{hi: 1 << 63}

func loadElem(b []byte) elem {
	return elem{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])}
}

func (e elem) put(b []byte) {
	binary.BigEndian.PutUint64(b[:8], e.hi)
	binary.BigEndian.PutUint64(b[8:16], e.lo)
}

func (e elem) xor(f elem) elem {
	return elem{e.hi ^ f.hi, e.lo ^ f.lo}
}

// mul returns x·y in GF(2^128) modulo x^128 + x^7 + x^2 + x + 1, following
// Algorithm 1 of SP 800-38D with masks instead of branches, so that its
// timing does not depend on the operands. It is slow (128 iterations) and is
// only used a few times per 64 KiB chunk.
func mul(x, y elem) elem {
	var z elem
	v := y
	for i := 0; i < 128; i++ {
		// Bit i of x, counting from the x^0 coefficient.
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		m := -bit
		z.hi ^= v.hi & m
		z.lo ^= v.lo & m
		// v = v·x: a right shift in this bit order, reduced by
		// R = 11100001 || 0^120 when the x^127 coefficient falls out.
		carry := -(v.lo & 1)
		v.lo = v.lo>>1 | v.hi<<63
		v.hi = v.hi>>1 ^ (0xE1<<56)&carry
	}
	return z
}
