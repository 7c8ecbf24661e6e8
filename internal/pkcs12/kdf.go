package pkcs12

import (
	"hash"
	"unicode/utf16"
)

// Diversifier IDs of RFC 7292 Appendix B.3.
const (
	kdfKey = 1
	kdfIV  = 2
	kdfMAC = 3
)

// bmpPassword encodes password as RFC 7292 Appendix B.1 asks: a big-endian
// BMPString followed by two zero bytes. Characters outside the BMP become
// UTF-16 surrogate pairs, as OpenSSL writes them.
func bmpPassword(password string) []byte {
	out := make([]byte, 0, 2*len(password)+2)
	for _, r := range password {
		for _, u := range utf16.AppendRune(nil, r) {
			out = append(out, byte(u>>8), byte(u))
		}
	}
	return append(out, 0, 0)
}

// pkcs12Passwords lists the encodings of password that the PKCS #12 key
// derivation may have used: the RFC one, and for an empty password also the
// zero-length string that some tools (OpenSSL with a NULL password, old
// Windows and Java versions) use instead of the two-byte terminator.
func pkcs12Passwords(password string) [][]byte {
	if password == "" {
		return [][]byte{{0, 0}, {}}
	}
	return [][]byte{bmpPassword(password)}
}

// pkcs12KDF is the key derivation of RFC 7292 Appendix B.2: n bytes of
// keying material for diversifier id from password (already encoded) and
// salt, with iterations rounds of the hash newHash makes.
func pkcs12KDF(newHash func() hash.Hash, id byte, password, salt []byte, iterations, n int) []byte {
	h := newHash()
	u, v := h.Size(), h.BlockSize()

	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	// I = S || P, each the input repeated to a multiple of v bytes.
	fill := func(x []byte) []byte {
		if len(x) == 0 {
			return nil
		}
		out := make([]byte, (len(x)+v-1)/v*v)
		for i := range out {
			out[i] = x[i%len(x)]
		}
		return out
	}
	in := append(fill(salt), fill(password)...)

	out := make([]byte, 0, (n+u-1)/u*u)
	a := make([]byte, 0, u)
	b := make([]byte, v)
	for {
		h.Reset()
		h.Write(d)
		h.Write(in)
		a = h.Sum(a[:0])
		for r := 1; r < iterations; r++ {
			h.Reset()
			h.Write(a)
			a = h.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= n {
			return out[:n]
		}
		// B = A repeated to v bytes; every v-byte block Ij of I becomes
		// (Ij + B + 1) mod 2^(8v).
		for i := range b {
			b[i] = a[i%u]
		}
		for j := 0; j < len(in); j += v {
			blk := in[j : j+v]
			carry := 1
			for k := v - 1; k >= 0; k-- {
				s := int(blk[k]) + int(b[k]) + carry
				blk[k] = byte(s)
				carry = s >> 8
			}
		}
	}
}
