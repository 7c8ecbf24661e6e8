package gcmstream

import (
	"io"
	"testing"
)

var benchSizes = []struct {
	name string
	n    int
}{{"1MiB", 1 << 20}, {"64MiB", 64 << 20}}

// benchWrite feeds msg to w in 32 KiB writes, as io.Copy would.
func benchWrite(w io.Writer, msg []byte) {
	for len(msg) > 0 {
		n := min(len(msg), 32<<10)
		w.Write(msg[:n])
		msg = msg[n:]
	}
}

func BenchmarkSealer(b *testing.B) {
	key, nonce := make([]byte, 32), make([]byte, NonceSize)
	for _, sz := range benchSizes {
		msg := make([]byte, sz.n)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				s, _ := NewSealer(io.Discard, key, nonce, nil)
				benchWrite(s, msg)
				s.Close()
			}
		})
	}
}

func BenchmarkOpener(b *testing.B) {
	key, nonce := make([]byte, 32), make([]byte, NonceSize)
	tag := make([]byte, TagSize)
	for _, sz := range benchSizes {
		msg := make([]byte, sz.n)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				o, _ := NewOpener(io.Discard, key, nonce, nil)
				benchWrite(o, msg)
				o.Verify(tag)
			}
		})
	}
}

// BenchmarkStdlibSeal is the standard library's one-shot AES-GCM Seal on
// the same sizes, for comparison.
func BenchmarkStdlibSeal(b *testing.B) {
	key, nonce := make([]byte, 32), make([]byte, NonceSize)
	_, aead := stdGCM(b, key)
	for _, sz := range benchSizes {
		msg := make([]byte, sz.n)
		out := make([]byte, 0, sz.n+TagSize)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				aead.Seal(out[:0], nonce, msg, nil)
			}
		})
	}
}

// BenchmarkStdlibOpen is the standard library's one-shot AES-GCM Open.
func BenchmarkStdlibOpen(b *testing.B) {
	key, nonce := make([]byte, 32), make([]byte, NonceSize)
	_, aead := stdGCM(b, key)
	for _, sz := range benchSizes {
		sealed := aead.Seal(nil, nonce, make([]byte, sz.n), nil)
		out := make([]byte, 0, sz.n)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				if _, err := aead.Open(out[:0], nonce, sealed, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
