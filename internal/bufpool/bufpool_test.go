package bufpool

import (
	"bytes"
	"strings"
	"testing"
)

// onlyReader hides bytes.Reader's WriteTo so that Copy uses its buffer.
type onlyReader struct{ r *bytes.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestCopy(t *testing.T) {
	for _, n := range []int{0, 1, Size - 1, Size, 3*Size + 7} {
		src := []byte(strings.Repeat("signet", n/6+1))[:n]
		var dst bytes.Buffer
		got, err := Copy(&dst, onlyReader{bytes.NewReader(src)})
		if err != nil || got != int64(n) || !bytes.Equal(dst.Bytes(), src) {
			t.Fatalf("Copy of %d bytes: %d, %v", n, got, err)
		}
	}
	b := Get()
	copy(*b, "secret")
	Put(b)
	if b2 := Get(); bytes.Contains(*b2, []byte("secret")) {
		t.Fatal("a buffer came back uncleared")
	}
}
