// Package bufpool lends the 32 KiB buffers that copying a message needs,
// so that a server copying thousands of messages a second does not
// allocate (and the garbage collector clear) one per copy.
package bufpool

import (
	"io"
	"sync"
)

// Size is the size of the buffers lent.
const Size = 32 << 10

var pool = sync.Pool{New: func() any { b := make([]byte, Size); return &b }}

// Get lends a buffer of Size bytes; give it back with Put.
func Get() *[]byte { return pool.Get().(*[]byte) }

// Put gives a buffer back, cleared (it may have held plaintext).
func Put(b *[]byte) {
	clear(*b)
	pool.Put(b)
}

// Copy is io.Copy with a lent buffer.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	b := Get()
	defer Put(b)
	return io.CopyBuffer(dst, src, *b)
}
