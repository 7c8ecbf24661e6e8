package spool

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"testing"
)

// writeRandom writes data to w in pieces of random sizes.
func writeRandom(t *testing.T, rng *mrand.Rand, w io.Writer, data []byte) {
	t.Helper()
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(100000))
		if rng.IntN(3) == 0 {
			n = min(len(data), 1+rng.IntN(50))
		}
		if k, err := w.Write(data[:n]); err != nil || k != n {
			t.Fatalf("Write: %d, %v", k, err)
		}
		data = data[n:]
	}
}

// readRandom reads r to the end in pieces of random sizes.
func readRandom(rng *mrand.Rand, r io.Reader) ([]byte, error) {
	var out []byte
	for {
		p := make([]byte, 1+rng.IntN(90000))
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 65535, 65536, 65537, 2 * chunkSize, 5_000_003} {
		data := make([]byte, n)
		rand.Read(data)
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		writeRandom(t, rng, s, data)
		if s.Size() != int64(n) {
			t.Errorf("Size = %d, want %d", s.Size(), n)
		}
		for pass := 0; pass < 2; pass++ { // a second Reader starts over
			r, err := s.Reader()
			if err != nil {
				t.Fatalf("len %d: Reader: %v", n, err)
			}
			got, err := readRandom(rng, r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("len %d pass %d: read %d bytes, %v; equal %v", n, pass, len(got), err, bytes.Equal(got, data))
			}
			r.Close()
		}
		if _, err := s.Write([]byte{1}); err != ErrWriteAfterRead {
			t.Errorf("Write after Reader: %v, want ErrWriteAfterRead", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnlinked checks that on Linux the file has no name once New returns,
// so nothing is left behind, and that the key is wiped on Close.
func TestUnlinked(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("unlinking open files is only asserted on Linux")
	}
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(make([]byte, 100000))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 || s.path != "" {
		t.Errorf("spool file still has a name: %v, %q", entries, s.path)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.key, make([]byte, 32)) {
		t.Error("key not zeroed by Close")
	}
	if _, err := s.Reader(); err != ErrClosed {
		t.Errorf("Reader after Close: %v, want ErrClosed", err)
	}
}

// newNamed returns a spool whose file keeps its name, for inspection.
func newNamed(t *testing.T) (*Spool, string) {
	t.Helper()
	s, err := newSpool(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.f.Name()
}

func TestNoPlaintextOnDisk(t *testing.T) {
	s, name := newNamed(t)
	text := bytes.Repeat([]byte("CONFIDENTIAL: the quick brown fox jumps over the lazy dog. "), 5000)
	writeRandom(t, mrand.New(mrand.NewPCG(13, 14)), s, text)
	if _, err := s.Reader(); err != nil { // seals the final chunk
		t.Fatal(err)
	}
	disk, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	chunks := (len(text) + chunkSize - 1) / chunkSize
	if want := len(text) + 16*chunks; len(disk) != want {
		t.Errorf("file holds %d bytes, want %d", len(disk), want)
	}
	for _, probe := range [][]byte{[]byte("CONFIDENTIAL"), []byte("lazy dog"), text[70000:70016]} {
		if bytes.Contains(disk, probe) {
			t.Errorf("file contains plaintext %q", probe)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still exists after Close: %v", err)
	}
}

// readAll reads a fresh Reader of s to the end.
func readAll(s *Spool) ([]byte, error) {
	r, err := s.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestTamperDetected(t *testing.T) {
	data := make([]byte, 3*chunkSize+1000) // four chunks
	rand.Read(data)
	tampers := []struct {
		name string
		do   func(f *os.File) error
	}{
		{"flip a byte in the first chunk", func(f *os.File) error { return flip(f, 10) }},
		{"flip a byte in the final chunk", func(f *os.File) error { return flip(f, 3*sealedSize+5) }},
		{"flip a tag byte", func(f *os.File) error { return flip(f, sealedSize-1) }},
		{"drop the final chunk", func(f *os.File) error { return f.Truncate(3 * sealedSize) }},
		{"cut the final chunk short", func(f *os.File) error { return f.Truncate(3*sealedSize + 500) }},
		{"append a byte", func(f *os.File) error { _, err := f.WriteAt([]byte{0}, 3*sealedSize+1016); return err }},
		{"swap two chunks", func(f *os.File) error { return swap(f, 0, sealedSize) }},
	}
	for _, tc := range tampers {
		s, name := newNamed(t)
		writeRandom(t, mrand.New(mrand.NewPCG(15, 16)), s, data)
		if got, err := readAll(s); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: untampered read: %v", tc.name, err)
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.do(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, err := readAll(s); err != ErrTampered {
			t.Errorf("%s: read error %v, want ErrTampered", tc.name, err)
		}
		s.Close()
	}
}

func flip(f *os.File, off int64) error {
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0x04
	_, err := f.WriteAt(b, off)
	return err
}

func swap(f *os.File, a, b int64) error {
	x, y := make([]byte, sealedSize), make([]byte, sealedSize)
	if _, err := f.ReadAt(x, a); err != nil {
		return err
	}
	if _, err := f.ReadAt(y, b); err != nil {
		return err
	}
	if _, err := f.WriteAt(y, a); err != nil {
		return err
	}
	_, err := f.WriteAt(x, b)
	return err
}

func TestClose(t *testing.T) {
	s, name := newNamed(t)
	s.Write([]byte("hello"))
	r, err := s.Reader()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still exists after Close: %v", err)
	}
	if _, err := r.Read(make([]byte, 10)); err != ErrClosed {
		t.Errorf("Read after Spool.Close: %v, want ErrClosed", err)
	}
	if _, err := s.Write([]byte{1}); err != ErrClosed {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

// TestConstantMemory checks that writes allocate nothing, so memory does
// not grow with the amount spooled.
func TestConstantMemory(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, 50000)
	s.Write(make([]byte, 2*chunkSize)) // past the in-memory first chunk: the file exists
	if a := testing.AllocsPerRun(40, func() { s.Write(buf) }); a != 0 {
		t.Errorf("%v allocations per Write", a)
	}
}

// TestFinalFlag checks the final-chunk flag on its own: with the file cut
// at a chunk boundary and the length bookkeeping made to agree with it, the
// new last chunk was not sealed as final and must be refused.
func TestFinalFlag(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write(make([]byte, 3*chunkSize+10))
	if _, err := readAll(s); err != nil {
		t.Fatal(err)
	}
	if err := s.f.Truncate(2 * sealedSize); err != nil {
		t.Fatal(err)
	}
	s.chunks, s.diskSize = 2, 2*sealedSize
	got, err := readAll(s)
	if err != ErrTampered {
		t.Errorf("truncated at a chunk boundary: %v, want ErrTampered", err)
	}
	if len(got) != chunkSize {
		t.Errorf("%d bytes released before the failure, want only the first chunk's %d", len(got), chunkSize)
	}
}

func TestWriteErrorIsSticky(t *testing.T) {
	s, err := newSpool(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.f.Close() // make the next file write fail
	if _, err := s.Write(make([]byte, chunkSize+1)); err == nil {
		t.Fatal("Write succeeded although the file could not be written")
	}
	if _, err := s.Write([]byte{1}); err == nil {
		t.Error("second Write succeeded after a failure")
	}
	if _, err := s.Reader(); err == nil {
		t.Error("Reader succeeded after a write failure")
	}
}

// TestSmallStaysInMemory checks that one chunk's worth of data makes no file,
// and that one byte more does.
func TestSmallStaysInMemory(t *testing.T) {
	for _, n := range []int{0, 1, chunkSize} {
		dir := t.TempDir()
		s, _ := New(dir)
		data := bytes.Repeat([]byte{'x'}, n)
		s.Write(data)
		got, err := readAll(s)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if s.f != nil {
			t.Fatalf("%d bytes made a file", n)
		}
		s.Close()
	}
	s, _ := New(t.TempDir())
	defer s.Close()
	s.Write(make([]byte, chunkSize+1))
	if s.f == nil {
		t.Fatal("more than a chunk stayed in memory")
	}
}

func TestReaderAt(t *testing.T) {
	for _, size := range []int{0, 10, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 77} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + i/chunkSize)
		}
		s, _ := New(t.TempDir())
		if _, err := s.Write(data); err != nil {
			t.Fatal(err)
		}
		ra, err := s.ReaderAt()
		if err != nil {
			t.Fatal(err)
		}
		// Whole, then pieces across chunk borders, backwards.
		got := make([]byte, size)
		if n, err := ra.ReadAt(got, 0); n != size || (err != nil && err != io.EOF) || !bytes.Equal(got, data) {
			t.Fatalf("size %d: ReadAt whole = %d, %v", size, n, err)
		}
		for off := size - 1; off >= 0; off -= 9973 {
			p := make([]byte, 20000)
			n, err := ra.ReadAt(p, int64(off))
			want := data[off:min(off+len(p), size)]
			if n != len(want) || !bytes.Equal(p[:n], want) || (n < len(p) && err != io.EOF) {
				t.Fatalf("size %d off %d: %d bytes, %v", size, off, n, err)
			}
		}
		if _, err := ra.ReadAt(make([]byte, 1), int64(size)); err != io.EOF {
			t.Fatalf("size %d: read at the end: %v", size, err)
		}
		s.Close()
	}
}

// TestPooledBuffersDoNotLeak: a closed spool's buffer goes back to the pool
// cleared, and readers of the closed spool fail instead of seeing the next
// spool's data.
func TestPooledBuffersDoNotLeak(t *testing.T) {
	a, _ := New(t.TempDir())
	a.Write([]byte("alice's secret plaintext"))
	ra, err := a.ReaderAt()
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := ra.ReadAt(make([]byte, 4), 0); err != ErrClosed {
		t.Fatalf("ReadAt after Close: %v, want ErrClosed", err)
	}
	for range 10 {
		b, _ := New(t.TempDir())
		b.Write([]byte("x"))
		r, _ := b.ReaderAt()
		buf := make([]byte, 1)
		if n, _ := r.ReadAt(buf, 0); n != 1 || buf[0] != 'x' {
			t.Fatalf("new spool reads %q", buf[:n])
		}
		if bytes.Contains(b.buf[:cap(b.buf)], []byte("secret")) {
			t.Fatal("a pooled buffer still held another spool's plaintext")
		}
		b.Close()
	}
}
