package gcmstream

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"testing"
)

func randElem() elem {
	var b [16]byte
	rand.Read(b[:])
	return loadElem(b[:])
}

func TestMulAlgebra(t *testing.T) {
	for i := 0; i < 200; i++ {
		a, b, c := randElem(), randElem(), randElem()
		if mul(a, one) != a || mul(one, a) != a {
			t.Fatalf("%v·1 != itself", a)
		}
		if mul(a, elem{}) != (elem{}) {
			t.Fatalf("%v·0 != 0", a)
		}
		if mul(a, b) != mul(b, a) {
			t.Fatalf("mul not commutative for %v, %v", a, b)
		}
		if mul(a, b.xor(c)) != mul(a, b).xor(mul(a, c)) {
			t.Fatalf("mul not distributive for %v, %v, %v", a, b, c)
		}
		if mul(mul(a, b), c) != mul(a, mul(b, c)) {
			t.Fatalf("mul not associative for %v, %v, %v", a, b, c)
		}
	}
	// x·x^127 = x^128 = x^7 + x^2 + x + 1, i.e. the block E1 00 .. 00.
	x := elem{hi: 1 << 62}
	x127 := elem{lo: 1}
	if got, want := mul(x, x127), (elem{hi: 0xE1 << 56}); got != want {
		t.Fatalf("x·x^127 = %x, want %x", got, want)
	}
}

func TestPowFromTable(t *testing.T) {
	var tab [chunkLog + 1]elem
	tab[0] = randElem()
	for i := 1; i < len(tab); i++ {
		tab[i] = mul(tab[i-1], tab[i-1])
	}
	want := tab[0]
	for n := uint(1); n <= chunkSize/16; n++ {
		if got := powFromTable(&tab, n); got != want {
			t.Fatalf("H^%d = %x, want %x", n, got, want)
		}
		want = mul(want, tab[0])
	}
}

// naiveTag computes a GCM tag with a block-by-block GHASH built on mul, as
// an independent check of mul's bit order against the standard library.
func naiveTag(block cipher.Block, nonce, aad, ct []byte) []byte {
	var b [16]byte
	block.Encrypt(b[:], b[:])
	h := loadElem(b[:])
	var s elem
	absorb := func(x []byte) {
		for len(x) > 0 {
			var blk [16]byte
			n := copy(blk[:], x)
			s = mul(s.xor(loadElem(blk[:])), h)
			x = x[n:]
		}
	}
	absorb(aad)
	absorb(ct)
	var l [16]byte
	binary.BigEndian.PutUint64(l[:8], uint64(len(aad))*8)
	binary.BigEndian.PutUint64(l[8:], uint64(len(ct))*8)
	absorb(l[:])
	copy(b[:], nonce)
	binary.BigEndian.PutUint32(b[12:], 1)
	block.Encrypt(b[:], b[:])
	s.xor(loadElem(b[:])).put(l[:])
	return l[:]
}

func TestMulMatchesStdlibGHASH(t *testing.T) {
	key := make([]byte, 16)
	nonce := make([]byte, 12)
	for _, n := range []int{0, 1, 15, 16, 17, 33, 64, 100} {
		rand.Read(key)
		rand.Read(nonce)
		block, aead := stdGCM(t, key)
		aad := make([]byte, n/2)
		msg := make([]byte, n)
		rand.Read(aad)
		rand.Read(msg)
		sealed := aead.Seal(nil, nonce, msg, aad)
		ct, tag := sealed[:n], sealed[n:]
		if got := naiveTag(block, nonce, aad, ct); !bytes.Equal(got, tag) {
			t.Fatalf("len %d: naive tag %x, stdlib %x", n, got, tag)
		}
	}
}

// stdGCM returns the standard library's AES-GCM for key, as a reference.
func stdGCM(tb testing.TB, key []byte) (cipher.Block, cipher.AEAD) {
	tb.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return block, aead
}
