package gcmstream

import (
	"crypto/cipher"
	"encoding/binary"
)

// chunkSize is the largest piece fed to the standard library's GHASH at
// once: 2^chunkLog blocks of 16 bytes, 64 KiB.
const (
	chunkLog  = 12
	chunkSize = 16 << chunkLog
)

// ghasher computes the GCM authentication tag incrementally, with memory
// independent of the message length, by letting the standard library's
// AES-GCM (and thus its hardware GHASH) do the bulk of the work.
//
// Notation: + is addition in GF(2^128), that is XOR. GHASH_H(A, C) over the
// blocks B_1..B_m of pad(A) || pad(C) || L(A, C) is sum_i B_i·H^(m-i+1),
// where L(A, C) is the length block [8·len(A)]_64 || [8·len(C)]_64. For a
// piece X of n blocks (the last one zero-padded) let P(X) = sum_{i=1..n}
// X_i·H^(n+1-i), the GHASH state after absorbing X from zero. Then
//
//	GHASH_H(X, empty) = P(X)·H + L(X, empty)·H.
//
// Sealing an empty plaintext with X as additional data gives the tag
// T = GHASH_H(X, empty) + E_K(J0), hence
//
//	P(X)·H = T + E_K(J0) + L(X, empty)·H.
//
// The GHASH state of the whole message after the pieces X^1..X^k (each a
// whole number of blocks except the last piece of the AAD and of the
// ciphertext, which GCM zero-pads) is S_k = S_{k-1}·H^(n_k) + P(X^k). This
// type keeps acc = S_k·H, which obeys the same recurrence with P(X^k)·H in
// place of P(X^k), and finishes with
//
//	tag = (S_k + L)·H + E_K(J0) = acc + L·H + E_K(J0)
//
// for the real length block L. The nonce is the message's own nonce; the
// intermediate tags T never leave this type.
type ghasher struct {
	aead  cipher.AEAD
	nonce []byte
	h     elem // H = E_K(0^128)
	ekj0  elem // E_K(J0), J0 = nonce || 0x00000001
	acc   elem
	tbuf  [16]byte

	// hPow[i] = H^(2^i); the largest is H^(chunkSize/16).
	hPow [chunkLog + 1]elem
	// Factors H^n and L(X, empty)·H for a full chunk, and for the piece
	// length seen last (pieces tend to repeat their length).
	fullLH         elem
	lastLen        int
	lastHN, lastLH elem
}

func newGHasher(block cipher.Block, aead cipher.AEAD, nonce []byte) *ghasher {
	g := &ghasher{aead: aead, nonce: nonce}
	var b [16]byte
	block.Encrypt(b[:], b[:])
	g.h = loadElem(b[:])
	copy(b[:], nonce)
	binary.BigEndian.PutUint32(b[12:], 1)
	block.Encrypt(b[:], b[:])
	g.ekj0 = loadElem(b[:])
	clear(b[:])
	g.hPow[0] = g.h
	for i := 1; i < len(g.hPow); i++ {
		g.hPow[i] = mul(g.hPow[i-1], g.hPow[i-1])
	}
	g.fullLH = mul(elem{hi: chunkSize * 8}, g.h)
	return g
}

// factors returns H^n and L(X, empty)·H for a piece X of nbytes bytes
// (1 <= nbytes <= chunkSize), n being its number of blocks.
func (g *ghasher) factors(nbytes int) (hn, lh elem) {
	if nbytes == chunkSize {
		return g.hPow[chunkLog], g.fullLH
	}
	if nbytes != g.lastLen {
		g.lastHN = powFromTable(&g.hPow, uint(nbytes+15)/16)
		g.lastLH = mul(elem{hi: uint64(nbytes) * 8}, g.h)
		g.lastLen = nbytes
	}
	return g.lastHN, g.lastLH
}

// powFromTable returns H^n for 1 <= n <= 2^chunkLog from t[i] = H^(2^i).
// The exponent is a public length, so the loop may depend on it.
func powFromTable(t *[chunkLog + 1]elem, n uint) elem {
	r, started := one, false
	for i := range t {
		if n>>i&1 == 1 {
			if started {
				r = mul(r, t[i])
			} else {
				r, started = t[i], true
			}
		}
	}
	return r
}

// absorb folds x into the running GHASH. x must hold 1 to chunkSize bytes
// and be a whole number of blocks unless it ends the AAD or the ciphertext.
func (g *ghasher) absorb(x []byte) {
	hn, lh := g.factors(len(x))
	t := g.aead.Seal(g.tbuf[:0], g.nonce, nil, x)
	contrib := loadElem(t).xor(g.ekj0).xor(lh)
	g.acc = mul(g.acc, hn).xor(contrib)
}

// absorbAAD folds the whole additional data into the GHASH.
func (g *ghasher) absorbAAD(aad []byte) {
	for len(aad) > 0 {
		n := min(len(aad), chunkSize)
		g.absorb(aad[:n])
		aad = aad[n:]
	}
}

// tag returns the GCM tag for the given AAD and ciphertext byte lengths.
func (g *ghasher) tag(aadLen, ctLen uint64) [16]byte {
	l := elem{hi: aadLen * 8, lo: ctLen * 8}
	var out [16]byte
	g.acc.xor(mul(l, g.h)).xor(g.ekj0).put(out[:])
	return out
}

// wipe clears the key-dependent values.
func (g *ghasher) wipe() {
	*g = ghasher{}
}
